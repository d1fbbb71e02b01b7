package bench

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/tscale/engine/bench/tasks"
	"github.com/tscale/engine/engine"
	"github.com/tscale/engine/engine/sample"
	"github.com/tscale/engine/engine/strategy"
)

// Strategies are `bench tts`'s strategies, in report order.
var Strategies = []string{"vote", "best-of", "best-of-reward", "best-of-verify", "beam", "tree"}

// sampled are the strategies that choose among one request's N samples.
var sampled = []string{"vote", "best-of", "best-of-reward", "best-of-verify"}

// TTSPrompt is a task rendered for the model.
type TTSPrompt struct {
	IDs        []int32
	Stop       []string // end a sample (few-shot prompts: the next question)
	StopTokens []int32  // end a sample like an EOG token (chat turns)
}

// TTSModel is what `bench tts` runs on: a sampler for the sampling
// strategies, an LM for beam and tree (nil: they are refused), and the
// prompt of each task.
type TTSModel struct {
	Sampler strategy.Sampler
	LM      strategy.TextLM
	Render  func(tasks.Task) (TTSPrompt, error)
}

// TTSConfig sizes a run.
type TTSConfig struct {
	Strategies []string
	Ns         []int
	MaxTokens  int
	Sampling   sample.Params
	Seed       uint64 // task i at every N draws with seeds Seed + i*taskSeeds + sample
	// VoteTruncated lets samples cut off by MaxTokens vote.
	VoteTruncated bool
	// Reward scores best-of-reward's samples for one task (a reward model or
	// the policy model as a yes/no verifier).
	Reward func(t tasks.Task) (strategy.Scorer, error)
	// VerifyCmd, if set, is best-of-verify's verifier: run by sh -c with the
	// completion on stdin and TTS_QUESTION, TTS_EXPECTED, TTS_ANSWER (the
	// extracted answer) in the environment; exit status 0 means correct.
	// Without it the answer is checked against the task's in Go.
	VerifyCmd string
	// LengthPenalty ranks beam hypotheses by logprob sum / len^α.
	LengthPenalty float64
	// Tree: steps end at Delimiter or StepTokens; at most Depth steps.
	Delimiter         string
	Depth, StepTokens int
	// Progress is called after each (task, N).
	Progress func()
}

// taskSeeds separates the seeds of consecutive tasks.
const taskSeeds = 1 << 20

// TreeShape is the tree search run at budget N: K children per expanded
// node and B nodes kept per depth with K·B = N (B = 1 below N = 4, else 2),
// so each round after the first samples N steps, as N samples do; the
// first, from the prompt alone, samples K.
func TreeShape(n int) (k, b int) {
	b = 1
	if n >= 4 {
		b = 2
	}
	return max(1, n/b), b
}

// TTSPoint is one strategy at one N over all tasks.
type TTSPoint struct {
	Strategy string  `json:"strategy"`
	N        int     `json:"n"`
	Tasks    int     `json:"tasks"`
	Correct  int     `json:"correct"`
	Covered  int     `json:"covered"`
	Accuracy float64 `json:"accuracy"` // the chosen answer is right
	// Coverage (pass@N) is the share of tasks where any sample (beam: any
	// hypothesis; tree: any leaf) is right: what a perfect verifier reaches.
	Coverage float64 `json:"coverage"`
	Tokens   int     `json:"tokens"` // generated tokens, all tasks
	Seconds  float64 `json:"seconds"`
	TPS      float64 `json:"tokens_per_s"`
	// TokenCost and TimeCost are Tokens and Seconds over the strategy's
	// smallest N (N=1 when run).
	TokenCost float64 `json:"token_cost"`
	TimeCost  float64 `json:"time_cost"`
	// Vote only: tokens its early stop saved against running every sample
	// to the end; samples without a vote (abstained, or cancelled by the
	// early stop); the finished ones that abstained (no answer, or cut off
	// by MaxTokens unless VoteTruncated).
	Saved     int `json:"saved_tokens,omitempty"`
	NoVote    int `json:"no_vote,omitempty"`
	Abstained int `json:"abstained,omitempty"`
}

