package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/require"

	"github.com/tscale/engine/engine"
	"github.com/tscale/engine/engine/grammar"
	"github.com/tscale/engine/engine/sample"
	"github.com/tscale/engine/internal/testmodels"
)

// petSchema is small enough for stories260K to finish inside max_tokens:
// every string is bounded, the rest are enums and booleans.
const petSchema = `{"type":"object","properties":{
	"name":{"type":"string","maxLength":10},
	"happy":{"type":"boolean"},
	"pet":{"enum":["cat","dog","bird"]},
	"toys":{"type":"array","items":{"type":"string","maxLength":6},"maxItems":2}},
	"required":["name","happy","pet"],"additionalProperties":false}`

// validator compiles a schema with a reference implementation.
func validator(t *testing.T, schema string) *jsonschema.Schema {
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(schema))
	require.NoError(t, err)
	c := jsonschema.NewCompiler()
	require.NoError(t, c.AddResource("s.json", doc))
	s, err := c.Compile("s.json")
	require.NoError(t, err)
	return s
}

func validates(s *jsonschema.Schema, doc string) error {
	v, err := jsonschema.UnmarshalJSON(strings.NewReader(doc))
	if err != nil {
		return err
	}
	return s.Validate(v)
}

func TestDecodeStructured(t *testing.T) {
	chat := func(kv string) string {
		return `{"model":"m","messages":[{"role":"user","content":"a"}],` + kv + `}`
	}
	for _, c := range []struct {
		name, body string
		kind, text string // kind "" : no constraint
	}{
		{"text", `"response_format":{"type":"text"}`, "", ""},
		{"null", `"response_format":null,"grammar":null`, "", ""},
		{"json_object", `"response_format":{"type":"json_object"}`, kindJSONObject, ""},
		{"json_schema", `"response_format":{"type":"json_schema","json_schema":{"name":"x","strict":true,"description":"d","schema":{"type": "integer"}}}`, kindJSONSchema, `{"type":"integer"}`},
		{"json_schema without schema", `"response_format":{"type":"json_schema","json_schema":{"name":"x"}}`, kindJSONSchema, `{}`},
		{"grammar", `"grammar":"root ::= \"a\"+"`, kindGrammar, `root ::= "a"+`},
		{"regex", `"regex":"[0-9]{2}"`, kindRegex, `[0-9]{2}`},
		{"guided_json object", `"guided_json":{"type":"boolean"}`, kindJSONSchema, `{"type":"boolean"}`},
		{"guided_json string", `"guided_json":"{\"type\": \"boolean\"}"`, kindJSONSchema, `{"type":"boolean"}`},
		{"guided_grammar", `"guided_grammar":"root ::= [ab]"`, kindGrammar, `root ::= [ab]`},
		{"guided_regex", `"guided_regex":"x|y"`, kindRegex, `x|y`},
		{"guided_choice", `"guided_choice":["a.b","c|d",""]`, kindRegex, `a\.b|c\|d|`},
		{"text beside a grammar", `"response_format":{"type":"text"},"regex":"x"`, kindRegex, `x`},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, body := range []string{chat(c.body), `{"model":"m","prompt":"a",` + c.body + `}`} {
				var p params
				var e *apiError
				if strings.Contains(body, "messages") {
					var r *chatRequest
					if r, e = decodeChat([]byte(body)); e == nil {
						p = r.params
					}
				} else {
					var r *completionRequest
					if r, e = decodeCompletion([]byte(body)); e == nil {
						p = r.params
					}
				}
				require.Nil(t, e, "%s", body)
				if c.kind == "" {
					require.Nil(t, p.Structured)
					continue
				}
				require.NotNil(t, p.Structured)
				require.Equal(t, c.kind, p.Structured.Kind)
				require.Equal(t, c.text, p.Structured.Text)
				require.NotNil(t, p.Structured.Grammar)
			}
		})
	}
}

