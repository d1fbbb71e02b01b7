package chat

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/tscale/engine/model/chattmpl"
)

// fallbackTemplate formats chats for models whose GGUF has no
// tokenizer.chat_template: one "Role: content" line per message (role
// capitalised, content trimmed), then "Assistant:" when a reply is due;
// tools and calls in Hermes' form.
//
//go:embed fallback.jinja
var fallbackTemplate string

// Template renders messages into a prompt with a Jinja2 template, the way
// Hugging Face transformers does. A model file's template is untrusted
// code: model/chattmpl renders it within Limits, and marks message content
// (and tool JSON) in the output so that it is tokenized as plain text.
type Template struct {
	tmpl     *chattmpl.Template
	Src      string // the template's source
	BOS, EOS string
	Fallback bool // the model had no template of its own
	Limits   chattmpl.Limits
}

// NewTemplate compiles src ("" selects the fallback); bos and eos are the
// texts of the model's special tokens.
func NewTemplate(src, bos, eos string) (*Template, error) {
	t := &Template{BOS: bos, EOS: eos, Limits: chattmpl.DefaultLimits}
	if src == "" {
		src, t.Fallback = fallbackTemplate, true
	}
	c, err := chattmpl.Compile(src)
	if err != nil {
		return nil, err
	}
	t.tmpl, t.Src = c, src
	return t, nil
}

// Render formats msgs; addGen appends the assistant's turn header; tools
// become the template's tools variable; vars are extra variables
// (reasoning_effort), name and value in turn.
func (t *Template) Render(ctx context.Context, msgs []Message, tools []Tool, addGen bool, vars ...string) (chattmpl.Str, error) {
	list := make([]any, len(msgs))
	for i, m := range msgs {
		d, err := m.dict()
		if err != nil {
			return chattmpl.Str{}, &Error{Param: fmt.Sprintf("messages[%d]", i), Err: err}
		}
		list[i] = d
	}
	data := map[string]any{
		"messages":              list,
		"add_generation_prompt": addGen,
		"bos_token":             t.BOS,
		"eos_token":             t.EOS,
	}
	if len(tools) > 0 {
		tl := make([]any, len(tools))
		for i, tool := range tools {
			d, err := tool.dict()
			if err != nil {
				return chattmpl.Str{}, &Error{Param: fmt.Sprintf("tools[%d]", i), Err: err}
			}
			tl[i] = d
		}
		data["tools"] = tl
	}
	for i := 0; i+1 < len(vars); i += 2 {
		data[vars[i]] = chattmpl.PlainText(vars[i+1])
	}
	return t.tmpl.Render(ctx, t.Limits, data)
}

// dict is m as templates see it (transformers' message dicts): keys only
// where set, so that `'tool_calls' in message` tells calls apart.
func (m Message) dict() (*chattmpl.Dict, error) {
	d := chattmpl.NewDict("role", m.Role, "content", chattmpl.PlainText(m.Content))
	if m.Name != "" {
		d.Set("name", chattmpl.PlainText(m.Name))
	}
	if len(m.ToolCalls) > 0 {
		calls := make([]any, len(m.ToolCalls))
		for i, c := range m.ToolCalls {
			args, err := c.arguments()
			if err != nil {
				return nil, fmt.Errorf("tool_calls[%d]: %w", i, err)
			}
			fn := chattmpl.NewDict("name", chattmpl.PlainText(c.Name))
			fn.Set("arguments", args)
			calls[i] = chattmpl.NewDict("id", chattmpl.PlainText(c.ID), "type", "function", "function", fn)
		}
		d.Set("tool_calls", chattmpl.Convert(calls))
	}
	if m.ToolCallID != "" {
		d.Set("tool_call_id", chattmpl.PlainText(m.ToolCallID))
	}
	return d, nil
}

// arguments are a call's arguments as templates want them: the object
// decoded (llama.cpp and vLLM do so too; templates apply tojson), or the
// text when it is not a JSON object.
func (c ToolCall) arguments() (chattmpl.Value, error) {
	if !json.Valid([]byte(c.Arguments)) {
		return chattmpl.PlainText(c.Arguments), nil
	}
	v, err := chattmpl.FromJSON([]byte(c.Arguments))
	if err != nil {
		return nil, err
	}
	if _, ok := v.(*chattmpl.Dict); !ok {
		return chattmpl.PlainText(c.Arguments), nil
	}
	return v, nil
}

// dict is the tool as OpenAI sends it: {"type": "function", "function":
// {"name", "description", "parameters"}}.
func (t Tool) dict() (*chattmpl.Dict, error) {
	fn := chattmpl.NewDict("name", chattmpl.PlainText(t.Name))
	if t.Description != "" {
		fn.Set("description", chattmpl.PlainText(t.Description))
	}
	if len(t.Parameters) > 0 {
		p, err := chattmpl.FromJSON(t.Parameters)
		if err != nil {
			return nil, fmt.Errorf("parameters: %w", err)
		}
		fn.Set("parameters", p)
	}
	return chattmpl.NewDict("type", "function", "function", fn), nil
}

// sampleChats are the conversations a template is tried on at load; the
// second is for templates that refuse system messages.
var sampleChats = [][]Message{
	{{Role: "system", Content: "You are a helpful assistant."}, {Role: "user", Content: "Hello!"},
		{Role: "assistant", Content: "Hi! How can I help?"}, {Role: "user", Content: "What is 2+2?"}},
	{{Role: "user", Content: "Hello!"}, {Role: "assistant", Content: "Hi! How can I help?"}, {Role: "user", Content: "What is 2+2?"}},
}

// Check renders the sample conversations: an error when a limit breaks on
// any, or when none renders.
func (t *Template) Check() error {
	var first error
	for _, msgs := range sampleChats {
		_, err := t.Render(context.Background(), msgs, nil, true)
		var le *chattmpl.LimitError
		if err == nil || errors.As(err, &le) {
			return err
		}
		if first == nil {
			first = err
		}
	}
	return first
}

// renderError classifies a failed rendering: the template's fault when it
// broke a limit, the conversation's otherwise (raise_exception rejects
// it). A limit is the conversation's fault when it alone is over half the
// output limit, or has more messages than a hundredth of the step limit
// (templates take tens of steps a message).
func (t *Template) renderError(err error, msgs []Message) *Error {
	var ce *Error
	if errors.As(err, &ce) {
		return ce
	}
	var le *chattmpl.LimitError
	if !errors.As(err, &le) {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return &Error{Kind: Timeout, Code: "timeout", Err: fmt.Errorf("chat template rendering stopped: %w", err)}
		}
		return &Error{Param: "messages", Err: fmt.Errorf("chat template: %w", err)}
	}
	size := 0
	for _, m := range msgs {
		size += len(m.Content) + len(m.Name)
		for _, c := range m.ToolCalls {
			size += len(c.Arguments)
		}
	}
	switch {
	case (le.Limit == "output" || le.Limit == "alloc") && 2*size > t.Limits.Output:
		return &Error{Param: "messages", Code: "chat_template_limit",
			Err: fmt.Errorf("the messages (%d bytes) are too long for the model's chat template: %w", size, err)}
	case (le.Limit == "steps" || le.Limit == "time") && 100*len(msgs) > t.Limits.Steps:
		return &Error{Param: "messages", Code: "chat_template_limit",
			Err: fmt.Errorf("too many messages (%d) for the model's chat template: %w", len(msgs), err)}
	}
	return &Error{Kind: TemplateFault, Code: "chat_template_limit", Err: fmt.Errorf("the model's chat template failed: %w", err)}
}
