package harmony

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"<|channel|>analysis<|message|>think<|end|><|start|>assistant<|channel|>final<|message|>answer<|return|>",
		" to=functions.f<|channel|>commentary <|constrain|>json<|message|>{}<|call|>",
		"<|channel|>final<|message|>x<|end|>garbage<|start|>user<|message|>y",
		"Hello\nthere <|end|>",
		"<|channel|>analy",
		"<|channel|> final <|message|>x<|end|><|start|>foo bar<|message|><|start|>",
		"a < b <|en",
	} {
		f.Add(s, 5)
	}
	f.Fuzz(func(t *testing.T, text string, cut int) {
		// Whole, in two pieces and byte by byte: the same result.
		whole := Parse(text)
		cut = min(max(cut, 0), len(text))
		feeds := [][]string{{text[:cut], text[cut:]}, nil}
		for i := range len(text) {
			feeds[1] = append(feeds[1], text[i:i+1])
		}
		for _, pieces := range feeds {
			p := NewParser()
			got := map[int]string{}
			for _, s := range pieces {
				for _, d := range p.Add(s) {
					require.NotEmpty(t, d.Text)
					got[d.Index] += d.Text
				}
			}
			for _, d := range p.Close() {
				got[d.Index] += d.Text
			}
			r := p.Result()
			require.Equal(t, list(whole.Messages), list(r.Messages))
			require.Equal(t, whole.Reasoning, r.Reasoning)
			require.Equal(t, whole.Content, r.Content)
			require.Equal(t, whole.Open, r.Open)
			require.Equal(t, whole.Err != nil, r.Err != nil)
			// The deltas add up to the messages, and the messages to the result.
			var reason, content string
			for i, m := range r.Messages {
				require.Equal(t, m.Content, got[i], "message %d", i)
				switch KindOf(m) {
				case Reasoning:
					reason += m.Content
				case Content:
					content += m.Content
				}
			}
			require.Len(t, got, countNonEmpty(r.Messages))
			require.Equal(t, reason, r.Reasoning)
			require.Equal(t, content, r.Content)
		}
		// Without special tokens, text is all content, verbatim when it has a
		// newline (or is long).
		if !hasMarker(text) && (len(text) > maxHeader || containsNL(text)) {
			require.Equal(t, text, whole.Content)
		}
	})
}

func countNonEmpty(ms []Message) int {
	n := 0
	for _, m := range ms {
		if m.Content != "" {
			n++
		}
	}
	return n
}

func hasMarker(s string) bool {
	for i := 0; i+1 < len(s); i++ {
		if s[i] == '<' && s[i+1] == '|' {
			return true
		}
	}
	return false
}

func containsNL(s string) bool {
	for i := range len(s) {
		if s[i] == '\n' {
			return true
		}
	}
	return false
}
