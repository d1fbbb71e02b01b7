package harmony

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Goldens: scripts/ref/harmony_golden.py (openai-harmony 0.0.8).
const goldenDir = "../../testdata/harmony/"

func readGolden(t *testing.T, name string, cases any) {
	t.Helper()
	b, err := os.ReadFile(goldenDir + name)
	require.NoError(t, err, "run scripts/ref/harmony_golden.py")
	var g struct {
		Reference string          `json:"reference"`
		Cases     json.RawMessage `json:"cases"`
	}
	require.NoError(t, json.Unmarshal(b, &g))
	require.Contains(t, g.Reference, "openai-harmony")
	require.NoError(t, json.Unmarshal(g.Cases, cases))
}

type goldenSystem struct {
	Identity *string  `json:"identity"`
	Cutoff   *string  `json:"cutoff"`
	Date     string   `json:"date"`
	Effort   *string  `json:"effort"`
	Channels []string `json:"channels"`
	Required *bool    `json:"required"`
}

func (g *goldenSystem) system() *System {
	if g == nil {
		return nil
	}
	s := DefaultSystem()
	if g.Identity != nil {
		s.Identity = *g.Identity
	}
	if g.Cutoff != nil {
		s.Cutoff = *g.Cutoff
	}
	s.Date = g.Date
	if g.Effort != nil {
		s.Effort = *g.Effort
	}
	if g.Channels != nil {
		s.Channels = g.Channels
	}
	if g.Required != nil {
		s.ChannelRequired = *g.Required
	}
	return &s
}

func TestRenderMatchesLibrary(t *testing.T) {
	var cases []struct {
		Name     string        `json:"name"`
		System   *goldenSystem `json:"system"`
		Keep     bool          `json:"keep_analysis"`
		Messages []Message     `json:"messages"`
		Text     string        `json:"text"`
		Segments []Part        `json:"segments"`
	}
	readGolden(t, "render.json", &cases)
	require.NotEmpty(t, cases)
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			p, err := Render(c.Messages, Options{System: c.System.system(), KeepAnalysis: c.Keep})
			require.NoError(t, err)
			require.Equal(t, c.Text, p.String())
			// Special tokens where the library put them, and nowhere else.
			var segs []Part
			for _, x := range p {
				if n := len(segs); n > 0 && !x.Special && !segs[n-1].Special {
					segs[n-1].Text += x.Text
				} else {
					segs = append(segs, x)
				}
			}
			require.Equal(t, c.Segments, segs)
		})
	}
}

func (p *Part) UnmarshalJSON(b []byte) error {
	var v struct {
		Text    string `json:"text"`
		Special bool   `json:"special"`
	}
	err := json.Unmarshal(b, &v)
	p.Text, p.Special = v.Text, v.Special
	return err
}

func TestRenderErrors(t *testing.T) {
	for _, msgs := range [][]Message{
		{{Role: "tool", Content: "x"}},
		{{Role: "bot", Content: "x"}},
	} {
		_, err := Render(msgs, Options{})
		require.Error(t, err)
	}
}

type parseCase struct {
	Name  string `json:"name"`
	Text  string `json:"text"`
	Ends  []int  `json:"ends"`
	Steps []struct {
		Messages int     `json:"messages"`
		Content  *string `json:"content"`
	} `json:"steps"`
	Error    string    `json:"error"`
	Messages []Message `json:"messages"`
	State    string    `json:"state"`
	Current  *struct {
		Role        string  `json:"role"`
		Channel     *string `json:"channel"`
		Recipient   *string `json:"recipient"`
		ContentType *string `json:"content_type"`
		Content     string  `json:"content"`
	} `json:"current"`
	Closed []Message `json:"closed"`
}

// chunkings splits text into pieces: whole, per token, and fixed sizes
// (which cut special tokens and UTF-8 sequences).
func chunkings(c parseCase) map[string][]string {
	out := map[string][]string{"whole": {c.Text}}
	var toks []string
	prev := 0
	for _, e := range c.Ends {
		toks = append(toks, c.Text[prev:e])
		prev = e
	}
	out["tokens"] = toks
	for _, n := range []int{1, 3, 7} {
		var ps []string
		for i := 0; i < len(c.Text); i += n {
			ps = append(ps, c.Text[i:min(i+n, len(c.Text))])
		}
		out["bytes"+string(rune('0'+n))] = ps
	}
	return out
}

