//go:build cuda || cudaemu

package cuda

import (
	"fmt"
	"math"
	"math/rand"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tscale/engine/backend"
	"github.com/tscale/engine/backend/cpu"
	"github.com/tscale/engine/quant"
)

// The GPU check's op test (gpu/run.sh): every op of this build's device
// (the GPU under -tags cuda, the emulator under cudaemu, where it checks
// this test itself) against the CPU backend on the same random inputs,
// fresh on each GPU run (ENGINE_GPU_SEED, else 1). Device outputs are
// poisoned with NaN first; the normalised error ‖dev−cpu‖/‖cpu‖ must be
// under the op's threshold, and a NaN or Inf never passes. Inputs reach the
// device through the interface only (an F32 table and Embed), so the
// harness is the same on both backends. On a real GPU the shapes are
// larger. Each op prints one "gpucheck" line.

var gpuTypes = []quant.Type{quant.F32, quant.F16, quant.BF16, quant.Q8_0, quant.Q4_0, quant.Q4_1, quant.Q5_0,
	quant.Q5_1, quant.Q2_K, quant.Q3_K, quant.Q4_K, quant.Q5_K, quant.Q6_K, quant.MXFP4}

// gpuEnv makes one backend's inputs from a seeded source: the same seed
// gives both backends the same values.
type gpuEnv struct {
	t  *testing.T
	be backend.Backend
	r  *rand.Rand
	n  int // uploads, for names
}

func (e *gpuEnv) randn(n int, scale float64) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(e.r.NormFloat64() * scale)
	}
	return x
}

func (e *gpuEnv) weight(typ quant.Type, shape []int64, x []float32) backend.Weight {
	e.t.Helper()
	rb, err := quant.RowBytes(typ, shape[0])
	require.NoError(e.t, err)
	rows := len(x) / int(shape[0])
	data := make([]byte, int(rb)*rows)
	for r := range rows {
		require.NoError(e.t, quant.Quantize(typ, x[r*int(shape[0]):(r+1)*int(shape[0])], data[r*int(rb):(r+1)*int(rb)]))
	}
	e.n++
	w, err := e.be.Upload(fmt.Sprintf("in%d", e.n), typ, shape, data)
	require.NoError(e.t, err)
	return w
}

// put is a rows × cols activation holding x (an F32 table, embedded).
func (e *gpuEnv) put(rows, cols int, x []float32) backend.Tensor {
	w := e.weight(quant.F32, []int64{int64(cols), int64(rows)}, x)
	ids := make([]int32, rows)
	for i := range ids {
		ids[i] = int32(i)
	}
	d := e.be.Alloc(rows, cols)
	e.be.Embed(d, w, ids, 1)
	return d
}

func (e *gpuEnv) rnd(rows, cols int, scale float64) backend.Tensor {
	return e.put(rows, cols, e.randn(rows*cols, scale))
}

func (e *gpuEnv) get(x backend.Tensor) []float32 {
	out := make([]float32, x.Rows()*x.Cols())
	for r := range x.Rows() {
		e.be.Read(x, r, out[r*x.Cols():(r+1)*x.Cols()])
	}
	return out
}

type gpuOp struct {
	name string
	tol  float64
	run  func(e *gpuEnv) []float32
}

// gpuShape: rows, row length (a multiple of 256 for the K-quants), matrix
// outputs.
type gpuShape struct{ R, K, N int }

