package sample

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

var inf = float32(math.Inf(1))

// TestPenalties checks the adjusted logits against values worked out by
// hand from the llama.cpp / OpenAI formulas.
func TestPenalties(t *testing.T) {
	logits := []float32{2, -1, 0.5, 3, -2, 0}
	for _, tc := range []struct {
		name   string
		p      Params
		prompt []int32 // history given to NewWithHistory
		gen    []int32 // Accepted tokens
		want   []float32
	}{
		{"none", Params{}, []int32{0, 1}, []int32{3}, []float32{2, -1, 0.5, 3, -2, 0}},
		{"repeat: / positive, × negative, once per token",
			Params{RepeatPenalty: 2, RepeatLastN: 64}, []int32{0, 1, 0, 5}, nil,
			[]float32{1, -2, 0.5, 3, -2, 0}},
		{"repeat counts generated tokens too",
			Params{RepeatPenalty: 2, RepeatLastN: 64}, []int32{0}, []int32{3, 3},
			[]float32{1, -1, 0.5, 1.5, -2, 0}},
		{"repeat window of 2", Params{RepeatPenalty: 2, RepeatLastN: 2}, []int32{0, 1, 3}, nil,
			[]float32{2, -2, 0.5, 1.5, -2, 0}},
		{"repeat whole history", Params{RepeatPenalty: 2, RepeatLastN: -1}, []int32{0, 1, 3}, nil,
			[]float32{1, -2, 0.5, 1.5, -2, 0}},
		{"repeat window 0 is off", Params{RepeatPenalty: 2, RepeatLastN: 0}, []int32{0, 1, 3}, nil,
			[]float32{2, -1, 0.5, 3, -2, 0}},
		{"repeat penalty 1 is off", Params{RepeatPenalty: 1, RepeatLastN: 64}, []int32{0, 1, 3}, nil,
			[]float32{2, -1, 0.5, 3, -2, 0}},
		{"repeat below 1 boosts", Params{RepeatPenalty: 0.5, RepeatLastN: 64}, []int32{0, 1}, nil,
			[]float32{4, -0.5, 0.5, 3, -2, 0}},
		{"presence: once per generated token, prompt ignored",
			Params{PresencePenalty: 0.5}, []int32{0, 2}, []int32{3, 3, 1},
			[]float32{2, -1.5, 0.5, 2.5, -2, 0}},
		{"frequency: per occurrence", Params{FrequencyPenalty: 0.25}, []int32{0}, []int32{3, 3, 1, 3},
			[]float32{2, -1.25, 0.5, 2.25, -2, 0}},
		{"presence and frequency", Params{PresencePenalty: 0.5, FrequencyPenalty: 0.25}, nil, []int32{3, 3},
			[]float32{2, -1, 0.5, 2, -2, 0}},
		{"negative presence encourages", Params{PresencePenalty: -1}, nil, []int32{4},
			[]float32{2, -1, 0.5, 3, -1, 0}},
		{"repeat then frequency, as llama.cpp", Params{RepeatPenalty: 2, RepeatLastN: 64, FrequencyPenalty: 0.5},
			[]int32{1}, []int32{3, 3},
			[]float32{2, -2, 0.5, 0.5, -2, 0}}, // 3/2 - 2·0.5
		{"bias before penalties", Params{LogitBias: map[int32]float32{3: 1, 1: 3}, RepeatPenalty: 2, RepeatLastN: 64},
			[]int32{1, 3}, nil,
			[]float32{2, 1, 0.5, 2, -2, 0}}, // (-1+3)/2, (3+1)/2
		{"out of range ids are ignored", Params{RepeatPenalty: 2, RepeatLastN: 64, PresencePenalty: 1,
			LogitBias: map[int32]float32{-1: 5, 99: 5}, Ban: []int32{6}}, []int32{-3, 1000}, []int32{7},
			[]float32{2, -1, 0.5, 3, -2, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := NewWithHistory(tc.p, 1, tc.prompt)
			for _, id := range tc.gen {
				s.Accept(id)
			}
			in := append([]float32(nil), logits...)
			require.InDeltaSlice(t, tc.want, s.adjust(in), 1e-6)
			require.Equal(t, logits, in, "input logits untouched")
		})
	}
}