// TTSRun is one strategy at one N on one task.
type TTSRun struct {
	Task     int     `json:"task"`
	Strategy string  `json:"strategy"`
	N        int     `json:"n"`
	Answer   string  `json:"answer"` // the chosen answer, normalised ("" none)
	Correct  bool    `json:"correct"`
	Covered  bool    `json:"covered"`
	Tokens   int     `json:"tokens"`
	Seconds  float64 `json:"seconds"`
	Saved    int     `json:"saved_tokens,omitempty"`
	// Abstained: vote's finished samples that cast no vote.
	Abstained int    `json:"abstained,omitempty"`
	Text      string `json:"text"` // the chosen completion
	// Answers are the candidates' answers ("" none): the samples in index
	// order, the hypotheses or the tree's leaves best first.
	Answers []string `json:"answers"`
}

// TTSReport is the outcome of TTS.
type TTSReport struct {
	Model    string         `json:"model"`
	Tasks    string         `json:"tasks"`
	Gold     []string       `json:"gold"` // per task, normalised
	Config   TTSReportFlags `json:"config"`
	Points   []TTSPoint     `json:"points"` // by strategy (Strategies' order), then N
	Runs     []TTSRun       `json:"runs"`
	Started  time.Time      `json:"started"`
	Duration float64        `json:"duration_s"`
}

// TTSReportFlags records the settings a report was made with.
type TTSReportFlags struct {
	Strategies    []string      `json:"strategies"`
	Ns            []int         `json:"n"`
	MaxTokens     int           `json:"max_tokens"`
	Sampling      sample.Params `json:"sampling"`
	Seed          uint64        `json:"seed"`
	VoteTruncated bool          `json:"vote_truncated"`
	Reward        string        `json:"reward,omitempty"`
	Verify        string        `json:"verify"`
	Threads       int           `json:"threads,omitempty"`
	Chat          bool          `json:"chat"`
}

// Check validates c (before any model is loaded).
func (c *TTSConfig) Check(hasLM bool) error {
	if len(c.Strategies) == 0 || len(c.Ns) == 0 {
		return errors.New("tts: need at least one strategy and one N")
	}
	for _, s := range c.Strategies {
		if !slices.Contains(Strategies, s) {
			return fmt.Errorf("tts: unknown strategy %q (want %s)", s, strings.Join(Strategies, ", "))
		}
		if (s == "beam" || s == "tree") && !hasLM {
			return fmt.Errorf("tts: strategy %s needs a step-by-step model", s)
		}
	}
	for _, n := range c.Ns {
		if n < 1 {
			return fmt.Errorf("tts: bad N %d (want >= 1)", n)
		}
	}
	if c.MaxTokens < 1 {
		return fmt.Errorf("tts: max tokens %d (want >= 1)", c.MaxTokens)
	}
	if slices.Contains(c.Strategies, "best-of-reward") && c.Reward == nil {
		return errors.New("tts: best-of-reward needs a reward scorer")
	}
	if slices.Contains(c.Strategies, "tree") && (c.Depth < 1 || c.StepTokens < 1 || c.Delimiter == "") {
		return fmt.Errorf("tts: tree needs depth and step tokens >= 1 and a delimiter, got %d, %d, %q", c.Depth, c.StepTokens, c.Delimiter)
	}
	return nil
}

// TTS runs every task through every strategy at every N. The sampling
// strategies (vote and the best-of family) at one N see the same N
// samples: one engine request, timed, whose events are replayed to each
// strategy through its public API; vote is charged the tokens and the time
// it consumed before its early stop decided.
func TTS(ctx context.Context, m TTSModel, ts []tasks.Task, c TTSConfig) (*TTSReport, error) {
	if err := c.Check(m.LM != nil); err != nil {
		return nil, err
	}
	rep := &TTSReport{Started: time.Now().UTC()}
	for _, t := range ts {
		rep.Gold = append(rep.Gold, t.Gold())
	}
	ns := slices.Clone(c.Ns)
	slices.Sort(ns)
	ns = slices.Compact(ns)
	for i, t := range ts {
		p, err := m.Render(t)
		if err != nil {
			return nil, fmt.Errorf("task %s: %w", t.ID, err)
		}
		seed := c.Seed + uint64(i)*taskSeeds
		for _, n := range ns {
			runs, err := ttsTask(ctx, m, t, p, n, seed, c)
			if err != nil {
				return nil, fmt.Errorf("task %s, N=%d: %w", t.ID, n, err)
			}
			for _, r := range runs {
				r.Task = i
				rep.Runs = append(rep.Runs, r)
			}
			if c.Progress != nil {
				c.Progress()
			}
		}
	}
	rep.Points = Aggregate(rep.Runs)
	rep.Duration = time.Since(rep.Started).Seconds()
	return rep, nil
}

