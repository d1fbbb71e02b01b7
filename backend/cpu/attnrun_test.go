package cpu

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestAddScaledF16RunMatchesRows: one run call over count cached rows gives
// exactly the per-row addScaledF16Heads calls it replaces.
func TestAddScaledF16RunMatchesRows(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for _, tc := range []struct{ heads, hd, count, vstride int }{
		{1, 8, 1, 8}, {2, 8, 5, 32}, {3, 16, 16, 48}, {4, 64, 7, 256}, {1, 24, 3, 24},
	} {
		sstride := tc.count + 3
		sc := make([]float32, tc.heads*sstride)
		for i := range sc {
			sc[i] = float32(r.Float64())
		}
		v := make([]uint16, tc.count*tc.vstride)
		for i := range v {
			v[i] = toHalf(float32(r.NormFloat64()))
		}
		init := make([]float64, tc.heads*tc.hd)
		for i := range init {
			init[i] = r.NormFloat64()
		}
		want := append([]float64(nil), init...)
		ws := make([]float32, tc.heads)
		for k := 0; k < tc.count; k++ {
			for g := range ws {
				ws[g] = sc[g*sstride+k]
			}
			addScaledF16Heads(want, ws, v[k*tc.vstride:k*tc.vstride+tc.hd], tc.hd)
		}
		got := append([]float64(nil), init...)
		if !addScaledF16Run(got, sc, sstride, tc.heads, v, tc.vstride, tc.hd, tc.count) {
			t.Skip("no F16C kernel here")
		}
		require.Equal(t, want, got, "%+v", tc)
	}
}
