package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tscale/engine/engine"
	"github.com/tscale/engine/engine/chat"
	"github.com/tscale/engine/engine/chat/toolcall"
	"github.com/tscale/engine/engine/grammar"
	"github.com/tscale/engine/model/harmony"
	"github.com/tscale/engine/model/tokenizer"
)

// renderText renders msgs with tmpl, as text.
func renderText(tmpl *chat.Template, msgs []message, gen bool, vars ...string) (string, error) {
	out, err := tmpl.Render(context.Background(), msgs, nil, gen, vars...)
	return out.S, err
}

// harmonyTokenIDs are the ids of harmony's special tokens in tok.
func harmonyTokenIDs(tok *tokenizer.Tokenizer) (map[string]int32, error) {
	ids := map[string]int32{}
	for _, s := range harmony.Specials {
		id, ok := tok.TokenID(s)
		if !ok {
			return nil, fmt.Errorf("no %s", s)
		}
		ids[s] = id
	}
	return ids, nil
}

var weatherTools = []map[string]any{
	{"type": "function", "function": map[string]any{"name": "get_weather", "description": "Weather in a city.",
		"parameters": map[string]any{"type": "object", "properties": map[string]any{
			"city": map[string]any{"type": "string", "maxLength": 12},
			"unit": map[string]any{"type": "string", "enum": []string{"celsius", "fahrenheit"}}},
			"required": []string{"city", "unit"}, "additionalProperties": false}}},
	{"type": "function", "function": map[string]any{"name": "get_time"}},
}

// checkWeather: a call's arguments are what get_weather's schema admits.
func checkWeather(t *testing.T, args string) {
	t.Helper()
	var a map[string]any
	require.NoError(t, json.Unmarshal([]byte(args), &a), args)
	require.Len(t, a, 2, args)
	city, ok := a["city"].(string)
	require.True(t, ok, args)
	require.LessOrEqual(t, len([]rune(city)), 12)
	require.Contains(t, []any{"celsius", "fahrenheit"}, a["unit"], args)
}

func toolRequest(extra map[string]any) map[string]any {
	req := map[string]any{"model": "stories260K", "tools": weatherTools, "max_tokens": 120, "seed": 7,
		"messages": []map[string]any{{"role": "user", "content": "What is the weather in Paris?"}}}
	for k, v := range extra {
		req[k] = v
	}
	return req
}

// TestToolChoiceRequired: with tool_choice required (or a named
// function) the grammar makes even stories260K call a tool with valid
// arguments, in whole responses and in streams, for every sample.
func TestToolChoiceRequired(t *testing.T) {
	ts, _, _ := newTestServer(t, Config{})
	for _, tc := range []struct {
		name   string
		choice any
		want   string // the function, "" for any
	}{
		{"required", "required", ""},
		{"named", map[string]any{"type": "function", "function": map[string]any{"name": "get_weather"}}, "get_weather"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := toolRequest(map[string]any{"tool_choice": tc.choice, "n": 3, "parallel_tool_calls": false})
			code, m, _ := post(t, ts.URL+"/v1/chat/completions", mustJSON(req))
			require.Equal(t, 200, code, "%v", m)
			for _, c := range choices(t, m) {
				require.Equal(t, "tool_calls", c["finish_reason"], "%v", c)
				msg := c["message"].(map[string]any)
				calls := msg["tool_calls"].([]any)
				require.Len(t, calls, 1)
				call := calls[0].(map[string]any)
				require.Equal(t, "function", call["type"])
				require.True(t, strings.HasPrefix(call["id"].(string), "call_"))
				fn := call["function"].(map[string]any)
				if tc.want != "" {
					require.Equal(t, tc.want, fn["name"])
				}
				if fn["name"] == "get_weather" {
					checkWeather(t, fn["arguments"].(string))
				} else {
					require.Equal(t, "get_time", fn["name"])
					require.True(t, json.Valid([]byte(fn["arguments"].(string))))
				}
				require.Equal(t, "", strings.TrimSpace(msg["content"].(string)))
			}

			// Streamed: the same calls, as deltas with an index.
			req["stream"] = true
			_, st := streamPost(t, ts.URL+"/v1/chat/completions", mustJSON(req))
			require.True(t, st.done)
			got := map[int][]map[string]any{}
			finish := map[int]any{}
			for _, ev := range st.events[1:] {
				c := choices(t, ev)[0]
				i := int(c["index"].(float64))
				if d, ok := c["delta"].(map[string]any)["tool_calls"].([]any); ok {
					for _, x := range d {
						call := x.(map[string]any)
						require.EqualValues(t, len(got[i]), call["index"])
						got[i] = append(got[i], call)
					}
				}
				if c["finish_reason"] != nil {
					finish[i] = c["finish_reason"]
				}
			}
			for i, c := range choices(t, m) {
				require.Equal(t, "tool_calls", finish[i])
				require.Len(t, got[i], 1)
				want := c["message"].(map[string]any)["tool_calls"].([]any)[0].(map[string]any)["function"]
				require.Equal(t, want, got[i][0]["function"]) // same seed, same call
			}
		})
	}
}

