package server

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/tscale/engine/engine"
	"github.com/tscale/engine/model/chattmpl"
	"github.com/tscale/engine/model/harmony"
	"github.com/tscale/engine/model/tokenizer"
)

// fallbackTemplate formats chats for models whose GGUF has no
// tokenizer.chat_template: one "Role: content" line per message (role
// capitalised, content trimmed), then "Assistant:" when a reply is due.
//
//go:embed fallback.jinja
var fallbackTemplate string

// ChatTemplateKey is the GGUF metadata key holding a model's chat template.
const ChatTemplateKey = "tokenizer.chat_template"

// chatTemplate renders messages into a prompt with a Jinja2 template, the
// way Hugging Face transformers does. A model file's template is untrusted
// code: model/chattmpl renders it within limits (recursion, steps, output,
// allocation, time), and marks the message content in the output so that
// it is tokenized as plain text.
type chatTemplate struct {
	tmpl     *chattmpl.Template
	bos, eos string
	Fallback bool // the model had no template of its own
	limits   chattmpl.Limits
}

// newChatTemplate compiles src ("" selects the fallback); bos and eos are
// the texts of the model's special tokens.
func newChatTemplate(src, bos, eos string) (*chatTemplate, error) {
	c := &chatTemplate{bos: bos, eos: eos, limits: chattmpl.DefaultLimits}
	if src == "" {
		src, c.Fallback = fallbackTemplate, true
	}
	t, err := chattmpl.Compile(src)
	if err != nil {
		return nil, err
	}
	c.tmpl = t
	return c, nil
}

// render formats msgs; addGen appends the assistant's turn header. vars
// are extra template variables (reasoning_effort).
func (c *chatTemplate) render(msgs []message, addGen bool, vars ...string) (string, error) {
	out, err := c.renderPlain(context.Background(), msgs, addGen, vars...)
	return out.S, err
}

// renderPlain is render with the spans of message content in the output.
func (c *chatTemplate) renderPlain(ctx context.Context, msgs []message, addGen bool, vars ...string) (chattmpl.Str, error) {
	list := make([]any, len(msgs))
	for i, m := range msgs {
		d := chattmpl.NewDict("role", m.Role, "content", chattmpl.PlainText(m.Content))
		if m.Name != "" {
			d.Set("name", chattmpl.PlainText(m.Name))
		}
		list[i] = d
	}
	data := map[string]any{
		"messages":              list,
		"add_generation_prompt": addGen,
		"bos_token":             c.bos,
		"eos_token":             c.eos,
	}
	for i := 0; i+1 < len(vars); i += 2 {
		data[vars[i]] = chattmpl.PlainText(vars[i+1])
	}
	return c.tmpl.Render(ctx, c.limits, data)
}

// sampleChats are the conversations a template is tried on at load; the
// second is for templates that refuse system messages.
var sampleChats = [][]message{
	{{Role: "system", Content: "You are a helpful assistant."}, {Role: "user", Content: "Hello!"},
		{Role: "assistant", Content: "Hi! How can I help?"}, {Role: "user", Content: "What is 2+2?"}},
	{{Role: "user", Content: "Hello!"}, {Role: "assistant", Content: "Hi! How can I help?"}, {Role: "user", Content: "What is 2+2?"}},
}

