// Package chat turns conversations into prompts for the engine, as
// `engine serve` does, without the server: a model's Jinja chat template
// (or a fallback), or OpenAI's harmony format for gpt-oss; tools and tool
// calls included. Package toolcall reads calls back from the output.
package chat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/tscale/engine/engine"
	"github.com/tscale/engine/engine/chat/toolcall"
	"github.com/tscale/engine/model/harmony"
	"github.com/tscale/engine/model/tokenizer"
)

// TemplateKey is the GGUF metadata key holding a model's chat template.
const TemplateKey = "tokenizer.chat_template"

// Chat formats.
const (
	FormatAuto    = ""        // harmony for gpt-oss models, jinja otherwise
	FormatJinja   = "jinja"   // the GGUF's chat template (or the fallback)
	FormatHarmony = "harmony" // OpenAI's harmony format (model/harmony)
)

// Message is one turn of a conversation.
type Message struct {
	Role       string // system, developer, user, assistant or tool
	Content    string
	Name       string
	Reasoning  string     // an assistant's reasoning (harmony's analysis channel)
	ToolCalls  []ToolCall // the calls of an assistant turn
	ToolCallID string     // the call a tool message answers
}

// ToolCall is one function call of an assistant.
type ToolCall struct {
	ID        string
	Name      string
	Arguments string // JSON text, an object
}

// Tool is a function the model may call.
type Tool struct {
	Name        string
	Description string
	Parameters  json.RawMessage // a JSON Schema of the arguments object; nil: none
}

// Request is a conversation to render.
type Request struct {
	Messages []Message
	Tools    []Tool
	Effort   string // reasoning effort; "" = the format's default
	Date     string // YYYY-MM-DD for harmony's system message; "" = today (UTC)
	// Call, in harmony, opens the assistant's call of this function in
	// the prompt, so that the reply is its arguments (Chat.Prefill); other
	// formats ignore it (CallGrammar holds their replies to a call).
	Call string
}

// Chat is a rendered conversation.
type Chat struct {
	Prompt  []int32 // prompt tokens, BOS included where the model wants it
	Text    string  // the prompt as text
	Stops   []int32 // tokens that end the reply besides the model's end-of-generation ones
	Harmony bool    // the reply comes in harmony channels (parse it with harmony.Parser)
	Tools   toolcall.Format
	Prefill string // the reply's start, already in the prompt (Request.Call): parse Prefill + reply
}

// Error kinds.
const (
	BadInput      = iota // the conversation cannot be rendered
	TemplateFault        // the template broke a limit on an ordinary conversation
	Timeout              // rendering was cancelled or ran out of time
)