func TestDecodeStructuredErrors(t *testing.T) {
	for _, c := range []struct {
		name, body, param, code, says string
	}{
		{"no type", `"response_format":{}`, "response_format.type", "missing_required_parameter", "type"},
		{"unknown type", `"response_format":{"type":"xml"}`, "response_format.type", "invalid_value", "xml"},
		{"not an object", `"response_format":"json"`, "response_format", "invalid_value", "object"},
		{"unknown field", `"response_format":{"type":"text","strict":true}`, "response_format.strict", "unknown_parameter", "strict"},
		{"no json_schema", `"response_format":{"type":"json_schema"}`, "response_format.json_schema", "missing_required_parameter", "json_schema"},
		{"json_schema with json_object", `"response_format":{"type":"json_object","json_schema":{"schema":{}}}`, "response_format.json_schema", "invalid_value", "json_schema"},
		{"unknown json_schema field", `"response_format":{"type":"json_schema","json_schema":{"schema":{},"strcit":true}}`, "response_format.json_schema.strcit", "unknown_parameter", "strcit"},
		{"schema not an object", `"response_format":{"type":"json_schema","json_schema":{"schema":[1]}}`, "response_format.json_schema.schema", "invalid_value", "JSON Schema object"},
		{"strict not a bool", `"response_format":{"type":"json_schema","json_schema":{"schema":{},"strict":"yes"}}`, "response_format.json_schema.strict", "invalid_value", "boolean"},
		{"unsupported keyword", `"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"object","not":{"type":"null"}}}}`, "response_format.json_schema.schema", "unsupported_schema", "not"},
		{"invalid schema", `"response_format":{"type":"json_schema","json_schema":{"schema":{"type":"nothing"}}}`, "response_format.json_schema.schema", "", "nothing"},
		{"grammar not a string", `"grammar":["root"]`, "grammar", "invalid_value", "string"},
		{"bad GBNF", `"grammar":"root ::= missing"`, "grammar", "invalid_value", "missing"},
		{"empty GBNF", `"grammar":"  "`, "grammar", "invalid_value", "empty"},
		{"bad regex", `"regex":"(a"`, "regex", "invalid_value", "regular expression"},
		{"guided_json not a schema", `"guided_json":"x"`, "guided_json", "invalid_value", "JSON Schema"},
		{"guided_choice empty", `"guided_choice":[]`, "guided_choice", "invalid_value", "non-empty"},
		{"guided_choice not strings", `"guided_choice":[1]`, "guided_choice", "invalid_value", "strings"},
		{"two constraints", `"response_format":{"type":"json_object"},"regex":"a"`, "regex", "invalid_value", "response_format"},
		{"grammar and guided_grammar", `"grammar":"root ::= \"a\"","guided_grammar":"root ::= \"a\""`, "guided_grammar", "invalid_value", "grammar"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, e := decodeChat([]byte(`{"model":"m","messages":[{"role":"user","content":"a"}],` + c.body + `}`))
			require.NotNil(t, e)
			require.Equal(t, http.StatusBadRequest, e.Status)
			require.NotNil(t, e.Param, "%+v", e)
			require.Equal(t, c.param, *e.Param, "%s", e.Message)
			if c.code != "" {
				require.Equal(t, c.code, *e.Code, "%s", e.Message)
			}
			require.Contains(t, e.Message, c.says)
		})
	}
}

// TestGrammarCache: a repeated schema is compiled once (engine/grammar's
// cache, the only one), and errors are not kept.
func TestGrammarCache(t *testing.T) {
	a, err := compile(kindRegex, "a")
	require.NoError(t, err)
	a2, err := compile(kindRegex, "a")
	require.NoError(t, err)
	require.Same(t, a, a2)
	_, err = compile(kindRegex, "(")
	require.Error(t, err)
	_, err = compile(kindRegex, "(")
	require.Error(t, err)

	// The request path goes through the package cache: the same schema,
	// however spaced, is one grammar.
	r1, e := decodeChat([]byte(`{"model":"m","messages":[{"role":"user","content":"a"}],"guided_json":{"type":"boolean"}}`))
	require.Nil(t, e)
	r2, e := decodeChat([]byte(`{"model":"m","messages":[{"role":"user","content":"a"}],"response_format":{"type":"json_schema","json_schema":{"schema":{ "type" : "boolean" }}}}`))
	require.Nil(t, e)
	require.Same(t, r1.Structured.Grammar, r2.Structured.Grammar)
}

// structuredBody is a request for n samples of a constrained output.
func structuredBody(chat bool, n int, seed int, extra string) string {
	if chat {
		return fmt.Sprintf(`{"model":"stories260K","messages":[{"role":"user","content":"Tell me about a pet."}],"n":%d,"seed":%d,"max_tokens":400,%s}`, n, seed, extra)
	}
	return fmt.Sprintf(`{"model":"stories260K","prompt":"Once upon a time","n":%d,"seed":%d,"max_tokens":400,%s}`, n, seed, extra)
}

