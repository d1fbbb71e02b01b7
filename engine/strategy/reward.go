package strategy

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/tscale/engine/engine"
	"github.com/tscale/engine/model/tokenizer"
)

// DefaultVerifyTemplate asks the reward model whether an answer is right.
// The reward model weighs " Yes" against " No" after it.
const DefaultVerifyTemplate = "Question: {prompt}\nProposed answer: {answer}\nIs the proposed answer correct? Answer Yes or No.\nAnswer:"

// Decoder turns the policy model's prompt tokens back into text.
type Decoder interface {
	Decode(ids []int32) string
}

// RewardModel scores a (prompt, answer) pair with a second model: the
// probability that it continues a verification prompt with "Yes" rather
// than "No", P(yes) / (P(yes) + P(no)).
type RewardModel struct {
	e        *engine.Engine
	policy   Decoder
	template string
}

// NewRewardModel prepares reward model e. policy decodes the prompts that
// Score receives (the policy model's tokenizer). template holds {prompt}
// and {answer} and ends where the verdict word goes ("" means
// DefaultVerifyTemplate).
func NewRewardModel(e *engine.Engine, policy Decoder, template string) (*RewardModel, error) {
	if template == "" {
		template = DefaultVerifyTemplate
	}
	if !strings.Contains(template, "{answer}") {
		return nil, fmt.Errorf("reward model: template %q has no {answer}", template)
	}
	r := &RewardModel{e: e, policy: policy, template: template}
	if _, _, _, err := r.Query("", ""); err != nil {
		return nil, err
	}
	return r, nil
}

// Prompt fills the template for one pair.
func (r *RewardModel) Prompt(prompt, answer string) string {
	return strings.NewReplacer("{prompt}", prompt, "{answer}", answer).Replace(r.template)
}

// Query returns the tokens the reward model reads for a pair, and the yes
// and no tokens that may follow them: the filled template followed by
// " Yes" and by " No" are tokenized with the reward model's tokenizer, and
// ids is their common prefix (which may hold the space), yes and no the
// first tokens where they differ.
func (r *RewardModel) Query(prompt, answer string) (ids []int32, yes, no int32, err error) {
	text := r.Prompt(prompt, answer)
	tok := r.e.Tokenizer()
	y := tok.Encode(text+" Yes", tokenizer.AddSpecial)
	n := tok.Encode(text+" No", tokenizer.AddSpecial)
	i := 0
	for i < len(y) && i < len(n) && y[i] == n[i] {
		i++
	}
	if i == 0 || i == len(y) || i == len(n) {
		return nil, 0, 0, fmt.Errorf("reward model: \" Yes\" and \" No\" do not tokenize apart after the template %q", r.template)
	}
	if i >= r.e.Context() {
		return nil, 0, 0, fmt.Errorf("reward model: verification prompt of %d tokens does not fit the context of %d", i, r.e.Context())
	}
	return y[:i], y[i], n[i], nil
}

// Score returns P(yes) / (P(yes) + P(no)) after the filled template.
func (r *RewardModel) Score(ctx context.Context, prompt []int32, c engine.Completion) (float64, error) {
	ids, yes, no, err := r.Query(r.policy.Decode(prompt), c.Text)
	if err != nil {
		return 0, err
	}
	logits, err := r.e.Logits(ctx, ids)
	if err != nil {
		return 0, err
	}
	y, n := float64(logits[yes]), float64(logits[no])
	if math.IsNaN(y) || math.IsNaN(n) {
		return 0, errors.New("reward model: NaN logits")
	}
	// P(yes)/(P(yes)+P(no)) = sigmoid(y - n): the softmax normaliser cancels.
	return 1 / (1 + math.Exp(n-y)), nil
}