// TestToolRoundTrip: an assistant turn with a call and the tool's result
// render into the prompt (the fallback template's lines) and are answered.
func TestToolRoundTrip(t *testing.T) {
	ts, s, e := newTestServer(t, Config{})
	msgs := []map[string]any{
		{"role": "user", "content": "Weather in Paris?"},
		{"role": "assistant", "content": nil, "tool_calls": []map[string]any{{"id": "call_1", "type": "function",
			"function": map[string]any{"name": "get_weather", "arguments": `{"city": "Paris", "unit": "celsius"}`}}}},
		{"role": "tool", "tool_call_id": "call_1", "content": "21 degrees"},
	}
	code, m, _ := post(t, ts.URL+"/v1/chat/completions", mustJSON(map[string]any{"model": "stories260K", "tools": weatherTools,
		"messages": msgs, "max_tokens": 8, "temperature": 0}))
	require.Equal(t, 200, code, "%v", m)
	req, ae := decodeChat([]byte(mustJSON(map[string]any{"model": "m", "tools": weatherTools, "messages": msgs})))
	require.Nil(t, ae)
	c, ae := renderChat(context.Background(), s.model.Load().chat, e.Tokenizer(), req, "2026-01-01")
	require.Nil(t, ae)
	require.Contains(t, c.Text, "User: Weather in Paris?\nAssistant: <tool_call>{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"unit\": \"celsius\"}}</tool_call>\nTool: 21 degrees\nAssistant:")
	require.EqualValues(t, len(c.Prompt), m["usage"].(map[string]any)["prompt_tokens"])
	require.Contains(t, []any{"stop", "length"}, choices(t, m)[0]["finish_reason"])
}