func TestLogitBias(t *testing.T) {
	logits := []float32{1, 5, 2, 0}
	// Greedy after bias: the bias decides.
	require.Equal(t, int32(2), New(Params{LogitBias: map[int32]float32{2: 4}}, 1).Sample(logits))
	require.Equal(t, int32(0), New(Params{LogitBias: map[int32]float32{1: -10, 2: -1.5}}, 1).Sample(logits))

	ninf := float32(math.Inf(-1))
	for _, tc := range []struct {
		name string
		p    Params
	}{
		{"bias -Inf", Params{LogitBias: map[int32]float32{1: ninf, 2: ninf}}},
		{"Ban", Params{Ban: []int32{1, 2, 2}}},
		{"Ban beats a positive bias", Params{Ban: []int32{1, 2}, LogitBias: map[int32]float32{1: 100, 2: 100}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, int32(0), New(tc.p, 1).Sample(logits), "greedy skips banned tokens")
			p := tc.p
			p.Temperature = 5 // flat enough to draw every allowed token
			c := counts(p, logits, 2000)
			require.Zero(t, c[1])
			require.Zero(t, c[2])
			require.Positive(t, c[0])
			require.Positive(t, c[3])
		})
	}
	// A ban holds even against +Inf; banning everything still answers.
	require.Equal(t, int32(1), New(Params{Ban: []int32{0}}, 1).Sample([]float32{inf, 0}))
	all := Params{Temperature: 1, Ban: []int32{0, 1}}
	require.Equal(t, int32(0), New(all, 1).Sample([]float32{1, 2}))
	require.Error(t, all.Validate(2))
}

// TestBiasOrder checks that maps built in different orders give the same
// sampler and the same tokens.
func TestBiasOrder(t *testing.T) {
	a, b := map[int32]float32{}, map[int32]float32{}
	for i := int32(0); i < 50; i++ {
		a[i] = float32(i%7) - 3
		b[49-i] = float32((49-i)%7) - 3
	}
	logits := make([]float32, 64)
	for i := range logits {
		logits[i] = float32(math.Cos(float64(i)))
	}
	sa := New(Params{Temperature: 1, LogitBias: a}, 9)
	sb := New(Params{Temperature: 1, LogitBias: b}, 9)
	require.Equal(t, sa.bias, sb.bias)
	for range 100 {
		require.Equal(t, sa.Sample(logits), sb.Sample(logits))
	}
}

func TestValidate(t *testing.T) {
	nan := float32(math.NaN())
	for _, tc := range []struct {
		p   Params
		err string
	}{
		{Params{}, ""},
		{DefaultParams(), ""},
		{Params{Temperature: -1, RepeatLastN: -1, LogitBias: map[int32]float32{3: float32(math.Inf(-1))}}, ""},
		{Params{Temperature: nan}, "Temperature NaN"},
		{Params{TopK: -1}, "TopK -1"},
		{Params{TopP: 1.5}, "TopP 1.5"},
		{Params{TopP: nan}, "TopP NaN"},
		{Params{MinP: -0.1}, "MinP -0.1"},
		{Params{RepeatPenalty: -2}, "RepeatPenalty -2"},
		{Params{RepeatLastN: -2}, "RepeatLastN -2"},
		{Params{PresencePenalty: inf}, "PresencePenalty +Inf"},
		{Params{FrequencyPenalty: nan}, "FrequencyPenalty NaN"},
		{Params{LogitBias: map[int32]float32{7: 1, 10: 1, 12: 1}}, "LogitBias token 10 is outside the vocabulary of 10"},
		{Params{LogitBias: map[int32]float32{2: nan}}, "LogitBias for token 2 is NaN"},
		{Params{Ban: []int32{1, -4}}, "Ban[1] token -4"},
		{Params{Ban: []int32{0, 1, 2, 3, 4, 5, 6, 7, 8}, LogitBias: map[int32]float32{9: float32(math.Inf(-1))}}, "all 10 tokens are banned"},
	} {
		err := tc.p.Validate(10)
		if tc.err == "" {
			require.NoError(t, err)
		} else {
			require.ErrorContains(t, err, tc.err)
		}
	}
}
