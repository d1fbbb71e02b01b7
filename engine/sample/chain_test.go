package sample

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// refAdjust applies bias, ban and penalties the plain way.
func refAdjust(p Params, logits []float32, prompt, gen []int32) []float64 {
	l := make([]float64, len(logits))
	for i, v := range logits {
		l[i] = float64(v)
	}
	for id, b := range p.LogitBias {
		l[id] += float64(b)
	}
	for _, id := range p.Ban {
		l[id] = math.Inf(-1)
	}
	hist := append(slices.Clone(prompt), gen...)
	if n := p.RepeatLastN; n > 0 && n < len(hist) {
		hist = hist[len(hist)-n:]
	}
	if p.RepeatPenalty > 0 && p.RepeatLastN != 0 {
		seen := map[int32]bool{}
		for _, id := range hist {
			if !seen[id] {
				seen[id] = true
				if l[id] > 0 {
					l[id] /= float64(p.RepeatPenalty)
				} else {
					l[id] *= float64(p.RepeatPenalty)
				}
			}
		}
	}
	n := map[int32]int{}
	for _, id := range gen {
		n[id]++
	}
	for id, c := range n {
		l[id] -= float64(c)*float64(p.FrequencyPenalty) + float64(p.PresencePenalty)
	}
	return l
}

// refDist returns each token's probability under top-k → top-p → min-p →
// temperature, by a full sort and float64 softmax.
func refDist(p Params, l []float64) []float64 {
	var ids []int
	for i, v := range l {
		if !math.IsInf(v, -1) {
			ids = append(ids, i)
		}
	}
	slices.SortStableFunc(ids, func(a, b int) int { return cmp.Compare(l[b], l[a]) })
	if p.TopK > 0 && p.TopK < len(ids) {
		ids = ids[:p.TopK]
	}
	prob := make([]float64, len(ids))
	var z float64
	for i, id := range ids {
		prob[i] = math.Exp(l[id] - l[ids[0]])
		z += prob[i]
	}
	for i := range prob {
		prob[i] /= z
	}
	if p.TopP > 0 && p.TopP < 1 {
		var cum float64
		for i := range prob {
			cum += prob[i]
			if cum >= float64(p.TopP) {
				ids, prob = ids[:i+1], prob[:i+1]
				break
			}
		}
	}
	if p.MinP > 0 {
		n := 0
		for n < len(ids) && prob[n] >= float64(p.MinP)*prob[0] {
			n++
		}
		ids = ids[:n]
	}
	out := make([]float64, len(l))
	z = 0
	for _, id := range ids {
		out[id] = math.Exp((l[id] - l[ids[0]]) / float64(p.Temperature))
		z += out[id]
	}
	for i := range out {
		out[i] /= z
	}
	return out
}

func randLogits(n int, seed uint64) []float32 {
	r := rand.New(rand.NewPCG(seed, 1))
	l := make([]float32, n)
	for i := range l {
		l[i] = float32(r.NormFloat64() * 3)
	}
	return l
}

// TestTruncateMatchesReference compares the candidate set and weights of
// the heap-based truncation with the full-sort reference on a large
// vocabulary, for every path (top-k heap, top-p heap, sorted top-p, min-p).
func TestTruncateMatchesReference(t *testing.T) {
	l := randLogits(50000, 3)
	for _, p := range []Params{
		{Temperature: 1},
		{Temperature: 0.7, TopK: 40},
		{Temperature: 1.3, TopP: 0.5},
		{Temperature: 1, TopP: 0.95, MinP: 0.05},
		{Temperature: 0.8, TopK: 40, TopP: 0.95, MinP: 0.05},
		{Temperature: 2, MinP: 0.01},
		{Temperature: 1, TopK: 1},
		{Temperature: 1, TopK: 1000, TopP: 0.3},
	} {
		s := New(p, 1)
		c := s.truncate(l, l[Greedy(l)])
		var z float64
		got := make([]float64, len(l))
		for _, x := range c {
			got[x.id] = x.w
			z += x.w
		}
		l64 := make([]float64, len(l))
		for i, v := range l {
			l64[i] = float64(v)
		}
		want := refDist(p, l64)
		for i := range got {
			got[i] /= z
			if want[i] == 0 {
				require.Zero(t, got[i], "%+v: token %d should be cut", p, i)
			} else {
				require.InEpsilon(t, want[i], got[i], 1e-9, "%+v: token %d", p, i)
			}
		}
	}
}

