//go:build cudaemu

package cuda

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"

	"github.com/tscale/engine/backend"
	"github.com/tscale/engine/backend/cpu"
	"github.com/tscale/engine/quant"
)

// Each op of the backend over the emulated driver against the CPU backend's
// on the same random inputs: the wiring (shapes, strides, scratch, kernel
// parameters). Every output tensor is poisoned with NaN first, so an
// element the op does not write fails.

type pair struct {
	c *cpu.Backend
	g *Backend
	r *rand.Rand
}

func newPair(t *testing.T, seed int64) *pair {
	t.Helper()
	g, err := New(func() (Driver, error) { return newEmuDriver(), nil })
	require.NoError(t, err)
	g.poison = true
	t.Cleanup(func() { require.NoError(t, g.Close()) })
	return &pair{c: cpu.New(2), g: g, r: rand.New(rand.NewSource(seed))}
}

func (p *pair) randn(n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(p.r.NormFloat64())
	}
	return x
}

// in is a rows × cols input on both backends holding x.
func (p *pair) in(rows, cols int, x []float32) (backend.Tensor, backend.Tensor) {
	c := cpu.NewTensor(rows, cols, append([]float32(nil), x...))
	g := p.g.Alloc(rows, cols)
	if len(x) > 0 {
		p.g.t.do(func() { p.g.htod(ten(g).p, unsafe.Pointer(&x[0]), int64(4*len(x))) })
	}
	return c, g
}

// rnd is a random rows × cols input on both backends.
func (p *pair) rnd(rows, cols int) (backend.Tensor, backend.Tensor) {
	return p.in(rows, cols, p.randn(rows*cols))
}

// out is an output: NaN on the device (poison), zeros on the CPU.
func (p *pair) out(rows, cols int) (backend.Tensor, backend.Tensor) {
	return p.c.Alloc(rows, cols), p.g.Alloc(rows, cols)
}

func read(be backend.Backend, x backend.Tensor) []float32 {
	out := make([]float32, x.Rows()*x.Cols())
	for r := 0; r < x.Rows(); r++ {
		be.Read(x, r, out[r*x.Cols():(r+1)*x.Cols()])
	}
	return out
}

// weight uploads x (GGML shape) in type typ to both backends.
func (p *pair) weight(t *testing.T, typ quant.Type, shape []int64, x []float32) (backend.Weight, backend.Weight) {
	t.Helper()
	rb, err := quant.RowBytes(typ, shape[0])
	require.NoError(t, err)
	rows := len(x) / int(shape[0])
	data := make([]byte, int(rb)*rows)
	for r := 0; r < rows; r++ {
		require.NoError(t, quant.Quantize(typ, x[r*int(shape[0]):(r+1)*int(shape[0])], data[r*int(rb):(r+1)*int(rb)]))
	}
	c, err := p.c.Upload("w", typ, shape, data)
	require.NoError(t, err)
	g, err := p.g.Upload("w", typ, shape, data)
	require.NoError(t, err)
	return c, g
}

// rowErr is the largest |got-want| of each row of n values over the row's
// RMS, the worst over the rows; a NaN where want has none is +Inf.
func rowErr(want, got []float32, n int) float64 {
	worst := 0.0
	for r := 0; r*n < len(want); r++ {
		w, g := want[r*n:(r+1)*n], got[r*n:(r+1)*n]
		var ss, md float64
		for i := range w {
			if math.IsNaN(float64(g[i])) && !math.IsNaN(float64(w[i])) {
				return math.Inf(1)
			}
			ss += float64(w[i]) * float64(w[i])
			md = max(md, math.Abs(float64(g[i])-float64(w[i])))
		}
		if rms := math.Sqrt(ss / float64(n)); rms > 0 {
			md /= rms
		}
		worst = max(worst, md)
	}
	return worst
}

// check compares the two backends' x within tol (row-normalised).
func (p *pair) check(t *testing.T, c, g backend.Tensor, tol float64, what string) {
	t.Helper()
	require.Equal(t, c.Rows(), g.Rows())
	require.Equal(t, c.Cols(), g.Cols())
	e := rowErr(read(p.c, c), read(p.g, g), c.Cols())
	if e > tol {
		t.Logf("want %v\n got %v", read(p.c, c), read(p.g, g))
	}
	require.LessOrEqual(t, e, tol, "%s: normalised error", what)
}

