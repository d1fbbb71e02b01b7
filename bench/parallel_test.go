package bench

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tscale/engine/engine"
	"github.com/tscale/engine/engine/sample"
)

// TestParallelKV: the KV bytes per sample are each run's exact high-water
// mark, read once after the run from engine.Stats.KVPeak:
// a 40-token prompt and 8 new tokens run 47 positions, three blocks of 16
// for a lone sample; shared samples hold the prompt's two full blocks once.
func TestParallelKV(t *testing.T) {
	e, err := engine.Open(sharedModel(t, "stories260K.gguf"), engine.WithThreads(1), engine.WithContext(128),
		engine.WithPrefixCache(false), engine.WithKVBlocks(64))
	require.NoError(t, err)
	defer e.Close()
	pts, err := Parallel(context.Background(), e, ParallelConfig{
		Prompt: 40, Gen: 8, Ns: []int{1, 4},
		Sampling: sample.Params{Temperature: 0.8, TopK: 40, TopP: 0.95},
	})
	require.NoError(t, err)
	require.Len(t, pts, 2)
	per := e.Stats().KVBytesPerBlock
	for _, p := range pts {
		require.Equal(t, 3*per, p.SeparateKVBytes, "N=%d separate: 3 blocks each", p.N)
		require.Positive(t, p.SharedTPS)
		require.Positive(t, p.SeparateTPS)
	}
	require.Equal(t, 3*per, pts[0].SharedKVBytes)
	// Positions 32..46 of each of 4 samples: 1 own block, plus 2 shared.
	require.Equal(t, (2+4)*per/4, pts[1].SharedKVBytes)
}