// texts collects each choice's text from a response or a stream.
func texts(t *testing.T, m map[string]any, st *sse, n int) ([]string, []string) {
	t.Helper()
	out, finish := make([]string, n), make([]string, n)
	add := func(c map[string]any) {
		i := int(c["index"].(float64))
		switch {
		case c["text"] != nil:
			out[i] += c["text"].(string)
		case c["message"] != nil:
			out[i] += c["message"].(map[string]any)["content"].(string)
		case c["delta"] != nil:
			if s, ok := c["delta"].(map[string]any)["content"].(string); ok {
				out[i] += s
			}
		}
		if f, ok := c["finish_reason"].(string); ok {
			finish[i] = f
		}
	}
	if st != nil {
		require.True(t, st.done)
		for _, ev := range st.events {
			for _, c := range choices(t, ev) {
				add(c)
			}
		}
	} else {
		for _, c := range choices(t, m) {
			add(c)
		}
	}
	return out, finish
}

// TestJSONSchemaN4: n=4 samples of a json_schema response_format all
// parse and validate, on both endpoints, streamed and not.
func TestJSONSchemaN4(t *testing.T) {
	ts, _, _ := newTestServer(t, Config{})
	schema := validator(t, petSchema)
	rf := `"response_format":{"type":"json_schema","json_schema":{"name":"pet","strict":true,"schema":` + petSchema + `}}`
	for _, chat := range []bool{true, false} {
		for _, stream := range []bool{false, true} {
			t.Run(fmt.Sprintf("chat=%v/stream=%v", chat, stream), func(t *testing.T) {
				path := "/v1/completions"
				if chat {
					path = "/v1/chat/completions"
				}
				extra := rf
				if stream {
					extra += `,"stream":true`
				}
				body := structuredBody(chat, 4, 7, extra)
				var got, finish []string
				if stream {
					_, st := streamPost(t, ts.URL+path, body)
					got, finish = texts(t, nil, &st, 4)
				} else {
					code, m, _ := post(t, ts.URL+path, body)
					require.Equal(t, 200, code, "%v", m)
					got, finish = texts(t, m, nil, 4)
				}
				for i, s := range got {
					require.Equal(t, "stop", finish[i], "sample %d: %q", i, s)
					require.NoError(t, validates(schema, s), "sample %d: %q", i, s)
				}
				require.Greater(t, len(slices.Compact(slices.Sorted(slices.Values(got)))), 1, "samples differ: %q", got)
			})
		}
	}
	t.Run("json_object", func(t *testing.T) {
		code, m, _ := post(t, ts.URL+"/v1/chat/completions", structuredBody(true, 4, 3, `"response_format":{"type":"json_object"},"max_tokens":60`))
		require.Equal(t, 200, code, "%v", m)
		got, finish := texts(t, m, nil, 4)
		for i, s := range got {
			if finish[i] == "stop" {
				var v map[string]any
				require.NoError(t, json.Unmarshal([]byte(s), &v), "sample %d: %q", i, s)
			} else { // cut by max_tokens: still the start of an object
				require.True(t, strings.HasPrefix(strings.TrimSpace(s), "{"), "sample %d: %q", i, s)
			}
		}
	})
}

// TestGrammarRegexProperty: over random seeds every sampled output of a
// GBNF or regex constraint matches it.
func TestGrammarRegexProperty(t *testing.T) {
	ts, _, _ := newTestServer(t, Config{})
	const gbnf = `root ::= greet " " name ("," " " name){0,2} "."
greet ::= "Hello" | "Hi" | "Dear"
name ::= [A-Z] [a-z]{1,6}`
	const re = `(yes|no)-[0-9]{1,3}(\.[a-f]{1,4})?`
	g1, err := grammar.ParseGBNF(gbnf)
	require.NoError(t, err)
	g2, err := grammar.Regex(re)
	require.NoError(t, err)
	seeds := 12
	if testing.Short() {
		seeds = 4
	}
	for _, c := range []struct {
		name, field string
		g           *grammar.Grammar
		src         string
	}{{"gbnf", "grammar", g1, gbnf}, {"regex", "regex", g2, re}, {"guided_regex", "guided_regex", g2, re}} {
		t.Run(c.name, func(t *testing.T) {
			for seed := range seeds {
				extra := fmt.Sprintf(`%q:%s,"temperature":1.5`, c.field, mustJSON(c.src))
				code, m, _ := post(t, ts.URL+"/v1/completions", structuredBody(false, 3, seed, extra))
				require.Equal(t, 200, code, "%v", m)
				got, finish := texts(t, m, nil, 3)
				for i, s := range got {
					require.Equal(t, "stop", finish[i], "seed %d sample %d: %q", seed, i, s)
					require.True(t, c.g.Match(s), "seed %d sample %d: %q does not match", seed, i, s)
				}
			}
		})
	}
}

