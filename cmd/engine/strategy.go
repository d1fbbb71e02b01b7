package main

import (
	"bufio"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tscale/engine/engine"
	"github.com/tscale/engine/engine/strategy"
)

// strategyFlags are run's flags for N samples and test-time strategies.
type strategyFlags struct {
	samples       int
	strategy      string
	extract       string
	weighted      bool
	voteTrunc     bool
	beamWidth     int
	lengthPenalty float64
	treeK, treeB  int
	delimiter     string
	depth         int
	stepTokens    int
	rewardModel   string
	ext           strategy.Extractor
}

func (s *strategyFlags) flags(c *cobra.Command) {
	f := c.Flags()
	f.IntVarP(&s.samples, "samples", "N", 1, "samples of the prompt (printed one after another when > 1; vote and best-of default to 8)")
	f.StringVar(&s.strategy, "strategy", "", "test-time strategy: vote, best-of, beam or tree")
	f.StringVar(&s.extract, "extract", "last_number", "vote: answer extractor: last_number, boxed or regex:EXPR")
	f.BoolVar(&s.weighted, "weighted", false, "vote: weigh each vote by exp(mean token logprob)")
	f.BoolVar(&s.voteTrunc, "vote-truncated", false, "vote: let samples cut off by -n / the context vote (default: they abstain)")
	f.IntVar(&s.beamWidth, "beam-width", 4, "beam: beams kept per step")
	f.Float64Var(&s.lengthPenalty, "length-penalty", 1, "beam: rank by logprob sum / length^alpha")
	f.IntVar(&s.treeK, "tree-k", 3, "tree: children sampled per node")
	f.IntVar(&s.treeB, "tree-b", 2, "tree: nodes kept per depth")
	f.StringVar(&s.delimiter, "delimiter", "\n\n", "tree: text that ends a step")
	f.IntVar(&s.depth, "depth", 4, "tree: maximum steps")
	f.IntVar(&s.stepTokens, "step-tokens", 64, "tree: maximum tokens per step")
	f.StringVar(&s.rewardModel, "reward-model", "", "best-of, tree: GGUF reward model that scores answers by P(Yes) (default: mean token logprob)")
}

// check validates the flags before the model is loaded.
func (s *strategyFlags) check(cmd *cobra.Command) error {
	if s.samples < 1 {
		return fmt.Errorf("run: --samples must be >= 1, got %d", s.samples)
	}
	switch s.strategy {
	case "", "beam", "tree":
	case "vote", "best-of":
		if !cmd.Flags().Changed("samples") {
			s.samples = 8
		}
	default:
		return fmt.Errorf("run: unknown --strategy %q (want vote, best-of, beam or tree)", s.strategy)
	}
	if s.rewardModel != "" && s.strategy != "best-of" && s.strategy != "tree" {
		return fmt.Errorf("run: --reward-model needs --strategy best-of or tree, not %q", s.strategy)
	}
	if s.beamWidth < 1 || s.treeK < 1 || s.treeB < 1 || s.depth < 1 || s.stepTokens < 1 || s.delimiter == "" {
		return fmt.Errorf("run: need --beam-width, --tree-k, --tree-b, --depth, --step-tokens >= 1 and a --delimiter, got %d, %d, %d, %d, %d, %q",
			s.beamWidth, s.treeK, s.treeB, s.depth, s.stepTokens, s.delimiter)
	}
	var err error
	if s.ext, err = strategy.ParseExtractor(s.extract); err != nil {
		return fmt.Errorf("run: --extract: %w", err)
	}
	return nil
}

