package strategy

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/tscale/engine/engine"
)

// DefaultVerifyTemplate asks the reward model whether an answer is right.
// The next token after it should be " Yes" or " No".
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
	yes, no  int32
}

// NewRewardModel prepares reward model e. policy decodes the prompts that
// Score receives (the policy model's tokenizer). template holds {prompt}
// and {answer} and ends where the verdict word goes ("" means
// DefaultVerifyTemplate). The yes and no tokens are the first tokens that
// " Yes" and " No" add after "Answer:" in e's tokenizer.
func NewRewardModel(e *engine.Engine, policy Decoder, template string) (*RewardModel, error) {
	if template == "" {
		template = DefaultVerifyTemplate
	}
	if !strings.Contains(template, "{answer}") {
		return nil, fmt.Errorf("reward model: template %q has no {answer}", template)
	}
	tok := e.Tokenizer()
	word := func(w string) (int32, error) {
		base := tok.Encode("Answer:", false, false)
		ids := tok.Encode("Answer: "+w, false, false)
		if len(ids) <= len(base) || !slices.Equal(ids[:len(base)], base) {
			return 0, fmt.Errorf("reward model: %q does not tokenize as a continuation of \"Answer:\"", " "+w)
		}
		return ids[len(base)], nil
	}
	yes, err := word("Yes")
	if err != nil {
		return nil, err
	}
	no, err := word("No")
	if err != nil {
		return nil, err
	}
	if yes == no {
		return nil, fmt.Errorf("reward model: \" Yes\" and \" No\" start with the same token %d", yes)
	}
	return &RewardModel{e: e, policy: policy, template: template, yes: yes, no: no}, nil
}

// Tokens returns the yes and no token ids.
func (r *RewardModel) Tokens() (yes, no int32) { return r.yes, r.no }

// Prompt fills the template for one pair.
func (r *RewardModel) Prompt(prompt, answer string) string {
	return strings.NewReplacer("{prompt}", prompt, "{answer}", answer).Replace(r.template)
}

// Score returns P(yes) / (P(yes) + P(no)) after the filled template.
func (r *RewardModel) Score(ctx context.Context, prompt []int32, c engine.Completion) (float64, error) {
	text := r.Prompt(r.policy.Decode(prompt), c.Text)
	ids := r.e.Tokenizer().Encode(text, true, false)
	if len(ids) >= r.e.Context() {
		return 0, fmt.Errorf("reward model: verification prompt of %d tokens does not fit the context of %d", len(ids), r.e.Context())
	}
	logits, err := r.e.Logits(ctx, ids)
	if err != nil {
		return 0, err
	}
	y, n := float64(logits[r.yes]), float64(logits[r.no])
	if math.IsNaN(y) || math.IsNaN(n) {
		return 0, errors.New("reward model: NaN logits")
	}
	// P(yes)/(P(yes)+P(no)) = sigmoid(y - n): the softmax normaliser cancels.
	return 1 / (1 + math.Exp(n-y)), nil
}
