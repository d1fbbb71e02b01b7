package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/tscale/engine/bench"
	"github.com/tscale/engine/bench/tasks"
	"github.com/tscale/engine/engine"
	"github.com/tscale/engine/engine/sample"
	"github.com/tscale/engine/engine/strategy"
	"github.com/tscale/engine/model/tokenizer"
	"github.com/tscale/engine/server"
)

// ChatPrompt is the default user message for chat models: a chain of
// thought ending in a boxed answer.
const ChatPrompt = "{question}\nThink step by step. Put the final number inside \\boxed{}."

// FewShotPrompt is the default prompt for models without a chat template.
const FewShotPrompt = "Q: What is 12 + 7 - 5?\nA: 12 + 7 = 19. 19 - 5 = 14. The answer is 14.\n\n" +
	"Q: How many minutes are in 2 hours?\nA: One hour has 60 minutes, so 2 hours have 2 * 60 = 120 minutes. The answer is 120.\n\n" +
	"Q: Here is a list of fruits: plum, apple, plum. How many times does the word plum appear in the list?\n" +
	"A: plum is the 1st and the 3rd word, so it appears 2 times. The answer is 2.\n\n" +
	"Q: {question}\nA:"

type ttsFlags struct {
	model, taskSpec, out, chat, system, prompt string
	rewardModel, rewardTmpl, verifyCmd, device string
	strategies                                 []string
	ns                                         []int
	limit, threads, maxTokens, topK, ctxLen    int
	depth, stepTokens                          int
	seed                                       uint64
	temp, topP                                 float32
	lengthPenalty                              float64
	voteTrunc                                  bool
	delimiter                                  string
}