func TestElementwiseOps(t *testing.T) {
	p := newPair(t, 1)
	for _, n := range []struct{ rows, cols int }{{1, 64}, {3, 100}, {7, 1000}} {
		name := fmt.Sprintf("%dx%d", n.rows, n.cols)
		ca, ga := p.rnd(n.rows, n.cols)
		cb, gb := p.rnd(n.rows, n.cols)

		cd, gd := p.out(n.rows, n.cols)
		p.c.Add(cd, ca, cb)
		p.g.Add(gd, ga, gb)
		p.check(t, cd, gd, 0, "add "+name)

		for _, act := range []backend.Act{backend.SiLU, backend.GELUTanh, backend.SwiGLUOAI} {
			cd, gd := p.out(n.rows, n.cols)
			p.c.GLU(cd, ca, cb, act)
			p.g.GLU(gd, ga, gb, act)
			p.check(t, cd, gd, 1e-6, fmt.Sprintf("glu %d %s", act, name))
		}

		cs, gs := p.in(n.rows, n.cols, read(p.c, ca))
		p.c.Softcap(cs, 1.5)
		p.g.Softcap(gs, 1.5)
		p.check(t, cs, gs, 1e-6, "softcap "+name)

		cx, gx := p.in(n.rows, n.cols, read(p.c, ca))
		cg, gg := p.rnd(n.rows, 1)
		p.c.SigmoidGate(cx, cg)
		p.g.SigmoidGate(gx, gg)
		p.check(t, cx, gx, 1e-6, "sigmoid gate "+name)

		rows := []int{n.rows - 1, 0}
		cd, gd = p.out(2, n.cols)
		p.c.Gather(cd, ca, rows)
		p.g.Gather(gd, ga, rows)
		p.check(t, cd, gd, 0, "gather "+name)
		require.Equal(t, p.c.Argmax(ca, rows), p.g.Argmax(ga, rows), "argmax %s", name)
	}
}

func TestRMSNormOp(t *testing.T) {
	p := newPair(t, 2)
	for _, c := range []struct{ rows, cols, group int }{{1, 64, 64}, {5, 288, 288}, {3, 128, 32}, {2, 1024, 1024}} {
		cx, gx := p.rnd(c.rows, c.cols)
		wc, wg := p.weight(t, quant.F32, []int64{int64(c.group)}, p.randn(c.group))
		cd, gd := p.out(c.rows, c.cols)
		p.c.RMSNorm(cd, cx, wc, 1e-5)
		p.g.RMSNorm(gd, gx, wg, 1e-5)
		p.check(t, cd, gd, 1e-6, fmt.Sprintf("rmsnorm %+v", c))
		// In place, with an F16 weight (decoded at upload).
		wc, wg = p.weight(t, quant.F16, []int64{int64(c.group)}, p.randn(c.group))
		p.c.RMSNorm(cx, cx, wc, 1e-6)
		p.g.RMSNorm(gx, gx, wg, 1e-6)
		p.check(t, cx, gx, 1e-6, fmt.Sprintf("rmsnorm in place %+v", c))
	}
}

func TestRoPEOp(t *testing.T) {
	p := newPair(t, 3)
	factors := make([]float32, 16)
	for i := range factors {
		factors[i] = 1 + float32(i)/4
	}
	for _, c := range []struct {
		name    string
		headDim int
		cols    int
		r       backend.RoPE
	}{
		{"normal", 32, 128, backend.RoPE{Dims: 32, Base: 10000, FreqScale: 1}},
		{"neox", 32, 64, backend.RoPE{Dims: 32, Base: 1e6, FreqScale: 1, NeoX: true}},
		{"partial", 64, 128, backend.RoPE{Dims: 32, Base: 10000, FreqScale: 0.5}},
		{"factors", 32, 96, backend.RoPE{Dims: 32, Base: 500000, FreqScale: 1, Factors: factors}},
		{"yarn", 32, 64, backend.RoPE{Dims: 32, Base: 10000, FreqScale: 0.25, NeoX: true,
			YaRN: &backend.YaRN{ExtFactor: 1, AttnFactor: 1, BetaFast: 32, BetaSlow: 1, OrigCtx: 4096}}},
	} {
		pos := []int32{0, 1, 17, 300, 4095}
		cx, gx := p.rnd(len(pos), c.cols)
		p.c.RoPE(cx, c.headDim, pos, c.r)
		p.g.RoPE(gx, c.headDim, pos, c.r)
		p.check(t, cx, gx, 1e-6, "rope "+c.name)
	}
}

// quantTypes are the stored types of the embedding and product tests.
var quantTypes = []quant.Type{quant.F32, quant.F16, quant.BF16, quant.Q8_0, quant.Q4_0, quant.Q4_1, quant.Q5_0,
	quant.Q5_1, quant.Q2_K, quant.Q3_K, quant.Q4_K, quant.Q5_K, quant.Q6_K, quant.MXFP4}

