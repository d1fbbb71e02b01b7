package bench

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tscale/engine/bench/tasks"
	"github.com/tscale/engine/engine"
	"github.com/tscale/engine/engine/sample"
	"github.com/tscale/engine/engine/strategy"
	"github.com/tscale/engine/model/tokenizer"
)

const stories = "../../shared/models/stories260K.gguf"

// checkReport asserts the report's structure: one point per strategy and
// N over every task, one run per task, strategy and N, and pass@N at least
// the accuracy everywhere.
func checkReport(t *testing.T, rep *TTSReport, strategies []string, ns []int, ntasks int) {
	t.Helper()
	require.Len(t, rep.Gold, ntasks)
	require.Len(t, rep.Runs, ntasks*len(strategies)*len(ns))
	require.Len(t, rep.Points, len(strategies)*len(ns))
	i := 0
	for _, s := range Strategies {
		if !slices.Contains(strategies, s) {
			continue
		}
		for _, n := range ns {
			p := rep.Points[i]
			i++
			require.Equal(t, s, p.Strategy)
			require.Equal(t, n, p.N)
			require.Equal(t, ntasks, p.Tasks)
			require.GreaterOrEqual(t, p.Coverage, p.Accuracy, "%s N=%d: pass@N >= accuracy", s, n)
			require.GreaterOrEqual(t, p.Covered, p.Correct)
			require.Positive(t, p.Tokens, "%s N=%d", s, n)
			require.Positive(t, p.Seconds)
			require.InDelta(t, float64(p.Tokens)/p.Seconds, p.TPS, 1e-9)
			if n == ns[0] {
				require.Equal(t, 1.0, p.TokenCost)
				require.Equal(t, 1.0, p.TimeCost)
			}
		}
	}
	for _, r := range rep.Runs {
		if r.Correct {
			require.True(t, r.Covered, "%+v", r)
			require.Equal(t, rep.Gold[r.Task], r.Answer)
		}
		require.Contains(t, r.Answers, r.Answer, "the chosen answer is a candidate's: %+v", r)
		if r.Strategy != "tree" {
			require.Len(t, r.Answers, r.N, "%+v", r) // samples, or beams (stories260K never runs out)
		}
	}
}

func TestTTSEndToEnd(t *testing.T) {
	if _, err := os.Stat(stories); err != nil {
		t.Skip("no " + stories)
	}
	e, err := engine.Open(stories, engine.WithContext(256), engine.WithPrefixCache(false))
	require.NoError(t, err)
	defer e.Close()
	ts, err := tasks.Generate("arith", 1, 2, 1)
	require.NoError(t, err)
	render := func(task tasks.Task) (TTSPrompt, error) {
		// stories260K writes stories and seldom a number: count to 7, and
		// (seed 12) it goes on "0 play with it".
		return TTSPrompt{IDs: e.Tokenizer().Encode("1 2 3 4 5 6 7", tokenizer.AddSpecial), Stop: []string{"\n"}}, nil
	}
	ns := []int{1, 2}
	cfg := TTSConfig{
		Strategies: Strategies, Ns: ns, MaxTokens: 12, Seed: 12,
		Sampling:      sample.Params{Temperature: 1},
		VoteTruncated: true, // 12 tokens cut most samples off; let them vote
		Reward: func(task tasks.Task) (strategy.Scorer, error) {
			return strategy.NewRewardModel(e, e.Tokenizer(), "")
		},
		LengthPenalty: 1, Delimiter: ".", Depth: 2, StepTokens: 6,
	}
	progress := 0
	cfg.Progress = func() { progress++ }
	rep, err := TTS(context.Background(), TTSModel{Sampler: e, LM: strategy.FromEngine(e), Render: render}, ts, cfg)
	require.NoError(t, err)
	require.Equal(t, len(ts)*len(ns), progress)
	checkReport(t, rep, Strategies, ns, len(ts))

	numbers := 0
	for _, r := range rep.Runs {
		if r.N != 1 || r.Strategy != "vote" {
			continue
		}
		// Vote at N=1 returns its single sample's answer, the one every
		// best-of at N=1 sees in the same request.
		require.Len(t, r.Answers, 1)
		require.Equal(t, r.Answers[0], r.Answer)
		for _, o := range rep.Runs {
			if o.Task == r.Task && o.N == 1 && strings.HasPrefix(o.Strategy, "best-of") {
				require.Equal(t, r.Answers, o.Answers, o.Strategy)
				require.Equal(t, r.Answer, o.Answer, o.Strategy)
			}
		}
		numbers += b2i(r.Answer != "")
	}
	require.Positive(t, numbers, "some sample answered with a number")
	for _, p := range rep.Points {
		if strings.HasPrefix(p.Strategy, "best-of") || p.Strategy == "vote" {
			require.Equal(t, rep.Points[0].Coverage, p.Coverage, "the sampling strategies share their samples at N=%d", p.N)
		}
	}
	png := filepath.Join(t.TempDir(), "tts.png")
	require.NoError(t, PlotTTS(rep.Points, "stories260K", png))
	b, err := os.ReadFile(png)
	require.NoError(t, err)
	require.Equal(t, "\x89PNG", string(b[:4]))

	// Seeds fixed: the same run gives the same answers and tokens.
	again, err := TTS(context.Background(), TTSModel{Sampler: e, LM: strategy.FromEngine(e), Render: render}, ts, cfg)
	require.NoError(t, err)
	for i, r := range rep.Runs {
		require.Equal(t, r.Answers, again.Runs[i].Answers, "%s N=%d", r.Strategy, r.N)
		require.Equal(t, r.Tokens, again.Runs[i].Tokens, "%s N=%d", r.Strategy, r.N)
	}
}