func ttsCmd() *cobra.Command {
	var f ttsFlags
	c := &cobra.Command{
		Use:   "tts -m MODEL --tasks FILE.jsonl|gen:KIND:LEVEL",
		Short: "Accuracy against compute: vote, best-of-N, beam and tree search at N samples",
		Long: `Runs each task through each strategy at each N and prints, per strategy and N,
accuracy, pass@N (any sample right), generated tokens, time, tokens/s and the
cost relative to the smallest N; --out DIR also gets tts.json and tts.png.
Tasks: a JSONL file (question, answer; GSM8K's "#### N" answers work) or a
generated set gen:KIND:LEVEL (kinds arith, units, count; levels 1-4).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return f.run(cmd) },
	}
	fl := c.Flags()
	fl.StringVarP(&f.model, "model", "m", "", "GGUF model file")
	fl.StringVar(&f.taskSpec, "tasks", "", "task file (JSONL) or gen:KIND:LEVEL")
	fl.IntVar(&f.limit, "limit", 0, "first K tasks (generated sets: K tasks, default 20)")
	fl.StringSliceVar(&f.strategies, "strategies", bench.Strategies, "strategies: "+strings.Join(bench.Strategies, ", "))
	fl.IntSliceVar(&f.ns, "n", []int{1, 2, 4, 8, 16, 32}, "budgets N: samples, beams, tree children per round")
	fl.IntVar(&f.maxTokens, "max-tokens", 128, "new tokens per sample / hypothesis")
	fl.Float32Var(&f.temp, "temp", 0.7, "sampling temperature")
	fl.IntVar(&f.topK, "top-k", 40, "top-k")
	fl.Float32Var(&f.topP, "top-p", 0.95, "top-p")
	fl.Uint64Var(&f.seed, "seed", 1, "seed (generated tasks and sampling)")
	fl.StringVar(&f.out, "out", "", "directory for tts.json and tts.png")
	fl.IntVarP(&f.threads, "threads", "t", 2, "CPU threads")
	fl.IntVarP(&f.ctxLen, "ctx", "c", 1024, "context size")
	fl.StringVar(&f.chat, "chat", "auto", "chat prompt: auto (when the model has a chat template), on or off (few-shot Q/A)")
	fl.StringVar(&f.system, "system", "", "chat: a system message")
	fl.StringVar(&f.prompt, "prompt", "", "prompt template with {question} (default: a chain-of-thought instruction, few-shot without chat)")
	fl.StringVar(&f.rewardModel, "reward-model", "", "best-of-reward: GGUF reward model (default: the model itself as a yes/no verifier)")
	fl.StringVar(&f.rewardTmpl, "reward-template", "", "best-of-reward: verification template with {prompt} (the question) and {answer}")
	fl.StringVar(&f.verifyCmd, "verify-cmd", "", "best-of-verify: sh -c command, completion on stdin, $TTS_QUESTION $TTS_EXPECTED $TTS_ANSWER; exit 0 = right (default: checked in Go)")
	fl.BoolVar(&f.voteTrunc, "vote-truncated", false, "vote: samples cut off by --max-tokens vote too")
	fl.Float64Var(&f.lengthPenalty, "length-penalty", 1, "beam: rank by logprob sum / length^alpha")
	fl.StringVar(&f.delimiter, "delimiter", "\n", "tree: text that ends a step")
	fl.IntVar(&f.depth, "depth", 6, "tree: maximum steps")
	fl.IntVar(&f.stepTokens, "step-tokens", 32, "tree: maximum tokens per step")
	fl.StringVar(&f.device, "device", engine.DefaultDevice(), engine.DeviceUsage)
	c.AddCommand(ttsMergeCmd())
	return c
}

// ttsMergeCmd joins reports of one model and task set run in pieces (other
// N or strategies: the seeds depend on the task and N only, so a piece
// gives what a single run would).
func ttsMergeCmd() *cobra.Command {
	var out string
	c := &cobra.Command{
		Use:   "merge REPORT.json... --out DIR",
		Short: "Join tts.json reports of the same model and tasks run in pieces",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var rep *bench.TTSReport
			seen := map[[3]any]bool{}
			for _, a := range args {
				b, err := os.ReadFile(a)
				if err != nil {
					return err
				}
				var r bench.TTSReport
				if err := json.Unmarshal(b, &r); err != nil {
					return fmt.Errorf("%s: %w", a, err)
				}
				runs := r.Runs
				if rep == nil {
					rep = &r
					rep.Runs = nil
				} else if r.Model != rep.Model || !slices.Equal(r.Gold, rep.Gold) {
					return fmt.Errorf("%s: %s on %d tasks, not %s on %d", a, r.Model, len(r.Gold), rep.Model, len(rep.Gold))
				} else {
					rep.Duration += r.Duration
					rep.Config.Ns = append(rep.Config.Ns, r.Config.Ns...)
				}
				for _, run := range runs {
					k := [3]any{run.Task, run.Strategy, run.N}
					if !seen[k] {
						seen[k] = true
						rep.Runs = append(rep.Runs, run)
					}
				}
			}
			slices.Sort(rep.Config.Ns)
			rep.Config.Ns = slices.Compact(rep.Config.Ns)
			rep.Points = bench.Aggregate(rep.Runs)
			printTTS(cmd.OutOrStdout(), rep)
			return writeTTS(rep, out)
		},
	}
	c.Flags().StringVar(&out, "out", "", "directory for tts.json and tts.png")
	return c
}

// writeTTS writes tts.json and tts.png into dir ("" writes nothing).
func writeTTS(rep *bench.TTSReport, dir string) error {
	if dir == "" {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(rep, "", " ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "tts.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	title := fmt.Sprintf("%s on %s (%d tasks)", rep.Model, rep.Tasks, len(rep.Gold))
	return bench.PlotTTS(rep.Points, title, filepath.Join(dir, "tts.png"))
}

func (f *ttsFlags) run(cmd *cobra.Command) error {
	if f.model == "" || f.taskSpec == "" {
		return errors.New("tts: --model and --tasks are required")
	}
	if f.chat != "auto" && f.chat != "on" && f.chat != "off" {
		return fmt.Errorf("tts: --chat %q (want auto, on or off)", f.chat)
	}
	if f.prompt != "" && !strings.Contains(f.prompt, "{question}") {
		return errors.New("tts: --prompt has no {question}")
	}
	if f.limit < 0 {
		return fmt.Errorf("tts: --limit %d", f.limit)
	}
	ts, err := loadTasks(f.taskSpec, f.limit, f.seed)
	if err != nil {
		return err
	}
	cfg := bench.TTSConfig{
		Strategies: f.strategies, Ns: f.ns, MaxTokens: f.maxTokens, Seed: f.seed,
		Sampling:      sample.Params{Temperature: f.temp, TopK: f.topK, TopP: f.topP},
		VoteTruncated: f.voteTrunc, VerifyCmd: f.verifyCmd, LengthPenalty: f.lengthPenalty,
		Delimiter: f.delimiter, Depth: f.depth, StepTokens: f.stepTokens,
	}
	var rm *engine.Engine // the reward model, opened after the policy
	cfg.Reward = func(t tasks.Task) (strategy.Scorer, error) {
		return strategy.NewRewardModel(rm, question(t.Question), f.rewardTmpl)
	}
	if err := cfg.Check(true); err != nil {
		return err
	}
	maxN := 0
	for _, n := range f.ns {
		maxN = max(maxN, n)
	}
	open := func(path string) (*engine.Engine, error) {
		// Room for the prompt and maxN forked samples (beams fork twice over).
		blocks := (f.ctxLen/16 + 1) + 2*(maxN+1)*(f.maxTokens/16+2)
		return engine.Open(path, engine.WithThreads(f.threads), engine.WithContext(f.ctxLen),
			engine.WithKVBlocks(blocks), engine.WithPrefixCache(false), engine.WithDevice(f.device))
	}
	e, err := open(f.model)
	if err != nil {
		return err
	}
	defer e.Close()
	_, hasTmpl := e.File().String(server.ChatTemplateKey)
	chat := f.chat == "on" || f.chat == "auto" && hasTmpl
	var newlines []int32
	for _, nl := range []string{"\n", "\n\n"} {
		if ids := e.Tokenizer().Encode(nl); len(ids) == 1 {
			newlines = append(newlines, ids[0])
		}
	}
	render := func(t tasks.Task) (bench.TTSPrompt, error) {
		tmpl := cmpOr(t.Prompt, f.prompt, ChatPrompt)
		if !chat {
			tmpl = cmpOr(t.Prompt, f.prompt, FewShotPrompt)
		}
		text := strings.ReplaceAll(tmpl, "{question}", t.Question)
		if !chat {
			// The answer is one line; beam and tree end at a newline token.
			return bench.TTSPrompt{IDs: e.Tokenizer().Encode(text, tokenizer.AddSpecial), Stop: []string{"\n"}, StopTokens: newlines}, nil
		}
		var msgs []server.ChatMessage
		if f.system != "" {
			msgs = append(msgs, server.ChatMessage{Role: "system", Content: f.system})
		}
		msgs = append(msgs, server.ChatMessage{Role: "user", Content: text})
		c, err := server.ChatPrompt(e, server.FormatAuto, msgs, "", time.Now())
		if err != nil {
			return bench.TTSPrompt{}, err
		}
		return bench.TTSPrompt{IDs: c.Prompt, StopTokens: c.Stops}, nil
	}
	rm, rewardName := e, "self (yes/no verifier)"
	if f.rewardModel != "" && slices.Contains(f.strategies, "best-of-reward") {
		if rm, err = open(f.rewardModel); err != nil {
			return fmt.Errorf("reward model: %w", err)
		}
		defer rm.Close()
		rewardName = filepath.Base(f.rewardModel)
	}
	units := len(ts) * len(f.ns)
	if term.IsTerminal(int(os.Stderr.Fd())) {
		bar := progressbar.NewOptions(units, progressbar.OptionSetWriter(os.Stderr), progressbar.OptionShowCount(),
			progressbar.OptionSetDescription("tts"), progressbar.OptionSetPredictTime(true), progressbar.OptionClearOnFinish())
		cfg.Progress = func() { bar.Add(1) }
	} else {
		done := 0
		cfg.Progress = func() {
			done++
			fmt.Fprintf(os.Stderr, "tts: %d/%d (task, N) done\n", done, units)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rep, err := bench.TTS(ctx, bench.TTSModel{Sampler: e, LM: strategy.FromEngine(e), Render: render}, ts, cfg)
	if err != nil {
		return err
	}
	rep.Model, rep.Tasks = filepath.Base(f.model), f.taskSpec
	rep.Config = bench.TTSReportFlags{Strategies: f.strategies, Ns: f.ns, MaxTokens: f.maxTokens, Sampling: cfg.Sampling,
		Seed: f.seed, VoteTruncated: f.voteTrunc, Reward: rewardName, Verify: cmpOr(f.verifyCmd, "go"), Threads: f.threads, Chat: chat}
	printTTS(cmd.OutOrStdout(), rep)
	return writeTTS(rep, f.out)
}

// printTTS writes the report's table as Markdown.
func printTTS(w io.Writer, rep *bench.TTSReport) {
	fmt.Fprintf(w, "%s on %s: %d tasks, %.0f s\n\n", rep.Model, rep.Tasks, len(rep.Gold), rep.Duration)
	fmt.Fprintln(w, "| strategy | N | accuracy | pass@N | tokens/task | s/task | tokens/s | token cost | time cost | vote: saved tokens, samples without a vote |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
	for _, p := range rep.Points {
		extra := ""
		if p.Strategy == "vote" {
			extra = fmt.Sprintf("%d, %d", p.Saved, p.NoVote)
		}
		fmt.Fprintf(w, "| %s | %d | %.1f%% | %.1f%% | %.0f | %.2f | %.1f | %.2f× | %.2f× | %s |\n", p.Strategy, p.N,
			100*p.Accuracy, 100*p.Coverage, float64(p.Tokens)/float64(p.Tasks), p.Seconds/float64(p.Tasks), p.TPS,
			p.TokenCost, p.TimeCost, extra)
	}
}

// question is a Decoder that gives the reward model the task's question in
// place of the rendered prompt (chat markup or few-shot examples).
type question string

func (q question) Decode([]int32) string { return string(q) }

func cmpOr(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// loadTasks reads a task file or generates a set (limit tasks, default 20).
func loadTasks(spec string, limit int, seed uint64) ([]tasks.Task, error) {
	kind, level, gen, err := tasks.ParseGen(spec)
	if err != nil {
		return nil, err
	}
	if gen {
		if limit == 0 {
			limit = 20
		}
		return tasks.Generate(kind, level, limit, seed)
	}
	ts, err := tasks.Load(spec)
	if err != nil {
		return nil, err
	}
	if limit > 0 && limit < len(ts) {
		ts = ts[:limit]
	}
	return ts, nil
}

func tasksCmd() *cobra.Command {
	c := &cobra.Command{Use: "tasks", Short: "Task sets for bench tts"}
	var (
		n    int
		seed uint64
		out  string
	)
	gen := &cobra.Command{
		Use:   "gen KIND:LEVEL...",
		Short: "Write generated tasks as JSONL (the same seed gives the same file)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var all []tasks.Task
			for _, a := range args {
				kind, level, _, err := tasks.ParseGen("gen:" + strings.TrimPrefix(a, "gen:"))
				if err != nil {
					return err
				}
				ts, err := tasks.Generate(kind, level, n, seed)
				if err != nil {
					return err
				}
				all = append(all, ts...)
			}
			if out == "" {
				return tasks.Write(cmd.OutOrStdout(), all)
			}
			f, err := os.Create(out)
			if err != nil {
				return err
			}
			if err := tasks.Write(f, all); err != nil {
				f.Close()
				return err
			}
			return f.Close()
		},
	}
	gen.Flags().IntVarP(&n, "n", "n", 20, "tasks per KIND:LEVEL")
	gen.Flags().Uint64Var(&seed, "seed", 1, "seed")
	gen.Flags().StringVarP(&out, "out", "o", "", "file (default stdout)")
	c.AddCommand(gen)
	return c
}
