package cpu

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tscale/engine/backend"
)

// TestGLUMatchesScalar checks GLU, split over threads and (for GELU)
// rounded to F16 a segment at a time, against the scalar activations bit
// for bit, at sizes below and above the split and segment lengths.
func TestGLUMatchesScalar(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for _, act := range []backend.Act{backend.SiLU, backend.GELUTanh, backend.SwiGLUOAI} {
		for _, n := range []int{1, 7, 300, 40000} {
			g, u := randn(r, n), randn(r, n)
			for i := range g {
				g[i] *= 6 // reach gelu's ±10 cut-offs
			}
			g[0] = 10
			if n > 1 {
				g[1] = -10
			}
			be := New(2)
			dst := be.Alloc(1, n)
			be.GLU(dst, fill(be, 1, n, g), fill(be, 1, n, u), act)
			for i, x := range g {
				var want float32
				switch act {
				case backend.SiLU:
					want = x / (1 + float32(math.Exp(float64(-x)))) * u[i]
				case backend.GELUTanh:
					want = gelu(x) * u[i]
				default:
					want = swigluOAI(x, u[i])
				}
				require.Equal(t, math.Float32bits(want), math.Float32bits(data(dst)[i]), "act %d n %d i %d", act, n, i)
			}
		}
	}
}