// list makes empty lists compare equal, whether nil or not.
func list(m []Message) []Message {
	if len(m) == 0 {
		return nil
	}
	return m
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func TestParseMatchesLibrary(t *testing.T) {
	var cases []parseCase
	readGolden(t, "parse.json", &cases)
	require.NotEmpty(t, cases)
	for _, c := range cases {
		for how, pieces := range chunkings(c) {
			t.Run(c.Name+"/"+how, func(t *testing.T) {
				p := NewParser()
				got := map[int]string{} // delta text by message
				for i, s := range pieces {
					for _, d := range p.Add(s) {
						got[d.Index] += d.Text
					}
					if how != "tokens" || c.Error != "" {
						continue
					}
					// Text comes out as soon as the library has it, but for
					// what may start a stop token.
					st := c.Steps[i]
					require.Len(t, p.Messages(), st.Messages, "after token %d", i)
					if st.Content == nil {
						continue
					}
					out := got[st.Messages]
					require.True(t, strings.HasPrefix(*st.Content, out), "after token %d: %q vs %q", i, out, *st.Content)
					if rest := (*st.Content)[len(out):]; rest != "" {
						require.True(t, strings.HasPrefix(rest, "<") && len(rest) < len(Return), "after token %d: held %q", i, rest)
					}
				}
				if c.Error != "" {
					require.Error(t, p.Err(), "the library fails: %s", c.Error)
					require.GreaterOrEqual(t, len(p.Messages()), len(c.Messages))
					require.Equal(t, list(c.Messages), list(p.Messages()[:len(c.Messages)]))
					p.Close() // carries on
					return
				}
				require.NoError(t, p.Err())
				require.Equal(t, list(c.Messages), list(p.Messages()))
				cur, ok := p.Current()
				require.Equal(t, c.State == "Content", ok)
				if ok {
					cur.Name = "" // the library does not show it before the end
					require.Equal(t, Message{Role: c.Current.Role, Channel: str(c.Current.Channel), Recipient: str(c.Current.Recipient),
						ContentType: str(c.Current.ContentType), Content: c.Current.Content}, cur)
				}
				for _, d := range p.Close() {
					got[d.Index] += d.Text
				}
				require.Equal(t, list(c.Closed), list(p.Messages()))
				r := p.Result()
				require.Equal(t, list(c.Closed), list(r.Messages))
				var reason, content string
				for i, m := range r.Messages {
					require.Equal(t, m.Content, got[i], "deltas of message %d", i)
					switch KindOf(m) {
					case Reasoning:
						reason += m.Content
					case Content:
						content += m.Content
					}
				}
				require.Equal(t, reason, r.Reasoning)
				require.Equal(t, content, r.Content)
				require.Equal(t, c.State != "ExpectStart" && c.Text != "", r.Open)
			})
		}
	}
}

// Beyond the library: plain text with a newline streams as content at
// once, and Close keeps it verbatim.
func TestParsePlainText(t *testing.T) {
	p := NewParser()
	text := "Hello!\n\nI  am   plain."
	var got string
	for _, d := range p.Add(text[:8]) {
		require.Equal(t, Content, d.Kind)
		got += d.Text
	}
	require.Equal(t, text[:8], got)
	for _, d := range p.Add(text[8:]) {
		got += d.Text
	}
	r := p.Result()
	require.NoError(t, r.Err)
	require.True(t, r.Open)
	require.Equal(t, text, r.Content)
	require.Equal(t, "", r.Reasoning)

	long := strings.Repeat("word ", 60)
	r = Parse(long)
	require.Equal(t, long, r.Content)
}

// After a format error the parser carries on.
func TestParseRecovers(t *testing.T) {
	r := Parse("<|channel|>final<|message|>x<|end|>garbage<|start|>assistant<|channel|>final<|message|>y")
	require.Error(t, r.Err)
	require.Equal(t, "xy", r.Content)
	r = Parse("<|channel|>analysis<|message|>a<|end|><|start|>foo<|channel|>final<|message|>b")
	require.Error(t, r.Err)
	require.Equal(t, "a", r.Reasoning)
	require.Equal(t, "b", r.Content)
}
