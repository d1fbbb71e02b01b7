//go:build cudaemu

package emu

import (
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tscale/engine/backend"
	"github.com/tscale/engine/backend/cpu"
)

// ropeArgs are rope_f32's parameters after x, pos and factors.
func ropeArgs(cols, headDim int, r backend.RoPE) []uint64 {
	ext, attn, fast, slow, orig := float32(0), float32(1), float32(0), float32(0), 0
	if y := r.YaRN; y != nil {
		ext, attn, fast, slow, orig = y.ExtFactor, y.AttnFactor, y.BetaFast, y.BetaSlow, y.OrigCtx
	}
	neox := int64(0)
	if r.NeoX {
		neox = 1
	}
	return []uint64{I64(int64(cols)), I64(int64(headDim)), I64(int64(r.Dims)), I64(neox), F64(float64(r.Base)),
		F64(float64(r.FreqScale)), F64(float64(ext)), F64(float64(attn)), F64(float64(fast)), F64(float64(slow)),
		I64(int64(orig))}
}

// maxRowErr is the largest |got-want| of each row of n values over that
// row's RMS (want's), the worst over the rows; a NaN in got counts as +Inf
// where want has none.
func maxRowErr(want, got []float32, n int) float64 {
	worst := 0.0
	for r := 0; r*n < len(want); r++ {
		w, g := want[r*n:(r+1)*n], got[r*n:(r+1)*n]
		var ss, md float64
		for i := range w {
			ss += float64(w[i]) * float64(w[i])
			if g[i] != g[i] && w[i] == w[i] {
				return math.Inf(1)
			}
			md = max(md, math.Abs(float64(g[i])-float64(w[i])))
		}
		if rms := math.Sqrt(ss / float64(n)); rms > 0 {
			md /= rms
		}
		worst = max(worst, md)
	}
	return worst
}

func TestRopeKernel(t *testing.T) { bothOrders(t, testRopeKernel) }

func testRopeKernel(t *testing.T) {
	r := rand.New(rand.NewSource(10))
	be := cpu.New(1)
	factors := make([]float32, 64)
	for i := range factors {
		factors[i] = 1 + 7*float32(i)/63 // Llama 3's rope_freqs run from 1 to 8
	}
	yarn := &backend.YaRN{ExtFactor: 1, AttnFactor: 1, BetaFast: 32, BetaSlow: 1, OrigCtx: 4096}
	for _, c := range []struct {
		name           string
		rows, cols, hd int
		r              backend.RoPE
	}{
		{"normal 64", 6, 4 * 64, 64, backend.RoPE{Dims: 64, Base: 10000, FreqScale: 1}},
		{"neox 128 partial", 3, 2 * 128, 128, backend.RoPE{Dims: 64, Base: 1e6, FreqScale: 1, NeoX: true}},
		{"factors", 4, 3 * 128, 128, backend.RoPE{Dims: 128, Base: 500000, FreqScale: 1, Factors: factors}},
		{"linear 48, a tail", 4, 5*48 + 10, 48, backend.RoPE{Dims: 32, Base: 10000, FreqScale: 0.25}},
		{"yarn neox", 5, 4 * 64, 64, backend.RoPE{Dims: 64, Base: 150000, FreqScale: 1.0 / 32, NeoX: true, YaRN: yarn}},
		{"yarn mscale", 3, 2 * 16, 16, backend.RoPE{Dims: 16, Base: 10000, FreqScale: 0.125,
			YaRN: &backend.YaRN{ExtFactor: 0.5, AttnFactor: 0.9, BetaFast: 32, BetaSlow: 1, OrigCtx: 2048}}},
		{"hd 8 (stories260K's shape)", 3, 8 * 8, 8, backend.RoPE{Dims: 8, Base: 10000, FreqScale: 1}},
		{"yarn off, attn factor", 2, 2 * 16, 16, backend.RoPE{Dims: 16, Base: 10000, FreqScale: 1,
			YaRN: &backend.YaRN{AttnFactor: 0.75}}},
	} {
		x := randn(r, c.rows*c.cols)
		pos := make([]int32, c.rows)
		for i := range pos {
			pos[i] = int32(r.Intn(200000))
		}
		pos[0] = 0
		if len(pos) > 2 {
			pos[1], pos[2] = 1, 131071
		}
		want := cpuTensor(t, be, c.rows, c.cols, x)
		be.RoPE(want, c.hd, pos, c.r)
		var fp DevPtr
		if c.r.Factors != nil {
			fp = dev(t, c.r.Factors[:c.r.Dims/2])
		}
		xp := dev(t, x)
		args := append([]uint64{Ptr(xp), Ptr(dev(t, pos)), Ptr(fp)}, ropeArgs(c.cols, c.hd, c.r)...)
		require.NoError(t, Launch("rope_f32", Dim3{uint32(c.rows), 1, 1}, Dim3{64, 1, 1}, 0, args...))
		got, exp := back[float32](xp, len(x)), cpuRows(be, want)
		// cos and sin are double, rounded to float, on both sides: they
		// agree unless the two libms round a value the other way (about 1 in
		// 2^28; the GPU's double cos is within 2 ulps); a float ulp of cos
		// moves an output by 1e-7 of the row's scale at most.
		require.LessOrEqual(t, maxRowErr(exp, got, c.cols), 1e-6, c.name)
		// In emulation (glibc's cos against Go's) every value is the CPU's.
		diff := 0
		for i := range got {
			if math.Float32bits(got[i]) != math.Float32bits(exp[i]) {
				diff++
			}
		}
		require.Zero(t, diff, fmt.Sprintf("%s: values differing from the CPU's", c.name))
	}
}