// run generates with the chosen strategy and prints every sample, then the
// chosen one.
func (s *strategyFlags) run(ctx context.Context, out *bufio.Writer, e *engine.Engine, prompt string, req engine.Request, threads, ctxSize int) error {
	req.N = s.samples
	var sc strategy.Scorer = strategy.MeanLogprob{}
	if s.rewardModel != "" {
		rm, err := openEngine(s.rewardModel, threads, ctxSize)
		if err != nil {
			return fmt.Errorf("reward model: %w", err)
		}
		defer rm.Close()
		if sc, err = strategy.NewRewardModel(rm, e.Tokenizer(), ""); err != nil {
			return err
		}
	}
	header := func(format string, args ...any) {
		fmt.Fprintf(out, "=== "+format+" ===\n", args...)
	}
	switch s.strategy {
	case "":
		res, err := e.Generate(ctx, req, nil)
		if err != nil {
			return err
		}
		for i, c := range res.Samples {
			header("sample %d (%s, %d tokens)", i+1, c.Finish, len(c.Tokens))
			fmt.Fprintln(out, prompt+c.Text)
		}
	case "vote":
		res, err := strategy.Vote(ctx, e, req, strategy.VoteOptions{Extract: s.ext, Weighted: s.weighted, CountTruncated: s.voteTrunc})
		if err != nil {
			return err
		}
		for i, c := range res.Samples {
			ans := "answer " + c.Answer
			if c.Abstain {
				ans = "no answer"
			}
			if s.weighted && !c.Abstain {
				ans += fmt.Sprintf(", weight %.3f", c.Weight)
			}
			header("sample %d (%s, %s)", i+1, c.Finish, ans)
			fmt.Fprintln(out, prompt+c.Text)
		}
		var votes []string
		for _, v := range res.Votes {
			if s.weighted {
				votes = append(votes, fmt.Sprintf("%s: %d (weight %.3f)", v.Answer, v.Count, v.Weight))
			} else {
				votes = append(votes, fmt.Sprintf("%s: %d", v.Answer, v.Count))
			}
		}
		abstained := fmt.Sprintf("abstained: %d (%d cut off by length)", res.Abstained, res.Truncated)
		if s.voteTrunc {
			abstained = fmt.Sprintf("abstained: %d (%d cut off by length, voting)", res.Abstained, res.Truncated)
		}
		if len(res.Votes) == 0 {
			fmt.Fprintf(out, "no answer: all %d samples abstained\n", len(res.Order))
			fmt.Fprintln(out, abstained)
			return nil
		}
		fmt.Fprintf(out, "answer: %s (%d votes from %d finished samples of %d)\n", res.Answer, res.Votes[0].Count, len(res.Order), len(res.Samples))
		fmt.Fprintf(out, "votes: %s\n", strings.Join(votes, ", "))
		fmt.Fprintln(out, abstained)
		if res.StoppedEarly {
			fmt.Fprintf(out, "stopped early after %d of %d samples\n", len(res.Order), len(res.Samples))
		}
	case "best-of":
		res, err := strategy.BestOfN(ctx, e, req, sc)
		if err != nil {
			return err
		}
		byIndex := slices.Clone(res.Ranked)
		slices.SortFunc(byIndex, func(a, b strategy.Scored) int { return a.Index - b.Index })
		for _, c := range byIndex {
			header("sample %d (%s, score %.4f)", c.Index+1, c.Finish, c.Score)
			fmt.Fprintln(out, prompt+c.Text)
		}
		fmt.Fprintf(out, "best: sample %d (score %.4f)\n", res.Best.Index+1, res.Best.Score)
	case "beam":
		res, err := strategy.Beam(ctx, strategy.FromEngine(e), req.Prompt, strategy.BeamOptions{
			Width: s.beamWidth, MaxTokens: req.MaxTokens, LengthPenalty: s.lengthPenalty})
		if err != nil {
			return err
		}
		for i, h := range res.Hypotheses {
			header("beam %d (%s, score %.4f, logprob %.4f, %d tokens)", i+1, h.Finish, h.Score, h.Logprob, len(h.Tokens))
			fmt.Fprintln(out, prompt+textAfter(e, req.Prompt, h.Tokens))
		}
		fmt.Fprintf(out, "best: beam 1 (score %.4f)\n", res.Hypotheses[0].Score)
	case "tree":
		res, err := strategy.Tree(ctx, strategy.FromEngine(e), req.Prompt, strategy.TreeOptions{
			K: s.treeK, B: s.treeB, MaxDepth: s.depth, Delimiter: s.delimiter, MaxStepTokens: s.stepTokens,
			Sampling: req.Sampling, Seed: req.Seed, Scorer: sc})
		if err != nil {
			return err
		}
		last := res.Rounds[len(res.Rounds)-1]
		for _, id := range last.Kept {
			n := res.Nodes[id]
			header("node %d (depth %d, score %.4f, path %v)", id, n.Depth, n.Score, res.Path(id))
			fmt.Fprintln(out, prompt+res.Completion(id).Text)
		}
		for _, r := range res.Rounds {
			fmt.Fprintf(out, "depth %d: kept %v of %v\n", r.Depth, r.Kept, r.Candidates)
		}
		fmt.Fprintf(out, "best: node %d (score %.4f, %d nodes explored)\n", res.Best, res.Nodes[res.Best].Score, len(res.Nodes)-1)
	}
	return nil
}

// textAfter decodes toks as a continuation of prompt, without a final EOG.
func textAfter(e *engine.Engine, prompt, toks []int32) string {
	st := e.Tokenizer().NewStreamAfter(prompt)
	var b strings.Builder
	for _, t := range toks {
		if !e.Tokenizer().IsEOG(t) {
			b.WriteString(st.Add(t))
		}
	}
	b.WriteString(st.Flush())
	return b.String()
}
