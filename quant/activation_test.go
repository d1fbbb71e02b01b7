package quant

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestQuantizeActivation checks the x86 vectorized rounding: ties go to
// even, where the reference quantizer rounds them away from zero.
func TestQuantizeActivation(t *testing.T) {
	x := make([]float32, 32)
	x[0] = 127 // amax = 127, so the scale is exactly 1
	x[1], x[2], x[3], x[4] = 2.5, -3.5, 0.5, 1.49
	for _, tc := range []struct {
		typ  Type
		off  int
		want [5]int8
		ref  [5]int8
	}{
		{Q8_0, 2, [5]int8{127, 2, -4, 0, 1}, [5]int8{127, 3, -4, 1, 1}},
		{Q8_1, 4, [5]int8{127, 2, -4, 0, 1}, [5]int8{127, 3, -4, 1, 1}},
	} {
		t.Run(tc.typ.String(), func(t *testing.T) {
			act := make([]byte, tc.typ.TypeSize())
			ref := make([]byte, tc.typ.TypeSize())
			require.NoError(t, QuantizeActivation(tc.typ, x, act))
			require.NoError(t, Quantize(tc.typ, x, ref))
			for i := range tc.want {
				require.Equal(t, tc.want[i], int8(act[tc.off+i]), "activation value %d", i)
				require.Equal(t, tc.ref[i], int8(ref[tc.off+i]), "reference value %d", i)
			}
			require.Equal(t, float32(1), F16ToF32(uint16(act[0])|uint16(act[1])<<8))
			if tc.typ == Q8_1 {
				s := F16ToF32(uint16(act[2]) | uint16(act[3])<<8)
				require.Equal(t, float32(127+2-4+0+1), s)
			}
		})
	}
	// Other types go through Quantize unchanged.
	y := make([]float32, QK_K)
	for i := range y {
		y[i] = float32(math.Sin(float64(i)))
	}
	a, b := make([]byte, Q8_K.TypeSize()), make([]byte, Q8_K.TypeSize())
	require.NoError(t, QuantizeActivation(Q8_K, y, a))
	require.NoError(t, Quantize(Q8_K, y, b))
	require.Equal(t, b, a)
	require.Error(t, QuantizeActivation(Q8_0, x[:31], act32()))
}

func act32() []byte { return make([]byte, 34) }

// TestQuantizeActivationMatchesGo checks QuantizeActivation (AVX2 on
// amd64) against the Go quantizer byte for byte: Gaussian rows of several
// scales, all-zero and single-value blocks, ties at every rounding step,
// huge and tiny values, and rows with NaN or infinities (done in Go).
func TestQuantizeActivationMatchesGo(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	var rows [][]float32
	for _, n := range []int{32, 64, 576, 2048 + 32*70} {
		for _, sc := range []float64{1, 1e-3, 300, 1e-30, 1e-37, 1e37} {
			x := make([]float32, n)
			for i := range x {
				x[i] = float32(rng.NormFloat64() * sc)
			}
			rows = append(rows, x)
		}
	}
	ties := make([]float32, 64)
	ties[0] = 127
	for i := 1; i < 32; i++ {
		ties[i] = float32(i) - 63.5 // .5 ties at scale 1
	}
	ties[40] = -1e-45 // subnormal, rest of the block zero
	rows = append(rows, ties, make([]float32, 96), []float32{math.MaxFloat32, -math.MaxFloat32, 31: 1})
	for _, bad := range []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))} {
		x := make([]float32, 96)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		x[70] = bad
		rows = append(rows, x)
	}
	for _, typ := range []Type{Q8_0, Q8_1} {
		for i, x := range rows {
			got := make([]byte, len(x)/32*typ.TypeSize())
			want := make([]byte, len(got))
			require.NoError(t, QuantizeActivation(typ, x, got))
			quantQ8Act(typ, x, want)
			require.Equal(t, want, got, "%s row %d", typ, i)
		}
	}
}