// TestGuidedChoice: every output is one of the choices, exactly.
func TestGuidedChoice(t *testing.T) {
	ts, _, _ := newTestServer(t, Config{})
	list := []string{"The cat sat.", "A dog ran!", "Birds (fly) *high*", "A dog"}
	for seed := range 4 {
		code, m, _ := post(t, ts.URL+"/v1/completions", structuredBody(false, 4, seed, `"guided_choice":`+mustJSON(list)))
		require.Equal(t, 200, code, "%v", m)
		got, finish := texts(t, m, nil, 4)
		for i, s := range got {
			require.Equal(t, "stop", finish[i])
			require.Contains(t, list, s)
		}
	}
}

// TestStructuredReasoning: every strategy's answer obeys the constraint.
func TestStructuredReasoning(t *testing.T) {
	ts, _, _ := newTestServer(t, Config{})
	const re = `The answer is [1-9][0-9]?\.`
	g, err := grammar.Regex(re)
	require.NoError(t, err)
	for _, r := range []string{
		`{"strategy":"vote"}`,
		`{"strategy":"best_of_n"}`,
		`{"strategy":"beam"}`,
		`{"strategy":"tree","k":2,"b":2,"depth":3,"step_tokens":8}`,
	} {
		t.Run(r, func(t *testing.T) {
			body := fmt.Sprintf(`{"model":"stories260K","prompt":"Once upon a time","n":3,"seed":5,"max_tokens":40,"regex":%s,"reasoning":%s}`, mustJSON(re), r)
			code, m, _ := post(t, ts.URL+"/v1/completions", body)
			require.Equal(t, 200, code, "%v", m)
			c := choices(t, m)
			require.Len(t, c, 1)
			require.True(t, g.Match(c[0]["text"].(string)), "%q", c[0]["text"])
		})
	}
	t.Run("vote on a JSON field", func(t *testing.T) {
		body := fmt.Sprintf(`{"model":"stories260K","prompt":"Once upon a time","n":5,"seed":5,"max_tokens":300,"response_format":{"type":"json_schema","json_schema":{"schema":%s}},"reasoning":{"strategy":"vote","extract":"json:pet"}}`, petSchema)
		code, m, _ := post(t, ts.URL+"/v1/chat/completions", strings.Replace(body, `"prompt":"Once upon a time"`, `"messages":[{"role":"user","content":"a pet"}]`, 1))
		require.Equal(t, 200, code, "%v", m)
		r := m["reasoning"].(map[string]any)
		require.Contains(t, []any{"cat", "dog", "bird"}, r["answer"], "%v", r)
	})
}

// TestEmptyGrammar: a constraint that admits nothing is a quick 400, for
// the grammar itself and for this model's vocabulary.
func TestEmptyGrammar(t *testing.T) {
	ts, _, _ := newTestServer(t, Config{})
	for _, c := range []struct{ field, src string }{
		{"grammar", `root ::= a
a ::= "x" a`}, // no finite string
		{"regex", `[^\x00-\x{10FFFF}]`},
	} {
		start := time.Now()
		code, m, _ := post(t, ts.URL+"/v1/completions", structuredBody(false, 2, 1, fmt.Sprintf("%q:%s", c.field, mustJSON(c.src))))
		require.Equal(t, 400, code, "%v", m)
		require.Equal(t, c.field, errOf(t, m)["param"])
		require.Less(t, time.Since(start), 5*time.Second)
	}
}

