package strategy

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/tscale/engine/engine"
)

// Sampler runs a request of N samples and streams their events, as
// (*engine.Engine).Stream does: cancelling ctx must stop the request and
// close the channel.
type Sampler interface {
	Stream(ctx context.Context, req engine.Request) (<-chan engine.Event, error)
}

// VoteOptions configure Vote.
type VoteOptions struct {
	// Extract finds each sample's answer (default LastNumber).
	Extract Extractor
	// Weighted weighs each vote by exp(mean token logprob) of its sample,
	// the geometric mean of the token probabilities, in (0, 1]: confident
	// samples count more, and the weight does not shrink with length. A
	// sample with no tokens weighs 0. Unweighted votes weigh 1.
	Weighted bool
	// NoEarlyStop runs every sample. By default the vote stops as soon as
	// the unfinished samples can no longer change the winner; the answer is
	// the same, only the counts are smaller.
	NoEarlyStop bool
	// CountTruncated lets samples cut off by MaxTokens or the context
	// (FinishLength) vote. By default they abstain: the last number of an
	// unfinished chain of thought is seldom its answer.
	CountTruncated bool
}

// Tally is one answer's share of the vote.
type Tally struct {
	Answer string
	Count  int
	Weight float64 // sum of the votes' weights (= Count unweighted)
	first  int     // lowest sample index with this answer, for ties
}

// String is the answer and its count, "42×5", with the weight when it is
// not the count (weighted votes): "42×5 (3.71)". An answer that is empty
// or holds spaces or "×" is quoted, so a list of tallies reads unambiguously.
func (t Tally) String() string {
	a := t.Answer
	if a == "" || strings.ContainsRune(a, '×') || strings.IndexFunc(a, unicode.IsSpace) >= 0 {
		a = strconv.Quote(a)
	}
	s := a + "×" + strconv.Itoa(t.Count)
	if t.Weight != float64(t.Count) {
		s += " (" + strconv.FormatFloat(t.Weight, 'f', 2, 64) + ")"
	}
	return s
}

// VoteSample is one sample and its vote.
type VoteSample struct {
	engine.Completion
	Answer  string
	Abstain bool    // no answer; failed; cancelled; or cut off by length unless CountTruncated
	Weight  float64 // the vote's weight
}

// VoteResult is the outcome of Vote.
type VoteResult struct {
	Answer  string  // the winner; "" when every sample abstained
	Votes   []Tally // by weight (count unweighted), then count, then first sample; winner first
	Samples []VoteSample
	// Order lists the samples that finished before the vote was decided,
	// in finishing order; the others were cancelled.
	Order        []int
	StoppedEarly bool
	// Abstained counts the finished samples that cast no vote: no answer
	// found, failed, or (unless CountTruncated) cut off by length.
	Abstained int
	// Truncated counts the finished samples cut off by length, voting or not.
	Truncated int
}

// String is the votes in rank order, then the abstentions: "42×5 17×2
// (3 abstained)"; "no votes" when none was cast.
func (r VoteResult) String() string {
	var b strings.Builder
	for i, t := range r.Votes {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(t.String())
	}
	if len(r.Votes) == 0 {
		b.WriteString("no votes")
	}
	if r.Abstained > 0 {
		fmt.Fprintf(&b, " (%d abstained)", r.Abstained)
	}
	return b.String()
}

