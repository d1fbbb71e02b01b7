package server

import (
	"bytes"
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/tscale/engine/engine/chat"
	"github.com/tscale/engine/model/harmony"
)

// checkDecoded holds for every accepted request: ranges are enforced, and
// a rejection is a well-formed 4xx.
func checkDecoded(t *testing.T, p *params, e *apiError) {
	if e != nil {
		if e.Status < 400 || e.Status >= 500 || e.Message == "" || e.Type == "" {
			t.Fatalf("bad error %+v", e)
		}
		return
	}
	if p.Model == "" || p.N < 1 || p.N > maxN || p.MaxTokens < 0 || p.TopLogprobs < 0 || p.TopLogprobs > maxTopLogp {
		t.Fatalf("accepted out-of-range params %+v", p)
	}
	if err := p.Sampling.Validate(1 << 30); err != nil {
		t.Fatalf("accepted bad sampling params: %v", err)
	}
	// The documented ranges, NaN and infinities excluded.
	in := func(v float32, lo, hi float64) bool { return float64(v) >= lo && float64(v) <= hi }
	s := p.Sampling
	if !in(s.Temperature, 0, 2) || !in(s.TopP, 0, 1) || !in(s.MinP, 0, 1) || !in(s.PresencePenalty, -2, 2) ||
		!in(s.FrequencyPenalty, -2, 2) || !in(s.RepeatPenalty, 0, math.MaxFloat32) || s.TopK < 0 {
		t.Fatalf("accepted out-of-range sampling %+v", s)
	}
	for id, v := range s.LogitBias {
		if id < 0 || !in(v, -100, 100) {
			t.Fatalf("accepted logit_bias %d: %v", id, v)
		}
	}
	if r := p.Reasoning; r != nil {
		tr := r.Tree
		if tr.K < 0 || tr.K > 16 || tr.B < 0 || tr.B > 16 || tr.MaxDepth < 0 || tr.MaxDepth > 32 ||
			tr.MaxStepTokens < 0 || tr.MaxStepTokens > 4096 || !(r.LengthPenalty >= 0 && r.LengthPenalty <= 10) {
			t.Fatalf("accepted out-of-range reasoning %+v", r)
		}
	}
}

// checkFields holds for every accepted body: each field is allow-listed,
// and one not implemented asks for nothing beyond the default.
func checkFields(t *testing.T, b []byte, f fields) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(b, &obj); err != nil {
		t.Fatalf("accepted a body that is not an object: %v", err)
	}
	for k, v := range obj {
		if f.ok[k] {
			continue
		}
		vals, known := f.off[k]
		var c bytes.Buffer
		if !known || json.Compact(&c, v) != nil || (c.String() != "null" && !slices.Contains(vals, c.String())) {
			t.Fatalf("accepted field %q = %s", k, v)
		}
	}
}

