package cpu

import (
	"math"
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

// TestScaleMaxMatchesGo: the vector scale-and-max gives scaleMaxGo's
// products and maximum for every length around the vector width, with
// -Inf (masked) scores; with a NaN only the products (the softmax's
// weights are all NaN whatever the maximum).
func TestScaleMaxMatchesGo(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	for n := 0; n <= 37; n++ {
		for _, special := range []float32{0, float32(math.Inf(-1)), float32(math.NaN())} {
			s := make([]float32, n)
			for i := range s {
				s[i] = float32(r.NormFloat64() * 10)
			}
			if n > 0 && special != 0 {
				s[r.IntN(n)] = special
			}
			want := append([]float32(nil), s...)
			wm := scaleMaxGo(want, 0.125)
			got := append([]float32(nil), s...)
			gm := scaleMax(got, 0.125)
			for i := range want {
				require.Equal(t, math.Float32bits(want[i]), math.Float32bits(got[i]), "n %d element %d", n, i)
			}
			if wm != wm {
				continue // with a NaN the maximum is unspecified: every weight is NaN
			}
			require.Equal(t, wm, gm, "n %d", n)
		}
	}
}