func TestToolDecodeErrors(t *testing.T) {
	ts, _, _ := newTestServer(t, Config{})
	user := `"messages":[{"role":"user","content":"x"}]`
	fn := func(body string) string { return `[{"type":"function","function":` + body + `}]` }
	for _, tc := range []struct{ body, param, msg string }{
		{`"tools":5`, "tools", "must be an array"},
		{`"tools":[{"type":"retrieval"}]`, "tools[0].type", "only tools of type"},
		{`"tools":[{"type":"function"}]`, "tools[0].function", "missing"},
		{`"tools":` + fn(`{"description":"d"}`), "tools[0].function.name", "missing"},
		{`"tools":` + fn(`{"name":"a b"}`), "tools[0].function.name", "letters, digits"},
		{`"tools":` + fn(`{"name":"f","parameters":[1]}`), "tools[0].function.parameters", "JSON Schema object"},
		{`"tools":` + fn(`{"name":"f","colour":1}`), "tools[0].function.colour", "Unrecognized"},
		{`"tools":[{"type":"function","function":{"name":"f"}},{"type":"function","function":{"name":"f"}}]`, "tools[1].function.name", "defined twice"},
		{`"tool_choice":"required"`, "tool_choice", "needs 'tools'"},
		{`"tools":` + fn(`{"name":"f"}`) + `,"tool_choice":"always"`, "tool_choice", "must be"},
		{`"tools":` + fn(`{"name":"f"}`) + `,"tool_choice":{"type":"function","function":{"name":"g"}}`, "tool_choice", "not in 'tools'"},
		{`"tools":` + fn(`{"name":"f","parameters":{"type":"object","properties":{"a":{"type":"string","not":{}}}}}`) + `,"tool_choice":"required"`, "tools[0].function.parameters", "unsupported"},
		{`"tools":` + fn(`{"name":"f"}`) + `,"tool_choice":"required","response_format":{"type":"json_object"}`, "tool_choice", "cannot be combined"},
	} {
		body := `{"model":"stories260K",` + user + `,` + tc.body + `}`
		code, m, _ := post(t, ts.URL+"/v1/chat/completions", body)
		require.Equal(t, http.StatusBadRequest, code, body)
		e := m["error"].(map[string]any)
		require.Equal(t, tc.param, e["param"], body)
		require.Contains(t, e["message"], tc.msg, body)
	}
	for _, tc := range []struct{ msgs, param string }{
		{`[{"role":"tool","content":"x"}]`, "messages[0].tool_call_id"},
		{`[{"role":"user","content":"x","tool_calls":[]}]`, "messages[0].tool_calls"},
		{`[{"role":"assistant","tool_calls":[{"type":"function","function":{}}]}]`, "messages[0].tool_calls[0].function.name"},
		{`[{"role":"assistant","tool_calls":[{"function":{"name":"f","args":"{}"}}]}]`, "messages[0].tool_calls[0].function.args"},
		{`[{"role":"assistant","tool_calls":{}}]`, "messages[0].tool_calls"},
	} {
		body := `{"model":"stories260K","messages":` + tc.msgs + `}`
		code, m, _ := post(t, ts.URL+"/v1/chat/completions", body)
		require.Equal(t, http.StatusBadRequest, code, body)
		require.Equal(t, tc.param, m["error"].(map[string]any)["param"], body)
	}
}

// TestToolGrammar: the grammar of each format admits the calls the
// format's parser reads, and nothing else.
func TestToolGrammar(t *testing.T) {
	tools := []chat.Tool{{Name: "f", Parameters: json.RawMessage(`{"type":"object","properties":{"a":{"type":"integer"}},"required":["a"]}`)}, {Name: "g"},
		{Name: "h", Parameters: json.RawMessage(`{"type":"object","properties":{},"additionalProperties":true}`)}}
	for _, tc := range []struct {
		f      toolcall.Format
		use    toolUse
		ok, no []string
	}{
		{toolcall.Hermes, toolUse{Choice: choiceRequired},
			[]string{"<tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": 1}}\n</tool_call>", "<tool_call>\n{\"name\": \"g\", \"arguments\": {}}\n</tool_call>"},
			[]string{"hello", "<tool_call>\n{\"name\": \"k\", \"arguments\": {}}\n</tool_call>", "<tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": \"x\"}}\n</tool_call>",
				"<tool_call>\n{\"name\": \"g\", \"arguments\": {}}\n</tool_call>\n<tool_call>\n{\"name\": \"g\", \"arguments\": {}}\n</tool_call>"}},
		{toolcall.Hermes, toolUse{Choice: choiceRequired, Parallel: true},
			[]string{"<tool_call>\n{\"name\": \"g\", \"arguments\": {}}\n</tool_call>\n<tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": 2}}\n</tool_call>"}, nil},
		{toolcall.Hermes, toolUse{Choice: choiceFunction, Name: "g"},
			[]string{"<tool_call>\n{\"name\": \"g\", \"arguments\": {}}\n</tool_call>"}, []string{"<tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": 1}}\n</tool_call>"}},
		{toolcall.Llama3, toolUse{Choice: choiceRequired},
			[]string{`{"name": "f", "parameters": {"a": -3}}`}, []string{`{"name": "f", "arguments": {"a": -3}}`}},
		// Without additionalProperties, no arguments beyond the properties.
		{toolcall.Hermes, toolUse{Choice: choiceFunction, Name: "g"}, nil,
			[]string{"<tool_call>\n{\"name\": \"g\", \"arguments\": {\"x\": 1}}\n</tool_call>"}},
		{toolcall.Hermes, toolUse{Choice: choiceFunction, Name: "h"},
			[]string{"<tool_call>\n{\"name\": \"h\", \"arguments\": {\"x\": 1}}\n</tool_call>"}, nil},
	} {
		src, e := toolGBNF(tools, tc.use, tc.f)
		require.Nil(t, e)
		g, err := grammarOf(src)
		require.NoError(t, err, src)
		for _, s := range tc.ok {
			require.True(t, g(s), "%s\nrejects %q", src, s)
			_, calls := toolcall.Parse(tc.f, s)
			require.NotEmpty(t, calls, s)
		}
		for _, s := range tc.no {
			require.False(t, g(s), "%s\nadmits %q", src, s)
		}
	}
}