func gpuOps(s gpuShape) []gpuOp {
	R, K, N := s.R, s.K, s.N
	ops := []gpuOp{
		{"add", 1e-6, func(e *gpuEnv) []float32 {
			a, b := e.rnd(R, K, 1), e.rnd(R, K, 1)
			d := e.be.Alloc(R, K)
			e.be.Add(d, a, b)
			return e.get(d)
		}},
		{"softcap", 1e-5, func(e *gpuEnv) []float32 {
			x := e.rnd(R, K, 20)
			e.be.Softcap(x, 30)
			return e.get(x)
		}},
		{"sigmoid_gate", 1e-5, func(e *gpuEnv) []float32 {
			x, g := e.rnd(R, K, 1), e.rnd(R, 1, 3)
			e.be.SigmoidGate(x, g)
			return e.get(x)
		}},
		{"gather", 0, func(e *gpuEnv) []float32 {
			x := e.rnd(R, K, 1)
			rows := []int{R - 1, 0, R / 2, R - 1}
			d := e.be.Alloc(len(rows), K)
			e.be.Gather(d, x, rows)
			return e.get(d)
		}},
		{"argmax", 0, func(e *gpuEnv) []float32 {
			x := e.rnd(R, 3*K+7, 1)
			var out []float32
			for _, id := range e.be.Argmax(x, []int{R - 1, 0, R / 2}) {
				out = append(out, float32(id))
			}
			return out
		}},
		{"rmsnorm row", 1e-5, func(e *gpuEnv) []float32 {
			x, w := e.rnd(R, K, 3), e.weight(quant.F32, []int64{int64(K)}, e.randn(K, 1))
			d := e.be.Alloc(R, K)
			e.be.RMSNorm(d, x, w, 1e-6)
			return e.get(d)
		}},
		{"rmsnorm head", 1e-5, func(e *gpuEnv) []float32 {
			x, w := e.rnd(R, K, 3), e.weight(quant.F32, []int64{64}, e.randn(64, 1))
			d := e.be.Alloc(R, K)
			e.be.RMSNorm(d, x, w, 1e-5)
			return e.get(d)
		}},
	}
	for _, a := range []struct {
		name string
		act  backend.Act
		tol  float64
	}{{"silu", backend.SiLU, 1e-5}, {"gelu_tanh", backend.GELUTanh, 2e-3}, {"swiglu_oai", backend.SwiGLUOAI, 1e-5}} {
		ops = append(ops, gpuOp{"glu " + a.name, a.tol, func(e *gpuEnv) []float32 {
			g, u := e.rnd(R, K, 4), e.rnd(R, K, 4)
			d := e.be.Alloc(R, K)
			e.be.GLU(d, g, u, a.act)
			return e.get(d)
		}})
	}
	for _, typ := range gpuTypes {
		ops = append(ops, gpuOp{"embed " + typ.String(), 1e-6, func(e *gpuEnv) []float32 {
			const vocab = 37
			w := e.weight(typ, []int64{int64(K), vocab}, e.randn(K*vocab, 1))
			ids := make([]int32, R)
			for i := range ids {
				ids[i] = int32(e.r.Intn(vocab))
			}
			d := e.be.Alloc(R, K)
			e.be.Embed(d, w, ids, 0.7)
			return e.get(d)
		}})
		tol := 2e-3 // activations quantized as the CPU does, sums in another order
		if typ == quant.F32 {
			tol = 1e-5
		}
		for _, bias := range []bool{false, true} {
			if bias && typ != quant.F32 && typ != quant.Q8_0 && typ != quant.MXFP4 {
				continue
			}
			name := "matmul " + typ.String()
			if bias {
				name += " +bias"
			}
			ops = append(ops, gpuOp{name, tol, func(e *gpuEnv) []float32 {
				w := e.weight(typ, []int64{int64(K), int64(N)}, e.randn(K*N, 0.1))
				var b backend.Weight
				if bias {
					b = e.weight(quant.F32, []int64{int64(N)}, e.randn(N, 1))
				}
				x := e.rnd(R, K, 1)
				d := e.be.Alloc(R, N)
				e.be.MatMul(d, x, w, b)
				return e.get(d)
			}})
		}
	}
	const hd, heads = 64, 4
	for _, r := range []struct {
		name string
		rope backend.RoPE
	}{
		{"normal", backend.RoPE{Dims: hd, Base: 10000, FreqScale: 1}},
		{"neox partial", backend.RoPE{Dims: hd / 2, Base: 1e6, FreqScale: 1, NeoX: true}},
		{"factors", backend.RoPE{Dims: hd, Base: 500000, FreqScale: 1, Factors: gpuFactors(hd / 2)}},
		{"yarn", backend.RoPE{Dims: hd, Base: 150000, FreqScale: 1.0 / 32, NeoX: true,
			YaRN: &backend.YaRN{ExtFactor: 1, AttnFactor: 1, BetaFast: 32, BetaSlow: 1, OrigCtx: 4096}}},
	} {
		ops = append(ops, gpuOp{"rope " + r.name, 1e-4, func(e *gpuEnv) []float32 {
			x := e.rnd(R, heads*hd, 1)
			pos := make([]int32, R)
			for i := range pos {
				pos[i] = int32(e.r.Intn(8000))
			}
			e.be.RoPE(x, hd, pos, r.rope)
			return e.get(x)
		}})
	}
	for _, a := range []struct {
		name           string
		heads, kvHeads int
		window         int
		softcap        float32
		sinks          bool
	}{
		{"gqa", 8, 2, 0, 0, false},
		{"window", 4, 4, 7, 0, false},
		{"softcap", 4, 2, 0, 50, false},
		{"sinks window", 8, 4, 5, 0, true},
	} {
		ops = append(ops, gpuOp{"attention " + a.name, 2e-3, func(e *gpuEnv) []float32 {
			spec := backend.KVSpec{Layers: 2, KVDim: a.kvHeads * hd, Blocks: 24, BlockSize: 16, Type: quant.F16}
			kv, err := e.be.NewKV(spec)
			require.NoError(e.t, err)
			at := backend.Attn{Layer: 1, Heads: a.heads, KVHeads: a.kvHeads, HeadDim: hd,
				Scale: 1 / float32(math.Sqrt(hd)), Window: a.window, Softcap: a.softcap}
			if a.sinks {
				at.Sinks = e.weight(quant.F32, []int64{int64(a.heads)}, e.randn(a.heads, 1))
			}
			table := []int32{9, 3, 17, 0, 12, 5, 20, 1}
			var out []float32
			// A prefill of R+3 tokens (several blocks), then two decode steps,
			// the second over a copied last block (copy-on-write of a fork).
			n := R + 3
			pre := &backend.Batch{Tokens: make([]int32, n), Seq: make([]int32, n), Blocks: [][]int32{table}}
			for i := range n {
				pre.Pos = append(pre.Pos, int32(i))
			}
			fork := append([]int32(nil), table...)
			last := n / spec.BlockSize
			fork[last] = 23
			steps := []*backend.Batch{pre,
				{Tokens: []int32{0}, Pos: []int32{int32(n)}, Seq: []int32{0}, Blocks: [][]int32{table}},
				{Tokens: []int32{0}, Pos: []int32{int32(n)}, Seq: []int32{0}, Blocks: [][]int32{fork}},
			}
			for i, bt := range steps {
				if i == 2 {
					kv.CopyBlock(23, int(table[last]))
				}
				q := e.rnd(bt.Len(), a.heads*hd, 1)
				k, v := e.rnd(bt.Len(), spec.KVDim, 1), e.rnd(bt.Len(), spec.KVDim, 1)
				d := e.be.Alloc(bt.Len(), a.heads*hd)
				e.be.Attention(d, q, k, v, kv, bt, at)
				out = append(out, e.get(d)...)
			}
			return out
		}})
	}
	// Cascade: 16 forks of a prompt (its full blocks shared, the partial
	// last one copied) decode two steps; on the device the shared blocks
	// are read once per step (KV bytes asserted), the output as the CPU's.
	ops = append(ops, gpuOp{"attention cascade 16 forks", 2e-3, func(e *gpuEnv) []float32 {
		const forks, bs = 16, 16
		n := 4*R + 5
		full := n / bs
		spec := backend.KVSpec{Layers: 1, KVDim: 2 * hd, Blocks: full + 1 + forks, BlockSize: bs, Type: quant.F16}
		kv, err := e.be.NewKV(spec)
		require.NoError(e.t, err)
		at := backend.Attn{Heads: 8, KVHeads: 2, HeadDim: hd, Scale: 1 / float32(math.Sqrt(hd))}
		tables := make([][]int32, forks)
		for f := range tables {
			for b := 0; b <= full+2; b++ {
				tables[f] = append(tables[f], int32(min(b, full)))
			}
			tables[f][full] = int32(full + f) // fork 0 keeps the prompt's partial block
		}
		pre := &backend.Batch{Tokens: make([]int32, n), Seq: make([]int32, n), Blocks: tables[:1]}
		for i := range n {
			pre.Pos = append(pre.Pos, int32(i))
		}
		run := func(bt *backend.Batch) []float32 {
			q := e.rnd(bt.Len(), at.Heads*hd, 1)
			k, v := e.rnd(bt.Len(), spec.KVDim, 1), e.rnd(bt.Len(), spec.KVDim, 1)
			d := e.be.Alloc(bt.Len(), at.Heads*hd)
			e.be.Attention(d, q, k, v, kv, bt, at)
			return e.get(d)
		}
		out := run(pre)
		for f := 1; f < forks; f++ {
			kv.CopyBlock(full+f, full)
		}
		for step := 0; step < 2; step++ {
			bt := &backend.Batch{Blocks: tables}
			for f := range forks {
				bt.Tokens, bt.Pos, bt.Seq = append(bt.Tokens, 0), append(bt.Pos, int32(n+step)), append(bt.Seq, int32(f))
			}
			var before Stats
			dev, _ := e.be.(*Backend)
			if dev != nil {
				before = dev.Stats()
			}
			out = append(out, run(bt)...)
			if dev != nil {
				own := n + step + 1 - full*bs
				require.Equal(e.t, int64(full*bs+forks*own)*int64(spec.KVDim)*2*2, dev.Stats().KVBytes-before.KVBytes,
					"step %d: KV bytes: %d shared positions once, %d own per fork", step, full*bs, own)
			}
		}
		return out
	}})
	for _, m := range []struct {
		name   string
		typ    quant.Type
		route  backend.Route
		act    backend.Act
		biases bool
	}{
		{"softmax norm F32", quant.F32, backend.Route{Experts: 4, K: 2, Gating: backend.Softmax, Norm: true}, backend.SiLU, false},
		{"sigmoid scale Q8_0", quant.Q8_0, backend.Route{Layer: 1, Experts: 6, K: 3, Gating: backend.Sigmoid, Norm: true, Scale: 2.5}, backend.SiLU, false},
		{"softmax_weight MXFP4 biases", quant.MXFP4, backend.Route{Layer: 2, Experts: 4, K: 2, Gating: backend.SoftmaxWeight}, backend.SwiGLUOAI, true},
		{"softmax Q4_K", quant.Q4_K, backend.Route{Layer: 3, Experts: 4, K: 1, Gating: backend.Softmax}, backend.GELUTanh, false},
	} { // one layer each: a layer's expert count is fixed
		ops = append(ops, gpuOp{"moe " + m.name, 3e-3, func(e *gpuEnv) []float32 {
			E, ff := int64(m.route.Experts), int64(K) // ff a multiple of 256 too (the down rows)
			dim := int64(K)
			ex := backend.Experts{
				Gate: e.weight(m.typ, []int64{dim, ff, E}, e.randn(int(dim*ff*E), 0.1)),
				Up:   e.weight(m.typ, []int64{dim, ff, E}, e.randn(int(dim*ff*E), 0.1)),
				Down: e.weight(m.typ, []int64{ff, dim, E}, e.randn(int(ff*dim*E), 0.1)),
			}
			if m.biases {
				ex.GateBias = e.weight(quant.F32, []int64{ff, E}, e.randn(int(ff*E), 0.5))
				ex.UpBias = e.weight(quant.F32, []int64{ff, E}, e.randn(int(ff*E), 0.5))
				ex.DownBias = e.weight(quant.F32, []int64{dim, E}, e.randn(int(dim*E), 0.5))
			}
			logits := e.rnd(R, int(E), 2)
			x := e.rnd(R, int(dim), 1)
			rt := e.be.MoERoute(logits, m.route)
			d := e.be.Alloc(R, int(dim))
			e.be.MoEExperts(d, x, rt, ex, m.act)
			return e.get(d)
		}})
	}
	return ops
}

