package engine

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tscale/engine/model/tokenizer"
)

// benchModel opens the default model (or skips) for the speed benchmarks.
func benchModel(b *testing.B) *Engine {
	p := findModel("SmolLM2-135M-Instruct.Q4_1.gguf")
	if p == "" {
		b.Skip("default model not fetched: run `make models`")
	}
	e, err := Open(p, WithContext(1024), WithPrefixCache(false))
	require.NoError(b, err)
	return e
}

// BenchmarkPrefill measures prompt processing of 128 tokens in one batch.
func BenchmarkPrefill(b *testing.B) {
	e := benchModel(b)
	defer e.Close()
	ids := make([]int32, 128)
	for i := range ids {
		ids[i] = int32(100 + i)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_, err := e.Logits(context.Background(), ids)
		require.NoError(b, err)
	}
	b.ReportMetric(float64(len(ids)*b.N)/b.Elapsed().Seconds(), "tokens/s")
}

// BenchmarkDecode measures generation of 64 tokens after a 16-token prompt.
func BenchmarkDecode(b *testing.B) {
	e := benchModel(b)
	defer e.Close()
	ids := e.Tokenizer().Encode("Once upon a time, in a small village, there lived", tokenizer.AddSpecial)
	b.ResetTimer()
	n := 0
	for i := 0; i < b.N; i++ {
		res, err := e.Generate(context.Background(), Request{Prompt: ids, MaxTokens: 64, IgnoreEOG: true}, nil)
		require.NoError(b, err)
		n += len(res.Samples[0].Tokens)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "tokens/s")
}
