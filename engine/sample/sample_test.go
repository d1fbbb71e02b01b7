package sample

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestGreedy(t *testing.T) {
	for _, tc := range []struct {
		logits []float32
		want   int32
	}{
		{[]float32{0, 1, 2}, 2},
		{[]float32{5, 1, 5}, 0}, // ties go to the lowest id
		{[]float32{-3, -1, -2}, 1},
		{[]float32{float32(math.Inf(-1)), 0}, 1},
	} {
		require.Equal(t, tc.want, Greedy(tc.logits))
		require.Equal(t, tc.want, New(Params{}, 1).Sample(tc.logits), "temperature 0 is greedy")
	}
}

// counts draws n samples and returns how often each id came up.
func counts(p Params, logits []float32, n int) []int {
	s := New(p, 7)
	c := make([]int, len(logits))
	for i := 0; i < n; i++ {
		c[s.Sample(logits)]++
	}
	return c
}

func TestTruncation(t *testing.T) {
	// Probabilities at T=1: softmax of log(0.5, 0.3, 0.15, 0.05).
	logits := []float32{float32(math.Log(0.5)), float32(math.Log(0.3)), float32(math.Log(0.15)), float32(math.Log(0.05))}
	for _, tc := range []struct {
		name    string
		p       Params
		allowed []bool
	}{
		{"top-k 1", Params{Temperature: 1, TopK: 1}, []bool{true, false, false, false}},
		{"top-k 2", Params{Temperature: 1, TopK: 2}, []bool{true, true, false, false}},
		{"top-p 0.7", Params{Temperature: 1, TopP: 0.7}, []bool{true, true, false, false}},
		{"top-p 0.9", Params{Temperature: 1, TopP: 0.9}, []bool{true, true, true, false}},
		{"min-p 0.2", Params{Temperature: 1, MinP: 0.2}, []bool{true, true, true, false}},
		{"min-p 0.5", Params{Temperature: 1, MinP: 0.5}, []bool{true, true, false, false}},
		{"none", Params{Temperature: 1}, []bool{true, true, true, true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := counts(tc.p, logits, 4000)
			for id, ok := range tc.allowed {
				if ok {
					require.Positive(t, c[id], "id %d should be drawn", id)
				} else {
					require.Zero(t, c[id], "id %d should be cut", id)
				}
			}
		})
	}
}

// TestDistribution checks the sampled frequencies follow softmax(logits/T)
// within 4 standard deviations.
func TestDistribution(t *testing.T) {
	logits := []float32{2, 1, 0, -1}
	const n = 20000
	for _, temp := range []float32{0.5, 1, 2} {
		c := counts(Params{Temperature: temp}, logits, n)
		var z float64
		for _, l := range logits {
			z += math.Exp(float64(l / temp))
		}
		for id, l := range logits {
			p := math.Exp(float64(l/temp)) / z
			sd := math.Sqrt(n * p * (1 - p))
			require.InDelta(t, n*p, float64(c[id]), 4*sd+1, "T=%v id %d", temp, id)
		}
	}
}

func TestSeeded(t *testing.T) {
	logits := make([]float32, 100)
	for i := range logits {
		logits[i] = float32(math.Sin(float64(i)))
	}
	p := Params{Temperature: 1, TopK: 50, TopP: 0.95, MinP: 0.01}
	draw := func(seed uint64) []int32 {
		s := New(p, seed)
		out := make([]int32, 50)
		for i := range out {
			out[i] = s.Sample(logits)
		}
		return out
	}
	require.Equal(t, draw(3), draw(3), "same seed, same tokens")
	require.NotEqual(t, draw(3), draw(4), "different seeds differ")
}