func gpuFactors(n int) []float32 {
	f := make([]float32, n)
	for i := range f {
		f[i] = 1 + float32(i%5)
	}
	return f
}

func gpuSeed(t *testing.T) int64 {
	if s := os.Getenv("ENGINE_GPU_SEED"); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		require.NoError(t, err, "ENGINE_GPU_SEED")
		return v
	}
	return 1
}

// gpuErr is ‖got−want‖/‖want‖ (‖got−want‖ when want is 0); NaN or Inf in
// got, or a length mismatch, is +Inf.
func gpuErr(want, got []float32) float64 {
	if len(want) != len(got) {
		return math.Inf(1)
	}
	var d, w float64
	for i := range want {
		g := float64(got[i])
		if math.IsNaN(g) || math.IsInf(g, 0) {
			return math.Inf(1)
		}
		d += (g - float64(want[i])) * (g - float64(want[i]))
		w += float64(want[i]) * float64(want[i])
	}
	if w == 0 {
		return math.Sqrt(d)
	}
	return math.Sqrt(d / w)
}

func TestGPUErr(t *testing.T) {
	require.Zero(t, gpuErr([]float32{1, 2}, []float32{1, 2}))
	require.InDelta(t, 0.1, gpuErr([]float32{3, 4}, []float32{3.3, 4.4}), 1e-6)
	require.True(t, math.IsInf(gpuErr([]float32{1, 2}, []float32{1, float32(math.NaN())}), 1), "NaN never passes")
	require.True(t, math.IsInf(gpuErr([]float32{1}, []float32{1, 2}), 1))
}