func TestEmbedOp(t *testing.T) {
	p := newPair(t, 4)
	const dim, vocab = 256, 11
	for _, typ := range quantTypes {
		wc, wg := p.weight(t, typ, []int64{dim, vocab}, p.randn(dim*vocab))
		ids := []int32{3, 0, 10, 3}
		cd, gd := p.out(len(ids), dim)
		p.c.Embed(cd, wc, ids, 0.5)
		p.g.Embed(gd, wg, ids, 0.5)
		p.check(t, cd, gd, 1e-6, "embed "+typ.String())
	}
}

func TestMatMulOp(t *testing.T) {
	p := newPair(t, 5)
	const in, out = 256, 40
	for _, typ := range quantTypes {
		for _, rows := range []int{1, 5} {
			wc, wg := p.weight(t, typ, []int64{in, out}, p.randn(in*out))
			bc, bg := p.weight(t, quant.F32, []int64{out}, p.randn(out))
			cx, gx := p.rnd(rows, in)
			cd, gd := p.out(rows, out)
			p.c.MatMul(cd, cx, wc, nil)
			p.g.MatMul(gd, gx, wg, nil)
			p.check(t, cd, gd, 1e-5, fmt.Sprintf("matmul %s × %d rows", typ, rows))
			p.c.MatMul(cd, cx, wc, bc)
			p.g.MatMul(gd, gx, wg, bg)
			p.check(t, cd, gd, 1e-5, fmt.Sprintf("matmul %s × %d rows + bias", typ, rows))
		}
	}
}

// attnTol: the device's online softmax sums in another order than the
// CPU's (kernels/attention.cu).
const attnTol = 2e-3

func TestAttentionOp(t *testing.T) {
	for _, c := range []struct {
		name               string
		heads, kvHeads, hd int
		window             int
		softcap            float32
		sinks              bool
	}{
		{"gqa", 4, 2, 16, 0, 0, false},
		{"mha window", 4, 4, 32, 5, 0, false},
		{"softcap", 8, 2, 32, 0, 30, false},
		{"sinks window", 4, 2, 64, 8, 0, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := newPair(t, 6)
			spec := backend.KVSpec{Layers: 2, KVDim: c.kvHeads * c.hd, Blocks: 12, BlockSize: 4, Type: quant.F16}
			ck, err := p.c.NewKV(spec)
			require.NoError(t, err)
			gk, err := p.g.NewKV(spec)
			require.NoError(t, err)
			a := backend.Attn{Layer: 1, Heads: c.heads, KVHeads: c.kvHeads, HeadDim: c.hd,
				Scale: 1 / float32(math.Sqrt(float64(c.hd))), Window: c.window, Softcap: c.softcap}
			ca, ga := a, a
			if c.sinks {
				ca.Sinks, ga.Sinks = p.weight(t, quant.F32, []int64{int64(c.heads)}, p.randn(c.heads))
			}
			tables := [][]int32{{5, 2, 9}, {0, 7, 3, 11}}
			// A prefill of 7 and 10 tokens, then one decode step each.
			steps := []backend.Batch{
				{Tokens: make([]int32, 17), Blocks: tables},
				{Tokens: make([]int32, 2), Pos: []int32{7, 10}, Seq: []int32{0, 1}, Blocks: tables},
			}
			for i := 0; i < 7; i++ {
				steps[0].Pos, steps[0].Seq = append(steps[0].Pos, int32(i)), append(steps[0].Seq, 0)
			}
			for i := 0; i < 10; i++ {
				steps[0].Pos, steps[0].Seq = append(steps[0].Pos, int32(i)), append(steps[0].Seq, 1)
			}
			for si := range steps {
				bt := &steps[si]
				n, qd := bt.Len(), c.heads*c.hd
				cq, gq := p.rnd(n, qd)
				ckk, gkk := p.rnd(n, spec.KVDim)
				cv, gv := p.rnd(n, spec.KVDim)
				cd, gd := p.out(n, qd)
				p.c.Attention(cd, cq, ckk, cv, ck, bt, ca)
				p.g.Attention(gd, gq, gkk, gv, gk, bt, ga)
				p.check(t, cd, gd, attnTol, fmt.Sprintf("step %d", si))
			}
			// Copy-on-write: sequence 1's last block (positions 8-10) into a fresh
			// one, then
			// a decode step of a fork over the copy.
			ck.CopyBlock(4, 3)
			gk.CopyBlock(4, 3)
			fork := &backend.Batch{Tokens: []int32{0}, Pos: []int32{11}, Seq: []int32{0}, Blocks: [][]int32{{0, 7, 4}}}
			cq, gq := p.rnd(1, c.heads*c.hd)
			ckk, gkk := p.rnd(1, spec.KVDim)
			cv, gv := p.rnd(1, spec.KVDim)
			cd, gd := p.out(1, c.heads*c.hd)
			p.c.Attention(cd, cq, ckk, cv, ck, fork, ca)
			p.g.Attention(gd, gq, gkk, gv, gk, fork, ga)
			p.check(t, cd, gd, attnTol, "fork over a copied block")
		})
	}
}

