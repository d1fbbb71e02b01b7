package sample

import "testing"

// BenchmarkSample draws from a 262144-token vocabulary (Gemma 3's size)
// with logits spread like a model's: N(0, 3²), so the pre-filter keeps
// nearly every token and only top-k or the top-p heap avoid a full sort.
func BenchmarkSample(b *testing.B) {
	l := randLogits(262144, 1)
	hist := make([]int32, 64)
	for i := range hist {
		hist[i] = int32(i * 4099 % len(l))
	}
	for _, bc := range []struct {
		name string
		p    Params
		n    int // > 0: SampleWithLogprobs with n alternatives
	}{
		{"greedy", Params{}, 0},
		{"temp", Params{Temperature: 1}, 0},
		{"top-k=40", Params{Temperature: 1, TopK: 40}, 0},
		{"top-p=0.95", Params{Temperature: 1, TopP: 0.95}, 0},
		{"min-p=0.05", Params{Temperature: 1, MinP: 0.05}, 0},
		{"llama-default", DefaultParams(), 0},
		{"llama-default+penalties", Params{Temperature: 0.8, TopK: 40, TopP: 0.95, MinP: 0.05,
			RepeatPenalty: 1.1, RepeatLastN: 64, PresencePenalty: 0.5, FrequencyPenalty: 0.5}, 0},
		{"llama-default+logprobs-0", DefaultParams(), -1},
		{"llama-default+logprobs-20", DefaultParams(), 20},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s := NewWithHistory(bc.p, 1, hist)
			for _, id := range hist[:16] {
				s.Accept(id)
			}
			for b.Loop() {
				if bc.n != 0 {
					s.SampleWithLogprobs(l, max(bc.n, 0))
				} else {
					s.Sample(l)
				}
			}
		})
	}
}
