package main

import (
	"bufio"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/tscale/engine/engine"
	"github.com/tscale/engine/model/harmony"
	"github.com/tscale/engine/server"
)

// chatFlags are run's options for instruct models: the prompt becomes a
// user message in the model's chat format, as `engine serve` renders it.
type chatFlags struct {
	on             bool
	system, format string
	effort         string
}

func (c *chatFlags) flags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.BoolVar(&c.on, "chat", false, "send the prompt as a user message in the model's chat format (harmony for gpt-oss: reasoning to stderr, the answer to stdout)")
	f.StringVar(&c.system, "system", "", "with --chat: a system message")
	f.StringVar(&c.format, "chat-format", "auto", "with --chat: auto, jinja or harmony")
	f.StringVar(&c.effort, "reasoning-effort", "", "with --chat: low, medium or high (harmony's system message; a template variable otherwise)")
}

var chatFormats = map[string]string{"auto": server.FormatAuto, "jinja": server.FormatJinja, "harmony": server.FormatHarmony}

func (c *chatFlags) check() error {
	if !c.on && (c.system != "" || c.format != "auto" || c.effort != "") {
		return fmt.Errorf("run: --system, --chat-format and --reasoning-effort need --chat")
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
func (c *chatFlags) render(e *engine.Engine, text string) (*server.Chat, error) {
	var msgs []server.ChatMessage
	if c.system != "" {
		msgs = append(msgs, server.ChatMessage{Role: "system", Content: c.system})
	}
	msgs = append(msgs, server.ChatMessage{Role: "user", Content: text})
	chat, err := server.ChatPrompt(e, chatFormats[c.format], msgs, c.effort, time.Now())
	if err != nil {
		return nil, fmt.Errorf("run: %w", err)
	}
	return chat, nil
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
