package strategy

import (
	"cmp"
	"context"
	"math"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// seqScore is a sequence with its logprob sum and score, computed apart
// from Beam.
type seqScore struct {
	toks  []int32
	sum   float64
	score float64
}

func (m *synthLM) scored(prompt, toks []int32, alpha float64) seqScore {
	var sum float64
	for i, t := range toks {
		sum += float64(m.logprobAfter(append(slices.Clone(prompt), toks[:i]...), t))
	}
	return seqScore{toks, sum, sum / math.Pow(float64(len(toks)), alpha)}
}

func rank(s []seqScore, w int) []seqScore {
	slices.SortFunc(s, func(x, y seqScore) int {
		if c := cmp.Compare(y.score, x.score); c != 0 {
			return c
		}
		return slices.Compare(x.toks, y.toks)
	})
	return s[:min(w, len(s))]
}

// exhaustive enumerates every sequence that ends in EOG or reaches depth
// tokens and returns the best w by score.
func exhaustive(m *synthLM, prompt []int32, depth, w int, alpha float64) []seqScore {
	var all []seqScore
	var walk func(toks []int32)
	walk = func(toks []int32) {
		lp := logSoftmax(m.logits(append(slices.Clone(prompt), toks...)))
		for t := range lp {
			if lp[t] == negInf {
				continue
			}
			next := append(slices.Clone(toks), int32(t))
			if t == 0 || len(next) == depth {
				all = append(all, m.scored(prompt, next, alpha))
				continue
			}
			walk(next)
		}
	}
	walk(nil)
	return rank(all, w)
}

// simulate applies the beam rule on whole sequences, looking at every
// continuation of every beam: keep the best w by logprob sum (ties: the
// smaller sequence), finish those ending in EOG or at depth.
func simulate(m *synthLM, prompt []int32, depth, w int, alpha float64) []seqScore {
	live := []seqScore{{}}
	var done []seqScore
	for len(live) > 0 {
		var c []seqScore
		for _, b := range live {
			for t := range m.vocab {
				next := append(slices.Clone(b.toks), int32(t))
				c = append(c, m.scored(prompt, next, alpha))
			}
		}
		slices.SortFunc(c, func(x, y seqScore) int {
			if r := cmp.Compare(y.sum, x.sum); r != 0 {
				return r
			}
			return slices.Compare(x.toks, y.toks)
		})
		live = nil
		for _, s := range c[:min(w, len(c))] {
			if math.IsInf(s.sum, -1) {
				continue
			}
			if s.toks[len(s.toks)-1] == 0 || len(s.toks) == depth {
				done = append(done, s)
			} else {
				live = append(live, s)
			}
		}
	}
	return rank(done, w)
}

func TestBeamMatchesBruteForce(t *testing.T) {
	vocab := []string{"<eos>", "a", "b", "c", "d", "e"}
	prompt := []int32{3, 1}
	for _, tc := range []struct {
		name          string
		v, depth, w   int
		levels        int // 0: continuous logits, else few values and many ties
		alpha         float64
		wantAllLeaves bool
	}{
		{"wide V4 D3", 4, 3, 64, 0, 0, true},
		{"wide V5 D4 alpha1", 5, 4, 700, 0, 1, true},
		{"wide V6 D3 ties", 6, 3, 300, 2, 0.5, true},
		{"W1 greedy", 6, 5, 1, 0, 0, false},
		{"W2 V5 D5", 5, 5, 2, 0, 1, false},
		{"W3 V6 D5 ties", 6, 5, 3, 3, 0.7, false},
		{"W4 V4 D5", 4, 5, 4, 0, 0, false},
	} {
		for seed := uint64(1); seed <= 5; seed++ {
			m := newSynth(vocab[:tc.v], randomLogits(seed, tc.v, tc.levels))
			res, err := Beam(context.Background(), m, prompt, BeamOptions{Width: tc.w, MaxTokens: tc.depth, LengthPenalty: tc.alpha})
			require.NoError(t, err, tc.name)
			want := simulate(m, prompt, tc.depth, tc.w, tc.alpha)
			if tc.wantAllLeaves {
				want = exhaustive(m, prompt, tc.depth, tc.w, tc.alpha)
				require.Equal(t, want, simulate(m, prompt, tc.depth, tc.w, tc.alpha), "%s seed %d", tc.name, seed)
			}
			require.Len(t, res.Hypotheses, len(want), "%s seed %d", tc.name, seed)
			for i, h := range res.Hypotheses {
				require.Equal(t, want[i].toks, h.Tokens, "%s seed %d hypothesis %d", tc.name, seed, i)
				require.Equal(t, want[i].sum, h.Logprob)
				require.Equal(t, want[i].score, h.Score)
				require.Len(t, h.Logprobs, len(h.Tokens))
				require.Equal(t, h.Tokens[len(h.Tokens)-1] == 0, h.Finish == "stop")
			}
			require.Zero(t, m.open, "%s seed %d: nodes left open", tc.name, seed)
			require.Equal(t, res.Steps, len(m.batch))
			require.LessOrEqual(t, slices.Max(append(m.batch, 0)), tc.w, "a step never extends more than W beams")
		}
	}
}

// TestBeamSharesNodes: live beams fork only when a beam has more than one
// surviving continuation, and every step is one Extend of all live beams.
func TestBeamSharesNodes(t *testing.T) {
	// Token 1 then anything: after the prompt, tokens 1 and 2 are likely;
	// every later position prefers token 3 a little and never ends.
	m := newSynth([]string{"<eos>", "a", "b", "c"}, func(toks []int32) []float32 {
		if len(toks) == 1 {
			return []float32{negInf, 2, 2, 0}
		}
		return []float32{negInf, 0, 0, 1}
	})
	res, err := Beam(context.Background(), m, []int32{1}, BeamOptions{Width: 2, MaxTokens: 3})
	require.NoError(t, err)
	// Step 1: a, b (one node forked once). Step 2: a c, b c (no fork).
	// Step 3 finishes a c c and b c c by length without extending.
	require.Equal(t, []int{2, 2}, m.batch)
	require.Equal(t, 1, m.forks)
	require.Equal(t, 2, res.Steps)
	require.Equal(t, [][]int32{{1, 3, 3}, {2, 3, 3}}, [][]int32{res.Hypotheses[0].Tokens, res.Hypotheses[1].Tokens})
	require.Zero(t, m.open)
}

func TestBeamBadOptions(t *testing.T) {
	m := newSynth([]string{"<eos>", "a"}, randomLogits(1, 2, 0))
	for _, opt := range []BeamOptions{{MaxTokens: 0}, {Width: -1, MaxTokens: 3}, {MaxTokens: 2, LengthPenalty: math.NaN()}} {
		_, err := Beam(context.Background(), m, []int32{1}, opt)
		require.ErrorContains(t, err, "beam: need")
	}
	require.Zero(t, m.open)
}

func TestTopTokens(t *testing.T) {
	lp := []float32{-1, -0.5, negInf, -0.5, -3, float32(math.NaN()), -0.1}
	for _, tc := range []struct {
		k    int
		want []int32
	}{
		{1, []int32{6}},
		{3, []int32{6, 1, 3}},
		{5, []int32{6, 1, 3, 0, 4}},
		{9, []int32{6, 1, 3, 0, 4}},
	} {
		require.Equal(t, tc.want, topTokens(lp, tc.k), "k=%d", tc.k)
	}
}
