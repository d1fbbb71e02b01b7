package chat

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/tscale/engine/model/harmony"
	"github.com/tscale/engine/model/tokenizer"
)

// harmonyIDs are the token ids of the harmony special tokens, which a
// model must have to be served in that format.
type harmonyIDs map[string]int32

func newHarmonyIDs(tok *tokenizer.Tokenizer) (harmonyIDs, error) {
	ids := harmonyIDs{}
	for _, s := range harmony.Specials {
		id, ok := tok.TokenID(s)
		if !ok {
			return nil, fmt.Errorf("chat format harmony: the vocabulary has no %s token", s)
		}
		ids[s] = id
	}
	return ids, nil
}

// HarmonyMessages maps OpenAI messages onto harmony's: system and
// developer messages become developer instructions (with the tools'
// namespace), an assistant turn its analysis (reasoning), final message
// and calls (commentary to=functions.NAME), a tool message the function's
// answer.
func HarmonyMessages(msgs []Message, tools []Tool) ([]harmony.Message, error) {
	var out []harmony.Message
	names := map[string]string{} // call id → function
	dev := -1
	for i, m := range msgs {
		switch m.Role {
		case "system", "developer":
			if dev < 0 {
				dev = len(out)
			}
			out = append(out, harmony.Message{Role: "developer", Content: m.Content})
		case "user":
			out = append(out, harmony.Message{Role: "user", Name: m.Name, Content: m.Content})
		case "assistant":
			if m.Reasoning != "" {
				out = append(out, harmony.Message{Role: "assistant", Channel: "analysis", Content: m.Reasoning})
			}
			if m.Content != "" || m.Reasoning == "" && len(m.ToolCalls) == 0 {
				out = append(out, harmony.Message{Role: "assistant", Channel: "final", Content: m.Content})
			}
			for _, c := range m.ToolCalls {
				names[c.ID] = c.Name
				out = append(out, harmony.Message{Role: "assistant", Channel: "commentary", Recipient: "functions." + c.Name,
					ContentType: harmony.Constrain + "json", Content: c.Arguments})
			}
		case "tool":
			name := m.Name
			if name == "" {
				name = names[m.ToolCallID]
			}
			if name == "" {
				return nil, badInput(fmt.Sprintf("messages[%d].tool_call_id", i), "tool message %d answers no earlier tool call (tool_call_id %q)", i, m.ToolCallID)
			}
			out = append(out, harmony.Message{Role: "tool", Name: "functions." + name, Recipient: "assistant", Channel: "commentary", Content: m.Content})
		default:
			return nil, badInput(fmt.Sprintf("messages[%d].role", i), "%s messages are not supported with the harmony chat format", m.Role)
		}
	}
	if len(tools) > 0 {
		ns := harmonyTools(tools)
		if dev < 0 {
			out = append([]harmony.Message{{Role: "developer", Content: ns}}, out...)
		} else {
			out[dev].Content += "\n\n" + ns
		}
	}
	return out, nil
}

// harmonyTools writes the functions namespace as openai-harmony does: a
// TypeScript type per function, from its JSON Schema (simplified: the
// properties' types, enums, descriptions and defaults).
func harmonyTools(tools []Tool) string {
	var b strings.Builder
	b.WriteString("# Tools\n\n## functions\n\nnamespace functions {\n\n")
	for _, t := range tools {
		if t.Description != "" {
			b.WriteString("// " + t.Description + "\n")
		}
		var schema map[string]any
		_ = json.Unmarshal(t.Parameters, &schema)
		props, _ := schema["properties"].(map[string]any)
		if len(props) == 0 {
			fmt.Fprintf(&b, "type %s = () => any;\n\n", t.Name)
			continue
		}
		fmt.Fprintf(&b, "type %s = (_: {\n", t.Name)
		req := map[string]bool{}
		if r, ok := schema["required"].([]any); ok {
			for _, x := range r {
				if s, ok := x.(string); ok {
					req[s] = true
				}
			}
		}
		for _, k := range orderedKeys(t.Parameters) {
			p, _ := props[k].(map[string]any)
			if d, ok := p["description"].(string); ok {
				b.WriteString("// " + d + "\n")
			}
			opt := "?"
			if req[k] {
				opt = ""
			}
			fmt.Fprintf(&b, "%s%s: %s,", k, opt, tsType(p))
			if d, ok := p["default"]; ok {
				fmt.Fprintf(&b, " // default: %v", d)
			}
			b.WriteString("\n")
		}
		b.WriteString("}) => any;\n\n")
	}
	b.WriteString("} // namespace functions")
	return b.String()
}

