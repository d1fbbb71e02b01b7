// Package bench holds the engine's throughput suites. Speed is measured
// here and reported; tests never time anything.
package bench

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/tscale/engine/engine"
	"github.com/tscale/engine/model/tokenizer"
)

// promptText is the same ordinary text llama.cpp's side of the comparison
// (scripts/ref/bench.mjs) tokenizes, so both see realistic prompts.
const promptText = "Once upon a time, in a small village by the sea, there lived a girl named Lily. " +
	"Every morning she walked to the harbor to watch the boats come in, and every evening " +
	"she told her little brother stories about the places the sailors had seen. "

// Speed is one prefill + decode measurement.
type Speed struct {
	Model      string       `json:"model"`
	Threads    int          `json:"threads"`
	Prompt     int          `json:"prompt_tokens"`
	Gen        int          `json:"gen_tokens"`
	PrefillTPS float64      `json:"prefill_tps"` // best of the runs
	DecodeTPS  float64      `json:"decode_tps"`  // best of the runs
	Runs       [][2]float64 `json:"runs"`        // [prefill, decode] tokens/s per run
}

// Prompt returns exactly n tokens of ordinary text, BOS first when the
// vocabulary adds one.
func Prompt(e *engine.Engine, n int) ([]int32, error) {
	text := strings.Repeat(promptText, n/8+1)
	ids := e.Tokenizer().Encode(text, tokenizer.AddSpecial)
	if len(ids) < n {
		return nil, fmt.Errorf("prompt text gives only %d tokens, want %d", len(ids), n)
	}
	return ids[:n], nil
}

// Measure runs one unmeasured warm-up and reps measured runs of a prefill of
// prompt tokens in one batch followed by gen greedy decode steps.
func Measure(ctx context.Context, e *engine.Engine, prompt, gen, reps int) (Speed, error) {
	ids, err := Prompt(e, prompt)
	if err != nil {
		return Speed{}, err
	}
	s := Speed{Prompt: prompt, Gen: gen}
	req := engine.Request{Prompt: ids, MaxTokens: gen, IgnoreEOG: true}
	for r := 0; r <= reps; r++ {
		var first time.Duration
		start := time.Now()
		n := 0
		_, err := e.Generate(ctx, req, func(ev engine.Event) error {
			if ev.Token < 0 {
				return nil
			}
			if n == 0 {
				first = time.Since(start)
			}
			n++
			return nil
		})
		if err != nil {
			return s, err
		}
		total := time.Since(start)
		if r == 0 || n < 2 {
			continue // warm-up
		}
		// The first token's time is the prefill (plus one sampling step);
		// the rest are n-1 decode steps.
		pre := float64(prompt) / first.Seconds()
		dec := float64(n-1) / (total - first).Seconds()
		s.Runs = append(s.Runs, [2]float64{pre, dec})
		s.PrefillTPS = max(s.PrefillTPS, pre)
		s.DecodeTPS = max(s.DecodeTPS, dec)
	}
	return s, nil
}
