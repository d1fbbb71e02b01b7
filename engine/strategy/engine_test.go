package strategy

import (
	"context"
	"math"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tscale/engine/engine"
	"github.com/tscale/engine/engine/sample"
	"github.com/tscale/engine/model/tokenizer"
)

const storiesPath = "../../../shared/models/stories260K.gguf"

func openStories(t *testing.T) *engine.Engine {
	t.Helper()
	if _, err := os.Stat(storiesPath); err != nil {
		t.Skipf("%s not found: ../shared must sit beside the repository", storiesPath)
	}
	e, err := engine.Open(storiesPath, engine.WithContext(256))
	require.NoError(t, err)
	t.Cleanup(func() { e.Close() })
	return e
}

// recompute returns the log-probability of each of toks after prompt and
// the tokens before it, each from a fresh e.Logits evaluation.
func recompute(t *testing.T, e *engine.Engine, prompt, toks []int32) []float64 {
	t.Helper()
	out := make([]float64, len(toks))
	for i, tk := range toks {
		l, err := e.Logits(context.Background(), append(slices.Clone(prompt), toks[:i]...))
		require.NoError(t, err)
		out[i] = float64(logSoftmax(l)[tk])
	}
	return out
}

func sum(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x
	}
	return s
}

func requireNoKV(t *testing.T, e *engine.Engine) {
	t.Helper()
	require.Eventually(t, func() bool { return e.Stats().KV.Used == 0 }, 2*time.Second, 5*time.Millisecond, "KV blocks leaked")
}

func TestBeamStories(t *testing.T) {
	e := openStories(t)
	prompt := e.Tokenizer().Encode("Once upon a time", tokenizer.AddSpecial)
	for _, tc := range []struct {
		w     int
		alpha float64
	}{{1, 0}, {3, 1}, {5, 0.6}} {
		if testing.Short() && tc.w == 5 {
			continue // every score is recomputed token by token: slow under -race
		}
		res, err := Beam(context.Background(), FromEngine(e), prompt, BeamOptions{Width: tc.w, MaxTokens: 12, LengthPenalty: tc.alpha})
		require.NoError(t, err)
		require.Len(t, res.Hypotheses, tc.w)
		for _, h := range res.Hypotheses {
			lps := recompute(t, e, prompt, h.Tokens)
			require.InDelta(t, sum(lps), h.Logprob, 1e-4, "width %d: %q", tc.w, e.Tokenizer().Decode(h.Tokens))
			require.InDelta(t, h.Logprob/math.Pow(float64(len(h.Tokens)), tc.alpha), h.Score, 1e-9)
		}
		requireNoKV(t, e)
		if tc.w == 1 {
			// Width 1 is greedy decoding.
			g, err := e.Generate(context.Background(), engine.Request{Prompt: prompt, MaxTokens: 12}, nil)
			require.NoError(t, err)
			require.Equal(t, g.Samples[0].Tokens, res.Hypotheses[0].Tokens[:len(g.Samples[0].Tokens)])
		}
	}
}

func TestTreeStories(t *testing.T) {
	e := openStories(t)
	prompt := e.Tokenizer().Encode("Once upon a time", tokenizer.AddSpecial)
	res, err := Tree(context.Background(), FromEngine(e), prompt, TreeOptions{K: 3, B: 2, MaxDepth: 3, Delimiter: ".",
		MaxStepTokens: 24, Sampling: sample.Params{Temperature: 0.9, TopK: 40}, Seed: 5})
	require.NoError(t, err)
	requireNoKV(t, e)
	best := res.Nodes[res.Best]
	require.Positive(t, best.Depth)
	require.NotEmpty(t, res.Rounds)
	require.Equal(t, res.Rounds[len(res.Rounds)-1].Kept[0], res.Best)
	for _, n := range res.Nodes[1:] {
		require.True(t, n.Done || strings.Contains(n.Text, ".") || len(n.Tokens) == 24, "node %d: %q", n.ID, n.Text)
	}
	// The best path's logprobs are the model's, and its text decodes from
	// its tokens.
	c := res.Completion(res.Best)
	toks := c.Tokens
	if testing.Short() {
		toks = toks[:min(len(toks), 12)]
	}
	lps := recompute(t, e, prompt, toks)
	for i := range lps {
		require.InDelta(t, lps[i], c.Logprobs[i], 1e-4)
	}
	require.Equal(t, e.Tokenizer().Decode(append(slices.Clone(prompt), c.Tokens...)), e.Tokenizer().Decode(prompt)+c.Text)
	t.Logf("best (score %.3f): %s", best.Score, c.Text)
}

