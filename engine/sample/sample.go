// Package sample picks the next token from logits in llama.cpp's default
// order: logit bias → penalties → top-k → top-p → min-p → temperature →
// draw (greedy when Temperature <= 0, after bias and penalties).
//
// A Sampler is one sequence's state: its own seeded RNG and the tokens it
// has seen, so a result depends only on the logits, the seed and that
// history, never on what else runs beside it. Clone forks a sequence.
package sample

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
)

// DefaultRepeatLastN is llama.cpp's repeat-penalty window.
const DefaultRepeatLastN = 64

// Params selects the sampling method. The zero value is greedy decoding
// with no penalties.
type Params struct {
	Temperature float32 // <= 0 means greedy
	TopK        int     // keep the k most likely tokens (0 = all)
	TopP        float32 // keep the smallest set with probability >= p (0 or 1 = off)
	MinP        float32 // drop tokens below min_p × the top probability (0 = off)

	// RepeatPenalty divides positive logits and multiplies negative ones of
	// every token in the last RepeatLastN tokens of the history, prompt
	// included (llama.cpp's repeat_penalty; 0 or 1 = off).
	RepeatPenalty float32
	// RepeatLastN is the repeat-penalty window: 0 = off, -1 = the whole
	// history. DefaultParams sets DefaultRepeatLastN.
	RepeatLastN int
	// PresencePenalty and FrequencyPenalty subtract presence·[count>0] +
	// frequency·count from each token's logit, counting generated
	// (Accepted) tokens only, as OpenAI does.
	PresencePenalty  float32
	FrequencyPenalty float32

	// LogitBias is added to the logits before anything else; -Inf bans the
	// token. It is read once, when the Sampler is made.
	LogitBias map[int32]float32
	// Ban lists tokens that are never drawn.
	Ban []int32
}

// DefaultParams returns llama.cpp's default sampling settings.
func DefaultParams() Params {
	return Params{Temperature: 0.8, TopK: 40, TopP: 0.95, MinP: 0.05, RepeatPenalty: 1, RepeatLastN: DefaultRepeatLastN}
}

// Sampler draws tokens for one sequence.
type Sampler struct {
	p    Params
	bias []bias // LogitBias and Ban, sorted by id, one entry per id
	src  *rand.PCG
	rng  *rand.Rand
	pre  []int32 // history before the generated tokens (shared, not modified)
	hist []int32 // generated tokens: with pre, the repeat-penalty history
	gen  []count // generated tokens, sorted by id

	sc     *Scratch // nil until first needed, unless shared
	shared bool
}

// Scratch is a sampler's working memory: vocabulary-sized buffers that
// carry nothing from one call to the next. Samplers driven from one
// goroutine can share one (Share), so that thousands of sequences do not
// each keep their own. The zero value is ready to use.
type Scratch struct {
	buf  []float32
	cand []cand
	win  []int32
	topc []cand
	edge []cand
}

// Share makes s use sc as its scratch. sc must never be used by two
// samplers at the same time; Clone keeps sharing it.
func (s *Sampler) Share(sc *Scratch) { s.sc, s.shared = sc, sc != nil }

func (s *Sampler) scratch() *Scratch {
	if s.sc == nil {
		s.sc = &Scratch{}
	}
	return s.sc
}

type bias struct {
	id int32
	v  float32 // -Inf bans
}

type count struct {
	id int32
	n  int32
}

// cand is a candidate token: its (adjusted) logit and, once computed, its
// unnormalised weight.
type cand struct {
	id int32
	l  float32
	w  float64
}

// New returns a sampler seeded with seed and an empty history.
func New(p Params, seed uint64) *Sampler {
	src := rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)
	return &Sampler{p: p, bias: biases(p), src: src, rng: rand.New(src)}
}

// NewWithHistory returns a sampler whose repeat-penalty history starts with
// hist (typically the prompt). These tokens do not count as generated for
// the presence and frequency penalties. hist is kept, not copied (many
// samples of one prompt share it): it must not change while s is in use.
func NewWithHistory(p Params, seed uint64, hist []int32) *Sampler {
	s := New(p, seed)
	s.pre = slices.Clip(hist)
	return s
}

// biases merges LogitBias and Ban into a list sorted by id, so they apply in
// the same order whatever the map's iteration order. Ban wins over a bias.
func biases(p Params) []bias {
	var b []bias
	for id, v := range p.LogitBias {
		b = append(b, bias{id, v})
	}
	ban := float32(math.Inf(-1))
	for _, id := range p.Ban {
		b = append(b, bias{id, ban})
	}
	slices.SortFunc(b, func(x, y bias) int {
		if c := cmp.Compare(x.id, y.id); c != 0 {
			return c
		}
		return cmp.Compare(x.v, y.v) // a ban (-Inf) sorts first and is kept
	})
	return slices.CompactFunc(b, func(x, y bias) bool { return x.id == y.id })
}