// check renders the sample conversations: an error when a limit breaks on
// any, or when none renders.
func (c *chatTemplate) check() error {
	var first error
	for _, msgs := range sampleChats {
		_, err := c.renderPlain(context.Background(), msgs, true)
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

// templateError is the API error of a failed rendering: 500 when the
// template broke a limit, 400 otherwise (raise_exception rejects a
// conversation). A limit is the request's fault (400) when the
// conversation alone is over half the output limit, or has more messages
// than a hundredth of the step limit (templates take tens of steps a
// message).
func (c *chatTemplate) templateError(err error, msgs []message) *apiError {
	var le *chattmpl.LimitError
	if !errors.As(err, &le) {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return newError(http.StatusServiceUnavailable, "server_error", "", "timeout", "chat template rendering stopped: %v", err)
		}
		return badParam("messages", "chat template: %v", err)
	}
	size := 0
	for _, m := range msgs {
		size += len(m.Content) + len(m.Name)
	}
	switch {
	case (le.Limit == "output" || le.Limit == "alloc") && 2*size > c.limits.Output:
		return newError(http.StatusBadRequest, "invalid_request_error", "messages", "chat_template_limit",
			"the messages (%d bytes) are too long for the model's chat template: %v", size, err)
	case (le.Limit == "steps" || le.Limit == "time") && 100*len(msgs) > c.limits.Steps:
		return newError(http.StatusBadRequest, "invalid_request_error", "messages", "chat_template_limit",
			"too many messages (%d) for the model's chat template: %v", len(msgs), err)
	}
	return newError(http.StatusInternalServerError, "server_error", "", "chat_template_limit",
		"the model's chat template failed: %v", err)
}

// stripBOS drops a BOS the template wrote itself when the tokenizer adds
// one anyway, as llama.cpp does, so the prompt never starts with two.
func stripBOS(text, bos string, addBOS bool) string {
	if addBOS && bos != "" {
		return strings.TrimPrefix(text, bos)
	}
	return text
}

// Chat formats (Config.ChatFormat).
const (
	FormatAuto    = ""        // harmony for gpt-oss models, jinja otherwise
	FormatJinja   = "jinja"   // the GGUF's chat template (or the fallback)
	FormatHarmony = "harmony" // OpenAI's harmony format (model/harmony)
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

// harmonyMessages maps OpenAI messages onto harmony's: system and developer
// messages become developer instructions, an assistant turn its analysis
// (reasoning_content) and final messages. Tool messages need the tool
// calls the server does not support.
func harmonyMessages(msgs []message) ([]harmony.Message, *apiError) {
	var out []harmony.Message
	for i, m := range msgs {
		switch m.Role {
		case "system", "developer":
			out = append(out, harmony.Message{Role: "developer", Content: m.Content})
		case "user":
			out = append(out, harmony.Message{Role: "user", Name: m.Name, Content: m.Content})
		case "assistant":
			if m.Reasoning != "" {
				out = append(out, harmony.Message{Role: "assistant", Channel: "analysis", Content: m.Reasoning})
			}
			if m.Content != "" || m.Reasoning == "" {
				out = append(out, harmony.Message{Role: "assistant", Channel: "final", Content: m.Content})
			}
		default:
			return nil, badParam(fmt.Sprintf("messages[%d].role", i), "%s messages are not supported with the harmony chat format (no tool calls)", m.Role)
		}
	}
	return out, nil
}

// harmonyPrompt renders a chat in harmony and tokenizes it: special tokens
// by id, text as ordinary text.
func harmonyPrompt(tok *tokenizer.Tokenizer, ids harmonyIDs, req *chatRequest, date string) ([]int32, string, *apiError) {
	msgs, e := harmonyMessages(req.Messages)
	if e != nil {
		return nil, "", e
	}
	sys := harmony.DefaultSystem()
	sys.Date = date
	if req.Effort != "" {
		sys.Effort = req.Effort
	}
	p, err := harmony.Render(msgs, harmony.Options{System: &sys})
	if err != nil {
		return nil, "", badParam("messages", "%v", err)
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
			out = appendOrdinary(out, tok, x.Text)
		}
	}
	return out
}

// appendOrdinary tokenizes text without special tokens. Encode without
// parseSpecial still matches user-defined tokens, which gpt-oss's
// <|start|>, <|message|>, <|end|>... are made, so a message could forge
// the format's markers; cutting the text after the '<' of each such
// marker keeps it ordinary text, as openai-harmony's encode_ordinary does.
func appendOrdinary(out []int32, tok *tokenizer.Tokenizer, text string) []int32 {
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

// ChatMessage is one turn of a conversation for ChatPrompt.
type ChatMessage struct {
	Role    string // system, developer, user or assistant
	Content string
}

// Chat is a conversation rendered as `engine serve` renders it.
type Chat struct {
	Prompt  []int32 // prompt tokens, BOS included where the model wants it
	Text    string  // the prompt as text
	Stops   []int32 // tokens that end the reply besides the model's end-of-generation ones
	Harmony bool    // the reply comes in harmony channels (parse it with harmony.Parser)
}

// ChatPrompt renders msgs for e's model with the chat format format
// (FormatAuto, FormatJinja or FormatHarmony, as Config.ChatFormat), opening
// the assistant's turn; effort is the reasoning effort ("" = the format's
// default) and date the conversation's date for harmony's system message.
func ChatPrompt(e *engine.Engine, format string, msgs []ChatMessage, effort string, date time.Time) (*Chat, error) {
	f, err := newFormatter(e, format)
	if err != nil {
		return nil, err
	}
	req := &chatRequest{Effort: effort}
	for _, m := range msgs {
		req.Messages = append(req.Messages, message{Role: m.Role, Content: m.Content})
	}
	c, ae := f.render(context.Background(), e.Tokenizer(), req, date.UTC().Format(time.DateOnly))
	if ae != nil {
		return nil, errors.New(ae.Message)
	}
	return c, nil
}

// formatter renders one model's chats: with its Jinja template, or in
// harmony.
type formatter struct {
	name    string        // jinja, fallback or harmony
	tmpl    *chatTemplate // nil with harmony
	harmony harmonyIDs    // set with harmony
}

// newFormatter resolves format (FormatAuto: harmony for gpt-oss) for e's
// model; the Jinja template comes from the GGUF key tokenizer.chat_template
// (a fallback when absent).
func newFormatter(e *engine.Engine, format string) (*formatter, error) {
	tok := e.Tokenizer()
	switch format = chatFormat(format, e.File().Arch()); format {
	case FormatHarmony:
		ids, err := newHarmonyIDs(tok)
		if err != nil {
			return nil, err
		}
		return &formatter{name: format, harmony: ids}, nil
	case FormatJinja:
		src, _ := e.File().String(ChatTemplateKey)
		tmpl, err := newChatTemplate(src, tok.Token(tok.BOS()), tok.Token(tok.EOS()))
		if err != nil {
			return nil, err
		}
		if tmpl.Fallback {
			format = "fallback"
		}
		return &formatter{name: format, tmpl: tmpl}, nil
	}
	return nil, fmt.Errorf("unknown chat format %q (jinja or harmony)", format)
}

// check tries the Jinja template on sample conversations.
func (f *formatter) check() error {
	if f.tmpl == nil {
		return nil
	}
	return f.tmpl.check()
}

// render turns a chat request into prompt tokens; date is the day for
// harmony's system message. Only the template's own text may become
// special tokens: message content is tokenized as plain text, so that a
// user cannot forge "<|im_end|><|im_start|>system" turns.
func (f *formatter) render(ctx context.Context, tok *tokenizer.Tokenizer, req *chatRequest, date string) (*Chat, *apiError) {
	if f.harmony != nil {
		ids, text, e := harmonyPrompt(tok, f.harmony, req, date)
		if e != nil {
			return nil, e
		}
		return &Chat{Prompt: ids, Text: text, Stops: []int32{f.harmony[harmony.Return], f.harmony[harmony.Call]}, Harmony: true}, nil
	}
	var vars []string
	if req.Effort != "" {
		vars = []string{"reasoning_effort", req.Effort}
	}
	out, err := f.tmpl.renderPlain(ctx, req.Messages, true, vars...)
	if err != nil {
		return nil, f.tmpl.templateError(err, req.Messages)
	}
	if bos := f.tmpl.bos; !out.Plain.Overlaps(0, len(bos)) {
		text := stripBOS(out.S, bos, tok.AddBOS())
		out = out.Slice(len(out.S)-len(text), len(out.S))
	}
	return &Chat{Prompt: tok.EncodePlain(out.S, out.Plain.Overlaps, tokenizer.AddSpecial), Text: out.S}, nil
}
