package strategy

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tscale/engine/engine"
)

// tok is a scripted token: its text and log-probability.
type tok struct {
	text string
	lp   float32
}

// script is a Sampler that plays scripted samples the way the engine runs
// them: step t emits token t of every sample still running (in sample
// order), then the finish event of every sample that has no more tokens.
// So samples finish by length, then index. As in the engine, a sample that
// reaches req.MaxTokens ends there with FinishLength. It stops when ctx is
// cancelled.
type script struct {
	samples   [][]tok
	cancelled bool  // ctx was cancelled while samples were still running
	finished  []int // samples whose finish event was sent
	req       engine.Request
}

// words scripts a sample as one token per word, each with logprob lp.
func words(text string, lp float32) []tok {
	var s []tok
	for _, w := range strings.SplitAfter(text, " ") {
		s = append(s, tok{w, lp})
	}
	return s
}

func (s *script) Stream(ctx context.Context, req engine.Request) (<-chan engine.Event, error) {
	if req.N != len(s.samples) {
		return nil, fmt.Errorf("script has %d samples, request %d", len(s.samples), req.N)
	}
	s.req = req
	play := make([][]tok, len(s.samples))
	fin := make([]engine.Finish, len(s.samples))
	for i, toks := range s.samples {
		play[i], fin[i] = truncate(toks, req.MaxTokens)
	}
	ch := make(chan engine.Event)
	send := func(ev engine.Event) bool {
		if ctx.Err() != nil {
			s.cancelled = true
			return false
		}
		select {
		case ch <- ev:
			return true
		case <-ctx.Done():
			s.cancelled = true
			return false
		}
	}
	go func() {
		defer close(ch)
		for t := 0; len(s.finished) < len(s.samples); t++ {
			for i, toks := range play {
				if t < len(toks) && !send(engine.Event{Sample: i, Token: int32(t), Text: toks[t].text, Logprob: toks[t].lp}) {
					return
				}
			}
			for i, toks := range play {
				if len(toks) == t+1 || (t == 0 && len(toks) == 0) {
					if !send(engine.Event{Sample: i, Token: -1, Finish: fin[i]}) {
						return
					}
					s.finished = append(s.finished, i)
				}
			}
		}
	}()
	return ch, nil
}

// truncate cuts a scripted sample at maxTokens (0 = no limit), as the
// engine does, and returns how it finishes.
func truncate(toks []tok, maxTokens int) ([]tok, engine.Finish) {
	if maxTokens > 0 && len(toks) >= maxTokens {
		return toks[:maxTokens], engine.FinishLength
	}
	return toks, engine.FinishStop
}