// TestConstraintRejected: what cannot be enforced is a 400 naming why.
func TestConstraintRejected(t *testing.T) {
	ts, _, _ := newTestServer(t, Config{})
	for _, c := range []struct {
		name, path, body, param, says string
	}{
		{"unsupported keywords", "/v1/chat/completions", structuredBody(true, 1, 1,
			`"response_format":{"type":"json_schema","json_schema":{"schema":{"type":"object","not":{},"patternProperties":{"a":{}}}}}`),
			"response_format.json_schema.schema", "not, patternProperties"},
		{"ignore_eos", "/v1/completions", structuredBody(false, 1, 1, `"regex":"a+","ignore_eos":true`), "ignore_eos", "constraint"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, m, _ := post(t, ts.URL+c.path, c.body)
			require.Equal(t, 400, code, "%v", m)
			require.Equal(t, c.param, errOf(t, m)["param"])
			require.Contains(t, errOf(t, m)["message"], c.says)
		})
	}
	t.Run("harmony", func(t *testing.T) {
		url, _, _ := newHarmonyServer(t)
		code, m, _ := post(t, url+"/v1/chat/completions", `{"model":"bigram-harmony","messages":[{"role":"user","content":"Hey"}],"response_format":{"type":"json_object"}}`)
		require.Equal(t, 400, code, "%v", m)
		require.Equal(t, "response_format", errOf(t, m)["param"])
		require.Contains(t, errOf(t, m)["message"], "harmony")
	})
}

// deadEnd is a constraint that allows anything for its first ok tokens,
// then nothing.
type deadEnd struct{ ok int }

type deadEndState struct{ left int }

func (d deadEnd) Start() engine.ConstraintState { return &deadEndState{d.ok} }

func (s *deadEndState) Mask(logits []float32) error {
	if s.left == 0 {
		return fmt.Errorf("test: %w", grammar.ErrEmpty)
	}
	return nil
}
func (s *deadEndState) Accept(int32) error            { s.left--; return nil }
func (s *deadEndState) Clone() engine.ConstraintState { c := *s; return &c }

// TestConstraintDeadEnd: a sample whose constraint runs out of tokens ends
// with finish_reason "error" and an error object; the request succeeds.
func TestConstraintDeadEnd(t *testing.T) {
	_, s, e := newTestServer(t, Config{})
	l := s.model.Load()
	ids := e.Tokenizer().Encode("Once upon a time")
	for _, stream := range []bool{false, true} {
		for _, chat := range []bool{false, true} {
			p := params{Model: "stories260K", N: 2, MaxTokens: 20, Sampling: sample.Params{Temperature: 1, RepeatLastN: sample.DefaultRepeatLastN}, Stream: stream}
			j := &job{chat: chat, params: p, prompts: [][]int32{ids}, texts: []string{"Once upon a time"}, constraint: deadEnd{3}}
			w := httptest.NewRecorder()
			r := httptest.NewRequest(http.MethodPost, "/v1/completions", nil)
			s.generate(w, r, l, j)
			require.Equal(t, 200, w.Code, w.Body.String())
			var list []map[string]any
			if stream {
				st := readSSE(t, w.Body)
				require.True(t, st.done)
				for _, ev := range st.events {
					require.Nil(t, ev["error"], "%v", ev)
					for _, c := range choices(t, ev) {
						if c["finish_reason"] != nil {
							list = append(list, c)
						}
					}
				}
			} else {
				var m map[string]any
				require.NoError(t, json.Unmarshal(w.Body.Bytes(), &m))
				list = choices(t, m)
				require.EqualValues(t, 6, m["usage"].(map[string]any)["completion_tokens"])
			}
			require.Len(t, list, 2)
			for _, c := range list {
				require.Equal(t, "error", c["finish_reason"], "%v", c)
				er := c["error"].(map[string]any)
				require.Equal(t, "constraint_dead_end", er["code"])
				require.Contains(t, er["message"], "admits nothing")
			}
		}
	}
	// A strategy needs all its samples: the request fails, with a 422.
	p := params{Model: "stories260K", N: 2, MaxTokens: 20, Sampling: sample.Params{Temperature: 1}, Reasoning: &reasoning{Strategy: "best_of_n"}}
	j := &job{params: p, prompts: [][]int32{ids}, texts: []string{"Once upon a time"}, constraint: deadEnd{3}}
	w := httptest.NewRecorder()
	s.generate(w, httptest.NewRequest(http.MethodPost, "/v1/completions", nil), l, j)
	require.Equal(t, http.StatusUnprocessableEntity, w.Code, w.Body.String())
	require.Contains(t, w.Body.String(), "constraint_dead_end")
}