// Aggregate sums runs into points, by strategy (Strategies' order), then N.
func Aggregate(runs []TTSRun) []TTSPoint {
	type key struct {
		s string
		n int
	}
	acc := map[key]*TTSPoint{}
	for _, r := range runs {
		k := key{r.Strategy, r.N}
		p := acc[k]
		if p == nil {
			p = &TTSPoint{Strategy: r.Strategy, N: r.N}
			acc[k] = p
		}
		p.Tasks++
		p.Correct += b2i(r.Correct)
		p.Covered += b2i(r.Covered)
		p.Tokens += r.Tokens
		p.Seconds += r.Seconds
		p.Saved += r.Saved
		p.Abstained += r.Abstained
		if r.Strategy == "vote" {
			for _, a := range r.Answers {
				p.NoVote += b2i(a == "")
			}
		}
	}
	var out []TTSPoint
	for _, p := range acc {
		p.Accuracy = float64(p.Correct) / float64(p.Tasks)
		p.Coverage = float64(p.Covered) / float64(p.Tasks)
		if p.Seconds > 0 {
			p.TPS = float64(p.Tokens) / p.Seconds
		}
		out = append(out, *p)
	}
	slices.SortFunc(out, func(a, b TTSPoint) int {
		if c := cmp.Compare(slices.Index(Strategies, a.Strategy), slices.Index(Strategies, b.Strategy)); c != 0 {
			return c
		}
		return cmp.Compare(a.N, b.N)
	})
	for i := range out {
		base := out[i]
		for j := i; j >= 0 && out[j].Strategy == out[i].Strategy; j-- {
			base = out[j]
		}
		if base.Tokens > 0 {
			out[i].TokenCost = float64(out[i].Tokens) / float64(base.Tokens)
		}
		if base.Seconds > 0 {
			out[i].TimeCost = out[i].Seconds / base.Seconds
		}
	}
	return out
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// ttsTask runs one task at one N through every strategy.
func ttsTask(ctx context.Context, m TTSModel, t tasks.Task, p TTSPrompt, n int, seed uint64, c TTSConfig) ([]TTSRun, error) {
	req := engine.Request{Prompt: p.IDs, N: n, MaxTokens: c.MaxTokens, Sampling: c.Sampling, Seed: seed,
		Stop: p.Stop, StopTokens: p.StopTokens, Logprobs: true}
	var out []TTSRun
	var rec *recording
	for _, s := range c.Strategies {
		if !slices.Contains(sampled, s) || rec != nil {
			continue
		}
		var err error
		if rec, err = record(ctx, m.Sampler, req); err != nil {
			return nil, err
		}
	}
	for _, s := range Strategies {
		if !slices.Contains(c.Strategies, s) {
			continue
		}
		run := TTSRun{Strategy: s, N: n}
		var err error
		switch s {
		case "vote":
			err = runVote(ctx, rec, t, req, c, &run)
		case "best-of", "best-of-reward", "best-of-verify":
			err = runBestOf(ctx, rec, t, req, c, &run)
		case "beam":
			err = runBeam(ctx, m.LM, t, p, n, c, &run)
		case "tree":
			err = runTree(ctx, m.LM, t, p, n, seed, c, &run)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s, err)
		}
		run.Correct = run.Answer != "" && run.Answer == t.Gold()
		out = append(out, run)
	}
	return out, nil
}

// answers are the extracted answers of texts ("" none), and whether one is
// right.
func answers(t tasks.Task, texts []string) ([]string, bool) {
	out := make([]string, len(texts))
	covered := false
	for i, s := range texts {
		out[i], _ = tasks.Extract(s, t.Type)
		covered = covered || out[i] != "" && out[i] == t.Gold()
	}
	return out, covered
}

