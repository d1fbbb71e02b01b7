package harmony

import (
	"fmt"
	"strings"
	"unicode"
)

// Kind says where a message's text goes in a chat response.
type Kind int

const (
	Other     Kind = iota // tool calls, messages of other roles
	Reasoning             // the assistant's analysis channel
	Content               // the assistant's final (or any other) channel, or no channel
)

// KindOf classifies a message: recipients mark tool calls, which are
// neither reasoning nor content.
func KindOf(m Message) Kind {
	switch {
	case m.Role != "assistant" || m.Recipient != "":
		return Other
	case m.Channel == "analysis":
		return Reasoning
	}
	return Content
}

// Delta is new text of message Index.
type Delta struct {
	Index     int
	Kind      Kind
	Channel   string
	Recipient string
	Text      string
}

type state int

const (
	expectStart state = iota
	inHeader
	inContent
)

// maxHeader bounds a header: longer text without <|message|> (or any text
// with a newline) is taken for a model that never opened a channel.
const maxHeader = 256

var stops = []string{End, Return, Call}

// Parser reads a completion that follows "<|start|>assistant", fed as text
// pieces in which the special tokens appear as their text (as the engine's
// detokenizer renders them for gpt-oss). It follows openai-harmony's
// StreamableParser in non-strict mode, and goes on where that one fails:
//   - a header that cannot be parsed still opens a message (Err reports it);
//   - text between messages that is not "<|start|>" is skipped (Err);
//   - a first header with a newline or longer than 256 bytes means the model
//     wrote plain text: it becomes the content of a message without channel;
//   - Close ends a truncated message or header as the library does when a
//     stop token (<|return|>) comes first, so text without any channel is
//     content.
//
// Content text is released as soon as it cannot be the start of <|end|>,
// <|return|> or <|call|>.
type Parser struct {
	st     state
	role   string // the role of the next header when known (the first one)
	buf    string // header text, text between messages, or held-back content
	cur    Message
	msgs   []Message
	err    error
	out    []Delta
	closed bool
	open   bool // Close found a message or header unfinished
}

// NewParser starts a parser for the assistant's completion.
func NewParser() *Parser { return &Parser{st: inHeader, role: "assistant"} }

// Err is the first format error seen (the parser carried on past it).
func (p *Parser) Err() error { return p.err }

func (p *Parser) fail(format string, args ...any) {
	if p.err == nil {
		p.err = fmt.Errorf("harmony: "+format, args...)
	}
}

// Messages returns the messages completed so far.
func (p *Parser) Messages() []Message { return p.msgs }

// Current returns the open message and its text so far (held-back text
// included), or false outside a message's content.
func (p *Parser) Current() (Message, bool) {
	if p.st != inContent {
		return Message{}, false
	}
	m := p.cur
	m.Content += p.buf
	return m, true
}

// Add feeds the next piece of output and returns the text it completes.
func (p *Parser) Add(text string) []Delta {
	if p.closed {
		return nil
	}
	p.out = nil
	p.buf += text
	for p.step() {
	}
	return p.out
}

// step makes one transition; false when it needs more text.
func (p *Parser) step() bool {
	switch p.st {
	case expectStart:
		if strings.HasPrefix(p.buf, Start) {
			p.buf = p.buf[len(Start):]
			p.st = inHeader
			return true
		}
		if strings.HasPrefix(Start, p.buf) {
			return false
		}
		p.fail("unexpected text %q while expecting %s", short(p.buf), Start)
		if i := strings.Index(p.buf, Start); i >= 0 {
			p.buf = p.buf[i:]
			return true
		}
		p.buf = p.buf[len(p.buf)-heldBack(p.buf, []string{Start}):]
		return false
	case inHeader:
		m := strings.Index(p.buf, MessageT)
		s, n := firstStop(p.buf)
		end := len(p.buf) // where the header ends, as far as known
		for _, i := range []int{m, s} {
			if i >= 0 && i < end {
				end = i
			}
		}
		switch {
		case strings.Contains(p.buf[:end], "\n") || end > maxHeader:
			// Plain text: the buffered "header" is content.
			role := p.role
			if role == "" {
				role = "assistant"
			}
			p.role = ""
			p.cur = Message{Role: role}
			p.st = inContent
			return true
		case m >= 0 && (s < 0 || m < s):
			h := p.buf[:m]
			p.buf = p.buf[m+len(MessageT):]
			p.start(h)
			return true
		case s >= 0:
			h := p.buf[:s]
			p.buf = p.buf[s+n:]
			p.headerStop(h)
			p.st = expectStart
			return true
		}
		return false
	case inContent:
		if s, n := firstStop(p.buf); s >= 0 {
			p.emit(p.buf[:s])
			p.buf = p.buf[s+n:]
			p.finish()
			return true
		}
		k := len(p.buf) - heldBack(p.buf, stops)
		p.emit(p.buf[:k])
		p.buf = p.buf[k:]
	}
	return false
}

// Close ends the output: a message still open is completed with its
// held-back text, a header still open is read as the library reads one cut
// short by a stop token. It returns the last deltas.
func (p *Parser) Close() []Delta {
	if p.closed {
		return nil
	}
	p.out = nil
	p.open = p.st == inContent || p.st == inHeader && (p.buf != "" || p.role == "")
	switch p.st {
	case inContent:
		p.emit(p.buf)
		p.finish()
	case inHeader:
		p.headerStop(p.buf)
	}
	p.buf = ""
	p.closed = true
	return p.out
}

