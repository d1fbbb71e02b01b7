package cpu

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tscale/engine/backend"
)

// TestRoPETablesReused: one backend roping under alternating
// configurations and positions (hits, misses and evictions of its angle
// tables) gives exactly what a fresh backend gives for each call.
func TestRoPETablesReused(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	const hd, heads = 8, 2
	factors := []float32{1, 2, 4, 8}
	cfgs := []backend.RoPE{
		{Dims: hd, Base: 10000, FreqScale: 1},
		{Dims: hd, Base: 1e6, FreqScale: 1, NeoX: true},
		{Dims: hd, Base: 10000, FreqScale: 0.25, Factors: factors},
		{Dims: hd, Base: 10000, FreqScale: 0.5, YaRN: &backend.YaRN{ExtFactor: 1, AttnFactor: 1, BetaFast: 32, BetaSlow: 1, OrigCtx: 64}},
		{Dims: hd / 2, Base: 10000, FreqScale: 1},
	}
	posSets := [][]int32{{0, 1, 2}, {5, 6, 7}, {0, 1, 2, 3}, {100}}
	be := New(1)
	for step := 0; step < 40; step++ {
		cfg, pos := cfgs[r.IntN(len(cfgs))], posSets[r.IntN(len(posSets))]
		x := randn(r, len(pos)*hd*heads)
		got, want := fill(be, len(pos), hd*heads, x), fill(New(1), len(pos), hd*heads, x)
		be.RoPE(got, hd, pos, cfg)
		New(1).RoPE(want, hd, pos, cfg)
		require.Equal(t, data(want), data(got), "step %d", step)
	}
}