// TestChainDistribution draws through the whole chain (bias, penalties,
// top-k, top-p, min-p, temperature) and checks the frequencies against the
// reference with a chi-square bound.
func TestChainDistribution(t *testing.T) {
	logits := []float32{2.5, 2, 1.8, 1.5, 1, 0.7, 0.3, 0, -0.5, -1, -3, 3}
	prompt := []int32{11, 4}
	gen := []int32{0, 0, 6}
	for _, p := range []Params{
		{Temperature: 1},
		{Temperature: 0.8, TopK: 8, TopP: 0.9, MinP: 0.05,
			RepeatPenalty: 1.3, RepeatLastN: 64, PresencePenalty: 0.2, FrequencyPenalty: 0.1,
			LogitBias: map[int32]float32{9: 2.5}, Ban: []int32{2}},
		{Temperature: 1.5, TopP: 0.8, RepeatPenalty: 2, RepeatLastN: 2, LogitBias: map[int32]float32{3: -1}},
		{Temperature: 0.5, MinP: 0.1, FrequencyPenalty: 0.5, RepeatPenalty: 1.1, RepeatLastN: -1},
	} {
		want := refDist(p, refAdjust(p, logits, prompt, gen))
		s := NewWithHistory(p, 11, prompt)
		for _, id := range gen {
			s.Accept(id)
		}
		const n = 40000
		got := make([]int, len(logits))
		for range n {
			got[s.Sample(logits)]++ // no Accept: the distribution stays fixed
		}
		var chi float64
		df := -1
		for i, w := range want {
			if w == 0 {
				require.Zero(t, got[i], "%+v: token %d is cut", p, i)
				continue
			}
			e := n * w
			chi += (float64(got[i]) - e) * (float64(got[i]) - e) / e
			df++
		}
		// Mean df, sd sqrt(2df): 6 sd is far beyond chance yet catches any
		// systematic error of a few percent.
		require.Less(t, chi, float64(df)+6*math.Sqrt(2*float64(df))+1, "%+v: chi² %.1f, df %d", p, chi, df)
	}
}

func TestLogprobs(t *testing.T) {
	l := randLogits(1000, 5)
	prompt := []int32{1, 2, 3}
	gen := []int32{5, 5, 8}
	p := Params{Temperature: 0.7, TopK: 10, RepeatPenalty: 1.2, RepeatLastN: 64, PresencePenalty: 0.3,
		LogitBias: map[int32]float32{5: 2, 7: float32(math.Inf(-1))}}
	adj := refAdjust(p, l, prompt, gen)
	var mx float64 = math.Inf(-1)
	for _, v := range adj {
		mx = max(mx, v)
	}
	var z float64
	for _, v := range adj {
		z += math.Exp(v - mx)
	}
	ref := make([]float64, len(adj)) // reference log-softmax
	for i, v := range adj {
		ref[i] = v - mx - math.Log(z)
	}
	order := make([]int32, 0, len(adj))
	for i := range adj {
		if i != 7 {
			order = append(order, int32(i))
		}
	}
	slices.SortStableFunc(order, func(a, b int32) int { return cmp.Compare(ref[b], ref[a]) })

	s := NewWithHistory(p, 3, prompt)
	for _, id := range gen {
		s.Accept(id)
	}
	cold := s.Clone()
	cold.p.Temperature = 3 // logprobs do not depend on temperature or truncation
	cold.p.TopK = 0
	for range 20 {
		id, lp := s.SampleWithLogprobs(l, len(l))
		require.Equal(t, id, lp.ID)
		require.InDelta(t, ref[id], lp.Logprob, 1e-5)
		require.Len(t, lp.Top, len(l)-1, "banned token left out")
		var sum float64
		for i, x := range lp.Top {
			require.Equal(t, order[i], x.ID, "rank %d", i)
			require.InDelta(t, ref[x.ID], x.Logprob, 1e-5)
			sum += math.Exp(float64(x.Logprob))
		}
		require.InDelta(t, 1, sum, 1e-5, "probabilities over the vocabulary sum to 1")

		id, lp = cold.SampleWithLogprobs(l, 3)
		require.InDelta(t, ref[id], lp.Logprob, 1e-5)
		require.Equal(t, order[:3], []int32{lp.Top[0].ID, lp.Top[1].ID, lp.Top[2].ID})
	}
	// n = 0: no alternatives; the draw is the same as Sample's.
	a, b := New(Params{Temperature: 1}, 4), New(Params{Temperature: 1}, 4)
	for range 20 {
		id, lp := a.SampleWithLogprobs(l, 0)
		require.Nil(t, lp.Top)
		require.Equal(t, b.Sample(l), id)
	}
}

