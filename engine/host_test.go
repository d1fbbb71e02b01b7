package engine

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tscale/engine/engine/sample"
	"github.com/tscale/engine/model/gguf"
	"github.com/tscale/engine/model/synth"
	"github.com/tscale/engine/model/tokenizer"
	"github.com/tscale/engine/quant"
)

// bigVocabModel writes a one-layer random llama whose vocabulary is
// stories260K's padded with unused tokens to n, so that its logits and any
// vocabulary-sized buffer are large.
func bigVocabModel(t *testing.T, n int) string {
	t.Helper()
	if _, err := os.Stat(synthVocab); err != nil {
		t.Skipf("%s is absent (../shared must sit beside the repository)", synthVocab)
	}
	base, err := gguf.Open(synthVocab)
	require.NoError(t, err)
	defer base.Close()
	w := gguf.NewWriter()
	for _, kv := range base.KVs {
		if !strings.HasPrefix(kv.Key, "tokenizer.ggml.") {
			continue
		}
		v := kv.Value
		switch x := v.(type) {
		case []string:
			for i := len(x); i < n; i++ {
				x = append(x, fmt.Sprintf("<unused%d>", i))
			}
			v = x
		case []float32:
			for len(x) < n {
				x = append(x, -1e9)
			}
			v = x
		case []int32:
			for len(x) < n {
				x = append(x, 5) // unused
			}
			v = x
		}
		require.NoError(t, w.Set(kv.Key, v))
	}
	var buf bytes.Buffer
	_, err = w.WriteTo(&buf)
	require.NoError(t, err)
	vocab, err := gguf.Parse(buf.Bytes(), "big-vocab")
	require.NoError(t, err)
	spec := synth.Spec{Name: "synth-llama-bigvocab", Arch: "llama", Type: quant.F32, Dim: 32, Layers: 1,
		Heads: 2, KVHeads: 1, HeadDim: 16, FFN: 64, Seed: 7}
	mw, err := synth.Build(spec, vocab)
	require.NoError(t, err)
	p := filepath.Join(t.TempDir(), spec.Name+".gguf")
	require.NoError(t, mw.WriteFile(p))
	return p
}

// heapInUse is the live heap after a full collection, measured on the
// loop goroutine between two steps so the engine's state is at rest; ok
// (if not nil) runs there too and must hold.
func heapInUse(t *testing.T, e *Engine, ok func() bool) int64 {
	var m runtime.MemStats
	good := true
	e.do(func() {
		if ok != nil {
			good = ok()
		}
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&m)
	})
	require.True(t, good, "the engine is not in the state to measure")
	return int64(m.HeapAlloc)
}

// hostPerSample measures the host bytes per sample of one request of n
// samples: waiting (queued while a Seq holds every KV block) and running
// (every sample has drawn its first tokens and none has ended).
func hostPerSample(t *testing.T, e *Engine, req Request) (waiting, running float64) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	prompt, n := req.Prompt, req.N
	// Warm up: the engine's shared buffers are not per sample.
	_, err := e.Generate(ctx, Request{Prompt: prompt, N: 2, MaxTokens: 2, Sampling: req.Sampling}, nil)
	require.NoError(t, err)

	// Waiting: a Seq holds the whole pool, so the request stays queued.
	s, err := e.NewSeq(ctx, prompt[:1])
	require.NoError(t, err)
	e.do(func() { _, err = e.kvm.Reserve(s.u.seq, (1+e.kvm.Available())*e.blockSize-1) })
	require.NoError(t, err)
	before := heapInUse(t, e, nil)
	wctx, wcancel := context.WithCancel(ctx)
	wch, err := e.Stream(wctx, req)
	require.NoError(t, err)
	waiting = float64(heapInUse(t, e, func() bool { return len(e.waiting) == 1 })-before) / float64(n)
	wcancel()
	for range wch {
	}
	s.Close()

	// Running: measured once every sample has sent a token, long before
	// any reaches MaxTokens.
	before = heapInUse(t, e, nil)
	rch, err := e.Stream(ctx, req)
	require.NoError(t, err)
	seen := map[int]bool{}
	for ev := range rch {
		require.Empty(t, ev.Finish)
		if seen[ev.Sample] = true; len(seen) == n {
			break
		}
	}
	running = float64(heapInUse(t, e, func() bool {
		return len(e.running) == 1 && e.running[0].done == 0 // no sample ended yet
	})-before) / float64(n)
	cancel()
	for range rch {
	}
	return waiting, running
}

// TestHostBytesPerSample: the host memory of a sample does not grow with
// the vocabulary (issue 9: 1.5 MB per sample at 49k tokens). With a
// 16384-token vocabulary one vocabulary-sized float32 buffer is 64 KiB and
// one candidate list 256 KiB; a waiting sample must take under 1 KiB and a
// running one less than the engine's estimate for admission.
func TestHostBytesPerSample(t *testing.T) {
	const vocab, n = 16384, 32
	e, err := Open(bigVocabModel(t, vocab), WithContext(512), WithKVBlocks(1024), WithPrefixCache(false))
	require.NoError(t, err)
	defer e.Close()
	require.Equal(t, vocab, e.Hyper().Vocab)
	short := e.Tokenizer().Encode("Once upon a time, there was a little girl named Lily.", tokenizer.AddSpecial)
	long := prompt200(t, e)
	for _, tc := range []struct {
		name     string
		prompt   []int32
		p        sample.Params
		logprobs bool
	}{
		{"full vocabulary", short, sample.Params{Temperature: 1}, false},
		{"penalties and logprobs", short, sample.Params{Temperature: 1, TopP: 0.9, RepeatPenalty: 1.1, RepeatLastN: -1, PresencePenalty: 0.5}, true},
		{"200-token prompt", long, sample.Params{Temperature: 1, RepeatPenalty: 1.1, RepeatLastN: 64}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := Request{Prompt: tc.prompt, N: n, MaxTokens: 200, Sampling: tc.p, Seed: 1, IgnoreEOG: true, Logprobs: tc.logprobs, TopLogprobs: 5}
			waiting, running := hostPerSample(t, e, req)
			t.Logf("vocabulary %d, %d-token prompt: %.0f bytes per waiting sample, %.0f per running sample",
				vocab, len(tc.prompt), waiting, running)
			require.Less(t, waiting, 1024.0, "bytes per waiting sample")
			// The admission estimate, without the generated tokens still to come.
			require.Less(t, running, float64(HostBytesPerSample+HostBytesPerToken*len(tc.prompt)), "bytes per running sample")
		})
	}
}