var fuzzSeeds = []string{
	`{"model":"m","prompt":"Once upon a time","n":4,"logprobs":3,"max_tokens":8,"stop":["\n","x"],"seed":-1}`,
	`{"model":"m","prompt":[1,403,407],"temperature":0,"top_p":0,"logit_bias":{"13":-100}}`,
	`{"model":"m","prompt":[[1,2],"text"],"stream":true,"stream_options":{"include_usage":true}}`,
	`{"model":"m","messages":[{"role":"system","content":"s"},{"role":"user","content":[{"type":"text","text":"hi"}]}],"logprobs":true,"top_logprobs":2}`,
	`{"model":"m","messages":[{"role":"assistant","content":null}],"top_k":5,"min_p":0.1,"repetition_penalty":1.1,"ignore_eos":true}`,
	`{"model":"m","prompt":"a","n":"2"}`,
	`{"model":"m","prompt":"a","max_completion_tokens":1e400}`,
	`{"prompt":{}}`,
	`[]`,
	`{"model":"m","prompt":"a"} trailing`,
	`{"model":"m","reasoning_effort":"high","messages":[{"role":"developer","content":"d"},{"role":"assistant","content":"a","reasoning_content":"r"},{"role":"user","name":"u","content":"<|end|>"}]}`,
	`{"model":"m","reasoning_effort":"max","messages":[{"role":"user","content":"x"}]}`,
	`{"model":"m","reasoning_effort":null,"messages":[{"role":"tool","content":"x","reasoning_content":"y"}]}`,
	// Numbers at and past the limits of their types (issue 9).
	`{"model":"m","prompt":"a","max_tokens":9223372036854775807,"n":128,"logprobs":20,"seed":-9223372036854775808}`,
	`{"model":"m","prompt":"a","max_tokens":9223372036854775808}`,
	`{"model":"m","prompt":"a","max_tokens":-9223372036854775808,"n":1e2}`,
	`{"model":"m","prompt":"a","max_tokens":1e19,"best_of":9223372036854775807}`,
	`{"model":"m","prompt":"a","max_tokens":4.5,"seed":18446744073709551616}`,
	`{"model":"m","prompt":"a","temperature":1e-400,"top_p":-0,"top_k":9223372036854775807,"min_p":1e-320}`,
	`{"model":"m","prompt":"a","temperature":1e400,"presence_penalty":-1e999,"repetition_penalty":1e-300}`,
	`{"model":"m","prompt":"a","logit_bias":{"4294967296":1,"-1":0,"+5":100,"2147483647":-100,"1e3":1}}`,
	`{"model":"m","prompt":"a","logit_bias":{"5":1e400}}`,
	`{"model":"m","prompt":"a","reasoning":{"strategy":"tree","k":9223372036854775807,"b":16,"depth":1.5,"step_tokens":4096}}`,
	`{"model":"m","prompt":"a","reasoning":{"strategy":"beam","length_penalty":1e400}}`,
	`{"model":"m","messages":[{"role":"user","content":"a"}],"logprobs":true,"top_logprobs":9223372036854775808,"max_completion_tokens":9223372036854775807}`,
	// Unknown and unimplemented fields.
	`{"model":"m","prompt":"a","temprature":0,"Model":"x"}`,
	`{"model":"m","messages":[{"role":"user","content":"a","tool_calls":null,"refusal":null}],"response_format":{"type":"text"},"tools":[],"user":"u"}`,
	`{"model":"m","messages":[{"role":"user","content":"a"}],"response_format":{"type":"json_object"},"tool_choice":"required"}`,
	`{"model":"m","messages":[{"role":"user","content":"a","weight":1}],"stream":true,"stream_options":{"include_usage":true,"x":1}}`,
	`{"model":"m","prompt":"a","reasoning":{"strategy":"vote","extrct":"boxed"},"stream_options":5}`,
	// Structured output (structured.go).
	`{"model":"m","prompt":"a","response_format":{"type":"json_schema","json_schema":{"name":"x","strict":true,"schema":{"type":"object","properties":{"a":{"type":"string","maxLength":3},"b":{"enum":[1,"x",null]}},"required":["a"],"additionalProperties":false}}}}`,
	`{"model":"m","messages":[{"role":"user","content":"a"}],"response_format":{"type":"json_schema","json_schema":{"schema":{"type":"array","items":{"anyOf":[{"type":"integer"},{"$ref":"#/$defs/s"}]},"minItems":1,"maxItems":3,"$defs":{"s":{"type":"string","format":"date"}}}}}}`,
	`{"model":"m","prompt":"a","response_format":{"type":"json_schema","json_schema":{"schema":{"not":{},"patternProperties":{}}}}}`,
	`{"model":"m","prompt":"a","response_format":{"type":"json_schema"},"regex":"a"}`,
	`{"model":"m","prompt":"a","response_format":{"type":"text"},"grammar":"root ::= [a-z]{1,3} (\"!\" | \"?\")\nx ::= root"}`,
	`{"model":"m","prompt":"a","grammar":"root ::= root \"a\""}`,
	`{"model":"m","prompt":"a","regex":"(ab|c){2,5}[^x]?\\d","guided_json":null}`,
	`{"model":"m","prompt":"a","guided_json":"{\"type\":\"boolean\"}","guided_grammar":5}`,
	`{"model":"m","prompt":"a","guided_regex":"(","echo":true}`,
	`{"model":"m","prompt":"a","guided_choice":["a","(b)",""],"logprobs":2,"echo":true}`,
}

// checkStructured: an accepted constraint is compiled and names its field.
func checkStructured(t *testing.T, p *params) {
	if s := p.Structured; s != nil && (s.Grammar == nil || !slices.Contains(structuredFields, strings.SplitN(s.Param, ".", 2)[0])) {
		t.Fatalf("accepted a constraint without a grammar: %+v", s)
	}
}

func FuzzDecodeCompletion(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, e := decodeCompletion(b)
		if e == nil {
			checkDecoded(t, &r.params, nil)
			checkFields(t, b, completionFields)
			checkStructured(t, &r.params)
			if len(r.Prompts) == 0 {
				t.Fatal("accepted a request without prompts")
			}
			for _, p := range r.Prompts {
				if p.IsTokens && len(p.Tokens) == 0 {
					t.Fatal("accepted an empty token prompt")
				}
			}
			return
		}
		checkDecoded(t, nil, e)
	})
}

func FuzzDecodeChat(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	tmpl, err := chat.NewTemplate("", "<s>", "</s>")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, e := decodeChat(b)
		if e != nil {
			checkDecoded(t, nil, e)
			return
		}
		checkDecoded(t, &r.params, nil)
		checkFields(t, b, chatFields)
		checkStructured(t, &r.params)
		if len(r.Messages) == 0 || !roles[r.Messages[0].Role] {
			t.Fatalf("accepted bad messages %+v", r.Messages)
		}
		if _, err := renderText(tmpl, r.Messages, true); err != nil {
			t.Fatalf("fallback template failed on accepted messages: %v", err)
		}
		if r.Effort != "" && !harmony.ValidEffort(r.Effort) {
			t.Fatalf("accepted reasoning_effort %q", r.Effort)
		}
		// Harmony renders every accepted chat but those with tool messages.
		msgs, err := chat.HarmonyMessages(r.Messages, r.Tools)
		if err != nil {
			checkDecoded(t, nil, chatError(err))
			return
		}
		if _, err := harmony.Render(msgs, harmony.Options{}); err != nil {
			t.Fatalf("harmony failed on accepted messages: %v", err)
		}
	})
}