// TestEcho: echo puts the prompt before each choice's text; with logprobs
// the prompt's tokens come first, without logprobs of their own.
func TestEcho(t *testing.T) {
	ts, _, e := newTestServer(t, Config{})
	const prompt = "Once upon a time"
	for _, c := range []struct {
		name   string
		prompt any
		echo   string // a token prompt echoes as its detokenized text
	}{{"text", prompt, prompt}, {"tokens", onceIDs, e.Tokenizer().Decode(onceIDs)}} {
		t.Run(c.name, func(t *testing.T) {
			req := map[string]any{"model": "stories260K", "prompt": c.prompt, "max_tokens": 11, "temperature": 0, "echo": true, "n": 2, "logprobs": 2}
			code, m, _ := post(t, ts.URL+"/v1/completions", mustJSON(req))
			require.Equal(t, 200, code, "%v", m)
			for _, ch := range choices(t, m) {
				require.Equal(t, c.echo+onceGreedy[:len(", there was a little girl named Lily.")], ch["text"])
				lp := ch["logprobs"].(map[string]any)
				toks, lps, offs := lp["tokens"].([]any), lp["token_logprobs"].([]any), lp["text_offset"].([]any)
				require.Len(t, toks, 4+11) // the prompt without BOS, then the completion
				require.Len(t, lps, len(toks))
				for i := range toks {
					if i < 4 {
						require.Nil(t, lps[i])
						require.Nil(t, lp["top_logprobs"].([]any)[i])
					} else {
						require.LessOrEqual(t, lps[i].(float64), 0.0)
					}
					if i > 0 {
						require.GreaterOrEqual(t, offs[i].(float64), offs[i-1].(float64))
					}
				}
				require.EqualValues(t, 0, offs[0])
				require.EqualValues(t, len(c.echo), offs[4])
			}
			req["stream"] = true
			_, st := streamPost(t, ts.URL+"/v1/completions", mustJSON(req))
			got, _ := texts(t, nil, &st, 2)
			require.Equal(t, []string{choices(t, m)[0]["text"].(string), choices(t, m)[1]["text"].(string)}, got)
		})
	}
	t.Run("with a strategy", func(t *testing.T) {
		code, m, _ := post(t, ts.URL+"/v1/completions", `{"model":"stories260K","prompt":"Once upon a time","echo":true,"n":3,"max_tokens":8,"reasoning":{"strategy":"best_of_n"}}`)
		require.Equal(t, 200, code, "%v", m)
		text := choices(t, m)[0]["text"].(string)
		require.True(t, strings.HasPrefix(text, prompt) && len(text) > len(prompt), "%v", m)
	})
	t.Run("with a constraint", func(t *testing.T) {
		code, m, _ := post(t, ts.URL+"/v1/completions", `{"model":"stories260K","prompt":"Once upon a time","echo":true,"regex":"[ab]{3}","max_tokens":8}`)
		require.Equal(t, 200, code, "%v", m)
		text := choices(t, m)[0]["text"].(string)
		rest, ok := strings.CutPrefix(text, prompt)
		require.True(t, ok, "%q", text)
		require.Regexp(t, `^[ab]{3}$`, rest)
	})
}

// TestOpenAIPythonClientDefaultModel runs the structured-output cases of
// testdata/openai_client_test.py against the default model (SmolLM2-135M).
func TestOpenAIPythonClientDefaultModel(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary on the default model; skipped in -short mode")
	}
	model := filepath.Join(testmodels.CacheDir(), "SmolLM2-135M-Instruct.Q4_1.gguf")
	if _, err := os.Stat(model); err != nil {
		t.Skipf("default model absent (scripts/fetch-model.sh smollm2-135m-instruct): %v", err)
	}
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not found")
	}
	if out, err := exec.Command(py, "-c", "import openai, pytest").CombinedOutput(); err != nil {
		t.Skipf("the openai or pytest Python package is missing (`pip install openai pytest`): %s", strings.TrimSpace(string(out)))
	}
	s := startServe(t, "-m", model, "--model-name", "smollm2-135m-instruct", "--api-key", "test-key")
	cmd := exec.Command(py, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", "response_format or grammar_and_regex or echo",
		"testdata/openai_client_test.py")
	cmd.Env = append(os.Environ(), "ENGINE_BASE_URL="+s.url+"/v1", "ENGINE_API_KEY=test-key", "ENGINE_MODEL=smollm2-135m-instruct")
	out, err := cmd.CombinedOutput()
	t.Logf("pytest:\n%s", out)
	require.NoError(t, err, "pytest failed")
}
