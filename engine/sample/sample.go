// Package sample picks the next token from logits: greedy, or temperature
// sampling after top-k, top-p and min-p truncation, in llama.cpp's default
// order. Each sampler owns a seeded RNG, so results never depend on what
// else runs beside it.
package sample

import (
	"math"
	"math/rand/v2"
	"slices"
)

// Params selects the sampling method. A zero Temperature means greedy.
type Params struct {
	Temperature float32
	TopK        int     // keep the k most likely tokens (0 = all)
	TopP        float32 // keep the smallest set with probability >= p (0 or 1 = off)
	MinP        float32 // drop tokens below min_p × the top probability (0 = off)
}

// Sampler draws tokens with its own RNG.
type Sampler struct {
	p    Params
	rng  *rand.Rand
	cand []cand
}

type cand struct {
	id int32
	v  float32 // logit, then probability
}

// New returns a sampler seeded with seed.
func New(p Params, seed uint64) *Sampler {
	return &Sampler{p: p, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// Greedy returns the index of the largest logit (lowest index on ties).
func Greedy(logits []float32) int32 {
	best := 0
	for i, v := range logits {
		if v > logits[best] {
			best = i
		}
	}
	return int32(best)
}

// Sample picks a token from logits (which it does not modify).
func (s *Sampler) Sample(logits []float32) int32 {
	if s.p.Temperature <= 0 {
		return Greedy(logits)
	}
	// Tokens more than 40·T below the best carry less than e^-40 of its
	// weight after temperature: leave them out before the sort.
	cut := logits[Greedy(logits)] - 40*max(1, s.p.Temperature)
	c := s.cand[:0]
	for i, v := range logits {
		if v >= cut {
			c = append(c, cand{int32(i), v})
		}
	}
	// Sort by logit, descending; stable so ties keep id order.
	slices.SortStableFunc(c, func(a, b cand) int {
		switch {
		case a.v > b.v:
			return -1
		case a.v < b.v:
			return 1
		}
		return 0
	})
	if k := s.p.TopK; k > 0 && k < len(c) {
		c = c[:k]
	}
	softmax(c, 1)
	if p := s.p.TopP; p > 0 && p < 1 {
		var cum float32
		for i := range c {
			cum += c[i].v
			if cum >= p {
				c = c[:i+1]
				break
			}
		}
	}
	if mp := s.p.MinP; mp > 0 {
		lim := c[0].v * mp
		n := 1
		for n < len(c) && c[n].v >= lim {
			n++
		}
		c = c[:n]
	}
	// Temperature applies to the surviving logits: p^(1/T) renormalised.
	var sum float64
	for i := range c {
		w := math.Pow(float64(c[i].v), 1/float64(s.p.Temperature))
		c[i].v = float32(w)
		sum += w
	}
	r := s.rng.Float64() * sum
	var acc float64
	for _, x := range c {
		acc += float64(x.v)
		if r < acc {
			s.cand = c
			return x.id
		}
	}
	s.cand = c
	return c[len(c)-1].id
}

// softmax turns the candidates' logits into probabilities.
func softmax(c []cand, temp float32) {
	mx := c[0].v
	var sum float64
	for i := range c {
		e := math.Exp(float64((c[i].v - mx) / temp))
		c[i].v = float32(e)
		sum += e
	}
	for i := range c {
		c[i].v = float32(float64(c[i].v) / sum)
	}
}
