package sample

import (
	"fmt"
	"maps"
	"math"
	"slices"
)

// Validate reports the first parameter that is out of range for a
// vocabulary of vocab tokens. Samplers never fail on bad parameters (out of
// range ids are ignored), so servers should call it on every request.
func (p Params) Validate(vocab int) error {
	bad := func(v float32) bool { return math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) }
	switch {
	case bad(p.Temperature):
		return fmt.Errorf("sample: Temperature %v is not a finite number", p.Temperature)
	case p.TopK < 0:
		return fmt.Errorf("sample: TopK %d is negative", p.TopK)
	case !(p.TopP >= 0 && p.TopP <= 1):
		return fmt.Errorf("sample: TopP %v is outside [0, 1]", p.TopP)
	case !(p.MinP >= 0 && p.MinP <= 1):
		return fmt.Errorf("sample: MinP %v is outside [0, 1]", p.MinP)
	case bad(p.RepeatPenalty) || p.RepeatPenalty < 0:
		return fmt.Errorf("sample: RepeatPenalty %v must be >= 0 (0 or 1 = off)", p.RepeatPenalty)
	case p.RepeatLastN < -1:
		return fmt.Errorf("sample: RepeatLastN %d must be >= -1 (-1 = whole history)", p.RepeatLastN)
	case bad(p.PresencePenalty):
		return fmt.Errorf("sample: PresencePenalty %v is not a finite number", p.PresencePenalty)
	case bad(p.FrequencyPenalty):
		return fmt.Errorf("sample: FrequencyPenalty %v is not a finite number", p.FrequencyPenalty)
	}
	// Sorted ids: the same bad input always gives the same message.
	for _, id := range slices.Sorted(maps.Keys(p.LogitBias)) {
		v := p.LogitBias[id]
		if id < 0 || int(id) >= vocab {
			return fmt.Errorf("sample: LogitBias token %d is outside the vocabulary of %d", id, vocab)
		}
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 1) {
			return fmt.Errorf("sample: LogitBias for token %d is %v", id, v)
		}
	}
	for i, id := range p.Ban {
		if id < 0 || int(id) >= vocab {
			return fmt.Errorf("sample: Ban[%d] token %d is outside the vocabulary of %d", i, id, vocab)
		}
	}
	banned := 0
	for _, b := range biases(p) {
		if math.IsInf(float64(b.v), -1) {
			banned++
		}
	}
	if vocab > 0 && banned >= vocab {
		return fmt.Errorf("sample: all %d tokens are banned", vocab)
	}
	return nil
}