// script is a test double for the engine: sample i of a request answers
// from a known distribution, drawn with seed Seed+i as the engine seeds its
// samples, after a few tokens of working.
type script struct {
	answers []string
	weights []float64
}

// answer is the answer sample seed draws, and its length in tokens.
func (s script) answer(seed uint64) (string, int) {
	r := rand.New(rand.NewPCG(seed, 99))
	u, acc := r.Float64(), 0.0
	a := s.answers[len(s.answers)-1]
	for i, w := range s.weights {
		if acc += w; u < acc {
			a = s.answers[i]
			break
		}
	}
	return a, 2 + r.IntN(5)
}

func (s script) Stream(ctx context.Context, req engine.Request) (<-chan engine.Event, error) {
	n := max(1, req.N)
	type plan struct {
		answer string
		steps  int
	}
	plans := make([]plan, n)
	longest := 0
	for i := range plans {
		a, k := s.answer(req.Seed + uint64(i))
		plans[i] = plan{a, k}
		longest = max(longest, k)
	}
	ch := make(chan engine.Event)
	go func() {
		defer close(ch)
		// Lockstep, as the engine's batched decode: step j of every sample,
		// then j+1; a sample's last step says its answer and finishes it.
		for j := 0; j < longest; j++ {
			for i, p := range plans {
				if j >= p.steps {
					continue
				}
				ev := engine.Event{Sample: i, Token: int32(j), Text: "so ", Logprob: -0.5}
				if j == p.steps-1 {
					ev.Text, ev.Finish = "the answer is "+p.answer+".", engine.FinishStop
				}
				select {
				case ch <- ev:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return ch, nil
}

func TestTTSScripted(t *testing.T) {
	// The right answer is the second most likely: vote converges on the
	// mode (wrong), the exact verifier on pass@N.
	sc := script{answers: []string{"7", "12", "9"}, weights: []float64{0.6, 0.25, 0.15}}
	ts := make([]tasks.Task, 40)
	for i := range ts {
		ts[i] = tasks.Task{ID: string(rune('a' + i)), Question: "q", Answer: "#### 12"}
	}
	m := TTSModel{Sampler: sc, Render: func(tasks.Task) (TTSPrompt, error) { return TTSPrompt{IDs: []int32{1}}, nil }}
	strategies := []string{"vote", "best-of", "best-of-verify"}
	ns := []int{1, 4, 16, 32}
	cfg := TTSConfig{Strategies: strategies, Ns: ns, MaxTokens: 16, Seed: 5}
	rep, err := TTS(context.Background(), m, ts, cfg)
	require.NoError(t, err)
	checkReport(t, rep, strategies, ns, len(ts))

	savedAt32 := 0
	for _, r := range rep.Runs {
		// The script's answers for this task and N, from its seeds alone.
		seed := cfg.Seed + uint64(r.Task)*taskSeeds
		want := make([]string, r.N)
		tally := map[string]int{}
		covered := false
		for i := range want {
			want[i], _ = sc.answer(seed + uint64(i))
			tally[want[i]]++
			covered = covered || want[i] == "12"
		}
		require.Equal(t, covered, r.Covered, "%s N=%d task %d", r.Strategy, r.N, r.Task)
		switch r.Strategy {
		case "vote":
			// The mode of the N samples (ties to the earlier sample), even
			// when the vote stopped before all of them finished.
			mode := want[0]
			for _, a := range want {
				if tally[a] > tally[mode] {
					mode = a
				}
			}
			require.Equal(t, mode, r.Answer, "N=%d task %d: %v", r.N, r.Task, want)
			require.Zero(t, r.Abstained, "every finished sample answers")
			if r.N == 32 {
				require.Equal(t, "7", r.Answer, "with 32 samples vote returns the distribution's mode")
				savedAt32 += r.Saved
			}
		case "best-of-verify":
			require.Equal(t, want, r.Answers)
			require.Equal(t, covered, r.Correct, "the exact verifier finds a right sample whenever there is one")
		}
	}
	require.Positive(t, savedAt32, "vote's early stop saves tokens at N=32")
	for _, p := range rep.Points {
		switch p.Strategy {
		case "best-of-verify":
			require.Equal(t, p.Coverage, p.Accuracy, "N=%d: best-of with an exact verifier reaches pass@N", p.N)
		case "vote":
			if p.N == 32 {
				require.Zero(t, p.Accuracy, "the vote's mode is wrong")
				require.Positive(t, p.Saved)
				require.Positive(t, p.NoVote, "the early stop cancelled samples")
				require.Zero(t, p.Abstained)
				require.Less(t, p.Tokens, rep.Points[len(rep.Points)-1].Tokens)
			}
		}
	}
	// pass@N grows with N and reaches 1 - 0.7^32 ≈ 1 here.
	require.Equal(t, 1.0, rep.Points[len(rep.Points)-1].Coverage)

	t.Run("command", func(t *testing.T) {
		cfg := TTSConfig{Strategies: []string{"best-of-verify"}, Ns: []int{1, 4}, MaxTokens: 16, Seed: 5,
			VerifyCmd: `test "$TTS_ANSWER" = "$TTS_EXPECTED" && grep -q "answer is"`}
		cmdRep, err := TTS(context.Background(), m, ts[:6], cfg)
		require.NoError(t, err)
		require.Positive(t, cmdRep.Points[1].Correct)
		for _, r := range cmdRep.Runs {
			i := slices.IndexFunc(rep.Runs, func(o TTSRun) bool {
				return o.Strategy == r.Strategy && o.N == r.N && o.Task == r.Task
			})
			require.Equal(t, rep.Runs[i].Correct, r.Correct, "N=%d task %d: as the Go verifier", r.N, r.Task)
			require.Equal(t, r.Covered, r.Correct)
		}
		bad := cfg
		bad.VerifyCmd = "exit 1"
		cmdRep, err = TTS(context.Background(), m, ts[:6], bad)
		require.NoError(t, err)
		require.Zero(t, cmdRep.Points[0].Correct, "a verifier that rejects everything: best-of picks sample 0")
	})
}

func TestTTSConfigErrors(t *testing.T) {
	ok := TTSConfig{Strategies: []string{"vote"}, Ns: []int{1}, MaxTokens: 8}
	for name, c := range map[string]struct {
		mod  func(*TTSConfig)
		lm   bool
		want string
	}{
		"strategy": {func(c *TTSConfig) { c.Strategies = []string{"greedy"} }, true, `unknown strategy "greedy"`},
		"n":        {func(c *TTSConfig) { c.Ns = []int{4, 0} }, true, "bad N 0"},
		"tokens":   {func(c *TTSConfig) { c.MaxTokens = 0 }, true, "max tokens 0"},
		"reward":   {func(c *TTSConfig) { c.Strategies = []string{"best-of-reward"} }, true, "needs a reward scorer"},
		"beam":     {func(c *TTSConfig) { c.Strategies = []string{"beam"} }, false, "needs a step-by-step model"},
		"tree":     {func(c *TTSConfig) { c.Strategies = []string{"tree"} }, true, "tree needs depth"},
		"empty":    {func(c *TTSConfig) { c.Ns = nil }, true, "at least one strategy and one N"},
	} {
		c2 := ok
		c.mod(&c2)
		require.ErrorContains(t, c2.Check(c.lm), c.want, name)
	}
	require.NoError(t, ok.Check(false))
}

func TestTTSTreeShape(t *testing.T) {
	for n, want := range map[int][2]int{1: {1, 1}, 2: {2, 1}, 3: {3, 1}, 4: {2, 2}, 8: {4, 2}, 16: {8, 2}, 32: {16, 2}} {
		k, b := TreeShape(n)
		require.Equal(t, want, [2]int{k, b}, "N=%d", n)
	}
}

// A run split by N, as `bench tts merge` joins it, gives the single run's
// points: the seeds depend on the task and N only.
func TestTTSSplitRuns(t *testing.T) {
	sc := script{answers: []string{"7", "12", "9"}, weights: []float64{0.5, 0.3, 0.2}}
	ts := make([]tasks.Task, 8)
	for i := range ts {
		ts[i] = tasks.Task{Question: "q", Answer: "12"}
	}
	m := TTSModel{Sampler: sc, Render: func(tasks.Task) (TTSPrompt, error) { return TTSPrompt{IDs: []int32{1}}, nil }}
	cfg := TTSConfig{Strategies: []string{"vote", "best-of-verify"}, Ns: []int{1, 4, 16}, MaxTokens: 16, Seed: 2}
	whole, err := TTS(context.Background(), m, ts, cfg)
	require.NoError(t, err)
	var runs []TTSRun
	for _, ns := range [][]int{{16}, {1, 4}} {
		cfg.Ns = ns
		part, err := TTS(context.Background(), m, ts, cfg)
		require.NoError(t, err)
		runs = append(runs, part.Runs...)
	}
	merged := Aggregate(runs)
	require.Len(t, merged, len(whole.Points))
	for i, p := range merged {
		w := whole.Points[i]
		require.Equal(t, [6]any{w.Strategy, w.N, w.Correct, w.Covered, w.Tokens, w.Saved},
			[6]any{p.Strategy, p.N, p.Correct, p.Covered, p.Tokens, p.Saved})
	}
}
