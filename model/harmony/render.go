// Package harmony is OpenAI's "harmony" chat format of the gpt-oss models:
//
//	<|start|>{role}<|message|>{content}<|end|>
//	<|start|>assistant<|channel|>analysis<|message|>{reasoning}<|end|>
//	<|start|>assistant<|channel|>final<|message|>{answer}<|return|>
//
// Render builds a prompt the way the official openai-harmony library's
// render_conversation_for_completion does, and Parser reads the model's
// output as its StreamableParser does, but from text (with the special
// tokens rendered as their text) and tolerant of malformed or truncated
// output. testdata/harmony holds goldens made by scripts/ref/harmony_golden.py
// with openai-harmony 0.0.8.
package harmony

import (
	"fmt"
	"strings"
)

// Special tokens of the format.
const (
	Start     = "<|start|>"
	Channel   = "<|channel|>"
	Constrain = "<|constrain|>"
	MessageT  = "<|message|>"
	End       = "<|end|>"
	Return    = "<|return|>"
	Call      = "<|call|>"
)

// Specials are the special tokens a harmony prompt or output can hold.
var Specials = []string{Start, Channel, Constrain, MessageT, End, Return, Call}

// Message is one message of a conversation. For role "developer", Content
// is the instructions (rendered under "# Instructions"); for role "tool",
// Name is the tool (e.g. "functions.get_weather") and is what the header
// shows. Empty fields are absent.
type Message struct {
	Role        string `json:"role"`
	Name        string `json:"name,omitempty"`
	Recipient   string `json:"recipient,omitempty"`
	Channel     string `json:"channel,omitempty"`
	ContentType string `json:"content_type,omitempty"`
	Content     string `json:"content"`
}

// Reasoning efforts.
const (
	Low    = "low"
	Medium = "medium"
	High   = "high"
)

// ValidEffort reports whether e is a reasoning effort the format knows.
func ValidEffort(e string) bool { return e == Low || e == Medium || e == High }

// System is the content of the system message (the library's
// SystemContent). Empty fields are left out of it.
type System struct {
	Identity string // model identity line
	Cutoff   string // knowledge cutoff, "YYYY-MM"
	Date     string // conversation start date, "YYYY-MM-DD"
	Effort   string // low, medium or high
	Channels []string
	// ChannelRequired adds "Channel must be included for every message."
	ChannelRequired bool
}

// DefaultSystem is SystemContent.new(): the gpt-oss defaults.
func DefaultSystem() System {
	return System{
		Identity: "You are ChatGPT, a large language model trained by OpenAI.",
		Cutoff:   "2024-06",
		Effort:   Medium,
		Channels: []string{"analysis", "commentary", "final"}, ChannelRequired: true,
	}
}

func (s System) text() string {
	var sections, top []string
	if s.Identity != "" {
		top = append(top, s.Identity)
	}
	if s.Cutoff != "" {
		top = append(top, "Knowledge cutoff: "+s.Cutoff)
	}
	if s.Date != "" {
		top = append(top, "Current date: "+s.Date)
	}
	if len(top) > 0 {
		sections = append(sections, strings.Join(top, "\n"))
	}
	if s.Effort != "" {
		sections = append(sections, "Reasoning: "+s.Effort)
	}
	if len(s.Channels) > 0 {
		h := "# Valid channels: " + strings.Join(s.Channels, ", ") + "."
		if s.ChannelRequired {
			h += " Channel must be included for every message."
		}
		sections = append(sections, h)
	}
	return strings.Join(sections, "\n\n")
}

// Options control Render.
type Options struct {
	// System is the first message; nil renders none.
	System *System
	// KeepAnalysis turns off the library's auto_drop_analysis: by default,
	// when the last assistant message is on the final channel, analysis
	// messages before the conversation's first final message are dropped.
	KeepAnalysis bool
}

// Part is a piece of a rendered prompt: a special token, or text to
// tokenize as ordinary text (never parsing special tokens in it).
type Part struct {
	Text    string
	Special bool
}

// Prompt is a rendered conversation.
type Prompt []Part

// String is the prompt text, special tokens written out.
func (p Prompt) String() string {
	var b strings.Builder
	for _, x := range p {
		b.WriteString(x.Text)
	}
	return b.String()
}

var roles = map[string]bool{"system": true, "developer": true, "user": true, "assistant": true, "tool": true}

// Render renders a conversation for completion: the system message (if
// any), msgs, and the assistant's header "<|start|>assistant". Text parts
// are split where the library tokenizes them separately.
func Render(msgs []Message, o Options) (Prompt, error) {
	var p Prompt
	text := func(s string) {
		if s != "" {
			p = append(p, Part{Text: s})
		}
	}
	special := func(s string) { p = append(p, Part{Text: s, Special: true}) }
	if o.System != nil {
		special(Start)
		text("system")
		special(MessageT)
		text(o.System.text())
		special(End)
	}
	drop := !o.KeepAnalysis && lastAssistantFinal(msgs)
	firstFinal := len(msgs)
	for i, m := range msgs {
		if m.Channel == "final" {
			firstFinal = i
			break
		}
	}
	for i, m := range msgs {
		if drop && i < firstFinal && m.Channel == "analysis" {
			continue
		}
		if !roles[m.Role] {
			return nil, fmt.Errorf("harmony: message %d: unknown role %q", i, m.Role)
		}
		special(Start)
		if m.Role == "tool" {
			if m.Name == "" {
				return nil, fmt.Errorf("harmony: message %d: a tool message needs the tool's name", i)
			}
			text(m.Name)
		} else {
			text(m.Role)
			if m.Name != "" {
				text(":" + m.Name)
			}
		}
		if m.Recipient != "" && m.Recipient != "all" {
			text(" to=" + m.Recipient)
		}
		if m.Channel != "" {
			special(Channel)
			text(m.Channel)
		}
		if ct := m.ContentType; ct != "" {
			if rest, ok := strings.CutPrefix(ct, Constrain); ok {
				text(" ")
				special(Constrain)
				text(rest)
			} else {
				text(" " + ct)
			}
		}
		special(MessageT)
		if m.Role == "developer" {
			text("# Instructions\n\n" + m.Content)
		} else {
			text(m.Content)
		}
		if m.Role == "assistant" && m.Recipient != "" {
			special(Call)
		} else {
			special(End)
		}
	}
	special(Start)
	text("assistant")
	return p, nil
}

// lastAssistantFinal reports whether the last assistant message is on the
// final channel.
func lastAssistantFinal(msgs []Message) bool {
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Role == "assistant" {
			return msgs[i].Channel == "final"
		}
	}
	return false
}
