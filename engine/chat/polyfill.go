package chat

import (
	"encoding/json"
	"strings"
)

// knows is what a Jinja template shows of tools, judged from its source.
type knows struct {
	tools, calls, toolRole bool
}

func templateKnows(src string) knows {
	return knows{
		tools:    strings.Contains(src, "tools"),
		calls:    strings.Contains(src, "tool_calls"),
		toolRole: strings.Contains(src, "tool"),
	}
}

// toolPrompt is the Hermes tool instructions (Qwen 2.5's wording) for a
// system message.
func toolPrompt(tools []Tool) string {
	var b strings.Builder
	b.WriteString("# Tools\n\nYou may call one or more functions to assist with the user query.\n\n" +
		"You are provided with function signatures within <tools></tools> XML tags:\n<tools>")
	for _, t := range tools {
		b.WriteString("\n")
		b.Write(t.json())
	}
	b.WriteString("\n</tools>\n\nFor each function call, return a json object with function name and arguments within " +
		"<tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call>")
	return b.String()
}

// json is the tool as OpenAI sends it.
func (t Tool) json() []byte {
	type fn struct {
		Name        string          `json:"name"`
		Description string          `json:"description,omitempty"`
		Parameters  json.RawMessage `json:"parameters,omitempty"`
	}
	b, err := json.Marshal(struct {
		Type     string `json:"type"`
		Function fn     `json:"function"`
	}{"function", fn{t.Name, t.Description, t.Parameters}})
	if err != nil { // parameters that are not JSON: Render reports them
		b, _ = json.Marshal(map[string]any{"type": "function", "function": map[string]string{"name": t.Name}})
	}
	return b
}

// polyfill writes tools and calls into the messages, in Hermes' form, for
// a template that would drop them (SmolLM2's, for one), as llama.cpp
// does: the tool instructions join the system message, an assistant's
// calls its content, tool results become user messages in
// <tool_response> tags where the template knows no tool role.
func (k knows) polyfill(msgs []Message, tools []Tool) []Message {
	if (k.tools || len(tools) == 0) && k.calls && k.toolRole {
		return msgs
	}
	out := make([]Message, 0, len(msgs)+1)
	if !k.tools && len(tools) > 0 {
		p := toolPrompt(tools)
		if len(msgs) > 0 && (msgs[0].Role == "system" || msgs[0].Role == "developer") {
			m := msgs[0]
			m.Content += "\n\n" + p
			out = append(out, m)
			msgs = msgs[1:]
		} else {
			out = append(out, Message{Role: "system", Content: p})
		}
	}
	for _, m := range msgs {
		if !k.calls && len(m.ToolCalls) > 0 {
			var b strings.Builder
			b.WriteString(m.Content)
			for _, c := range m.ToolCalls {
				if b.Len() > 0 {
					b.WriteString("\n")
				}
				name, _ := json.Marshal(c.Name)
				args := c.Arguments
				if !json.Valid([]byte(args)) {
					q, _ := json.Marshal(args)
					args = string(q)
				}
				b.WriteString("<tool_call>\n{\"name\": " + string(name) + ", \"arguments\": " + args + "}\n</tool_call>")
			}
			m.Content, m.ToolCalls = b.String(), nil
		}
		if !k.toolRole && m.Role == "tool" {
			m = Message{Role: "user", Content: "<tool_response>\n" + m.Content + "\n</tool_response>"}
		}
		out = append(out, m)
	}
	return out
}
