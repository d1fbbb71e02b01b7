package strategy

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/tscale/engine/engine"
)

// BeamOptions configure Beam.
type BeamOptions struct {
	Width     int // beams kept per step (0 means 4)
	MaxTokens int // tokens per hypothesis, the EOG token included; must be > 0
	// LengthPenalty α ranks finished hypotheses by logprob sum / len^α: 0
	// ranks by the raw sum (favouring short answers), 1 by the mean.
	LengthPenalty float64
	// Constraint, when set, restricts every hypothesis: each beam carries
	// its own state, cloned when it forks, and tokens it forbids get
	// log-probability -Inf (the others keep theirs, not renormalised).
	Constraint engine.Constraint
}

// Hypothesis is one finished beam.
type Hypothesis struct {
	Tokens   []int32   // generated tokens, the final EOG token included when it ended the beam
	Logprobs []float32 // each token's log-probability
	Logprob  float64   // their sum
	Score    float64   // Logprob / len(Tokens)^α
	Finish   engine.Finish
}

// BeamResult is the outcome of Beam.
type BeamResult struct {
	Hypotheses []Hypothesis // at most Width, best first
	Steps      int          // batched Extend calls
}

// beam is a live hypothesis.
type beam struct {
	node   Node
	parent int // index of the beam it grew from
	toks   []int32
	lps    []float32
	sum    float64
	cons   engine.ConstraintState
}

// cand is a one-token continuation of a live beam.
type cand struct {
	b   int
	tok int32
	lp  float32
	sum float64
}

// Beam runs beam search from prompt. Each step ranks every one-token
// continuation of every live beam by its logprob sum and keeps the best
// Width (ties go to the lexicographically smaller token sequence).
// Continuations ending in an EOG token, or reaching MaxTokens, finish and
// give up their slot; the rest continue: a beam with several surviving
// continuations forks its node (sharing its KV), one with none is closed,
// and all survivors advance in one batched Extend. The search ends when no
// beam is live; the finished hypotheses are ranked by score.
func Beam(ctx context.Context, lm LM, prompt []int32, opt BeamOptions) (*BeamResult, error) {
	w := opt.Width
	if w == 0 {
		w = 4
	}
	if w < 0 || opt.MaxTokens <= 0 || math.IsNaN(opt.LengthPenalty) {
		return nil, fmt.Errorf("beam: need Width >= 0 and MaxTokens > 0, got Width %d, MaxTokens %d, LengthPenalty %v",
			opt.Width, opt.MaxTokens, opt.LengthPenalty)
	}
	if n := len(prompt) + opt.MaxTokens - 1; n > maxLen(lm) {
		// The last token is never fed back, hence the -1.
		return nil, fmt.Errorf("beam: %d prompt tokens + MaxTokens %d do not fit the model's %d", len(prompt), opt.MaxTokens, maxLen(lm))
	}
	root, err := lm.Start(ctx, prompt)
	if err != nil {
		return nil, err
	}
	live := []*beam{{node: root}}
	if opt.Constraint != nil {
		live[0].cons = opt.Constraint.Start()
	}
	defer func() {
		for _, b := range live {
			b.node.Close()
		}
	}()
	res := &BeamResult{}
	var done []Hypothesis
	for step := 0; len(live) > 0; step++ {
		var cands []cand
		for i, b := range live {
			lp := b.node.Logprobs()
			if b.cons != nil {
				lp = slices.Clone(lp)
				if err := b.cons.Mask(lp); err != nil {
					return nil, fmt.Errorf("beam: %w", err)
				}
			}
			for _, t := range topTokens(lp, w) {
				cands = append(cands, cand{b: i, tok: t, lp: lp[t], sum: b.sum + float64(lp[t])})
			}
		}
		slices.SortFunc(cands, func(x, y cand) int {
			if c := cmp.Compare(y.sum, x.sum); c != 0 {
				return c
			}
			if c := slices.Compare(live[x.b].toks, live[y.b].toks); c != 0 {
				return c
			}
			return cmp.Compare(x.tok, y.tok)
		})
		cands = cands[:min(w, len(cands))]
		last := step+1 >= opt.MaxTokens
		var next []*beam
		for _, c := range cands {
			b := live[c.b]
			nb := &beam{parent: c.b, toks: append(slices.Clone(b.toks), c.tok), lps: append(slices.Clone(b.lps), c.lp), sum: c.sum}
			if b.cons != nil {
				nb.cons = b.cons.Clone()
				if err := nb.cons.Accept(c.tok); err != nil {
					return nil, fmt.Errorf("beam: %w", err)
				}
			}
			if eog := lm.IsEOG(c.tok); eog || last {
				f := engine.FinishLength
				if eog {
					f = engine.FinishStop
				}
				done = append(done, Hypothesis{Tokens: nb.toks, Logprobs: nb.lps, Logprob: nb.sum,
					Score: nb.sum / math.Pow(float64(len(nb.toks)), opt.LengthPenalty), Finish: f})
				continue
			}
			next = append(next, nb)
		}
		// The first survivor of a beam takes over its node, the others fork
		// it: all forks are made before any node advances.
		used := make([]bool, len(live))
		var forks []Node
		for _, nb := range next {
			if !used[nb.parent] {
				used[nb.parent] = true
				nb.node = live[nb.parent].node
				continue
			}
			f, err := live[nb.parent].node.Fork()
			if err != nil {
				for _, f := range forks {
					f.Close()
				}
				return nil, err
			}
			forks = append(forks, f)
			nb.node = f
		}
		for i, b := range live {
			if !used[i] {
				b.node.Close()
			}
		}
		live = next
		if len(live) == 0 {
			break
		}
		nodes := make([]Node, len(live))
		toks := make([]int32, len(live))
		for i, b := range live {
			nodes[i], toks[i] = b.node, b.toks[len(b.toks)-1]
		}
		if err := lm.Extend(ctx, nodes, toks); err != nil {
			return nil, err
		}
		res.Steps++
	}
	if len(done) == 0 {
		return nil, errors.New("beam: no hypothesis finished (every token has probability 0)")
	}
	slices.SortFunc(done, func(x, y Hypothesis) int {
		if c := cmp.Compare(y.Score, x.Score); c != 0 {
			return c
		}
		return slices.Compare(x.Tokens, y.Tokens)
	})
	res.Hypotheses = done[:min(w, len(done))]
	return res, nil
}

// topTokens returns the k most likely tokens, most likely first and lower
// id first on ties; tokens with probability 0 (or NaN) are left out.
func topTokens(lp []float32, k int) []int32 {
	top := make([]int32, 0, k+1)
	better := func(a, b int32) bool { return lp[a] > lp[b] || (lp[a] == lp[b] && a < b) }
	for i, v := range lp {
		if !(v > float32(math.Inf(-1))) {
			continue
		}
		id := int32(i)
		if len(top) == k && !better(id, top[k-1]) {
			continue
		}
		j := len(top)
		if j == k {
			j--
		} else {
			top = append(top, 0)
		}
		for j > 0 && better(id, top[j-1]) {
			top[j] = top[j-1]
			j--
		}
		top[j] = id
	}
	return top
}