// Params returns the sampler's parameters.
func (s *Sampler) Params() Params { return s.p }

// Accept records a token the sequence generated, for the penalties. Call it
// once per token that is kept, after Sample.
func (s *Sampler) Accept(id int32) {
	s.hist = append(s.hist, id)
	i, ok := slices.BinarySearchFunc(s.gen, id, func(c count, id int32) int { return cmp.Compare(c.id, id) })
	if ok {
		s.gen[i].n++
	} else {
		s.gen = slices.Insert(s.gen, i, count{id, 1})
	}
}

// Clone returns an independent copy of the sampler — history and RNG state
// included — that continues the same random stream, for forking a running
// sequence.
func (s *Sampler) Clone() *Sampler {
	src := *s.src
	c := &Sampler{p: s.p, bias: s.bias, src: &src, rng: rand.New(&src),
		pre: s.pre, hist: slices.Clone(s.hist), gen: slices.Clone(s.gen)}
	if s.shared {
		c.Share(s.sc)
	}
	return c
}

// Greedy returns the index of the largest logit (lowest index on ties),
// skipping NaNs. When every logit is -Inf or NaN it returns the first
// -Inf, or 0; it returns -1 when logits is empty.
func Greedy(logits []float32) int32 {
	if len(logits) == 0 {
		return -1
	}
	best, bv := -1, float32(math.Inf(-1))
	for i, v := range logits {
		if v > bv {
			best, bv = i, v
		}
	}
	if best < 0 {
		for i, v := range logits {
			if v == v {
				return int32(i)
			}
		}
		return 0
	}
	return int32(best)
}

// Sample picks a token from logits (which it does not modify). It returns
// -1 only for empty logits; when every token is banned it returns the
// lowest id.
func (s *Sampler) Sample(logits []float32) int32 {
	return s.draw(s.adjust(logits))
}

// adjust applies the logit bias and the penalties. It returns logits itself
// when there is nothing to apply, else a copy in s.buf.
func (s *Sampler) adjust(logits []float32) []float32 {
	p := s.p
	rep := p.RepeatPenalty > 0 && p.RepeatPenalty != 1 && p.RepeatLastN != 0 && len(s.pre)+len(s.hist) > 0
	pen := (p.PresencePenalty != 0 || p.FrequencyPenalty != 0) && len(s.gen) > 0
	if len(s.bias) == 0 && !rep && !pen {
		return logits
	}
	sc := s.scratch()
	sc.buf = append(sc.buf[:0], logits...)
	l := sc.buf
	n := int32(len(l))
	for _, b := range s.bias {
		switch {
		case b.id < 0 || b.id >= n:
		case math.IsInf(float64(b.v), -1):
			l[b.id] = b.v // a ban holds even against a +Inf logit
		default:
			l[b.id] += b.v
		}
	}
	if rep {
		// Penalise each distinct token of the window once, as llama.cpp.
		// The window is the last RepeatLastN tokens of pre + hist.
		pre, gen := s.pre, s.hist
		if k := p.RepeatLastN; k > 0 && k < len(pre)+len(gen) {
			if k <= len(gen) {
				pre, gen = nil, gen[len(gen)-k:]
			} else {
				pre = pre[len(pre)-(k-len(gen)):]
			}
		}
		sc.win = append(append(sc.win[:0], pre...), gen...)
		slices.Sort(sc.win)
		for _, id := range slices.Compact(sc.win) {
			if id < 0 || id >= n {
				continue
			}
			if l[id] > 0 {
				l[id] /= p.RepeatPenalty
			} else {
				l[id] *= p.RepeatPenalty
			}
		}
	}
	if pen {
		for _, c := range s.gen {
			if c.id >= 0 && c.id < n {
				l[c.id] -= float32(c.n)*p.FrequencyPenalty + p.PresencePenalty
			}
		}
	}
	return l
}

// draw picks a token from adjusted logits.
func (s *Sampler) draw(l []float32) int32 {
	best := Greedy(l)
	if s.p.Temperature <= 0 || best < 0 || math.IsInf(float64(l[best]), 0) || l[best] != l[best] {
		// Greedy, or no finite best logit to weigh the others against.
		return best
	}
	c := s.truncate(l, l[best])
	r := s.rng.Float64()
	var sum float64
	for _, x := range c {
		sum += x.w
	}
	r *= sum
	var acc float64
	for _, x := range c {
		acc += x.w
		if r < acc {
			return x.id
		}
	}
	return c[len(c)-1].id
}

