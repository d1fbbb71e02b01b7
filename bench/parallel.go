package bench

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/tscale/engine/engine"
	"github.com/tscale/engine/engine/sample"
)

// ParallelPoint is one N of the parallel-sampling suite.
type ParallelPoint struct {
	N int `json:"n"`
	// Shared: one request of N samples (one prefill, forked KV).
	SharedTPS     float64 `json:"shared_tps"`      // generated tokens/s, all samples
	SharedSeconds float64 `json:"shared_seconds"`  // wall time, prefill included
	SharedKVBytes int64   `json:"shared_kv_bytes"` // peak KV bytes per sample
	// Separate: N single-sample requests at once, prefix cache off.
	SeparateTPS     float64 `json:"separate_tps"`
	SeparateSeconds float64 `json:"separate_seconds"`
	SeparateKVBytes int64   `json:"separate_kv_bytes"`
}

// ParallelConfig sizes the suite.
type ParallelConfig struct {
	Prompt, Gen int
	Ns          []int
	Sampling    sample.Params
}

// Parallel measures aggregate generation speed and KV memory for N samples
// of one prompt: shared (one request of N samples: one prefill, forked KV)
// against separate (N single-sample requests at once). The engine should
// have its prefix cache off, so neither mode reuses an earlier point's
// prefill, and room for the largest N without sharing. KV memory is the
// engine's high-water mark read after each run: polling it during the run
// (every 20 ms, as this suite once did) cost about 15% of N=1's speed.
func Parallel(ctx context.Context, e *engine.Engine, c ParallelConfig) ([]ParallelPoint, error) {
	ids, err := Prompt(e, c.Prompt)
	if err != nil {
		return nil, err
	}
	perBlock := e.Stats().KVBytesPerBlock
	var out []ParallelPoint
	for _, n := range c.Ns {
		p := ParallelPoint{N: n}
		req := engine.Request{Prompt: ids, N: n, MaxTokens: c.Gen, Sampling: c.Sampling, IgnoreEOG: true}

		e.ResetKVPeak()
		start := time.Now()
		res, err := e.Generate(ctx, req, nil)
		d := time.Since(start)
		if err != nil {
			return out, fmt.Errorf("shared N=%d: %w", n, err)
		}
		p.SharedSeconds = d.Seconds()
		p.SharedTPS = float64(tokens(res)) / d.Seconds()
		p.SharedKVBytes = int64(e.Stats().KVPeak) * perBlock / int64(n)

		e.ResetKVPeak()
		start = time.Now()
		var wg sync.WaitGroup
		var mu sync.Mutex
		total, firstErr := 0, error(nil)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				one := req
				one.N, one.Seed = 1, req.Seed+uint64(i)
				r, err := e.Generate(ctx, one, nil)
				mu.Lock()
				defer mu.Unlock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				if r != nil {
					total += tokens(r)
				}
			}(i)
		}
		wg.Wait()
		d = time.Since(start)
		if firstErr != nil {
			return out, fmt.Errorf("separate N=%d: %w", n, firstErr)
		}
		p.SeparateSeconds = d.Seconds()
		p.SeparateTPS = float64(total) / d.Seconds()
		p.SeparateKVBytes = int64(e.Stats().KVPeak) * perBlock / int64(n)
		out = append(out, p)
	}
	return out, nil
}

func tokens(r *engine.Result) int {
	n := 0
	for _, s := range r.Samples {
		n += len(s.Tokens)
	}
	return n
}
