package quant

import (
	"math"
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