func runVote(ctx context.Context, rec *recording, t tasks.Task, req engine.Request, c TTSConfig, run *TTSRun) error {
	start := time.Now()
	res, err := strategy.Vote(ctx, rec.replay(), req, strategy.VoteOptions{Extract: t.Extractor(), CountTruncated: c.VoteTruncated})
	if err != nil {
		return err
	}
	run.Answer, run.Abstained = res.Answer, res.Abstained
	run.Answers = make([]string, len(res.Samples))
	for i, s := range res.Samples {
		run.Answers[i] = s.Answer
		run.Tokens += len(s.Tokens)
		if run.Text == "" && !s.Abstain && s.Answer == res.Answer {
			run.Text = s.Text
		}
	}
	_, run.Covered = answers(t, rec.texts())
	run.Saved = rec.tokens() - run.Tokens
	// Charged up to the event that decided the vote.
	run.Seconds = rec.total.Seconds()
	if res.StoppedEarly {
		run.Seconds = rec.finished[res.Order[len(res.Order)-1]].Seconds()
	}
	run.Seconds += time.Since(start).Seconds()
	return nil
}

func runBestOf(ctx context.Context, rec *recording, t tasks.Task, req engine.Request, c TTSConfig, run *TTSRun) error {
	var sc strategy.Scorer = strategy.MeanLogprob{}
	switch run.Strategy {
	case "best-of-reward":
		var err error
		if sc, err = c.Reward(t); err != nil {
			return err
		}
	case "best-of-verify":
		sc = verifier{t: t, cmd: c.VerifyCmd}
	}
	start := time.Now()
	res, err := strategy.BestOfN(ctx, rec.replay(), req, sc)
	if err != nil {
		return err
	}
	// The request and the scoring (the replay itself takes microseconds).
	run.Seconds = rec.total.Seconds() + time.Since(start).Seconds()
	run.Tokens = rec.tokens()
	run.Answer, _ = tasks.Extract(res.Best.Text, t.Type)
	run.Text = res.Best.Text
	run.Answers, run.Covered = answers(t, rec.texts())
	return nil
}

func runBeam(ctx context.Context, lm strategy.TextLM, t tasks.Task, p TTSPrompt, n int, c TTSConfig, run *TTSRun) error {
	cl := &countLM{TextLM: lm, stops: p.StopTokens}
	start := time.Now()
	res, err := strategy.Beam(ctx, cl, p.IDs, strategy.BeamOptions{Width: n, MaxTokens: c.MaxTokens, LengthPenalty: c.LengthPenalty})
	if err != nil {
		return err
	}
	run.Seconds = time.Since(start).Seconds()
	run.Tokens = cl.tokens
	texts := make([]string, len(res.Hypotheses))
	for i, h := range res.Hypotheses {
		texts[i] = cut(decode(cl, p.IDs, h.Tokens), p.Stop)
	}
	run.Answers, run.Covered = answers(t, texts)
	run.Answer, run.Text = run.Answers[0], texts[0]
	return nil
}

func runTree(ctx context.Context, lm strategy.TextLM, t tasks.Task, p TTSPrompt, n int, seed uint64, c TTSConfig, run *TTSRun) error {
	cl := &countLM{TextLM: lm, stops: p.StopTokens}
	k, b := TreeShape(n)
	start := time.Now()
	res, err := strategy.Tree(ctx, cl, p.IDs, strategy.TreeOptions{K: k, B: b, MaxDepth: c.Depth, Delimiter: c.Delimiter,
		MaxStepTokens: c.StepTokens, Sampling: c.Sampling, Seed: seed})
	if err != nil {
		return err
	}
	run.Seconds = time.Since(start).Seconds()
	// Every sampled token, the ones never fed back included.
	for _, nd := range res.Nodes {
		run.Tokens += len(nd.Tokens)
	}
	// Leaves: the last round's candidates, best first, then the finished
	// nodes pruned earlier.
	last := res.Rounds[len(res.Rounds)-1]
	leaves := slices.Clone(last.Kept)
	for _, id := range last.Candidates {
		if !slices.Contains(leaves, id) {
			leaves = append(leaves, id)
		}
	}
	for _, nd := range res.Nodes[1:] {
		if nd.Done && !slices.Contains(leaves, nd.ID) {
			leaves = append(leaves, nd.ID)
		}
	}
	texts := make([]string, len(leaves))
	for i, id := range leaves {
		texts[i] = cut(res.Completion(id).Text, p.Stop)
	}
	run.Answers, run.Covered = answers(t, texts)
	run.Answer, run.Text = run.Answers[0], texts[0] // leaves[0] is res.Best
	return nil
}