func TestVoteStories(t *testing.T) {
	e := openStories(t)
	prompt := e.Tokenizer().Encode("Once upon a time, there was a little girl named", tokenizer.AddSpecial)
	req := engine.Request{Prompt: prompt, N: 8, MaxTokens: 40, Sampling: sample.Params{Temperature: 1}, Seed: 3, Stop: []string{"."}}
	name := Func(func(s string) (string, bool) {
		f := strings.Fields(s)
		if len(f) == 0 {
			return "", false
		}
		return strings.Trim(f[0], ",."), true
	})
	full, err := Vote(context.Background(), e, req, VoteOptions{Extract: name, Weighted: true, NoEarlyStop: true})
	require.NoError(t, err)
	require.Len(t, full.Order, 8)
	total := 0
	for _, v := range full.Votes {
		total += v.Count
	}
	require.Equal(t, 8, total)
	for _, s := range full.Samples {
		var m float64
		for _, l := range s.Logprobs {
			m += float64(l)
		}
		require.InDelta(t, math.Exp(m/float64(len(s.Logprobs))), s.Weight, 1e-9)
	}
	early, err := Vote(context.Background(), e, req, VoteOptions{Extract: Func(func(string) (string, bool) { return "same", true })})
	require.NoError(t, err)
	require.True(t, early.StoppedEarly)
	require.Len(t, early.Order, 5, "5 > 0 + 3 decides a vote of 8")
	requireNoKV(t, e)
}

func TestRewardModelStories(t *testing.T) {
	e := openStories(t)
	rm, err := NewRewardModel(e, e.Tokenizer(), "")
	require.NoError(t, err)
	prompt := e.Tokenizer().Encode("Tom had two apples and got one more. How many apples?", tokenizer.AddSpecial)
	c := engine.Completion{Text: " He had three apples."}
	got, err := rm.Score(context.Background(), prompt, c)
	require.NoError(t, err)
	// Reference: the full softmax over the vocabulary after the common
	// prefix of the template followed by " Yes" and by " No".
	text := rm.Prompt(e.Tokenizer().Decode(prompt), c.Text)
	y := e.Tokenizer().Encode(text+" Yes", tokenizer.AddSpecial)
	n := e.Tokenizer().Encode(text+" No", tokenizer.AddSpecial)
	i := 0
	for y[i] == n[i] {
		i++
	}
	ids, yes, no, err := rm.Query(e.Tokenizer().Decode(prompt), c.Text)
	require.NoError(t, err)
	require.Equal(t, y[:i], ids)
	require.Equal(t, []int32{y[i], n[i]}, []int32{yes, no})
	require.NotEqual(t, yes, no)
	l, err := e.Logits(context.Background(), ids)
	require.NoError(t, err)
	var z float64
	for _, v := range l {
		z += math.Exp(float64(v))
	}
	py, pn := math.Exp(float64(l[yes]))/z, math.Exp(float64(l[no]))/z
	require.InDelta(t, py/(py+pn), got, 1e-9)

	_, err = NewRewardModel(e, e.Tokenizer(), "no placeholder")
	require.ErrorContains(t, err, "has no {answer}")

	res, err := BestOfN(context.Background(), e, engine.Request{Prompt: prompt, N: 4, MaxTokens: 16,
		Sampling: sample.Params{Temperature: 1}, Seed: 1}, rm)
	require.NoError(t, err)
	for i, s := range res.Ranked {
		require.True(t, s.Score > 0 && s.Score < 1, "score %v", s.Score)
		if i > 0 {
			require.LessOrEqual(t, s.Score, res.Ranked[i-1].Score)
		}
	}
	requireNoKV(t, e)
}

func TestBestOfNStories(t *testing.T) {
	e := openStories(t)
	prompt := e.Tokenizer().Encode("Lily saw a bird", tokenizer.AddSpecial)
	res, err := BestOfN(context.Background(), e, engine.Request{Prompt: prompt, N: 6, MaxTokens: 12,
		Sampling: sample.Params{Temperature: 1}, Seed: 9}, MeanLogprob{})
	require.NoError(t, err)
	require.Len(t, res.Ranked, 6)
	lps := recompute(t, e, prompt, res.Best.Tokens)
	require.InDelta(t, sum(lps)/float64(len(lps)), res.Best.Score, 1e-4)
	for i := 1; i < len(res.Ranked); i++ {
		require.LessOrEqual(t, res.Ranked[i].Score, res.Ranked[i-1].Score)
	}
	requireNoKV(t, e)
}
