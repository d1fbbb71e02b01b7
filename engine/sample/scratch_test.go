package sample

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSharedScratch: samplers that share one Scratch, interleaved, draw
// exactly what samplers with their own draw, on every path that uses it
// (bias, penalties over prompt and generated tokens, top-k, top-p, min-p,
// logprobs), and keep no vocabulary-sized buffer of their own.
func TestSharedScratch(t *testing.T) {
	l := randLogits(5000, 3)
	prompt := []int32{1, 2, 3, 40, 41, 42, 7, 7}
	for _, p := range []Params{
		{Temperature: 1},
		{Temperature: 0.9, TopP: 0.95},
		{Temperature: 0.8, TopK: 40, TopP: 0.9, MinP: 0.05, RepeatPenalty: 1.3, RepeatLastN: 5},
		{Temperature: 1, RepeatPenalty: 1.2, RepeatLastN: -1, PresencePenalty: 0.4, FrequencyPenalty: 0.2,
			LogitBias: map[int32]float32{5: 3}, Ban: []int32{9}},
	} {
		var sc Scratch
		own := []*Sampler{NewWithHistory(p, 1, prompt), NewWithHistory(p, 2, prompt)}
		shared := []*Sampler{NewWithHistory(p, 1, prompt), NewWithHistory(p, 2, prompt)}
		for _, s := range shared {
			s.Share(&sc)
		}
		for step := range 30 {
			for i := range own {
				a, la := own[i].SampleWithLogprobs(l, 3)
				b, lb := shared[i].SampleWithLogprobs(l, 3)
				require.Equal(t, a, b, "%+v step %d sampler %d", p, step, i)
				require.Equal(t, la, lb)
				own[i].Accept(a)
				shared[i].Accept(b)
			}
		}
		for _, s := range shared {
			require.Same(t, &sc, s.sc)
			require.Same(t, &sc, s.Clone().sc, "a clone keeps sharing")
		}
		require.NotEmpty(t, sc.cand)
	}
	require.Equal(t, []int32{1, 2, 3, 40, 41, 42, 7, 7}, prompt, "the history is not modified")
}
