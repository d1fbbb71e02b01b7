// Package toolcall reads function calls out of a model's reply, in the
// forms of the model families the engine runs: Hermes' <tool_call> tags
// (Qwen 2.5 / 3, SmolLM3 and the fallback template), Llama 3.x JSON calls
// and gpt-oss harmony's commentary messages to=functions.NAME. Stream
// parses as the text comes, holding back only what may still become a
// call; Parse is Stream on the whole text.
package toolcall

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/tscale/engine/model/harmony"
)

// Format is how a model writes its calls.
type Format int

const (
	Hermes  Format = iota // <tool_call>{"name": ..., "arguments": {...}}</tool_call>, one per call
	Llama3                // the whole reply {"name": ..., "parameters": {...}}, maybe after <|python_tag|>
	Harmony               // harmony messages with recipient functions.NAME
)

func (f Format) String() string {
	switch f {
	case Llama3:
		return "llama3"
	case Harmony:
		return "harmony"
	}
	return "hermes"
}

// Detect picks the format from a Jinja chat template: Llama 3's when it
// speaks of <|python_tag|> or ipython, Hermes' otherwise (templates with
// <tool_call>, and the default for templates that show no calls).
func Detect(template string) Format {
	if !strings.Contains(template, "<tool_call>") &&
		(strings.Contains(template, "<|python_tag|>") || strings.Contains(template, "ipython")) {
		return Llama3
	}
	return Hermes
}

// Call is one function call: a name and its arguments, compact JSON text
// of an object.
type Call struct {
	Name      string
	Arguments string
}

// Markers of the formats.
const (
	Open      = "<tool_call>"
	Close     = "</tool_call>"
	PythonTag = "<|python_tag|>"
)

// Parse splits a whole reply into its content and calls. Text that looks
// like a call but is not one (bad JSON, no name) stays content.
func Parse(f Format, text string) (string, []Call) {
	s := NewStream(f)
	c1, k1 := s.Add(text)
	c2, k2 := s.Close()
	return c1 + c2, append(k1, k2...)
}

// Stream parses a reply as it comes.
type Stream struct {
	f      Format
	buf    []byte // text not decided yet
	in     bool   // Hermes: inside <tool_call>
	from   int    // Hermes, inside: where in buf </tool_call> may begin (earlier bytes were searched)
	mode   int    // Llama3: undecided, content or json
	ws     string // trailing whitespace of the content, held back
	called bool
}

// Llama 3 modes.
const (
	undecided = iota
	content
	calls
)

// NewStream starts parsing a reply in format f (Harmony: use
// FromHarmony on the harmony parser's messages instead; the text passes
// through as content).
func NewStream(f Format) *Stream { return &Stream{f: f} }

// Add takes the next text and returns the content and the calls it
// completes.
func (s *Stream) Add(text string) (string, []Call) {
	s.buf = append(s.buf, text...)
	switch s.f {
	case Hermes:
		return s.hermes(false)
	case Llama3:
		return s.llama(false)
	}
	return s.content(s.take(len(s.buf))), nil
}

// take removes the first n bytes of the buffer and returns them.
func (s *Stream) take(n int) string {
	t := string(s.buf[:n])
	s.buf = s.buf[n:]
	return t
}

// Close ends the reply and returns what was held back: content, or a call
// whose closing tag never came.
func (s *Stream) Close() (string, []Call) {
	var out string
	var cs []Call
	switch s.f {
	case Hermes:
		out, cs = s.hermes(true)
	case Llama3:
		out, cs = s.llama(true)
	default:
		out = s.content(s.take(len(s.buf)))
	}
	if !s.called {
		out += s.ws
	}
	s.ws = ""
	return out, cs
}

// content passes text on, holding back its trailing whitespace: the
// whitespace around calls is dropped once the reply has a call.
func (s *Stream) content(t string) string {
	if t == "" {
		return ""
	}
	body := strings.TrimRight(t, " \t\r\n")
	if body == "" {
		s.ws += t
		return ""
	}
	out := s.ws + body
	s.ws = t[len(body):]
	return out
}