// orderedKeys are the keys of a schema's properties in document order.
func orderedKeys(schema json.RawMessage) []string {
	var top struct {
		Properties json.RawMessage `json:"properties"`
	}
	if json.Unmarshal(schema, &top) != nil || len(top.Properties) == 0 {
		return nil
	}
	dec := json.NewDecoder(strings.NewReader(string(top.Properties)))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil
	}
	var keys []string
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return keys
		}
		keys = append(keys, fmt.Sprint(k))
		var skip json.RawMessage
		if dec.Decode(&skip) != nil {
			return keys
		}
	}
	return keys
}

// tsType is a JSON Schema's TypeScript type.
func tsType(p map[string]any) string {
	if e, ok := p["enum"].([]any); ok && len(e) > 0 {
		var alts []string
		for _, v := range e {
			j, _ := json.Marshal(v)
			alts = append(alts, string(j))
		}
		return strings.Join(alts, " | ")
	}
	switch t, _ := p["type"].(string); t {
	case "string", "boolean", "null":
		return t
	case "number", "integer":
		return "number"
	case "array":
		if it, ok := p["items"].(map[string]any); ok {
			return tsType(it) + "[]"
		}
		return "any[]"
	case "object":
		return "object"
	}
	return "any"
}

// harmonyPrompt renders a chat in harmony and tokenizes it: special tokens
// by id, text as ordinary text.
func harmonyPrompt(tok *tokenizer.Tokenizer, ids harmonyIDs, req *Request) ([]int32, string, error) {
	msgs, err := HarmonyMessages(req.Messages, req.Tools)
	if err != nil {
		return nil, "", err
	}
	sys := harmony.DefaultSystem()
	sys.Date = req.Date
	if sys.Date == "" {
		sys.Date = time.Now().UTC().Format(time.DateOnly)
	}
	if req.Effort != "" {
		sys.Effort = req.Effort
	}
	p, err := harmony.Render(msgs, harmony.Options{System: &sys})
	if err != nil {
		return nil, "", badInput("messages", "%v", err)
	}
	var out []int32
	if tok.AddBOS() && tok.BOS() >= 0 {
		out = append(out, tok.BOS())
	}
	return ids.encode(out, tok, p), p.String(), nil
}

// encode appends the tokens of p: special tokens by id, text as ordinary
// text.
func (ids harmonyIDs) encode(out []int32, tok *tokenizer.Tokenizer, p harmony.Prompt) []int32 {
	for _, x := range p {
		if x.Special {
			out = append(out, ids[x.Text])
		} else {
			out = AppendOrdinary(out, tok, x.Text)
		}
	}
	return out
}

// AppendOrdinary tokenizes text without special tokens. Encode without
// parseSpecial still matches user-defined tokens, which gpt-oss's
// <|start|>, <|message|>, <|end|>... are made, so a message could forge
// the format's markers; cutting the text after the '<' of each such
// marker keeps it ordinary text, as openai-harmony's encode_ordinary does.
func AppendOrdinary(out []int32, tok *tokenizer.Tokenizer, text string) []int32 {
	for {
		cut := -1
		for _, s := range harmony.Specials {
			if i := strings.Index(text, s); i >= 0 && (cut < 0 || i < cut) {
				cut = i
			}
		}
		if cut < 0 {
			return append(out, tok.Encode(text)...)
		}
		out = append(out, tok.Encode(text[:cut+1])...)
		text = text[cut+1:]
	}
}

// HarmonyTokens tokenizes a rendered harmony prompt for tok's model:
// special tokens by id, text as ordinary text (no BOS).
func HarmonyTokens(tok *tokenizer.Tokenizer, p harmony.Prompt) ([]int32, error) {
	ids, err := newHarmonyIDs(tok)
	if err != nil {
		return nil, err
	}
	return ids.encode(nil, tok, p), nil
}

// harmonyCallHeader opens an assistant's call of function name as gpt-oss
// writes it: the commentary channel to=functions.NAME, JSON content.
func harmonyCallHeader(name string) harmony.Prompt {
	return harmony.Prompt{{Text: harmony.Channel, Special: true}, {Text: "commentary to=functions." + name + " "},
		{Text: harmony.Constrain, Special: true}, {Text: "json"}, {Text: harmony.MessageT, Special: true}}
}
