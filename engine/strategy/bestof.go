package strategy

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"sync"

	"github.com/tscale/engine/engine"
)

// Scorer rates a completion of prompt; higher is better. Score may be
// called concurrently.
type Scorer interface {
	Score(ctx context.Context, prompt []int32, c engine.Completion) (float64, error)
}

// MeanLogprob scores a completion by its mean token log-probability (the
// model's own confidence; it needs Completion.Logprobs, which BestOfN
// requests). A completion without tokens scores -Inf.
type MeanLogprob struct{}

// Score returns the mean of c.Logprobs.
func (MeanLogprob) Score(_ context.Context, _ []int32, c engine.Completion) (float64, error) {
	if len(c.Tokens) == 0 {
		return math.Inf(-1), nil
	}
	if len(c.Logprobs) != len(c.Tokens) {
		return 0, fmt.Errorf("mean logprob: %d tokens but %d logprobs (set Request.Logprobs)", len(c.Tokens), len(c.Logprobs))
	}
	var s float64
	for _, l := range c.Logprobs {
		s += float64(l)
	}
	return s / float64(len(c.Logprobs)), nil
}

// Scored is a sample with its score.
type Scored struct {
	Index int // sample index in the request
	engine.Completion
	Score float64
}

// BestOfNResult is the outcome of BestOfN.
type BestOfNResult struct {
	Best   Scored
	Ranked []Scored // every sample, best first (NaN scores last)
}

// BestOfN draws req.N samples (with logprobs), scores each with sc and
// returns them ranked; ties keep the lower sample index first.
func BestOfN(ctx context.Context, s Sampler, req engine.Request, sc Scorer) (*BestOfNResult, error) {
	req.Logprobs = true
	samples, err := collect(ctx, s, req)
	if err != nil {
		return nil, err
	}
	res := &BestOfNResult{Ranked: make([]Scored, len(samples))}
	errs := make([]error, len(samples))
	var wg sync.WaitGroup
	for i, c := range samples {
		res.Ranked[i] = Scored{Index: i, Completion: c}
		wg.Go(func() {
			res.Ranked[i].Score, errs[i] = sc.Score(ctx, req.Prompt, c)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("best-of-n: scoring sample %d: %w", i, err)
		}
	}
	slices.SortStableFunc(res.Ranked, func(a, b Scored) int { return byScore(a.Score, b.Score) })
	res.Best = res.Ranked[0]
	return res, nil
}

// byScore orders higher scores first and NaN last.
func byScore(a, b float64) int {
	if math.IsNaN(a) || math.IsNaN(b) {
		return cmp.Compare(b2i(math.IsNaN(a)), b2i(math.IsNaN(b)))
	}
	return cmp.Compare(b, a)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// collect runs a request to the end and returns its samples.
func collect(ctx context.Context, s Sampler, req engine.Request) ([]engine.Completion, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch, err := s.Stream(ctx, req)
	if err != nil {
		return nil, err
	}
	n := max(1, req.N)
	out := make([]engine.Completion, n)
	texts := make([][]byte, n)
	var first error
	for ev := range ch {
		if ev.Sample < 0 || ev.Sample >= n {
			return nil, fmt.Errorf("event for sample %d of %d", ev.Sample, n)
		}
		c := &out[ev.Sample]
		if ev.Token >= 0 {
			c.Tokens = append(c.Tokens, ev.Token)
			if req.Logprobs {
				c.Logprobs = append(c.Logprobs, ev.Logprob)
				c.Top = append(c.Top, ev.Top)
			}
		}
		texts[ev.Sample] = append(texts[ev.Sample], ev.Text...)
		if ev.Finish != "" {
			c.Finish = ev.Finish
			if ev.Err != nil && first == nil {
				first = fmt.Errorf("sample %d: %w", ev.Sample, ev.Err)
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for i := range out {
		out[i].Text = string(texts[i])
	}
	return out, first
}
