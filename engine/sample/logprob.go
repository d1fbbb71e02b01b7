package sample

import (
	"math"
)

// TokenLogprob is a token and its log-probability.
type TokenLogprob struct {
	ID      int32
	Logprob float32
}

// Logprob is the chosen token's log-probability and the most likely
// alternatives.
type Logprob struct {
	TokenLogprob
	Top []TokenLogprob // most likely first, lower id on ties; banned tokens left out
}

// SampleWithLogprobs picks a token like Sample and reports its
// log-probability and the n most likely tokens.
//
// Log-probabilities come from the full distribution after logit bias and
// penalties, at temperature 1 and before top-k, top-p and min-p: the
// model's own belief, as OpenAI-style logprobs report it and as best-of-N
// "mean token logprob" scoring needs — independent of how the token was
// drawn. The normaliser is a float64 log-sum-exp over the whole vocabulary.
// If no logit is finite the logprob is NaN and Top is empty.
func (s *Sampler) SampleWithLogprobs(logits []float32, n int) (int32, Logprob) {
	l := s.adjust(logits)
	id := s.draw(l)
	lp := Logprob{TokenLogprob: TokenLogprob{ID: id, Logprob: float32(math.NaN())}}
	if id < 0 {
		return id, lp
	}
	mx := float64(l[Greedy(l)])
	if math.IsInf(mx, 0) || math.IsNaN(mx) {
		return id, lp
	}
	lz := logSumExp(l, mx)
	lp.Logprob = float32(float64(l[id]) - lz)
	if n > 0 {
		sc := s.scratch()
		sc.topc = topN(sc.topc[:0], l, min(n, len(l)), -math.MaxFloat32)
		lp.Top = make([]TokenLogprob, len(sc.topc))
		for i, x := range sc.topc {
			lp.Top[i] = TokenLogprob{x.id, float32(float64(x.l) - lz)}
		}
	}
	return id, lp
}

// logSumExp returns log Σ exp(l) given mx = max(l). Terms below e^-60 of
// the largest cannot move a float64 sum even over a million tokens, so
// they are skipped without calling exp.
func logSumExp(l []float32, mx float64) float64 {
	var sum float64
	for _, v := range l {
		if d := float64(v) - mx; d > -60 {
			sum += expNeg(d)
		}
	}
	return mx + math.Log(sum)
}
