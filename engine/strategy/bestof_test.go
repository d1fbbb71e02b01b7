package strategy

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tscale/engine/engine"
)

// lengthScorer scores a completion by the length of its text, or fails on
// a text containing "bad".
type lengthScorer struct{}

func (lengthScorer) Score(_ context.Context, _ []int32, c engine.Completion) (float64, error) {
	if strings.Contains(c.Text, "bad") {
		return 0, errors.New("cannot score")
	}
	if c.Text == "nan" {
		return math.NaN(), nil
	}
	return float64(len(c.Text)), nil
}

func TestBestOfN(t *testing.T) {
	for _, tc := range []struct {
		name    string
		samples [][]tok
		scorer  Scorer
		order   []int
		scores  []float64
		err     string
	}{
		{
			name: "mean logprob",
			samples: [][]tok{
				{{"a ", -1}, {"b", -3}},                   // mean -2
				{{"c", -0.5}},                             // -0.5
				{{"d ", -0.1}, {"e ", -0.2}, {"f", -0.6}}, // -0.3
				{}, // no tokens: -Inf
			},
			scorer: MeanLogprob{},
			order:  []int{2, 1, 0, 3},
			scores: []float64{-0.3, -0.5, -2, math.Inf(-1)},
		},
		{
			name:    "ties keep sample order, NaN last",
			samples: [][]tok{words("nan", 0), words("xy", 0), words("z", 0), words("uv", 0)},
			scorer:  lengthScorer{},
			order:   []int{1, 3, 2, 0},
			scores:  []float64{2, 2, 1, math.NaN()},
		},
		{
			name:    "scorer error names the sample",
			samples: [][]tok{words("fine", 0), words("bad", 0)},
			scorer:  lengthScorer{},
			err:     "best-of-n: scoring sample 1: cannot score",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &script{samples: tc.samples}
			res, err := BestOfN(context.Background(), s, engine.Request{Prompt: []int32{1}, N: len(tc.samples)}, tc.scorer)
			require.True(t, s.req.Logprobs, "BestOfN requests logprobs")
			if tc.err != "" {
				require.EqualError(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Len(t, res.Ranked, len(tc.order))
			for i, want := range tc.order {
				got := res.Ranked[i]
				require.Equal(t, want, got.Index)
				if math.IsNaN(tc.scores[i]) {
					require.True(t, math.IsNaN(got.Score))
				} else {
					require.InDelta(t, tc.scores[i], got.Score, 1e-6)
				}
				require.Len(t, got.Tokens, len(tc.samples[want]))
				require.Len(t, got.Logprobs, len(tc.samples[want]))
			}
			require.Equal(t, res.Ranked[0], res.Best)
		})
	}
}

func TestMeanLogprobNeedsLogprobs(t *testing.T) {
	_, err := MeanLogprob{}.Score(context.Background(), nil, engine.Completion{Tokens: []int32{4, 5}})
	require.ErrorContains(t, err, "2 tokens but 0 logprobs")
}