func TestGPUOps(t *testing.T) {
	dev, err := Open()
	require.NoError(t, err)
	dev.poison = true
	defer func() { require.NoError(t, dev.Close()) }()
	host := cpu.New(0)
	s := gpuShape{R: 3, K: 256, N: 32}
	if strings.HasPrefix(dev.Name(), "cuda:") {
		s = gpuShape{R: 33, K: 1024, N: 512}
	}
	seed := gpuSeed(t)
	t.Logf("%s, seed %d, shapes %+v", dev.Name(), seed, s)
	for i, op := range gpuOps(s) {
		t.Run(op.name, func(t *testing.T) {
			var outs [2][]float32
			for j, be := range []backend.Backend{host, dev} {
				be.Reset()
				outs[j] = op.run(&gpuEnv{t: t, be: be, r: rand.New(rand.NewSource(seed + int64(i)))})
			}
			e := gpuErr(outs[0], outs[1])
			verdict := "ok"
			if !(e <= op.tol) {
				verdict = "FAIL"
			}
			fmt.Printf("gpucheck %-34s err %9.2e  tol %7.0e  %s\n", op.name, e, op.tol, verdict)
			require.LessOrEqual(t, e, op.tol, "normalised error of %d values (seed %d)", len(outs[0]), seed)
		})
	}
}
