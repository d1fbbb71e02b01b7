package quant

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestQuantQ8KAsmMatchesGo: the AVX-512 Q8_K activation quantizer writes
// quantQ8_K's bytes for Gaussian rows, rows with ties of magnitude (the
// first one's sign wins), all-zero and denormal blocks, huge values, and
// leaves rows with a NaN or infinity to quantQ8_K.
func TestQuantQ8KAsmMatchesGo(t *testing.T) {
	rng := rand.New(rand.NewPCG(47, 48))
	rows := map[string][]float32{}
	for _, nb := range []int{1, 2, 5} {
		x := make([]float32, nb*QK_K)
		for i := range x {
			x[i] = float32(rng.NormFloat64() * math.Pow(10, float64(rng.IntN(6)-3)))
		}
		rows["gauss"+string(rune('0'+nb))] = x
	}
	tie := make([]float32, 2*QK_K)
	for i := range tie {
		tie[i] = float32(rng.NormFloat64())
	}
	tie[17], tie[200], tie[300], tie[301] = -5, 5, 7, -7
	rows["ties"] = tie
	zero := make([]float32, 3*QK_K)
	zero[2*QK_K+3] = 1e-40 // a denormal in the last block only
	zero[QK_K+5] = float32(math.Copysign(0, -1))
	rows["zero"] = zero
	big := make([]float32, QK_K)
	for i := range big {
		big[i] = float32(rng.Float64()*2-1) * 3e38
	}
	big[9] = math.MaxFloat32
	rows["big"] = big
	for name, x := range rows {
		want, got := make([]byte, len(x)/QK_K*292), make([]byte, len(x)/QK_K*292)
		quantQ8_K(x, want)
		if !archQuantQ8K(x, got) {
			t.Skip("no AVX-512 here")
		}
		require.Equal(t, want, got, name)
		require.NoError(t, QuantizeActivation(Q8_K, x, got))
		require.Equal(t, want, got, name+" via QuantizeActivation")
	}
	for _, bad := range []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))} {
		x := make([]float32, 2*QK_K)
		x[QK_K+7] = bad
		require.False(t, archQuantQ8K(x, make([]byte, 2*292)), "%v", bad)
		want, got := make([]byte, 2*292), make([]byte, 2*292)
		quantQ8_K(x, want)
		require.NoError(t, QuantizeActivation(Q8_K, x, got))
		require.Equal(t, want, got, "%v", bad)
	}
	require.Error(t, QuantizeActivation(Q8_K, make([]float32, QK_K), make([]byte, 291)))
}