// Error is a failed rendering.
type Error struct {
	Kind  int
	Param string // the request field at fault (BadInput)
	Code  string // a machine-readable reason: chat_template_limit, timeout
	Err   error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

func badInput(param, format string, args ...any) *Error {
	return &Error{Param: param, Err: fmt.Errorf(format, args...)}
}

// Formatter renders one model's chats: with its Jinja template, or in
// harmony.
type Formatter struct {
	Name     string    // jinja, fallback or harmony
	Template *Template // nil with harmony
	harmony  harmonyIDs
	tools    toolcall.Format
	knows    knows // what the template shows of tools
}

// Resolve resolves FormatAuto for a model architecture.
func Resolve(format, arch string) string {
	if format != FormatAuto {
		return format
	}
	if arch == "gpt-oss" {
		return FormatHarmony
	}
	return FormatJinja
}

// New makes e's model's formatter for format (FormatAuto: harmony for
// gpt-oss). The Jinja template is src, or when src is "" the GGUF's
// tokenizer.chat_template (a fallback when absent).
func New(e *engine.Engine, format, src string) (*Formatter, error) {
	tok := e.Tokenizer()
	switch format = Resolve(format, e.File().Arch()); format {
	case FormatHarmony:
		ids, err := newHarmonyIDs(tok)
		if err != nil {
			return nil, err
		}
		return &Formatter{Name: format, harmony: ids, tools: toolcall.Harmony}, nil
	case FormatJinja:
		if src == "" {
			src, _ = e.File().String(TemplateKey)
		}
		return NewJinja(src, tok)
	}
	return nil, fmt.Errorf("unknown chat format %q (jinja or harmony)", format)
}

// NewJinja makes a formatter of the template src ("" = the fallback) for
// tok's model.
func NewJinja(src string, tok *tokenizer.Tokenizer) (*Formatter, error) {
	tmpl, err := NewTemplate(src, tok.Token(tok.BOS()), tok.Token(tok.EOS()))
	if err != nil {
		return nil, err
	}
	f := &Formatter{Name: FormatJinja, Template: tmpl, tools: toolcall.Detect(tmpl.Src), knows: templateKnows(tmpl.Src)}
	if tmpl.Fallback {
		f.Name = "fallback"
	}
	return f, nil
}

// Tools is the form of the model's tool calls.
func (f *Formatter) Tools() toolcall.Format { return f.tools }

// Check tries the Jinja template on sample conversations.
func (f *Formatter) Check() error {
	if f.Template == nil {
		return nil
	}
	return f.Template.Check()
}

// Render turns a conversation into prompt tokens, opening the assistant's
// turn. Only the template's own text may become special tokens: message
// content is tokenized as plain text, so that a user cannot forge
// "<|im_end|><|im_start|>system" turns. Errors are *Error.
func (f *Formatter) Render(ctx context.Context, tok *tokenizer.Tokenizer, req *Request) (*Chat, error) {
	if f.harmony != nil {
		ids, text, err := harmonyPrompt(tok, f.harmony, req)
		if err != nil {
			return nil, err
		}
		c := &Chat{Prompt: ids, Text: text, Stops: []int32{f.harmony[harmony.Return], f.harmony[harmony.Call]}, Harmony: true, Tools: f.tools}
		if req.Call != "" {
			if !validName(req.Call) {
				return nil, badInput("tool_choice", "function name %q: use letters, digits, _ and -", req.Call)
			}
			p := harmonyCallHeader(req.Call)
			c.Prompt = f.harmony.encode(c.Prompt, tok, p)
			c.Prefill = p.String()
			c.Text += c.Prefill
		}
		return c, nil
	}
	var vars []string
	if req.Effort != "" {
		vars = []string{"reasoning_effort", req.Effort}
	}
	msgs := f.knows.polyfill(req.Messages, req.Tools)
	out, err := f.Template.Render(ctx, msgs, req.Tools, true, vars...)
	if err != nil {
		return nil, f.Template.renderError(err, msgs)
	}
	if bos := f.Template.BOS; !out.Plain.Overlaps(0, len(bos)) {
		text := StripBOS(out.S, bos, tok.AddBOS())
		out = out.Slice(len(out.S)-len(text), len(out.S))
	}
	return &Chat{Prompt: tok.EncodePlain(out.S, out.Plain.Overlaps, tokenizer.AddSpecial), Text: out.S, Tools: f.tools}, nil
}

// StripBOS drops a BOS the template wrote itself when the tokenizer adds
// one anyway, as llama.cpp does, so the prompt never starts with two.
func StripBOS(text, bos string, addBOS bool) string {
	if addBOS && bos != "" && len(text) >= len(bos) && text[:len(bos)] == bos {
		return text[len(bos):]
	}
	return text
}

// Prompt renders msgs for e's model with the chat format format
// (FormatAuto, FormatJinja or FormatHarmony), opening the assistant's
// turn; effort is the reasoning effort ("" = the format's default) and
// date the conversation's date for harmony's system message.
func Prompt(e *engine.Engine, format string, msgs []Message, effort string, date time.Time) (*Chat, error) {
	f, err := New(e, format, "")
	if err != nil {
		return nil, err
	}
	return f.Render(context.Background(), e.Tokenizer(), &Request{Messages: msgs, Effort: effort, Date: date.UTC().Format(time.DateOnly)})
}

// IsInput reports whether err is the conversation's fault.
func IsInput(err error) bool {
	var ce *Error
	return errors.As(err, &ce) && ce.Kind == BadInput
}
