package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/tscale/engine/engine"
	"github.com/tscale/engine/engine/chat"
	"github.com/tscale/engine/model/harmony"
)

// chatFlags are run's options for instruct models: the prompt becomes a
// user message in the model's chat format, as `engine serve` renders it.
type chatFlags struct {
	on             bool
	system, format string
	effort         string
	template       string // --chat-template FILE
}

func (c *chatFlags) flags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.BoolVar(&c.on, "chat", false, "send the prompt as a user message in the model's chat format (harmony for gpt-oss: reasoning to stderr, the answer to stdout)")
	f.StringVar(&c.system, "system", "", "with --chat: a system message")
	f.StringVar(&c.format, "chat-format", "auto", "with --chat: auto, jinja or harmony")
	f.StringVar(&c.effort, "reasoning-effort", "", "with --chat: low, medium or high (harmony's system message; a template variable otherwise)")
	f.StringVar(&c.template, "chat-template", "", "with --chat: a Jinja chat template `FILE` used instead of the GGUF's")
}

// readTemplate reads a --chat-template file ("" = none).
func readTemplate(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("--chat-template: %w", err)
	}
	if len(b) == 0 {
		return "", fmt.Errorf("--chat-template: %s is empty", path)
	}
	return string(b), nil
}

var chatFormats = map[string]string{"auto": chat.FormatAuto, "jinja": chat.FormatJinja, "harmony": chat.FormatHarmony}

func (c *chatFlags) check() error {
	if !c.on && (c.system != "" || c.format != "auto" || c.effort != "" || c.template != "") {
		return fmt.Errorf("run: --system, --chat-format and --reasoning-effort need --chat (so does --chat-template)")
	}
	if _, ok := chatFormats[c.format]; !ok {
		return fmt.Errorf("run: unknown --chat-format %q (auto, jinja, harmony)", c.format)
	}
	if c.effort != "" && !harmony.ValidEffort(c.effort) {
		return fmt.Errorf("run: --reasoning-effort must be low, medium or high, got %q", c.effort)
	}
	return nil
}

// render makes the chat prompt of text.
func (c *chatFlags) render(e *engine.Engine, text string) (*chat.Chat, error) {
	var msgs []chat.Message
	if c.system != "" {
		msgs = append(msgs, chat.Message{Role: "system", Content: c.system})
	}
	msgs = append(msgs, chat.Message{Role: "user", Content: text})
	src, err := readTemplate(c.template)
	if err != nil {
		return nil, fmt.Errorf("run: %w", err)
	}
	f, err := chat.New(e, chatFormats[c.format], src)
	if err != nil {
		return nil, fmt.Errorf("run: %w", err)
	}
	p, err := f.Render(context.Background(), e.Tokenizer(), &chat.Request{Messages: msgs, Effort: c.effort, Date: time.Now().UTC().Format(time.DateOnly)})
	if err != nil {
		return nil, fmt.Errorf("run: %w", err)
	}
	return p, nil
}

// harmonyPrinter returns a printer of harmony output pieces: the analysis
// channel to errw, the answer to out, no format markers. An empty piece
// flushes what the parser still holds.
func harmonyPrinter(out *bufio.Writer, errw io.Writer) func(string) error {
	p := harmony.NewParser()
	return func(text string) error {
		deltas := p.Add(text)
		if text == "" {
			deltas = p.Close()
		}
		for _, d := range deltas {
			w := io.Writer(out)
			if d.Kind == harmony.Reasoning {
				w = errw
			}
			if d.Kind == harmony.Other {
				continue
			}
			fmt.Fprint(w, d.Text)
		}
		return out.Flush()
	}
}

// templateFlag is serve's --chat-template FILE.
type templateFlag struct{ path string }

func (t *templateFlag) flag(cmd *cobra.Command) {
	cmd.Flags().StringVar(&t.path, "chat-template", "", "a Jinja chat template `FILE` used instead of the GGUF's (jinja format)")
}

// read is the template's source, "" when the flag is not given.
func (t *templateFlag) read() (string, error) { return readTemplate(t.path) }