func TestMoEOps(t *testing.T) {
	for _, c := range []struct {
		name           string
		typ            quant.Type
		experts, k, ff int
		gating         backend.Gating
		norm           bool
		scale          float32
		act            backend.Act
		bias           bool
	}{
		{"mixtral", quant.Q8_0, 4, 2, 64, backend.Softmax, true, 0, backend.SiLU, false},
		{"qwen2moe", quant.F32, 6, 2, 32, backend.Softmax, false, 0, backend.SiLU, false},
		{"sigmoid scaled", quant.Q4_K, 8, 3, 256, backend.Sigmoid, true, 2.5, backend.GELUTanh, false},
		{"gpt-oss", quant.MXFP4, 8, 4, 64, backend.SoftmaxWeight, false, 0, backend.SwiGLUOAI, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := newPair(t, 7)
			const dim, n = 256, 5
			r := backend.Route{Layer: 1, Experts: c.experts, K: c.k, Gating: c.gating, Norm: c.norm, Scale: c.scale}
			cl, gl := p.rnd(n, c.experts)
			crt, grt := p.c.MoERoute(cl, r), p.g.MoERoute(gl, r)
			require.Equal(t, n, grt.Tokens())
			require.Equal(t, c.k, grt.K())
			var ce, ge backend.Experts
			ce.Gate, ge.Gate = p.weight(t, c.typ, []int64{dim, int64(c.ff), int64(c.experts)}, p.randn(dim*c.ff*c.experts))
			ce.Up, ge.Up = p.weight(t, c.typ, []int64{dim, int64(c.ff), int64(c.experts)}, p.randn(dim*c.ff*c.experts))
			ce.Down, ge.Down = p.weight(t, c.typ, []int64{int64(c.ff), dim, int64(c.experts)}, p.randn(dim*c.ff*c.experts))
			if c.bias {
				ce.GateBias, ge.GateBias = p.weight(t, quant.F32, []int64{int64(c.ff), int64(c.experts)}, p.randn(c.ff*c.experts))
				ce.UpBias, ge.UpBias = p.weight(t, quant.F32, []int64{int64(c.ff), int64(c.experts)}, p.randn(c.ff*c.experts))
				ce.DownBias, ge.DownBias = p.weight(t, quant.F32, []int64{dim, int64(c.experts)}, p.randn(dim*c.experts))
			}
			cx, gx := p.rnd(n, dim)
			cd, gd := p.out(n, dim)
			p.c.MoEExperts(cd, cx, crt, ce, c.act)
			p.g.MoEExperts(gd, gx, grt, ge, c.act)
			p.check(t, cd, gd, 1e-5, "experts")
			require.Equal(t, p.c.ExpertCounts(), p.g.ExpertCounts(), "tokens routed per expert")
		})
	}
}

// TestArena: a warm forward allocates no device memory, and Reset makes
// the arena's memory reused.
func TestArena(t *testing.T) {
	p := newPair(t, 8)
	step := func(rows int) {
		p.g.Reset()
		a, b := p.g.Alloc(rows, 4096), p.g.Alloc(rows, 4096)
		d := p.g.Alloc(rows, 4096)
		p.g.Add(d, a, b)
	}
	step(100) // grows the arena past its first chunk
	step(100) // coalesces into one chunk
	s := p.g.Stats()
	for i := 0; i < 3; i++ {
		step(100)
		step(1)
	}
	s2 := p.g.Stats()
	require.Equal(t, s.Mallocs, s2.Mallocs, "device allocations in warm forwards")
	require.Equal(t, s.Launches+6, s2.Launches)
	require.Equal(t, s.Forwards+6, s2.Forwards)
	require.Len(t, p.g.ar.chunks, 1)
}

func f32bytes(x []float32) []byte {
	b := make([]byte, 4*len(x))
	for i, v := range x {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return b
}

// TestUploadErrors: a short tensor is refused before anything is copied.
func TestUploadErrors(t *testing.T) {
	p := newPair(t, 9)
	_, err := p.g.Upload("w", quant.F32, []int64{4, 2}, f32bytes(make([]float32, 7)))
	require.ErrorContains(t, err, "cuda: tensor w: 28 bytes, want 32")
	require.Zero(t, p.g.Stats().Mallocs)
}