// grammarOf compiles GBNF into a whole-string matcher (tests).
func grammarOf(src string) (func(string) bool, error) {
	g, err := grammar.ParseGBNF(src)
	if err != nil {
		return nil, err
	}
	return g.Match, nil
}

// harmonyTokens are the prompt tokens of p for tok's model.
func harmonyTokens(t *testing.T, tok *tokenizer.Tokenizer, p harmony.Prompt) []int32 {
	ids, err := chat.HarmonyTokens(tok, p)
	require.NoError(t, err)
	return ids
}

// streamReply streams pieces as one choice's events through a responder
// and returns the choice's content, its calls (arguments joined by index)
// and its finish_reason.
func streamReply(t *testing.T, j *job, pieces []string) (string, []map[string]any, any) {
	t.Helper()
	rec := httptest.NewRecorder()
	o := &responder{w: rec, j: j, l: &loaded{name: "m"}, id: "x"}
	o.startStream(1)
	for k, p := range pieces {
		ev := engine.Event{Token: 1, Text: p}
		if k == len(pieces)-1 {
			ev.Finish = engine.FinishStop
		}
		require.NoError(t, o.chunk(0, ev, nil, nil))
	}
	st := readSSE(t, strings.NewReader(rec.Body.String()))
	var content strings.Builder
	var calls []map[string]any
	var finish any
	for _, ev := range st.events[1:] {
		c := choices(t, ev)[0]
		d := c["delta"].(map[string]any)
		if s, ok := d["content"].(string); ok {
			content.WriteString(s)
		}
		if tc, ok := d["tool_calls"].([]any); ok {
			for _, x := range tc {
				call := x.(map[string]any)
				require.EqualValues(t, len(calls), call["index"])
				calls = append(calls, call["function"].(map[string]any))
			}
		}
		if c["finish_reason"] != nil {
			finish = c["finish_reason"]
		}
	}
	return content.String(), calls, finish
}

// TestStreamedToolCalls: recorded replies streamed a few bytes at a time
// come out as content deltas and one delta per call, for Hermes and
// harmony; with tool_choice none they stay content.
func TestStreamedToolCalls(t *testing.T) {
	split := func(s string, n int) []string {
		var out []string
		for i := 0; i < len(s); i += n {
			out = append(out, s[i:min(i+n, len(s))])
		}
		return out
	}
	auto := &toolUse{Choice: choiceAuto, Parallel: true}
	hermes := "Sure.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>\n<tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}\n</tool_call>"
	content, calls, finish := streamReply(t, &job{chat: true, tools: auto, toolFormat: toolcall.Hermes}, split(hermes, 3))
	require.Equal(t, "Sure.", content)
	require.Equal(t, []map[string]any{{"name": "get_weather", "arguments": `{"city":"Paris"}`}, {"name": "get_time", "arguments": `{}`}}, calls)
	require.Equal(t, "tool_calls", finish)

	// Without parallel calls only the first is kept.
	_, calls, _ = streamReply(t, &job{chat: true, tools: &toolUse{Choice: choiceAuto}, toolFormat: toolcall.Hermes}, split(hermes, 5))
	require.Len(t, calls, 1)

	// tool_choice none: the text as it is.
	content, calls, finish = streamReply(t, &job{chat: true, tools: &toolUse{Choice: choiceNone}, toolFormat: toolcall.Hermes}, split(hermes, 4))
	require.Equal(t, hermes, content)
	require.Empty(t, calls)
	require.Equal(t, "stop", finish)

	h := "<|channel|>analysis<|message|>Need the weather.<|end|><|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{\"city\": \"Paris\"}<|call|>"
	content, calls, finish = streamReply(t, &job{chat: true, harmony: true, tools: auto, toolFormat: toolcall.Harmony}, split(h, 7))
	require.Equal(t, "", content)
	require.Equal(t, []map[string]any{{"name": "get_weather", "arguments": `{"city":"Paris"}`}}, calls)
	require.Equal(t, "tool_calls", finish)

	// The whole response reads the same calls.
	_, whole := (&job{tools: auto, toolFormat: toolcall.Hermes}).replyCalls(hermes)
	require.Len(t, whole, 2)
	require.Equal(t, "get_time", whole[1].Function.Name)
}

