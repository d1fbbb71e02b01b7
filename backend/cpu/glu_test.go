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

// TestSiLUKernel checks silu (AVX2 on amd64: math.Exp's FMA path done
// four lanes at a time) against the scalar formula bit for bit over a
// sweep of float32 bit patterns (every sign and exponent: zeros,
// subnormals, the ±700 cut-off, infinities, NaNs) and odd lengths.
func TestSiLUKernel(t *testing.T) {
	var g []float32
	for b := uint64(0); b < 1<<32; b += 4093 {
		g = append(g, math.Float32frombits(uint32(b)))
	}
	for _, x := range []float32{699.99994, 700, -700, 700.00006, -699.99994, 88.7, -88.7, 103.9, -103.9, 0, float32(math.Copysign(0, -1))} {
		g = append(g, x)
	}
	r := rand.New(rand.NewPCG(13, 14))
	for i := 0; i < 20000; i++ {
		g = append(g, float32(r.NormFloat64()*4))
	}
	u := randn(r, len(g))
	for _, n := range []int{len(g), 3, 6, 4} {
		d := make([]float32, n)
		silu(d, g[:n], u[:n])
		for i, x := range g[:n] {
			want := x / (1 + float32(math.Exp(float64(-x)))) * u[i]
			if want != want && d[i] != d[i] {
				continue
			}
			require.Equal(t, math.Float32bits(want), math.Float32bits(d[i]), "g %v (%08x)", x, math.Float32bits(x))
		}
	}
}

// TestExpShift checks the softmax's exp (AVX2 on amd64) against the scalar
// float32(math.Exp(float64(x - m))) bit for bit, in place as attention
// calls it, over a sweep of float32 bit patterns and several shifts.
func TestExpShift(t *testing.T) {
	var s []float32
	for b := uint64(0); b < 1<<32; b += 8191 {
		s = append(s, math.Float32frombits(uint32(b)))
	}
	s = append(s, -699.99994, -700, -700.00006, 0, -1e-30, -88, -104)
	for _, m := range []float32{0, 3.5, -12, 650} {
		for _, n := range []int{len(s), 5, 3, 13, 1} {
			d := append([]float32(nil), s[:n]...)
			expShift(d, d, m)
			for i, x := range s[:n] {
				want := float32(math.Exp(float64(x - m)))
				if want != want && d[i] != d[i] {
					continue
				}
				require.Equal(t, math.Float32bits(want), math.Float32bits(d[i]), "x %v m %v", x, m)
			}
		}
	}
	// A huge argument in the masked last group (and in a full one) goes
	// the scalar way; the rest stays exact and nothing past n is written.
	for _, s := range [][]float32{{1, 2, 3, 4, 5, 6, 7, 8, -800, 0.5, 2}, {-800, 1, 2, 3, 4, 5, 6, 7, 8, 9}, {0.25, -3, 1e-3}} {
		d := append(append([]float32(nil), s...), 42)
		expShift(d[:len(s)], d[:len(s)], 1)
		for i, x := range s {
			require.Equal(t, math.Float32bits(float32(math.Exp(float64(x-1)))), math.Float32bits(d[i]), "x %v", x)
		}
		require.Equal(t, float32(42), d[len(s)])
	}
}
