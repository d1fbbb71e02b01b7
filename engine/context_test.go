package engine

import (
	"bytes"
	"context"
	"log"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tscale/engine/model/gguf"
	"github.com/tscale/engine/model/synth"
	"github.com/tscale/engine/quant"
)

// longSynth writes a tiny synthetic llama whose trained context is
// trained tokens (256 bytes of KV cache per token in F16).
func longSynth(t *testing.T, trained int) string {
	t.Helper()
	if _, err := os.Stat(synthVocab); err != nil {
		t.Skipf("%s is absent: the synthetic model borrows its vocabulary", synthVocab)
	}
	vocab, err := gguf.Open(synthVocab)
	require.NoError(t, err)
	defer vocab.Close()
	spec := synth.Spec{Name: "synth-long", Arch: "llama", Type: quant.F32, Dim: 64, Layers: 2, Heads: 4, KVHeads: 2, HeadDim: 16, FFN: 128, Seed: 1}
	w, err := synth.Build(spec, vocab)
	require.NoError(t, err)
	require.NoError(t, w.Set("llama.context_length", uint32(trained)))
	p := filepath.Join(t.TempDir(), "long.gguf")
	require.NoError(t, w.WriteFile(p))
	return p
}

// captureLog collects what the standard logger prints during the test.
func captureLog(t *testing.T) *bytes.Buffer {
	var b bytes.Buffer
	out, flags := log.Writer(), log.Flags()
	log.SetOutput(&b)
	log.SetFlags(0)
	t.Cleanup(func() { log.SetOutput(out); log.SetFlags(flags) })
	return &b
}

// TestDefaultContext: without WithContext the context is the model's
// trained length (here 16384, beyond the old cap of 4096) when one
// sequence of it fits the KV memory, else the most whole blocks that fit,
// said in the log; WithContext overrides either.
func TestDefaultContext(t *testing.T) {
	const trained = 16384
	p := longSynth(t, trained)
	e, err := Open(p, WithThreads(1))
	require.NoError(t, err)
	defer e.Close()
	require.Equal(t, trained, e.Hyper().Context)
	require.Equal(t, trained, e.Context())
	perBlock := e.Stats().KVBytesPerBlock
	require.Positive(t, perBlock)
	require.Equal(t, trained/16, 1024)
	// The default budget holds 8 sequences of the whole context (and a block each).
	require.Equal(t, 8*(1024+1), e.Stats().KV.Blocks)

	for _, c := range []struct {
		name string
		opts []Option
		ctx  int
		log  string
	}{
		{"budget holds it", []Option{WithKVBudget(1025 * perBlock)}, trained, ""},
		{"budget too small", []Option{WithKVBudget(300*perBlock + perBlock/2)}, 300 * 16,
			"context: 4800 tokens, not the model's trained 16384: the KV budget of"},
		{"blocks too few", []Option{WithKVBlocks(100)}, 1600, "context: 1600 tokens, not the model's trained 16384: 100 KV blocks set"},
		{"block size", []Option{WithKVBlocks(100), WithBlockSize(32)}, 3200, "holds 100 blocks of 32 tokens"},
		{"set context", []Option{WithContext(6000)}, 6000, ""},
		{"set context and budget", []Option{WithContext(1000), WithKVBlocks(100)}, 1000, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			logs := captureLog(t)
			e, err := Open(p, append([]Option{WithThreads(1)}, c.opts...)...)
			require.NoError(t, err)
			defer e.Close()
			require.Equal(t, c.ctx, e.Context())
			if c.log == "" {
				require.Empty(t, logs.String())
			} else {
				require.Contains(t, logs.String(), c.log)
			}
		})
	}

	// A budget of no block keeps the trained length, so the error says what it needs.
	_, err = Open(p, WithThreads(1), WithKVBudget(perBlock-1))
	require.ErrorContains(t, err, "gives 0 blocks")
	require.ErrorContains(t, err, "one 16384-token sequence needs 1024")
}

// TestSeqTrees: Stats.SeqTrees counts trees of a NewSeq and its forks with
// a sequence open.
func TestSeqTrees(t *testing.T) {
	e := openStories(t)
	defer e.Close()
	ctx := context.Background()
	ids := e.Tokenizer().Encode("Once upon a time")
	a, err := e.NewSeq(ctx, ids)
	require.NoError(t, err)
	b, err := a.Fork()
	require.NoError(t, err)
	c, err := b.Fork()
	require.NoError(t, err)
	require.Equal(t, 1, e.Stats().SeqTrees)
	d, err := e.NewSeq(ctx, ids)
	require.NoError(t, err)
	require.Equal(t, 2, e.Stats().SeqTrees)
	for _, s := range []*Seq{a, b, d, d} {
		s.Close()
	}
	require.Equal(t, 1, e.Stats().SeqTrees, "c keeps the first tree open")
	c.Close()
	require.Equal(t, 0, e.Stats().SeqTrees)
	_, err = e.NewSeq(ctx, make([]int32, 600)) // longer than the context: never opened
	require.Error(t, err)
	require.Equal(t, 0, e.Stats().SeqTrees)
}