func TestTopOrder(t *testing.T) {
	l := []float32{1, 3, 3, 2, 3, float32(math.Inf(-1))}
	_, lp := New(Params{}, 1).SampleWithLogprobs(l, 4)
	require.Equal(t, int32(1), lp.ID, "greedy: lowest id of the tied best")
	var ids []int32
	for _, x := range lp.Top {
		ids = append(ids, x.ID)
	}
	require.Equal(t, []int32{1, 2, 4, 3}, ids, "descending, ties by id")
	require.Equal(t, lp.Top[0].Logprob, lp.Top[2].Logprob)
	require.Greater(t, lp.Top[2].Logprob, lp.Top[3].Logprob)

	_, lp = New(Params{}, 1).SampleWithLogprobs(l, 100)
	require.Len(t, lp.Top, 5, "n beyond the vocabulary: every token that is not -Inf")

	id, lp := New(Params{}, 1).SampleWithLogprobs(nil, 3)
	require.Equal(t, int32(-1), id)
	require.True(t, math.IsNaN(float64(lp.Logprob)))
}

func TestClone(t *testing.T) {
	l := randLogits(500, 8)
	p := Params{Temperature: 1, TopK: 50, TopP: 0.95, RepeatPenalty: 1.5, RepeatLastN: 16, FrequencyPenalty: 0.4}
	run := func(s *Sampler, n int) []int32 {
		var out []int32
		for range n {
			id := s.Sample(l)
			s.Accept(id)
			out = append(out, id)
		}
		return out
	}
	s := NewWithHistory(p, 21, []int32{1, 2})
	head := run(s, 10)
	c := s.Clone()
	require.Equal(t, run(s, 50), run(c, 50), "a clone continues the identical stream")

	// Same seed and history from scratch replays the same tokens.
	r := NewWithHistory(p, 21, []int32{1, 2})
	require.Equal(t, head, run(r, 10))

	// Clones are independent.
	c = s.Clone()
	h, g := slices.Clone(s.hist), slices.Clone(s.gen)
	c.Accept(499)
	c.Sample(l)
	require.Equal(t, h, s.hist)
	require.Equal(t, g, s.gen)
}

func TestSeededChain(t *testing.T) {
	l := randLogits(3000, 9)
	p := DefaultParams()
	p.RepeatPenalty, p.PresencePenalty = 1.1, 0.5
	draw := func(seed uint64) []int32 {
		s := NewWithHistory(p, seed, []int32{4, 5, 6})
		var out []int32
		for range 40 {
			id := s.Sample(l)
			s.Accept(id)
			out = append(out, id)
		}
		return out
	}
	require.Equal(t, draw(3), draw(3))
	require.NotEqual(t, draw(3), draw(4))
}

// TestOddLogits checks that non-finite and huge logits give a sensible
// token, never a panic, on every path of the chain.
func TestOddLogits(t *testing.T) {
	nan := float32(math.NaN())
	ninf := float32(math.Inf(-1))
	for _, tc := range []struct {
		logits []float32
		want   int32
	}{
		{[]float32{1e30, 0, -1e30}, 0},
		{[]float32{3e38, 3e38, -3e38}, -2}, // -2: either of the first two
		{[]float32{nan, 1, nan}, 1},
		{[]float32{inf, 0, inf}, 0},
		{[]float32{nan, nan}, 0},
		{[]float32{ninf, ninf}, 0},
		{[]float32{nan, ninf, nan}, 1},
	} {
		for _, p := range []Params{{}, {Temperature: 1}, {Temperature: 1, TopP: 0.9}, {Temperature: 1, TopK: 1},
			{Temperature: 2, MinP: 0.5, TopP: 0.5}, {Temperature: 1e-30}, {Temperature: 1e30, TopP: 0.9}} {
			id, lp := New(p, 1).SampleWithLogprobs(tc.logits, 2)
			if tc.want == -2 {
				require.Contains(t, []int32{0, 1}, id, "%v %+v", tc.logits, p)
			} else {
				require.Equal(t, tc.want, id, "%v %+v", tc.logits, p)
			}
			require.Equal(t, id, lp.ID)
		}
	}
}
