//go:build cudaemu

package engine

import (
	"context"
	"math"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tscale/engine/backend/cuda"
	"github.com/tscale/engine/engine/sample"
	"github.com/tscale/engine/model/synth"
	"github.com/tscale/engine/model/tokenizer"
)

// The CUDA backend over the emulated driver (every kernel run on the CPU
// from its .cu source) against the CPU backend, end to end.

// cudaPair opens path on the CPU and on the emulated GPU.
func cudaPair(t *testing.T, path string, opts ...Option) (*Engine, *Engine) {
	t.Helper()
	c, err := Open(path, append(opts, WithDevice("cpu"))...)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	g, err := Open(path, append(opts, WithDevice("cuda"))...)
	require.NoError(t, err)
	t.Cleanup(func() { g.Close() })
	require.Equal(t, "cudaemu", g.Backend().Name())
	return c, g
}

func cudaStats(e *Engine) cuda.Stats { return e.Backend().(*cuda.Backend).Stats() }

func generate(t *testing.T, e *Engine, req Request) *Result {
	t.Helper()
	res, err := e.Generate(context.Background(), req, nil)
	require.NoError(t, err)
	return res
}

// TestCUDAGreedy: 48 greedy tokens on the emulated GPU equal the CPU's, for
// a dense llama, a Mixtral-style MoE and a gpt-oss with MXFP4 experts.
func TestCUDAGreedy(t *testing.T) {
	oss := synth.MoESpecs()[len(synth.MoESpecs())-1]
	require.Equal(t, "synth-gpt-oss-mxfp4", oss.Name)
	for _, c := range []struct {
		name string
		path func(t *testing.T) string
	}{
		{"stories260K", func(t *testing.T) string { return modelPath(t, "stories260K.gguf") }},
		{"stories260K-moe4x", func(t *testing.T) string { return modelPath(t, "stories260K-moe4x.gguf") }},
		{oss.Name, func(t *testing.T) string { p, _ := buildSynth(t, oss); return p }},
	} {
		t.Run(c.name, func(t *testing.T) {
			cpuE, gpuE := cudaPair(t, c.path(t), WithContext(128))
			ids := cpuE.Tokenizer().Encode("Once upon a time, there was a", tokenizer.AddSpecial)
			n := 48
			if testing.Short() && c.name != "stories260K" {
				n = 24
			}
			req := Request{Prompt: ids, MaxTokens: n, IgnoreEOG: true}
			want := generate(t, cpuE, req).Samples[0].Tokens
			require.Len(t, want, n)
			s0 := cudaStats(gpuE)
			got := generate(t, gpuE, req).Samples[0].Tokens
			require.Equal(t, want, got, "greedy tokens: cpu %q, cuda %q", cpuE.Tokenizer().Decode(want), gpuE.Tokenizer().Decode(got))
			s := cudaStats(gpuE)
			// Traffic per step: ids, positions and tables up; one row of
			// logits down, nothing else (a MoE layer of up to 32 tokens
			// reads its group sizes on the device: kernels/moe_matmul.cu).
			hp, f := gpuE.Hyper(), s.Forwards-s0.Forwards
			perStep := int64(4 * hp.Vocab)
			require.Equal(t, f*perStep, s.DtoH-s0.DtoH, "bytes copied to the host in %d steps", f)
			require.Less(t, (s.HtoD-s0.HtoD)/f, int64(1024), "bytes copied to the device per step")
			t.Logf("%s: %d forwards, %.1f launches, %.0f weight bytes, %.0f KV bytes per forward",
				c.name, s.Forwards, float64(s.Launches)/float64(s.Forwards), float64(s.WeightBytes)/float64(s.Forwards),
				float64(s.KVBytes)/float64(s.Forwards))
		})
	}
}

// TestCUDASampled: 8 seeded samples forked from one prompt give the CPU's
// tokens; the same request again hits the prefix cache, gives the same
// tokens, and allocates no device memory (the arena is reused).
func TestCUDASampled(t *testing.T) {
	cpuE, gpuE := cudaPair(t, modelPath(t, "stories260K.gguf"), WithContext(64), WithBlockSize(4))
	ids := cpuE.Tokenizer().Encode("Lily and Tom went to the park. They saw a big", tokenizer.AddSpecial)
	req := Request{Prompt: ids, N: 8, MaxTokens: 12, IgnoreEOG: true, Seed: 42,
		Sampling: sample.Params{Temperature: 0.9, TopK: 40, TopP: 0.95}}
	want := generate(t, cpuE, req)
	got := generate(t, gpuE, req)
	require.Len(t, got.Samples, 8)
	for i := range want.Samples {
		require.Equal(t, want.Samples[i].Tokens, got.Samples[i].Tokens, "sample %d", i)
	}
	require.Zero(t, got.CachedTokens)
	before := cudaStats(gpuE)
	again := generate(t, gpuE, req)
	require.Positive(t, again.CachedTokens, "the prefix cache serves the prompt")
	for i := range want.Samples {
		require.Equal(t, want.Samples[i].Tokens, again.Samples[i].Tokens, "sample %d, prefix cached", i)
	}
	after := cudaStats(gpuE)
	require.Equal(t, before.Mallocs, after.Mallocs, "device allocations in a warm run")
	require.Greater(t, after.Forwards, before.Forwards)
}