// Vote draws req.N samples and returns the answer most of them agree on
// (self-consistency). It sets req.Logprobs when weighted. With early
// stopping, once the leader's votes exceed the runner-up's plus the most
// the unfinished samples could still add, it cancels the rest, which frees
// their KV blocks; those samples have Finish set to FinishCancelled. The
// bound counts every unfinished sample as a possible vote (it cannot know
// which will be cut off), and a sample that ends abstaining adds nothing,
// so abstentions only delay the stop, never change the answer.
func Vote(ctx context.Context, s Sampler, req engine.Request, opt VoteOptions) (*VoteResult, error) {
	ext := opt.Extract
	if ext == nil {
		ext = LastNumber
	}
	if opt.Weighted {
		req.Logprobs = true
	}
	n := max(1, req.N)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch, err := s.Stream(ctx, req)
	if err != nil {
		return nil, err
	}
	res := &VoteResult{Samples: make([]VoteSample, n)}
	texts := make([][]byte, n)
	sums := make([]float64, n) // logprob sums so far, for the bound
	done := make([]bool, n)
	tally := map[string]*Tally{}
	decided := false
	var failed error // the first sample error
	for ev := range ch {
		if decided {
			continue // drain what was sent before the cancel took hold
		}
		if ev.Sample < 0 || ev.Sample >= n {
			cancel()
			return nil, fmt.Errorf("vote: event for sample %d of %d", ev.Sample, n)
		}
		c := &res.Samples[ev.Sample]
		if ev.Token >= 0 {
			c.Tokens = append(c.Tokens, ev.Token)
			if req.Logprobs {
				c.Logprobs = append(c.Logprobs, ev.Logprob)
				sums[ev.Sample] += float64(ev.Logprob)
			}
		}
		texts[ev.Sample] = append(texts[ev.Sample], ev.Text...)
		if ev.Finish == "" || done[ev.Sample] {
			continue
		}
		done[ev.Sample] = true
		c.Finish = ev.Finish
		c.Text = string(texts[ev.Sample])
		res.Order = append(res.Order, ev.Sample)
		c.Answer, c.Weight, c.Abstain = "", 0, true
		if ev.Err != nil && failed == nil {
			failed = fmt.Errorf("vote: sample %d: %w", ev.Sample, ev.Err)
		}
		if ev.Finish == engine.FinishLength {
			res.Truncated++
		}
		if ev.Finish == engine.FinishStop || ev.Finish == engine.FinishLength && opt.CountTruncated {
			if a, ok := ext.Extract(c.Text); ok {
				c.Answer, c.Abstain = a, false
				c.Weight = weight(opt.Weighted, c.Logprobs)
				t := tally[a]
				if t == nil {
					t = &Tally{Answer: a, first: ev.Sample}
					tally[a] = t
				}
				t.Count++
				t.Weight += c.Weight
				t.first = min(t.first, ev.Sample)
			}
		}
		if c.Abstain {
			res.Abstained++
		}
		if !opt.NoEarlyStop && len(res.Order) < n && settled(tally, bound(opt.Weighted, req.MaxTokens, done, sums)) {
			decided, res.StoppedEarly = true, true
			cancel() // frees the other samples' KV blocks
		}
	}
	if err := context.Cause(ctx); err != nil && !decided {
		return nil, err
	}
	for i := range res.Samples {
		if !done[i] {
			c := &res.Samples[i]
			c.Finish, c.Abstain, c.Text = engine.FinishCancelled, true, string(texts[i])
		}
	}
	res.Votes = ranked(tally)
	if len(res.Votes) == 0 && failed != nil {
		return nil, failed // no answer because samples failed, not because they abstained
	}
	if len(res.Votes) > 0 {
		res.Answer = res.Votes[0].Answer
	}
	return res, nil
}

// weight is a vote's weight: 1, or exp(mean logprob) when weighted.
func weight(weighted bool, lps []float32) float64 {
	if !weighted {
		return 1
	}
	if len(lps) == 0 {
		return 0
	}
	var s float64
	for _, l := range lps {
		s += float64(l)
	}
	return math.Exp(s / float64(len(lps)))
}

// bound is the most weight the unfinished samples can still add. A weighted
// sample with logprob sum S so far ends with mean >= S/maxTokens (at best
// every later token has probability 1), so it adds at most exp(S/maxTokens);
// without a length limit, at most 1.
func bound(weighted bool, maxTokens int, done []bool, sums []float64) float64 {
	var b float64
	for i, d := range done {
		switch {
		case d:
		case weighted && maxTokens > 0:
			b += math.Exp(min(0, sums[i]) / float64(maxTokens))
		default:
			b++
		}
	}
	return b
}

// settled reports whether the leader stays ahead even if every unfinished
// sample votes for the runner-up with the most weight it could have.
func settled(tally map[string]*Tally, rest float64) bool {
	v := ranked(tally)
	if len(v) == 0 {
		return false
	}
	second := 0.0
	if len(v) > 1 {
		second = v[1].Weight
	}
	return v[0].Weight > second+rest
}

func ranked(tally map[string]*Tally) []Tally {
	v := make([]Tally, 0, len(tally))
	for _, t := range tally {
		v = append(v, *t)
	}
	slices.SortFunc(v, func(a, b Tally) int {
		if c := cmp.Compare(b.Weight, a.Weight); c != 0 {
			return c
		}
		if c := cmp.Compare(b.Count, a.Count); c != 0 {
			return c
		}
		return cmp.Compare(a.first, b.first)
	})
	return v
}