// cut ends text at its first stop string, as the engine would have.
func cut(text string, stops []string) string {
	for _, s := range stops {
		if i := strings.Index(text, s); i >= 0 {
			text = text[:i]
		}
	}
	return text
}

// decode is the text toks add after prompt, EOG tokens left out.
func decode(lm strategy.TextLM, prompt, toks []int32) string {
	st := lm.NewStream(prompt)
	var b strings.Builder
	for _, t := range toks {
		if !lm.IsEOG(t) {
			b.WriteString(st.Add(t))
		}
	}
	b.WriteString(st.Flush())
	return b.String()
}

// countLM counts the tokens Beam and Tree feed, and ends sequences at the
// chat's stop tokens too.
type countLM struct {
	strategy.TextLM
	stops  []int32
	tokens int
}

func (l *countLM) Extend(ctx context.Context, nodes []strategy.Node, toks []int32) error {
	l.tokens += len(toks)
	return l.TextLM.Extend(ctx, nodes, toks)
}

func (l *countLM) IsEOG(id int32) bool { return l.TextLM.IsEOG(id) || slices.Contains(l.stops, id) }

func (l *countLM) MaxLen() int {
	if m, ok := l.TextLM.(strategy.Limited); ok {
		return m.MaxLen()
	}
	return math.MaxInt
}

// verifier is the exact verifier: 1 when the completion's answer is the
// task's (checked in Go, or by a command), else 0.
type verifier struct {
	t   tasks.Task
	cmd string
}

func (v verifier) Score(ctx context.Context, _ []int32, c engine.Completion) (float64, error) {
	if v.cmd == "" {
		return float64(b2i(v.t.Correct(c.Text))), nil
	}
	a, _ := tasks.Extract(c.Text, v.t.Type)
	cmd := exec.CommandContext(ctx, "sh", "-c", v.cmd)
	cmd.Stdin = strings.NewReader(c.Text)
	cmd.Env = append(os.Environ(), "TTS_QUESTION="+v.t.Question, "TTS_EXPECTED="+v.t.Gold(), "TTS_ANSWER="+a)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 1, nil
	case errors.As(err, &exit):
		return 0, nil
	}
	return 0, fmt.Errorf("verify command: %w: %s", err, strings.TrimSpace(stderr.String()))
}

// recording is one request's events with their arrival times.
type recording struct {
	n        int
	events   []engine.Event
	finished []time.Duration // per sample: when its last event came
	total    time.Duration
}

// record runs req to the end.
func record(ctx context.Context, s strategy.Sampler, req engine.Request) (*recording, error) {
	start := time.Now()
	ch, err := s.Stream(ctx, req)
	if err != nil {
		return nil, err
	}
	r := &recording{n: max(1, req.N), finished: make([]time.Duration, max(1, req.N))}
	for ev := range ch {
		if ev.Finish != "" && ev.Sample >= 0 && ev.Sample < r.n {
			r.finished[ev.Sample] = time.Since(start)
			if ev.Err != nil {
				return nil, fmt.Errorf("sample %d: %w", ev.Sample, ev.Err)
			}
		}
		r.events = append(r.events, ev)
	}
	r.total = time.Since(start)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *recording) tokens() int {
	n := 0
	for _, ev := range r.events {
		n += b2i(ev.Token >= 0)
	}
	return n
}

func (r *recording) texts() []string {
	b := make([]strings.Builder, r.n)
	for _, ev := range r.events {
		b[ev.Sample].WriteString(ev.Text)
	}
	out := make([]string, r.n)
	for i := range b {
		out[i] = b[i].String()
	}
	return out
}

// replay is a Sampler that streams the recording again, in its order.
func (r *recording) replay() strategy.Sampler { return replayer{r} }

type replayer struct{ r *recording }

func (p replayer) Stream(ctx context.Context, req engine.Request) (<-chan engine.Event, error) {
	if max(1, req.N) != p.r.n {
		return nil, fmt.Errorf("replay: request of %d samples, recording of %d", req.N, p.r.n)
	}
	ch := make(chan engine.Event)
	go func() {
		defer close(ch)
		for _, ev := range p.r.events {
			select {
			case <-ctx.Done():
				return
			case ch <- ev:
			}
		}
	}()
	return ch, nil
}