// TestCUDASynthFamilies: every synthetic family and type (llama, qwen2,
// qwen3, gemma3 with its sliding window and softcaps, the MoEs, gpt-oss;
// F32, Q8_0, Q4_0, MXFP4) decodes the CPU's greedy tokens, and the first
// step's logits agree within synthTol of their range.
func TestCUDASynthFamilies(t *testing.T) {
	const synthTol = 1e-4
	specs := append(synth.Specs(), synth.MoESpecs()...)
	if testing.Short() {
		specs = []synth.Spec{specs[1], specs[8], specs[len(specs)-3]} // llama Q8_0, gemma3 Q8_0, qwen3moe Q8_0
	}
	for _, s := range specs {
		t.Run(s.Name, func(t *testing.T) {
			path, _ := buildSynth(t, s)
			cpuE, gpuE := cudaPair(t, path, WithContext(64))
			ids := cpuE.Tokenizer().Encode("Once upon a time, there was", tokenizer.AddSpecial)
			want, err := cpuE.Logits(context.Background(), ids)
			require.NoError(t, err)
			got, err := gpuE.Logits(context.Background(), ids)
			require.NoError(t, err)
			lo, hi, d := want[0], want[0], 0.0
			for i := range want {
				lo, hi = min(lo, want[i]), max(hi, want[i])
				d = max(d, math.Abs(float64(got[i]-want[i])))
			}
			require.LessOrEqual(t, d/float64(hi-lo), synthTol, "first-step logits")
			t.Logf("%s: max |logit diff| %.2g of a range of %.3g", s.Name, d, hi-lo)
			req := Request{Prompt: ids, MaxTokens: 16, IgnoreEOG: true}
			require.Equal(t, generate(t, cpuE, req).Samples[0].Tokens, generate(t, gpuE, req).Samples[0].Tokens)
		})
	}
}

// TestCUDASeqForks: forks of a sequence whose last block is partial (copy
// on write through CopyBlock), extended differently in one batch, give the
// CPU's logits.
func TestCUDASeqForks(t *testing.T) {
	cpuE, gpuE := cudaPair(t, modelPath(t, "stories260K.gguf"), WithContext(64), WithBlockSize(4))
	prompt := cpuE.Tokenizer().Encode("Once upon a time, there", tokenizer.AddSpecial) // not a multiple of 4
	run := func(e *Engine) [][]float32 {
		ctx := context.Background()
		s, err := e.NewSeq(ctx, prompt)
		require.NoError(t, err)
		defer s.Close()
		a, err := s.Fork()
		require.NoError(t, err)
		defer a.Close()
		b, err := s.Fork()
		require.NoError(t, err)
		defer b.Close()
		require.NoError(t, e.ExtendAll(ctx, []*Seq{a, b, s}, [][]int32{{400, 401}, {402}, {403, 404, 405}}))
		return [][]float32{slices.Clone(a.Logits()), slices.Clone(b.Logits()), slices.Clone(s.Logits())}
	}
	want, got := run(cpuE), run(gpuE)
	for i := range want {
		lo, hi, d := slices.Min(want[i]), slices.Max(want[i]), 0.0
		for j := range want[i] {
			d = max(d, math.Abs(float64(got[i][j]-want[i][j])))
		}
		// The attention kernel sums in another order (kernels/README.md);
		// a fork reading the wrong block would be off by whole units.
		require.LessOrEqual(t, d/float64(hi-lo), 1e-4, "sequence %d: max |logit diff| %.2g", i, d)
		t.Logf("sequence %d: max |logit diff| %.2g of a range of %.3g", i, d, hi-lo)
	}
}