// truncate returns the candidates that survive top-k, top-p and min-p, with
// their weights after temperature: exp((l - mx)/T), mx the largest logit.
// The order of the result is deterministic (descending logit once top-k or
// top-p sorted it, else id order), which is all the draw needs.
func (s *Sampler) truncate(l []float32, mx float32) []cand {
	t := s.p.Temperature
	// Tokens more than 40·max(1,T) below the best carry less than e^-40 of
	// its weight before and after temperature: leave them out up front.
	cut := mx - 40*max(1, t)
	var c []cand
	sorted := false
	sc := s.scratch()
	if k := s.p.TopK; k > 0 && k < len(l) {
		c = topN(sc.cand[:0], l, k, cut)
		sorted = true
	} else {
		c = sc.cand[:0]
		for i, v := range l {
			if v >= cut {
				c = append(c, cand{id: int32(i), l: v})
			}
		}
	}
	sc.cand = c
	fmx := float64(mx)
	if p := s.p.TopP; p > 0 && p < 1 && len(c) > 1 {
		var z float64
		for i := range c {
			c[i].w = expNeg(float64(c[i].l) - fmx)
			z += c[i].w
		}
		c = s.nucleus(c, float64(p)*z, sorted, mx, cut)
	}
	if mp := s.p.MinP; mp > 0 {
		// p_i >= mp·p_max  ⇔  l_i - mx >= log(mp); order is kept.
		lim := math.Log(float64(mp))
		n := 0
		for _, x := range c {
			if float64(x.l)-fmx >= lim {
				c[n] = x
				n++
			}
		}
		c = c[:n]
	}
	// Temperature: p^(1/T) renormalised, computed from the logits directly.
	inv := 1 / float64(t)
	for i := range c {
		c[i].w = expNeg((float64(c[i].l) - fmx) * inv)
	}
	return c
}

// above orders candidates: higher logit first, lower id on ties.
func above(a, b cand) bool { return a.l > b.l || (a.l == b.l && a.id < b.id) }

func below(a, b cand) bool { return above(b, a) }

// topN appends to h the n best tokens of l with logit >= cut, sorted by
// above. A min-heap of size n keeps this O(len(l)·log n) and, since most
// tokens lose to the heap's root, close to one compare per token.
func topN(h []cand, l []float32, n int, cut float32) []cand {
	for i, v := range l {
		if !(v >= cut) { // also skips NaN
			continue
		}
		if len(h) < n {
			h = append(h, cand{id: int32(i), l: v})
			siftUp(h, len(h)-1, below)
			if len(h) == n {
				cut = h[0].l
			}
			continue
		}
		// Full: v must beat the root. An equal logit loses on its larger id.
		if v > cut {
			h[0] = cand{id: int32(i), l: v}
			siftDown(h, 0, below)
			cut = h[0].l
		}
	}
	slices.SortFunc(h, func(a, b cand) int {
		if above(a, b) {
			return -1
		}
		return 1 // ids are distinct: never equal
	})
	return h
}

// nucleus returns the smallest set of candidates, in above order, whose
// weights sum to at least target, given the largest logit mx and the
// pre-filter's cut. Unsorted input is not sorted: candidates are binned by
// logit (a log scale of probability), the bins summed from the top until
// the target is met, and only the bin where it is met gets sorted. The
// result keeps the higher bins in id order, then that bin's prefix.
func (s *Sampler) nucleus(c []cand, target float64, sorted bool, mx, cut float32) []cand {
	var cum float64
	if sorted {
		for i := range c {
			cum += c[i].w
			if cum >= target {
				return c[:i+1]
			}
		}
		return c
	}
	const nb = 1024
	var mass [nb]float64
	scale := 0.0 // logits too large for float32 to resolve the cut: one bin
	if span := float64(mx) - float64(cut); span > 0 && !math.IsInf(span, 0) {
		scale = nb / span
	}
	bin := func(l float32) int { return min(int((float64(mx)-float64(l))*scale), nb-1) }
	for _, x := range c {
		mass[bin(x.l)] += x.w
	}
	edge := 0
	for ; edge < nb; edge++ {
		if cum+mass[edge] >= target {
			break
		}
		cum += mass[edge]
	}
	if edge == nb {
		return c // rounding kept the sum below target: keep everything
	}
	n := 0
	sc := s.scratch()
	e := sc.edge[:0]
	for _, x := range c {
		switch b := bin(x.l); {
		case b < edge:
			c[n] = x
			n++
		case b == edge:
			e = append(e, x)
		}
	}
	sc.edge = e
	slices.SortFunc(e, func(a, b cand) int {
		if above(a, b) {
			return -1
		}
		return 1
	})
	c = c[:n]
	for _, x := range e {
		c = append(c, x)
		if cum += x.w; cum >= target {
			break
		}
	}
	return c
}

// siftUp and siftDown keep h a heap whose root is first under first.
func siftUp(h []cand, i int, first func(a, b cand) bool) {
	for i > 0 {
		p := (i - 1) / 2
		if !first(h[i], h[p]) {
			return
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
}

func siftDown(h []cand, i int, first func(a, b cand) bool) {
	for {
		j := 2*i + 1
		if j >= len(h) {
			return
		}
		if j+1 < len(h) && first(h[j+1], h[j]) {
			j++
		}
		if !first(h[j], h[i]) {
			return
		}
		h[i], h[j] = h[j], h[i]
		i = j
	}
}