func TestVote(t *testing.T) {
	lp := func(v float32) func(string) []tok { return func(s string) []tok { return words(s, v) } }
	sure, unsure := lp(-0.01), lp(-2)
	for _, tc := range []struct {
		name      string
		samples   [][]tok
		opt       VoteOptions
		max       int
		answer    string
		votes     []Tally
		order     []int // samples that finished before the vote was decided
		early     bool
		abstains  int // finished samples that cast no vote
		truncated int // finished samples cut off by max tokens
	}{
		{
			name: "majority, all samples",
			samples: [][]tok{sure("so 3"), sure("it is 5"), sure("3"), sure("I think 3.0"),
				sure("5"), sure("no idea"), sure("answer 3")},
			opt:    VoteOptions{NoEarlyStop: true},
			answer: "3", votes: []Tally{{Answer: "3", Count: 4, Weight: 4}, {Answer: "5", Count: 2, Weight: 2}},
			order: []int{2, 4, 0, 5, 6, 1, 3}, abstains: 1,
		},
		{
			// Finishing order 0..7 (equal lengths): after five votes for
			// 42, three unfinished samples cannot catch up: 5 > 0 + 3.
			name:    "unanimous stops after five of eight",
			samples: [][]tok{sure("42"), sure("42"), sure("42"), sure("42"), sure("42"), sure("42"), sure("42"), sure("42")},
			answer:  "42", votes: []Tally{{Answer: "42", Count: 5, Weight: 5}},
			order: []int{0, 1, 2, 3, 4}, early: true,
		},
		{
			// By length: 1 and 3 (7, 7), 4 (7: 3 > 0 + 3? no), 0 (9:
			// 3 > 1 + 2? no), 5 (7: 4 > 1 + 1) stops before 2 finishes.
			name: "contested stops after five of six",
			samples: [][]tok{sure("a b 9"), sure("7"), sure("x y z w 7"), sure("7"),
				sure("p 7"), sure("q r 7")},
			answer: "7", votes: []Tally{{Answer: "7", Count: 4, Weight: 4}, {Answer: "9", Count: 1, Weight: 1}},
			order: []int{1, 3, 4, 0, 5}, early: true,
		},
		{
			name:    "abstentions do not count",
			samples: [][]tok{sure("none"), sure("1"), sure("nothing"), sure("2"), sure("no")},
			answer:  "1", votes: []Tally{{Answer: "1", Count: 1, Weight: 1}, {Answer: "2", Count: 1, Weight: 1}},
			order: []int{0, 1, 2, 3, 4}, abstains: 3,
		},
		{
			name:    "nobody answers",
			samples: [][]tok{sure("x"), sure("y")},
			answer:  "", order: []int{0, 1}, abstains: 2,
		},
		{
			name:    "tie goes to the first sample's answer",
			samples: [][]tok{sure("a b 8"), sure("6"), sure("8"), sure("c d 6")},
			opt:     VoteOptions{NoEarlyStop: true},
			answer:  "8", votes: []Tally{{Answer: "8", Count: 2, Weight: 2}, {Answer: "6", Count: 2, Weight: 2}},
			order: []int{1, 2, 0, 3},
		},
		{
			// Two unsure votes for 1 weigh 2·e^-2 ≈ 0.27, one sure vote
			// for 2 weighs e^-0.01 ≈ 0.99.
			name:    "weighted overturns the count",
			samples: [][]tok{unsure("1"), sure("2"), unsure("1")},
			opt:     VoteOptions{Weighted: true, NoEarlyStop: true},
			answer:  "2",
			votes: []Tally{{Answer: "2", Count: 1, Weight: math.Exp(float64(float32(-0.01)))},
				{Answer: "1", Count: 2, Weight: 2 * math.Exp(-2)}},
			order: []int{0, 1, 2},
		},
		{
			// Sample 2's first token has logprob -8, so with at most 4
			// tokens its weight is at most e^(-8/4): after 0 (w≈1) and 1
			// (w=e^-0.5≈0.61), 1 > 0.61 + 0.14 stops it. An unweighted
			// bound of 1 per sample would not: 1 < 0.61 + 1.
			name:    "weighted bound uses the logprobs so far",
			samples: [][]tok{{{"7", 0}}, {{"8", -0.5}}, {{"long ", -8}, {"road ", 0}, {"to ", 0}, {"7", 0}}},
			opt:     VoteOptions{Weighted: true},
			max:     4,
			answer:  "7", votes: []Tally{{Answer: "7", Count: 1, Weight: 1}, {Answer: "8", Count: 1, Weight: math.Exp(-0.5)}},
			order: []int{0, 1}, early: true,
		},
		{
			// Three samples cut off at 3 tokens end in 5 ("1 2 5 "), but
			// only sample 0 finished: its 3 wins, the others abstain.
			name:    "truncated samples abstain",
			samples: [][]tok{sure("x 3"), sure("1 2 5 5"), sure("9 8 5 0"), sure("4 4 5 1")},
			max:     3,
			answer:  "3", votes: []Tally{{Answer: "3", Count: 1, Weight: 1}},
			order: []int{0, 1, 2, 3}, abstains: 3, truncated: 3,
		},
		{
			name:    "truncated samples vote when counted",
			samples: [][]tok{sure("x 3"), sure("1 2 5 5"), sure("9 8 5 0"), sure("4 4 5 1")},
			opt:     VoteOptions{CountTruncated: true},
			max:     3,
			answer:  "5", votes: []Tally{{Answer: "5", Count: 3, Weight: 3}, {Answer: "3", Count: 1, Weight: 1}},
			order: []int{0, 1, 2, 3}, truncated: 3,
		},
		{
			// 0 and 1 vote 7 (2 > 0 + 3? no); 2 and 3 are cut off and
			// abstain, each lowering the bound: after 3, 2 > 0 + 1 stops
			// before 4 (also cut off, with 9).
			name: "abstaining truncations let the vote stop early",
			samples: [][]tok{sure("7"), sure("7"), sure("1 2 3 4"), sure("a b c d"),
				sure("9 9 9 9")},
			max:    3,
			answer: "7", votes: []Tally{{Answer: "7", Count: 2, Weight: 2}},
			order: []int{0, 1, 2, 3}, early: true, abstains: 2, truncated: 2,
		},
		{
			// Counted, 2's 3 keeps the vote open (2 > 1 + 2? no) and the
			// run goes to the end: 7 still wins over 3 and 9.
			name: "counted truncations keep the vote open",
			samples: [][]tok{sure("7"), sure("7"), sure("1 2 3 4"), sure("a b c d"),
				sure("9 9 9 9")},
			opt:    VoteOptions{CountTruncated: true},
			max:    3,
			answer: "7", votes: []Tally{{Answer: "7", Count: 2, Weight: 2}, {Answer: "3", Count: 1, Weight: 1},
				{Answer: "9", Count: 1, Weight: 1}},
			order: []int{0, 1, 2, 3, 4}, abstains: 1, truncated: 3,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &script{samples: tc.samples}
			res, err := Vote(context.Background(), s, engine.Request{Prompt: []int32{1}, N: len(tc.samples), MaxTokens: tc.max}, tc.opt)
			require.NoError(t, err)
			require.Equal(t, tc.answer, res.Answer)
			require.Equal(t, tc.early, res.StoppedEarly)
			require.Equal(t, tc.order, res.Order)
			require.Equal(t, tc.opt.Weighted, s.req.Logprobs, "logprobs are requested only for weighted votes")
			require.Len(t, res.Votes, len(tc.votes))
			for i, v := range tc.votes {
				require.Equal(t, v.Answer, res.Votes[i].Answer)
				require.Equal(t, v.Count, res.Votes[i].Count)
				require.InDelta(t, v.Weight, res.Votes[i].Weight, 1e-6)
			}
			abstains, truncated := 0, 0
			for i, smp := range res.Samples {
				finished := false
				for _, j := range tc.order {
					finished = finished || i == j
				}
				if !finished {
					require.Equal(t, engine.FinishCancelled, smp.Finish, "sample %d", i)
					require.True(t, smp.Abstain)
					continue
				}
				toks, fin := truncate(tc.samples[i], tc.max)
				require.Equal(t, fin, smp.Finish, "sample %d", i)
				if fin == engine.FinishLength {
					truncated++
					require.True(t, smp.Abstain || tc.opt.CountTruncated, "sample %d", i)
				}
				var text strings.Builder
				for _, tk := range toks {
					text.WriteString(tk.text)
				}
				require.Equal(t, text.String(), smp.Text)
				if smp.Abstain {
					abstains++
				} else {
					want, _ := LastNumber.Extract(smp.Text)
					require.Equal(t, want, smp.Answer)
				}
			}
			require.Equal(t, tc.abstains, abstains)
			require.Equal(t, tc.abstains, res.Abstained)
			require.Equal(t, tc.truncated, truncated)
			require.Equal(t, tc.truncated, res.Truncated)
			// The sampler saw the cancel exactly when the vote stopped early.
			require.Equal(t, tc.early, s.cancelled)
		})
	}
}

