package strategy

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tscale/engine/engine"
	"github.com/tscale/engine/engine/grammar"
	"github.com/tscale/engine/engine/sample"
	"github.com/tscale/engine/model/tokenizer"
)

// text joins the tokens' bytes: what the grammar saw.
func text(tok *tokenizer.Tokenizer, ids []int32) string {
	var b strings.Builder
	for _, id := range ids {
		if !tok.IsEOG(id) {
			b.WriteString(tok.Piece(id))
		}
	}
	return b.String()
}

const sentence = `[A-Z][a-z]{2,6}( [a-z]{2,6}){1,4}\.`

func TestBeamConstraint(t *testing.T) {
	e := openStories(t)
	g, err := grammar.Regex(sentence)
	require.NoError(t, err)
	prompt := e.Tokenizer().Encode("Once upon a time", tokenizer.AddSpecial)
	res, err := Beam(context.Background(), FromEngine(e), prompt, BeamOptions{Width: 3, MaxTokens: 60,
		Constraint: g.Constraint(grammar.VocabFor(e.Tokenizer()))})
	require.NoError(t, err)
	require.NotEmpty(t, res.Hypotheses)
	for _, h := range res.Hypotheses {
		require.Equal(t, engine.FinishStop, h.Finish)
		require.True(t, g.Match(text(e.Tokenizer(), h.Tokens)), "%q", text(e.Tokenizer(), h.Tokens))
	}
	requireNoKV(t, e)
}

func TestTreeConstraint(t *testing.T) {
	e := openStories(t)
	g, err := grammar.Regex(sentence)
	require.NoError(t, err)
	prompt := e.Tokenizer().Encode("Once upon a time", tokenizer.AddSpecial)
	res, err := Tree(context.Background(), FromEngine(e), prompt, TreeOptions{K: 3, B: 2, MaxDepth: 4, Delimiter: " ",
		Sampling: sample.Params{Temperature: 1}, Seed: 5, Constraint: g.Constraint(grammar.VocabFor(e.Tokenizer()))})
	require.NoError(t, err)
	for _, n := range res.Nodes[1:] {
		s := text(e.Tokenizer(), res.Completion(n.ID).Tokens)
		require.True(t, g.Match(s) || !n.Done, "a finished path matches: %q", s)
		require.True(t, g.Prefix(s), "every path is a prefix of the language: %q", s)
	}
	require.LessOrEqual(t, len(res.cons), 2, "only the kept open nodes keep a state")
	requireNoKV(t, e)
}

// TestVoteJSON: a vote over JSON-constrained samples, on a field.
func TestVoteJSON(t *testing.T) {
	e := openStories(t)
	g, err := grammar.JSONSchema([]byte(`{"type":"object","properties":{"pet":{"enum":["cat","dog","bird"]}},"required":["pet"]}`))
	require.NoError(t, err)
	prompt := e.Tokenizer().Encode("Once upon a time", tokenizer.AddSpecial)
	ex, err := ParseExtractor("json:pet")
	require.NoError(t, err)
	req := engine.Request{Prompt: prompt, N: 6, MaxTokens: 40, Sampling: sample.Params{Temperature: 1}, Seed: 3,
		Constraint: g.Constraint(grammar.VocabFor(e.Tokenizer()))}
	res, err := Vote(context.Background(), e, req, VoteOptions{Extract: ex, NoEarlyStop: true})
	require.NoError(t, err)
	require.Zero(t, res.Abstained)
	require.Contains(t, []string{"cat", "dog", "bird"}, res.Answer)
	total := 0
	for _, v := range res.Votes {
		total += v.Count
	}
	require.Equal(t, 6, total)
}

func TestJSONField(t *testing.T) {
	cases := []struct {
		path, text, want string
		ok               bool
	}{
		{"a", `{"a": "x"}`, "x", true},
		{"a.b", `{"a": {"b": 2.50}}`, "2.50", true},
		{"a.1", `{"a": [1, {"z": 1, "y": [true, null]}]}`, `{"y":[true,null],"z":1}`, true},
		{"", ` {"b":1,"a":"<"} `, `{"a":"<","b":1}`, true},
		{"a", `{"b": 1}`, "", false},
		{"a.0", `{"a": {"0": 1}}`, "1", true},
		{"a.5", `{"a": [1]}`, "", false},
		{"a", `{"a": 1} trailing`, "", false},
		{"a", `not json`, "", false},
	}
	for _, c := range cases {
		got, ok := JSONField(c.path).Extract(c.text)
		require.Equal(t, c.ok, ok, "%s %s", c.path, c.text)
		require.Equal(t, c.want, got, "%s %s", c.path, c.text)
	}
	_, err := ParseExtractor("json:a.b")
	require.NoError(t, err)
}
