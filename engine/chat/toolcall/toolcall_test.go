package toolcall

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tscale/engine/model/harmony"
)

// Recorded replies (Qwen 2.5 / Qwen 3 / SmolLM3 style, Llama 3.1, and
// malformed ones) and what they parse into.
var cases = []struct {
	name    string
	f       Format
	text    string
	content string
	calls   []Call
}{
	{"hermes one", Hermes, "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"unit\": \"c\"}}\n</tool_call>", "",
		[]Call{{"get_weather", `{"city":"Paris","unit":"c"}`}}},
	{"hermes parallel", Hermes, "<tool_call>\n{\"name\": \"a\", \"arguments\": {\"x\": 1}}\n</tool_call>\n<tool_call>\n{\"name\": \"b\", \"arguments\": {}}\n</tool_call>", "",
		[]Call{{"a", `{"x":1}`}, {"b", `{}`}}},
	{"hermes with text", Hermes, "Let me check.\n<tool_call>\n{\"name\": \"f\", \"arguments\": {\"q\": \"<tool_call>\"}}\n</tool_call>\n", "Let me check.",
		[]Call{{"f", `{"q":"<tool_call>"}`}}},
	{"qwen3 thinking first", Hermes, "<think>\nNeed weather.\n</think>\n\n<tool_call>\n{\"name\": \"w\", \"arguments\": {\"c\": \"X\"}}\n</tool_call>", "<think>\nNeed weather.\n</think>",
		[]Call{{"w", `{"c":"X"}`}}},
	{"hermes arguments as string", Hermes, `<tool_call>{"name": "f", "arguments": "{\"a\": [1, 2]}"}</tool_call>`, "", []Call{{"f", `{"a":[1,2]}`}}},
	{"hermes no arguments", Hermes, `<tool_call>{"name": "now"}</tool_call>`, "", []Call{{"now", `{}`}}},
	{"hermes parameters key", Hermes, `<tool_call>{"name": "f", "parameters": {"a": true}}</tool_call>`, "", []Call{{"f", `{"a":true}`}}},
	{"hermes unclosed at the end", Hermes, "<tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": 1}}\n", "", []Call{{"f", `{"a":1}`}}},
	{"hermes bad json stays content", Hermes, "<tool_call>{\"name\": \"f\", \"arguments\": {\"a\": }</tool_call> ok", "<tool_call>{\"name\": \"f\", \"arguments\": {\"a\": }</tool_call> ok", nil},
	{"hermes no name", Hermes, `<tool_call>{"arguments": {}}</tool_call>`, `<tool_call>{"arguments": {}}</tool_call>`, nil},
	{"hermes arguments not an object", Hermes, `<tool_call>{"name": "f", "arguments": [1]}</tool_call>`, `<tool_call>{"name": "f", "arguments": [1]}</tool_call>`, nil},
	{"hermes plain text", Hermes, "Hello <tool there.\n", "Hello <tool there.\n", nil},
	{"llama3 json", Llama3, `{"name": "get_weather", "parameters": {"city": "Paris"}}`, "", []Call{{"get_weather", `{"city":"Paris"}`}}},
	{"llama3 python tag", Llama3, "<|python_tag|>{\"name\": \"f\", \"parameters\": {\"n\": 2.5}}", "", []Call{{"f", `{"n":2.5}`}}},
	{"llama3 two calls", Llama3, `{"name": "a", "parameters": {}}; {"name": "b", "arguments": {"x": "y"}}`, "", []Call{{"a", `{}`}, {"b", `{"x":"y"}`}}},
	{"llama3 text", Llama3, "The weather is fine.", "The weather is fine.", nil},
	{"llama3 json without name is content", Llama3, `{"answer": 42}`, `{"answer": 42}`, nil},
	{"llama3 json then text is content", Llama3, `{"name": "a", "parameters": {}} and more`, `{"name": "a", "parameters": {}} and more`, nil},
	{"llama3 tag prefix only", Llama3, "<|py", "<|py", nil},
	{"llama3 after much whitespace", Llama3, strings.Repeat(" \n", 300) + `{"name": "a", "parameters": {}}`, "", []Call{{"a", `{}`}}},
}