// TestCUDACascade: 16 forks of one prompt decode with cascade attention
// (on by default: the prompt's full blocks read once per step for all 16)
// as with the plain kernel and as the CPU: logits within 1e-4 of their
// range, the same seeded tokens, and the KV bytes of a step are the shared
// blocks once plus each fork's own positions, K and V, every layer.
func TestCUDACascade(t *testing.T) {
	const n, bs = 16, 4
	cpuE, gpuE := cudaPair(t, modelPath(t, "stories260K.gguf"), WithContext(64), WithBlockSize(bs), WithPrefixCache(false))
	gb := gpuE.Backend().(*cuda.Backend)
	hp := gpuE.Hyper()
	prompt := cpuE.Tokenizer().Encode("Once upon a time, there was a little girl", tokenizer.AddSpecial)
	L := len(prompt)
	require.NotZero(t, L%bs, "a partial last block: the forks copy it")
	shared := L / bs * bs
	row := int64(hp.Layers * hp.KVHeads * hp.HeadDim * 2 * 2) // K and V of a position, every layer

	// One step of n forks, each extended by its own token; the step's KV bytes.
	step := func(e *Engine) ([][]float32, int64) {
		ctx := context.Background()
		s, err := e.NewSeq(ctx, prompt)
		require.NoError(t, err)
		defer s.Close()
		forks := make([]*Seq, n)
		toks := make([][]int32, n)
		for i := range forks {
			forks[i], err = s.Fork()
			require.NoError(t, err)
			defer forks[i].Close()
			toks[i] = []int32{int32(300 + i)}
		}
		var before cuda.Stats
		if e == gpuE {
			before = cudaStats(e)
		}
		require.NoError(t, e.ExtendAll(ctx, forks, toks))
		out := make([][]float32, n)
		for i, f := range forks {
			out[i] = slices.Clone(f.Logits())
		}
		if e != gpuE {
			return out, 0
		}
		return out, cudaStats(e).KVBytes - before.KVBytes
	}
	want, _ := step(cpuE)
	casc, cascBytes := step(gpuE)
	gb.SetCascade(false)
	plain, plainBytes := step(gpuE)
	gb.SetCascade(true)
	require.Equal(t, row*int64(shared+n*(L+1-shared)), cascBytes, "cascade: the %d shared positions once, %d own each", shared, L+1-shared)
	require.Equal(t, row*int64(n*(L+1)), plainBytes, "plain: every fork's %d positions", L+1)
	for i := range want {
		lo, hi := slices.Min(want[i]), slices.Max(want[i])
		var dc, dp, dcp float64
		for j := range want[i] {
			dc = max(dc, math.Abs(float64(casc[i][j]-want[i][j])))
			dp = max(dp, math.Abs(float64(plain[i][j]-want[i][j])))
			dcp = max(dcp, math.Abs(float64(casc[i][j]-plain[i][j])))
		}
		r := float64(hi - lo)
		require.LessOrEqual(t, dc/r, 1e-4, "fork %d: cascade against the CPU", i)
		require.LessOrEqual(t, dp/r, 1e-4, "fork %d: plain against the CPU", i)
		require.LessOrEqual(t, dcp/r, 1e-4, "fork %d: cascade against plain", i)
		if i == 0 {
			t.Logf("fork 0: max |logit diff| cascade-cpu %.2g, plain-cpu %.2g, cascade-plain %.2g of a range of %.3g", dc, dp, dcp, r)
		}
	}

	// A request for 16 seeded samples: the same tokens on the CPU, with
	// cascade and without; each decode step of the 16 reads the shared
	// blocks 15 times fewer.
	req := Request{Prompt: prompt, N: n, MaxTokens: 10, IgnoreEOG: true, Seed: 7,
		Sampling: sample.Params{Temperature: 0.8, TopK: 40}}
	wantRes := generate(t, cpuE, req)
	s0 := cudaStats(gpuE)
	got := generate(t, gpuE, req)
	s1 := cudaStats(gpuE)
	gb.SetCascade(false)
	gotPlain := generate(t, gpuE, req)
	s2 := cudaStats(gpuE)
	gb.SetCascade(true)
	require.Len(t, got.Samples, n)
	for i := range wantRes.Samples {
		require.Equal(t, wantRes.Samples[i].Tokens, got.Samples[i].Tokens, "sample %d, cascade", i)
		require.Equal(t, wantRes.Samples[i].Tokens, gotPlain.Samples[i].Tokens, "sample %d, plain", i)
	}
	require.Equal(t, s1.Forwards-s0.Forwards, s2.Forwards-s1.Forwards)
	saved := (s2.KVBytes - s1.KVBytes) - (s1.KVBytes - s0.KVBytes)
	steps := req.MaxTokens - 1 // the first tokens come from the prompt's logits
	// The prompt's prefill too: positions 0..L-1 once (flash-style), not each token's 0..p.
	prefill := L*(L+1)/2 - L
	require.Equal(t, int64(steps*(n-1)*shared+prefill)*row, saved,
		"KV bytes saved: %d steps × %d forks × %d shared positions, %d in the prefill", steps, n-1, shared, prefill)
	t.Logf("request of %d samples: KV bytes %d with cascade, %d without", n, s1.KVBytes-s0.KVBytes, s2.KVBytes-s1.KVBytes)
}