func (s *Stream) hermes(end bool) (string, []Call) {
	var out strings.Builder
	var cs []Call
	for {
		if !s.in {
			i := bytes.Index(s.buf, []byte(Open))
			if i < 0 {
				keep := 0
				if !end {
					keep = heldBack(string(s.buf[max(0, len(s.buf)-len(Open)):]), Open)
				}
				out.WriteString(s.content(s.take(len(s.buf) - keep)))
				return out.String(), cs
			}
			out.WriteString(s.content(s.take(i)))
			s.take(len(Open))
			s.in, s.from = true, 0
			continue
		}
		j := bytes.Index(s.buf[s.from:], []byte(Close))
		if j >= 0 {
			j += s.from
		}
		if j < 0 && !end {
			s.from = max(0, len(s.buf)-len(Close)+1)
			return out.String(), cs
		}
		var body, tail string
		if j >= 0 {
			body, tail = s.take(j), Close
			s.take(len(Close))
		} else {
			body = s.take(len(s.buf))
		}
		s.in = false
		if c, ok := parseCall(body, "arguments"); ok {
			cs = append(cs, c)
			s.called = true
		} else {
			out.WriteString(s.content(Open + body + tail))
		}
	}
}

func (s *Stream) llama(end bool) (string, []Call) {
	if s.mode == undecided {
		t := bytes.TrimLeft(s.buf, " \t\r\n")
		t = t[:min(len(t), len(PythonTag))]
		switch {
		case bytes.HasPrefix(t, []byte(PythonTag)) || bytes.HasPrefix(t, []byte("{")):
			s.mode = calls
		case len(t) == 0 || strings.HasPrefix(PythonTag, string(t)):
			if !end {
				return "", nil
			}
			s.mode = content
		default:
			s.mode = content
		}
	}
	if s.mode == content {
		return s.content(s.take(len(s.buf))), nil
	}
	if !end {
		return "", nil
	}
	text := s.take(len(s.buf))
	if cs, ok := parseLlama(text); ok {
		s.called = true
		return "", cs
	}
	return s.content(text), nil
}

// parseLlama reads Llama 3's calls: JSON objects after an optional
// <|python_tag|>, separated by whitespace or semicolons.
func parseLlama(text string) ([]Call, bool) {
	t := strings.TrimSpace(text)
	t = strings.TrimSpace(strings.TrimPrefix(t, PythonTag))
	dec := json.NewDecoder(strings.NewReader(t))
	var cs []Call
	for {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			if len(cs) > 0 && strings.TrimLeft(t[dec.InputOffset():], " \t\r\n;") == "" {
				return cs, true
			}
			return nil, false
		}
		c, ok := parseCall(string(raw), "parameters")
		if !ok {
			return nil, false
		}
		cs = append(cs, c)
		// Skip a separator so the next Decode starts at a value.
		rest := t[dec.InputOffset():]
		trimmed := strings.TrimLeft(rest, " \t\r\n;")
		if trimmed == "" {
			return cs, true
		}
		t = trimmed
		dec = json.NewDecoder(strings.NewReader(t))
	}
}

// parseCall reads {"name": NAME, key: {...}} (key "arguments" or
// "parameters", either accepted; arguments may also come as a JSON string
// holding the object, or be absent for none).
func parseCall(body, key string) (Call, bool) {
	var obj map[string]json.RawMessage
	if json.Unmarshal([]byte(body), &obj) != nil || obj == nil {
		return Call{}, false
	}
	var name string
	if json.Unmarshal(obj["name"], &name) != nil || name == "" {
		return Call{}, false
	}
	args, ok := obj[key]
	if !ok {
		args = obj[map[string]string{"arguments": "parameters", "parameters": "arguments"}[key]]
	}
	a, ok := arguments(args)
	if !ok {
		return Call{}, false
	}
	return Call{Name: name, Arguments: a}, true
}

// arguments is raw as compact JSON text of an object: raw itself, or the
// object a JSON string holds; none is {}.
func arguments(raw json.RawMessage) (string, bool) {
	if len(raw) == 0 || string(raw) == "null" {
		return "{}", true
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		raw = json.RawMessage(s)
	}
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil || b.Len() == 0 || b.Bytes()[0] != '{' || !json.Valid(b.Bytes()) {
		return "", false
	}
	return b.String(), true
}

// heldBack is the length of the longest suffix of s that begins mark.
func heldBack(s, mark string) int {
	for n := min(len(s), len(mark)-1); n > 0; n-- {
		if strings.HasSuffix(s, mark[:n]) {
			return n
		}
	}
	return 0
}

// FromHarmony is the call of a harmony message, when it is one: an
// assistant's message to functions.NAME, its content the arguments (kept
// as text when it is not a JSON object, as the model wrote it).
func FromHarmony(m harmony.Message) (Call, bool) {
	name, ok := strings.CutPrefix(m.Recipient, "functions.")
	if !ok || name == "" || m.Role != "assistant" {
		return Call{}, false
	}
	if a, ok := arguments(json.RawMessage(m.Content)); ok && strings.TrimSpace(m.Content) != "" {
		return Call{Name: name, Arguments: a}, true
	}
	return Call{Name: name, Arguments: m.Content}, true
}