// TestHarmonyForcedCall: in harmony a required call of the one tool (or a
// named one) opens the call's header in the prompt and holds the reply to
// the arguments, so the bigram model, which would think and say "Hi!",
// calls the function with valid arguments; streamed the same.
func TestHarmonyForcedCall(t *testing.T) {
	url, _, _ := newHarmonyServer(t)
	tools := []map[string]any{{"type": "function", "function": map[string]any{"name": "pick",
		"parameters": map[string]any{"type": "object", "properties": map[string]any{"a": map[string]any{"enum": []string{"x", "yy"}}}, "required": []string{"a"}}}}}
	req := map[string]any{"model": "bigram-harmony", "temperature": 0, "max_tokens": 300, "tools": tools, "tool_choice": "required",
		"messages": []map[string]any{{"role": "user", "content": "Hey"}}}
	code, m, _ := post(t, url+"/v1/chat/completions", mustJSON(req))
	require.Equal(t, 200, code, "%v", m)
	c := choices(t, m)[0]
	require.Equal(t, "tool_calls", c["finish_reason"], "%v", c)
	msg := c["message"].(map[string]any)
	calls := msg["tool_calls"].([]any)
	require.Len(t, calls, 1)
	fn := calls[0].(map[string]any)["function"].(map[string]any)
	require.Equal(t, "pick", fn["name"])
	var args map[string]any
	require.NoError(t, json.Unmarshal([]byte(fn["arguments"].(string)), &args))
	require.Contains(t, []any{"x", "yy"}, args["a"])
	require.Equal(t, "", msg["content"])

	req["stream"] = true
	_, st := streamPost(t, url+"/v1/chat/completions", mustJSON(req))
	var got []any
	var finish any
	for _, ev := range st.events[1:] {
		c := choices(t, ev)[0]
		if d, ok := c["delta"].(map[string]any)["tool_calls"].([]any); ok {
			got = append(got, d...)
		}
		if c["finish_reason"] != nil {
			finish = c["finish_reason"]
		}
	}
	require.Equal(t, "tool_calls", finish)
	require.Len(t, got, 1)
	require.Equal(t, fn, got[0].(map[string]any)["function"])

	// Auto: the bigram model does not call; its reply as usual.
	req["stream"], req["tool_choice"], req["presence_penalty"], req["max_tokens"] = false, "auto", 2, 40
	_, m, _ = post(t, url+"/v1/chat/completions", mustJSON(req))
	c = choices(t, m)[0]
	require.Equal(t, "stop", c["finish_reason"], "%v", c)
	require.NotContains(t, c["message"], "tool_calls")
	require.Equal(t, " Hi!", c["message"].(map[string]any)["content"])
}

// TestToolConstraintCached: the same tools compile once; the constraint
// (and the masks it has built) is reused.
func TestToolConstraintCached(t *testing.T) {
	e := openEngine(t)
	tools := []chat.Tool{{Name: "cached_tool", Parameters: json.RawMessage(`{"type":"object","properties":{"q":{"type":"string"}}}`)}}
	u := toolUse{Choice: choiceRequired}
	a, ae := toolConstraint(e.Tokenizer(), tools, u, toolcall.Hermes)
	require.Nil(t, ae)
	b, ae := toolConstraint(e.Tokenizer(), tools, u, toolcall.Hermes)
	require.Nil(t, ae)
	require.Same(t, a, b)
	c, ae := argsConstraint(e.Tokenizer(), tools, "cached_tool")
	require.Nil(t, ae)
	d, ae := argsConstraint(e.Tokenizer(), tools, "cached_tool")
	require.Nil(t, ae)
	require.Same(t, c, d)
}
