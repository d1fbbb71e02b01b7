package engine

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tscale/engine/engine/sample"
	"github.com/tscale/engine/model/tokenizer"
)

// TestLogprobs: reported log-probabilities are the log-softmax of the
// logits after each prefix, and the top alternatives are the largest ones.
func TestLogprobs(t *testing.T) {
	e := openStories(t)
	defer e.Close()
	ids := e.Tokenizer().Encode("Once upon a time", tokenizer.AddSpecial)
	res, err := e.Generate(context.Background(), Request{Prompt: ids, MaxTokens: 6, Sampling: warm, Seed: 5, Logprobs: true, TopLogprobs: 3, IgnoreEOG: true}, nil)
	require.NoError(t, err)
	s := res.Samples[0]
	require.Len(t, s.Logprobs, len(s.Tokens))
	prefix := append([]int32{}, ids...)
	for i, tok := range s.Tokens {
		logits, err := e.Logits(context.Background(), prefix)
		require.NoError(t, err)
		lsm := logSoftmax(logits)
		require.InDelta(t, lsm[tok], s.Logprobs[i], 1e-4, "token %d", i)
		require.Len(t, s.Top[i], 3)
		best := sample.Greedy(logits)
		require.Equal(t, best, s.Top[i][0].ID)
		require.InDelta(t, lsm[best], s.Top[i][0].Logprob, 1e-4)
		require.GreaterOrEqual(t, s.Top[i][0].Logprob, s.Top[i][1].Logprob)
		prefix = append(prefix, tok)
	}
}

// TestStops: stop strings cut the text before them, stop tokens and EOG end
// a sample without being returned, MaxTokens ends with "length".
func TestStops(t *testing.T) {
	e := openStories(t)
	defer e.Close()
	ids := e.Tokenizer().Encode("Once upon a time", tokenizer.AddSpecial)
	greedy := func(r Request) Completion {
		r.Prompt = ids
		res, err := e.Generate(context.Background(), r, nil)
		require.NoError(t, err)
		return res.Samples[0]
	}
	full := greedy(Request{MaxTokens: 30, IgnoreEOG: true})
	require.Equal(t, FinishLength, full.Finish)
	require.Len(t, full.Tokens, 30)
	require.True(t, strings.HasPrefix(full.Text, ", there was a little girl named Lily."), full.Text)

	cut := greedy(Request{MaxTokens: 30, Stop: []string{"Lily"}})
	require.Equal(t, FinishStop, cut.Finish)
	require.Equal(t, ", there was a little girl named ", cut.Text)

	byToken := greedy(Request{MaxTokens: 30, StopTokens: []int32{full.Tokens[3]}})
	require.Equal(t, FinishStop, byToken.Finish)
	require.Equal(t, full.Tokens[:3], byToken.Tokens)

	// The decoded text of a whole run equals the tokens' detokenization.
	require.Equal(t, e.Tokenizer().Decode(append(append([]int32{}, ids...), full.Tokens...)),
		e.Tokenizer().Decode(ids)+full.Text)
}

// TestSeqAPI: a forked Seq continues exactly like the original, and
// ExtendAll gives the logits Logits gives for the same prefixes.
func TestSeqAPI(t *testing.T) {
	e := openStories(t)
	defer e.Close()
	ctx := context.Background()
	ids := e.Tokenizer().Encode("Tom had a dog", tokenizer.AddSpecial)
	s, err := e.NewSeq(ctx, ids)
	require.NoError(t, err)
	want, err := e.Logits(ctx, ids)
	require.NoError(t, err)
	require.Equal(t, want, s.Logits())
	c, err := s.Fork()
	require.NoError(t, err)
	a, b := sample.Greedy(s.Logits()), int32(300)
	require.NoError(t, e.ExtendAll(ctx, []*Seq{s, c}, [][]int32{{a}, {b}}))
	for _, x := range []struct {
		seq *Seq
		tok int32
	}{{s, a}, {c, b}} {
		want, err := e.Logits(ctx, append(append([]int32{}, ids...), x.tok))
		require.NoError(t, err)
		require.Equal(t, want, x.seq.Logits())
		require.Equal(t, len(ids)+1, x.seq.Len())
	}
	s.Close()
	c.Close()
	require.Zero(t, e.Stats().KV.Used)
	require.Error(t, s.Extend(ctx, 1), "closed sequence")
	_, err = e.NewSeq(ctx, nil)
	require.Error(t, err)
	require.False(t, math.IsNaN(float64(want[0])))
}
