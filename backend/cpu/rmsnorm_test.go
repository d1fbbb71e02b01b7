package cpu

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tscale/engine/quant"
)

// TestRMSNormRowsExact: the four-row interleaving and the thread split give
// every row exactly ggml's single-row form (float64 sum of float32
// squares in element order), for row counts around the interleave and
// split sizes, in place too.
func TestRMSNormRowsExact(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, tc := range []struct{ rows, cols, group, threads int }{
		{1, 8, 8, 1}, {4, 8, 8, 1}, {5, 7, 7, 2}, {9, 16, 4, 1}, {37, 64, 64, 2}, {64, 40, 8, 3},
	} {
		be := New(tc.threads)
		x := randn(r, tc.rows*tc.cols)
		g := randn(r, tc.group)
		w, err := be.Upload("g", quant.F32, []int64{int64(tc.group)}, f32bytes(g))
		require.NoError(t, err)
		want := make([]float32, len(x))
		for off := 0; off < len(x); off += tc.group {
			var sum float64
			for _, v := range x[off : off+tc.group] {
				sum += float64(v * v)
			}
			scale := 1 / float32(math.Sqrt(float64(float32(sum/float64(tc.group))+1e-6)))
			for i, v := range x[off : off+tc.group] {
				want[off+i] = v * scale * g[i]
			}
		}
		dst := be.Alloc(tc.rows, tc.cols)
		be.RMSNorm(dst, fill(be, tc.rows, tc.cols, x), w, 1e-6)
		require.Equal(t, want, data(dst), "%+v", tc)
		in := fill(be, tc.rows, tc.cols, x)
		be.RMSNorm(in, in, w, 1e-6)
		require.Equal(t, want, data(in), "%+v in place", tc)
	}
}
