package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/tscale/engine/backend"
	"github.com/tscale/engine/engine"
	"github.com/tscale/engine/engine/sample"
	"github.com/tscale/engine/model/tokenizer"
)

// MoEPoint is the decode speed of N samples of one prompt, decoded as one
// batch of N tokens per step.
type MoEPoint struct {
	N         int     `json:"n"`
	Tokens    int     `json:"decode_tokens"` // all samples, first tokens excluded
	Seconds   float64 `json:"decode_seconds"`
	DecodeTPS float64 `json:"decode_tps"` // aggregate over the samples
}

// MoEDecode measures aggregate decode tokens/s for each N in ns: one
// request of N samples of a prompt-token prompt, each generating gen
// tokens. The clock starts when the first token arrives, so the prefill
// (and the step that samples every sample's first token) is left out.
// One unmeasured warm-up request pages the weights in first.
func MoEDecode(ctx context.Context, e *engine.Engine, prompt, gen int, ns []int) ([]MoEPoint, error) {
	if gen < 2 {
		return nil, fmt.Errorf("moe decode: need gen >= 2, got %d", gen)
	}
	ids, err := Prompt(e, prompt)
	if err != nil {
		return nil, err
	}
	params := sample.Params{Temperature: 0.8, TopK: 40, TopP: 0.95}
	warm := engine.Request{Prompt: ids, MaxTokens: 4, Sampling: params, IgnoreEOG: true}
	if _, err := e.Generate(ctx, warm, nil); err != nil {
		return nil, fmt.Errorf("moe decode warm-up: %w", err)
	}
	var out []MoEPoint
	for _, n := range ns {
		if n < 1 {
			return out, fmt.Errorf("moe decode: bad N %d", n)
		}
		req := engine.Request{Prompt: ids, N: n, MaxTokens: gen, Sampling: params, IgnoreEOG: true}
		var first time.Time
		res, err := e.Generate(ctx, req, func(ev engine.Event) error {
			if ev.Token >= 0 && first.IsZero() {
				first = time.Now()
			}
			return nil
		})
		end := time.Now()
		if err != nil {
			return out, fmt.Errorf("moe decode N=%d: %w", n, err)
		}
		p := MoEPoint{N: n, Tokens: tokens(res) - len(res.Samples), Seconds: end.Sub(first).Seconds()}
		if p.Tokens < 1 || p.Seconds <= 0 {
			return out, fmt.Errorf("moe decode N=%d: no decode steps timed (%d tokens)", n, p.Tokens)
		}
		p.DecodeTPS = float64(p.Tokens) / p.Seconds
		out = append(out, p)
	}
	return out, nil
}

// ExpertLoad is how many tokens the router sent to each expert of each
// layer over a set of prompts (prefill and generated tokens alike).
type ExpertLoad struct {
	Prompts int       `json:"prompts"`
	Tokens  int       `json:"tokens"` // tokens through the model
	Used    int       `json:"experts_used"`
	Counts  [][]int64 `json:"counts"` // [layer][expert]
}

// Share returns expert ex's fraction of layer il's routed slots.
func (l ExpertLoad) Share(il, ex int) float64 {
	var sum int64
	for _, n := range l.Counts[il] {
		sum += n
	}
	if sum == 0 {
		return 0
	}
	return float64(l.Counts[il][ex]) / float64(sum)
}

// Experts counts the router's choices while each prompt is prefilled and
// continued greedily for gen tokens, one request at a time, from the
// engine's Stats (the difference over the run).
func Experts(ctx context.Context, e *engine.Engine, prompts []string, gen int) (ExpertLoad, error) {
	if _, ok := e.Backend().(backend.ExpertCounter); !ok {
		return ExpertLoad{}, fmt.Errorf("expert load: backend %T keeps no expert counts", e.Backend())
	}
	before := e.Stats().ExpertTokens
	l := ExpertLoad{Prompts: len(prompts)}
	for i, p := range prompts {
		ids := e.Tokenizer().Encode(p, tokenizer.AddSpecial)
		res, err := e.Generate(ctx, engine.Request{Prompt: ids, MaxTokens: gen}, nil)
		if err != nil {
			return l, fmt.Errorf("expert load: prompt %d %q: %w", i, p, err)
		}
		// The last generated token is sampled but never run through the model.
		l.Tokens += len(ids) + tokens(res) - 1
	}
	l.Counts = e.Stats().ExpertTokens
	for il := range min(len(before), len(l.Counts)) {
		for ex := range min(len(before[il]), len(l.Counts[il])) {
			l.Counts[il][ex] -= before[il][ex]
		}
	}
	if len(l.Counts) == 0 {
		return l, fmt.Errorf("expert load: no expert was routed to; is the model a mixture of experts?")
	}
	var sum int64
	for _, n := range l.Counts[len(l.Counts)-1] {
		sum += n
	}
	if l.Tokens > 0 {
		l.Used = int(sum) / l.Tokens
	}
	return l, nil
}

// MoEPrompts are story openings in the style of TinyStories, the text the
// stories260K models were trained on, for the expert-load histogram.
var MoEPrompts = []string{
	"Once upon a time, there was a little girl named Lily.",
	"One day, a boy named Tom went to the park with his mom.",
	"The sun was shining and the birds were singing.",
	"Sam had a big red ball. He liked to play with it every day.",
	"There was a cat who lived in a small house near the woods.",
	"Mia wanted to bake a cake for her friend's birthday.",
	"The dog ran fast to catch the stick.",
	"Ben and Sue found a shiny box under the tree.",
	"It was a rainy day, so Lucy stayed inside with her toys.",
	"A little bird could not fly. It was very sad.",
	"Tim saw a big truck on the road. It was loud and yellow.",
	"Mom said, \"Let's go to the beach today!\"",
}