func TestParse(t *testing.T) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			content, calls := Parse(tc.f, tc.text)
			require.Equal(t, tc.content, content)
			require.Equal(t, tc.calls, calls)
			// Streamed a byte at a time: the same.
			sc, scalls := streamed(tc.f, tc.text, 1)
			require.Equal(t, tc.content, sc)
			require.Equal(t, tc.calls, scalls)
		})
	}
}

// streamed parses text in pieces of size n.
func streamed(f Format, text string, n int) (string, []Call) {
	s := NewStream(f)
	var b strings.Builder
	var calls []Call
	for i := 0; i < len(text); i += n {
		c, k := s.Add(text[i:min(i+n, len(text))])
		b.WriteString(c)
		calls = append(calls, k...)
	}
	c, k := s.Close()
	b.WriteString(c)
	return b.String(), append(calls, k...)
}

// TestStreamHoldsBackOnlyMarkers: plain content goes out as it comes, but
// for what may begin a marker.
func TestStreamHoldsBackOnlyMarkers(t *testing.T) {
	s := NewStream(Hermes)
	c, _ := s.Add("Hi there <tool")
	require.Equal(t, "Hi there", c) // the space waits for the next content
	c, _ = s.Add("box> ok")
	require.Equal(t, " <toolbox> ok", c)
}

func TestDetect(t *testing.T) {
	require.Equal(t, Hermes, Detect(`{{ '<tool_call>' }}`))
	require.Equal(t, Llama3, Detect(`{{ "<|python_tag|>" }} ipython`))
	require.Equal(t, Hermes, Detect(`{{ messages }}`))
}

func TestFromHarmony(t *testing.T) {
	h := harmony.Parse("<|channel|>analysis<|message|>Need it.<|end|><|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{\"city\": \"Paris\"}<|call|>")
	var calls []Call
	for _, m := range h.Messages {
		if c, ok := FromHarmony(m); ok {
			calls = append(calls, c)
		}
	}
	require.Equal(t, []Call{{"get_weather", `{"city":"Paris"}`}}, calls)
	_, ok := FromHarmony(harmony.Message{Role: "assistant", Channel: "final", Content: "x"})
	require.False(t, ok)
}

// FuzzToolCalls: no panic; calls have names and object arguments; any
// split of the text parses as the whole does.
func FuzzToolCalls(f *testing.F) {
	for _, tc := range cases {
		f.Add(int(tc.f), tc.text, 3)
	}
	f.Fuzz(func(t *testing.T, format int, text string, n int) {
		fm := Format(uint(format) % 3)
		content, calls := Parse(fm, text)
		for _, c := range calls {
			if c.Name == "" || !json.Valid([]byte(c.Arguments)) || c.Arguments[0] != '{' {
				t.Fatalf("bad call %+v", c)
			}
		}
		sc, scalls := streamed(fm, text, 1+int(uint(n)%17))
		if sc != content || len(scalls) != len(calls) {
			t.Fatalf("streamed %q %v, whole %q %v", sc, scalls, content, calls)
		}
		for i := range calls {
			if calls[i] != scalls[i] {
				t.Fatalf("streamed %v, whole %v", scalls, calls)
			}
		}
	})
}

// BenchmarkStream: the parser's cost per token on a reply with a long
// call (a few bytes a token, as models write).
func BenchmarkStream(b *testing.B) {
	args := `{"text": "` + strings.Repeat("lorem ipsum ", 2000) + `"}`
	reply := "Let me do that.\n<tool_call>\n{\"name\": \"write\", \"arguments\": " + args + "}\n</tool_call>"
	var pieces []string
	for i := 0; i < len(reply); i += 4 {
		pieces = append(pieces, reply[i:min(i+4, len(reply))])
	}
	b.ReportAllocs()
	for b.Loop() {
		s := NewStream(Hermes)
		n := 0
		for _, p := range pieces {
			_, c := s.Add(p)
			n += len(c)
		}
		_, c := s.Close()
		if n+len(c) != 1 {
			b.Fatal("no call")
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(pieces)), "ns/token")
}