// TestEarlyStopKeepsAnswer: on random scripts, some cut off by MaxTokens,
// stopping early always returns the answer of the full vote, and never
// counts more votes; the abstentions are counted.
func TestEarlyStopKeepsAnswer(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	stopped, cut := 0, 0
	for iter := 0; iter < 300; iter++ {
		n := 1 + r.IntN(12)
		samples := make([][]tok, n)
		for i := range samples {
			for j := r.IntN(6); j > 0; j-- {
				samples[i] = append(samples[i], tok{"w ", -r.Float32() * 3})
			}
			if r.IntN(5) > 0 {
				samples[i] = append(samples[i], tok{fmt.Sprint(r.IntN(3)), -r.Float32() * 3})
			}
		}
		opt := VoteOptions{Weighted: r.IntN(2) == 0, CountTruncated: r.IntN(2) == 0}
		req := engine.Request{Prompt: []int32{1}, N: n, MaxTokens: 5}
		opt.NoEarlyStop = true
		full, err := Vote(context.Background(), &script{samples: samples}, req, opt)
		require.NoError(t, err)
		opt.NoEarlyStop = false
		early, err := Vote(context.Background(), &script{samples: samples}, req, opt)
		require.NoError(t, err)
		require.Equal(t, full.Answer, early.Answer, "iteration %d", iter)
		require.False(t, full.StoppedEarly)
		for _, res := range []*VoteResult{full, early} {
			abstained, truncated := 0, 0
			for _, i := range res.Order {
				if res.Samples[i].Abstain {
					abstained++
				}
				if res.Samples[i].Finish == engine.FinishLength {
					truncated++
					require.True(t, res.Samples[i].Abstain || opt.CountTruncated)
				}
			}
			require.Equal(t, abstained, res.Abstained, "iteration %d", iter)
			require.Equal(t, truncated, res.Truncated, "iteration %d", iter)
		}
		cut += full.Truncated
		if early.StoppedEarly {
			stopped++
			require.Less(t, len(early.Order), n)
		}
	}
	require.Greater(t, stopped, 50, "early stopping should trigger often")
	require.Greater(t, cut, 100, "samples should often be cut off")
}

func TestVoteCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Vote(ctx, &script{samples: [][]tok{words("1", 0)}}, engine.Request{Prompt: []int32{1}, N: 1}, VoteOptions{})
	require.ErrorIs(t, err, context.Canceled)
	_, err = Vote(context.Background(), &script{samples: [][]tok{words("1", 0)}}, engine.Request{Prompt: []int32{1}, N: 2}, VoteOptions{})
	require.ErrorContains(t, err, "script has 1 samples, request 2")
}

// failing is a Sampler whose samples all fail.
type failing struct{}

func (failing) Stream(ctx context.Context, req engine.Request) (<-chan engine.Event, error) {
	ch := make(chan engine.Event, req.N)
	for i := 0; i < req.N; i++ {
		ch <- engine.Event{Sample: i, Token: -1, Finish: engine.FinishError, Err: engine.ErrNoSpace}
	}
	close(ch)
	return ch, nil
}

func TestVoteAllFailed(t *testing.T) {
	_, err := Vote(context.Background(), failing{}, engine.Request{Prompt: []int32{1}, N: 2}, VoteOptions{})
	require.ErrorIs(t, err, engine.ErrNoSpace)
	require.ErrorContains(t, err, "vote: sample 0")
}

func TestTallyString(t *testing.T) {
	for _, c := range []struct {
		v    any
		want string
	}{
		{Tally{Answer: "42", Count: 5, Weight: 5}, "42×5"},
		{Tally{Answer: "42", Count: 2, Weight: 1.234}, "42×2 (1.23)"},
		{Tally{Answer: "", Count: 1, Weight: 1}, `""×1`},
		{Tally{Answer: "a b", Count: 3, Weight: 3}, `"a b"×3`},
		{Tally{Answer: "2×3", Count: 1, Weight: 1}, `"2×3"×1`},
		{VoteResult{Votes: []Tally{{Answer: "42", Count: 5, Weight: 5}, {Answer: "17", Count: 2, Weight: 2}}, Abstained: 3}, "42×5 17×2 (3 abstained)"},
		{VoteResult{Votes: []Tally{{Answer: "7", Count: 1, Weight: 1}}}, "7×1"},
		{VoteResult{Abstained: 4}, "no votes (4 abstained)"},
		{VoteResult{}, "no votes"},
		{[]Tally{{Answer: "42", Count: 5, Weight: 5}, {Answer: "17", Count: 2, Weight: 2}}, "[42×5 17×2]"},
		{&VoteResult{Votes: []Tally{{Answer: "1", Count: 1, Weight: 1}}, Abstained: 1}, "1×1 (1 abstained)"},
	} {
		require.Equal(t, c.want, fmt.Sprint(c.v))
	}
}

// TestVoteResultString: a real vote prints its ranked tallies and abstentions.
func TestVoteResultString(t *testing.T) {
	s := &script{samples: [][]tok{words("so 42", 0), words("it is 42", 0), words("17", 0), words("no idea", 0)}}
	res, err := Vote(context.Background(), s, engine.Request{N: 4}, VoteOptions{NoEarlyStop: true})
	require.NoError(t, err)
	require.Equal(t, "42×2 17×1 (1 abstained)", res.String())
}