// Result is a whole parsed completion.
type Result struct {
	Messages  []Message
	Reasoning string // the analysis channel's text
	Content   string // the rest of the assistant's text, tool calls aside
	Open      bool   // the output stopped inside a message or header
	Err       error  // the first format error
}

// Result closes the parser and sums up the messages.
func (p *Parser) Result() Result {
	p.Close()
	r := Result{Messages: p.msgs, Open: p.open, Err: p.err}
	var reason, content strings.Builder
	for _, m := range p.msgs {
		switch KindOf(m) {
		case Reasoning:
			reason.WriteString(m.Content)
		case Content:
			content.WriteString(m.Content)
		}
	}
	r.Reasoning, r.Content = reason.String(), content.String()
	return r
}

// Parse parses a whole completion.
func Parse(text string) Result {
	p := NewParser()
	p.Add(text)
	return p.Result()
}

func (p *Parser) emit(s string) {
	if s == "" {
		return
	}
	p.cur.Content += s
	p.out = append(p.out, Delta{Index: len(p.msgs), Kind: KindOf(p.cur), Channel: p.cur.Channel, Recipient: p.cur.Recipient, Text: s})
}

func (p *Parser) finish() {
	p.msgs = append(p.msgs, p.cur)
	p.cur = Message{}
	p.st = expectStart
}

// start opens a message from its header text.
func (p *Parser) start(h string) {
	m, rest, err := parseHeader(h, p.role, true)
	if err == nil && rest != "" {
		err = fmt.Errorf("unexpected tokens remaining in message header: %q", rest)
	}
	if err != nil {
		p.fail("%v", err)
	}
	p.role = ""
	p.cur = m
	p.st = inContent
}

// headerStop handles a stop token (or the end) inside a header: with a
// known role the header's channel is kept and the rest of it is content
// (the library's non-strict mode); otherwise the header is dropped.
func (p *Parser) headerStop(h string) {
	role := p.role
	p.role = ""
	if role == "" || h == "" {
		return
	}
	m, rest, err := parseHeader(h, role, false)
	if err != nil {
		p.fail("%v", err)
		m, rest = Message{Role: role}, h
	}
	p.cur = m
	p.emit(rest)
	p.finish()
}

// parseHeader reads a header (the text between <|start|> and <|message|>):
// an optional role (when role is ""), " to=RECIPIENT", "<|channel|>NAME"
// and a content type. Without recipientAndType, what follows the role and
// channel is returned as content. On an error the message holds what could
// be read.
func parseHeader(h, role string, recipientAndType bool) (Message, string, error) {
	var m Message
	if i := strings.Index(h, Channel); i >= 0 {
		after := h[i+len(Channel):]
		end := strings.IndexFunc(after, func(r rune) bool { return unicode.IsSpace(r) || r == '<' })
		if end < 0 {
			end = len(after)
		}
		if end == 0 {
			m.Role = role
			if role == "" {
				m.Role = "assistant"
			}
			return m, "", fmt.Errorf("channel marker present but no channel value found in header")
		}
		m.Channel = after[:end]
		h = h[:i] + after[end:]
	}
	h = strings.TrimSpace(h)
	if strings.Contains(h, Constrain) {
		h = strings.TrimSpace(strings.ReplaceAll(h, Constrain, " "+Constrain))
	}
	parts := asciiFields(h)
	if role == "" {
		if len(parts) == 0 {
			m.Role = "assistant"
			return m, "", fmt.Errorf("message header did not contain a role")
		}
		switch r := parts[0]; {
		case roles[r]:
			role = r
			if r == "tool" {
				m.Name = r
			}
		case len(parts) > 1 || strings.HasPrefix(r, "to="):
			parts = parts[1:]
			role, m.Name = "tool", r
		default:
			m.Role = "assistant"
			return m, "", fmt.Errorf("unknown role: %s", r)
		}
	}
	m.Role = role
	if len(parts) > 0 && parts[0] == role {
		parts = parts[1:]
	}
	if recipientAndType && len(parts) > 0 {
		n := len(parts)
		last := parts[n-1]
		parts = parts[:n-1]
		if r, ok := strings.CutPrefix(last, "to="); ok {
			m.Recipient = r
		} else if n == 1 {
			m.Recipient = last
		} else {
			m.ContentType = last
			r := parts[len(parts)-1]
			parts = parts[:len(parts)-1]
			m.Recipient = strings.TrimPrefix(r, "to=")
		}
	}
	return m, strings.Join(parts, " "), nil
}

// asciiFields splits at ASCII whitespace, as Rust's split_ascii_whitespace.
func asciiFields(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool {
		return r == ' ' || r == '\t' || r == '\n' || r == '\f' || r == '\r'
	})
}

// firstStop finds the first stop token in s: its index and length.
func firstStop(s string) (int, int) {
	at, n := -1, 0
	for _, m := range stops {
		if i := strings.Index(s, m); i >= 0 && (at < 0 || i < at) {
			at, n = i, len(m)
		}
	}
	return at, n
}

// heldBack is the length of the longest suffix of s that is a proper
// prefix of one of marks.
func heldBack(s string, marks []string) int {
	keep := 0
	for _, m := range marks {
		for n := min(len(m)-1, len(s)); n > keep; n-- {
			if strings.HasSuffix(s, m[:n]) {
				keep = n
				break
			}
		}
	}
	return keep
}

func short(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
