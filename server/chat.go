package server

import (
	_ "embed"
	"fmt"
	"strings"

	"github.com/ardanlabs/jinja"
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
// way Hugging Face transformers does.
type chatTemplate struct {
	tmpl     *jinja.Template
	bos, eos string
	Fallback bool // the model had no template of its own
}

// newChatTemplate compiles src ("" selects the fallback); bos and eos are
// the texts of the model's special tokens.
func newChatTemplate(src, bos, eos string) (*chatTemplate, error) {
	c := &chatTemplate{bos: bos, eos: eos}
	if src == "" {
		src, c.Fallback = fallbackTemplate, true
	}
	t, err := jinja.Compile(src)
	if err != nil {
		return nil, fmt.Errorf("chat template: %w", err)
	}
	c.tmpl = t
	return c, nil
}

// render formats msgs; addGen appends the assistant's turn header.
func (c *chatTemplate) render(msgs []message, addGen bool) (string, error) {
	list := make([]any, len(msgs))
	for i, m := range msgs {
		mm := map[string]any{"role": m.Role, "content": m.Content}
		if m.Name != "" {
			mm["name"] = m.Name
		}
		list[i] = mm
	}
	out, err := c.tmpl.Render(map[string]any{
		"messages":              list,
		"add_generation_prompt": addGen,
		"bos_token":             c.bos,
		"eos_token":             c.eos,
	})
	if err != nil {
		return "", fmt.Errorf("chat template: %w", err)
	}
	return out, nil
}

// stripBOS drops a BOS the template wrote itself when the tokenizer adds
// one anyway, as llama.cpp does, so the prompt never starts with two.
func stripBOS(text, bos string, addBOS bool) string {
	if addBOS && bos != "" {
		return strings.TrimPrefix(text, bos)
	}
	return text
}
