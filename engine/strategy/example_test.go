package strategy_test

import (
	"context"
	"fmt"
	"regexp"

	"github.com/tscale/engine/engine"
	"github.com/tscale/engine/engine/sample"
	"github.com/tscale/engine/engine/strategy"
	"github.com/tscale/engine/model/tokenizer"
)

// The examples need ../shared/models/stories260K.gguf beside the repository.
const model = "../../../shared/models/stories260K.gguf"

// Self-consistency: eight samples vote on the name of the girl; the vote
// stops as soon as the rest cannot change the winner.
func ExampleVote() {
	e, err := engine.Open(model, engine.WithContext(256))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer e.Close()
	prompt := e.Tokenizer().Encode("Once upon a time, there was a little girl named", tokenizer.AddSpecial)
	req := engine.Request{Prompt: prompt, N: 8, MaxTokens: 16, Sampling: sample.Params{Temperature: 0.8}, Seed: 1}
	name := strategy.Regex(regexp.MustCompile(`^\s*([A-Z][a-z]+)`))
	// The answer is the story's first word, complete in a sample cut off
	// by MaxTokens, so truncated samples vote (by default they abstain).
	opts := strategy.VoteOptions{Extract: name, CountTruncated: true}
	res, err := strategy.Vote(context.Background(), e, req, opts)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("answer:", res.Answer)
	for _, v := range res.Votes {
		fmt.Printf("%s: %d\n", v.Answer, v.Count)
	}
	fmt.Println("stopped early:", res.StoppedEarly)
	// Output:
	// answer: Lily
	// Lily: 5
	// stopped early: true
}

// Best-of-N: four samples ranked by their mean token log-probability.
func ExampleBestOfN() {
	e, err := engine.Open(model, engine.WithContext(256))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer e.Close()
	prompt := e.Tokenizer().Encode("Tom had a dog", tokenizer.AddSpecial)
	req := engine.Request{Prompt: prompt, N: 4, MaxTokens: 12, Sampling: sample.Params{Temperature: 1}, Seed: 7}
	res, err := strategy.BestOfN(context.Background(), e, req, strategy.MeanLogprob{})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, s := range res.Ranked {
		fmt.Printf("sample %d: %.3f %q\n", s.Index, s.Score, s.Text)
	}
	// Output:
	// sample 1: -0.635 " named Max. He liked to help"
	// sample 2: -1.017 " named Max named Sam. Max was"
	// sample 3: -1.486 " named Spot. They played with their "
	// sample 0: -2.079 " and Jack. Mom wanted to b"
}

// Beam search: three beams sharing the prompt's KV blocks.
func ExampleBeam() {
	e, err := engine.Open(model, engine.WithContext(256))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer e.Close()
	prompt := e.Tokenizer().Encode("Once upon a time", tokenizer.AddSpecial)
	res, err := strategy.Beam(context.Background(), strategy.FromEngine(e), prompt,
		strategy.BeamOptions{Width: 3, MaxTokens: 10, LengthPenalty: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, h := range res.Hypotheses {
		fmt.Printf("%.3f %q\n", h.Score, e.Tokenizer().Decode(h.Tokens))
	}
	fmt.Println("KV blocks in use:", e.Stats().KV.Used)
	// Output:
	// -0.116 ", there was a little girl named Lily"
	// -0.261 ", there was a little boy named Timmy"
	// -0.333 ", there was a little boy named Tim"
	// KV blocks in use: 0
}

// Tree search: sentences are steps; each round samples three next
// sentences for each of the two best partial stories.
func ExampleTree() {
	e, err := engine.Open(model, engine.WithContext(256))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer e.Close()
	prompt := e.Tokenizer().Encode("Once upon a time", tokenizer.AddSpecial)
	res, err := strategy.Tree(context.Background(), strategy.FromEngine(e), prompt, strategy.TreeOptions{
		K: 3, B: 2, MaxDepth: 2, Delimiter: ".", MaxStepTokens: 32,
		Sampling: sample.Params{Temperature: 0.8}, Seed: 2,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range res.Rounds {
		fmt.Printf("depth %d: kept %v of %v\n", r.Depth, r.Kept, r.Candidates)
	}
	fmt.Printf("best: node %d %q\n", res.Best, res.Completion(res.Best).Text)
	// Output:
	// depth 1: kept [3 1] of [1 2 3]
	// depth 2: kept [7 9] of [4 5 6 7 8 9]
	// best: node 7 ", there was a little boy named Timmy. Timmy loved to play in the park with his friends."
}
