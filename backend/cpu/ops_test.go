package cpu

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tscale/engine/backend"
	"github.com/tscale/engine/quant"
)

func randn(r *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	return x
}

func f32bytes(x []float32) []byte {
	b := make([]byte, 4*len(x))
	for i, v := range x {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return b
}

func fill(be *Backend, rows, cols int, x []float32) backend.Tensor {
	t := be.Alloc(rows, cols)
	copy(t.(*tensor).d, x)
	return t
}

func data(t backend.Tensor) []float32 { return t.(*tensor).d }

func TestMatMul(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	be := New(2)
	const in, out, rows = 256, 48, 5
	wf := randn(r, in*out)
	x := randn(r, in*rows)
	bias := randn(r, out)
	for _, tc := range []struct {
		typ quant.Type
		tol float64 // relative to sum |w x|
	}{
		{quant.F32, 1e-6},
		{quant.F16, 2e-3},
		{quant.Q8_0, 2e-2},
		{quant.Q4_0, 0.1},
		{quant.Q4_1, 0.1},
		{quant.Q4_K, 0.1},
		{quant.Q6_K, 3e-2},
	} {
		t.Run(tc.typ.String(), func(t *testing.T) {
			rb, err := quant.RowBytes(tc.typ, in)
			require.NoError(t, err)
			wq := make([]byte, int(rb)*out)
			for j := 0; j < out; j++ {
				require.NoError(t, quant.Quantize(tc.typ, wf[j*in:(j+1)*in], wq[j*int(rb):(j+1)*int(rb)]))
			}
			w, err := be.Upload("w", tc.typ, []int64{in, out}, wq)
			require.NoError(t, err)
			b, err := be.Upload("b", quant.F32, []int64{out}, f32bytes(bias))
			require.NoError(t, err)
			dst := be.Alloc(rows, out)
			be.MatMul(dst, fill(be, rows, in, x), w, b)
			for i := 0; i < rows; i++ {
				for j := 0; j < out; j++ {
					var want, mag float64
					for k := 0; k < in; k++ {
						p := float64(wf[j*in+k]) * float64(x[i*in+k])
						want += p
						mag += math.Abs(p)
					}
					want += float64(bias[j])
					require.InDelta(t, want, float64(data(dst)[i*out+j]), tc.tol*mag, "row %d col %d", i, j)
				}
			}
		})
	}
	_, err := be.Upload("bad", quant.Q4_0, []int64{30, 2}, make([]byte, 36))
	require.ErrorContains(t, err, "not a multiple of the block size")
	_, err = be.Upload("short", quant.F32, []int64{4, 2}, make([]byte, 16))
	require.ErrorContains(t, err, "16 bytes, want 32")
}

func TestRMSNorm(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	be := New(1)
	x := randn(r, 3*8)
	g := randn(r, 8)
	w, err := be.Upload("g", quant.F32, []int64{8}, f32bytes(g))
	require.NoError(t, err)
	for _, group := range []int{8, 4} { // per row, and per head of 4
		w := w
		if group == 4 {
			w, err = be.Upload("g4", quant.F32, []int64{4}, f32bytes(g[:4]))
			require.NoError(t, err)
		}
		dst := be.Alloc(3, 8)
		be.RMSNorm(dst, fill(be, 3, 8, x), w, 1e-5)
		for off := 0; off < len(x); off += group {
			var ss float64
			for _, v := range x[off : off+group] {
				ss += float64(v) * float64(v)
			}
			s := 1 / math.Sqrt(ss/float64(group)+1e-5)
			for i := 0; i < group; i++ {
				require.InDelta(t, float64(x[off+i])*s*float64(g[i]), float64(data(dst)[off+i]), 1e-5)
			}
		}
	}
}

func TestRoPE(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	be := New(1)
	const hd, heads = 8, 2
	pos := []int32{0, 1, 7, 100}
	x := randn(r, len(pos)*hd*heads)
	for _, neox := range []bool{false, true} {
		for _, factors := range [][]float32{nil, {1, 2, 4, 8}} {
			rope := backend.RoPE{Dims: hd, Base: 10000, FreqScale: 0.5, NeoX: neox, Factors: factors}
			tt := fill(be, len(pos), hd*heads, x)
			be.RoPE(tt, hd, pos, rope)
			got := data(tt)
			for i, p := range pos {
				for h := 0; h < heads; h++ {
					base := i*hd*heads + h*hd
					for k := 0; k < hd/2; k++ {
						i0, i1 := base+2*k, base+2*k+1
						if neox {
							i0, i1 = base+k, base+k+hd/2
						}
						theta := float64(p) * 0.5 * math.Pow(10000, -2*float64(k)/hd)
						if factors != nil {
							theta /= float64(factors[k])
						}
						c, s := math.Cos(theta), math.Sin(theta)
						require.InDelta(t, float64(x[i0])*c-float64(x[i1])*s, float64(got[i0]), 1e-4)
						require.InDelta(t, float64(x[i0])*s+float64(x[i1])*c, float64(got[i1]), 1e-4)
					}
				}
			}
		}
	}
}

// TestYaRN checks YaRN against the formula in float64: per pair k, the
// angle blends p·θ_k·s (interpolated) and p·θ_k by a ramp that is 1 below
// the fast correction dimension and 0 above the slow one, and cos/sin are
// scaled by attn·(1 + 0.1·ln(1/s)).
func TestYaRN(t *testing.T) {
	be := New(1)
	const dims, base, scale, orig = 32, 150000.0, 1.0 / 32, 4096
	y := &backend.YaRN{ExtFactor: 1, AttnFactor: 0.75, BetaFast: 32, BetaSlow: 1, OrigCtx: orig}
	rope := backend.RoPE{Dims: dims, Base: base, FreqScale: scale, NeoX: true, YaRN: y}
	corr := func(beta float64) float64 {
		return dims * math.Log(orig/(beta*2*math.Pi)) / (2 * math.Log(base))
	}
	lo, hi := math.Max(0, math.Floor(corr(32))), math.Min(dims-1, math.Ceil(corr(1)))
	require.Equal(t, []float64{4, 9}, []float64{lo, hi}, "correction dims")
	pos := []int32{0, 3, 1000}
	r := rand.New(rand.NewPCG(9, 10))
	x := randn(r, len(pos)*dims)
	tt := fill(be, len(pos), dims, x)
	be.RoPE(tt, dims, pos, rope)
	got := data(tt)
	m := 0.75 * (1 + 0.1*math.Log(1/scale))
	for i, p := range pos {
		for k := 0; k < dims/2; k++ {
			theta := float64(p) * math.Pow(base, -2*float64(k)/dims)
			mix := 1 - math.Min(1, math.Max(0, (float64(k)-lo)/(hi-lo)))
			a := theta*scale*(1-mix) + theta*mix
			c, s := m*math.Cos(a), m*math.Sin(a)
			x0, x1 := float64(x[i*dims+k]), float64(x[i*dims+k+dims/2])
			require.InDelta(t, x0*c-x1*s, float64(got[i*dims+k]), 2e-4, "pos %d pair %d", p, k)
			require.InDelta(t, x0*s+x1*c, float64(got[i*dims+k+dims/2]), 2e-4, "pos %d pair %d", p, k)
		}
	}
}

func TestActivations(t *testing.T) {
	be := New(1)
	g := []float32{-12, -3, -0.5, 0, 0.7, 2, 11}
	u := []float32{1, 2, 3, 4, 5, 6, 7}
	for _, tc := range []struct {
		act backend.Act
		f   func(x float64) float64
		tol float64
	}{
		{backend.SiLU, func(x float64) float64 { return x / (1 + math.Exp(-x)) }, 1e-6},
		{backend.GELUTanh, func(x float64) float64 {
			return 0.5 * x * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(x+0.044715*x*x*x)))
		}, 2e-3}, // F16 table, as ggml
	} {
		dst := be.Alloc(1, len(g))
		be.GLU(dst, fill(be, 1, len(g), g), fill(be, 1, len(u), u), tc.act)
		for i := range g {
			want := tc.f(float64(g[i])) * float64(u[i])
			require.InDelta(t, want, float64(data(dst)[i]), tc.tol*math.Max(1, math.Abs(want)), "act %d x=%v", tc.act, g[i])
		}
	}
	// gpt-oss's SwiGLU clamps gate above 7 and up to ±7.
	ug := []float32{1, 2, -9, 4, 5, 9, 7}
	dst := be.Alloc(1, len(g))
	be.GLU(dst, fill(be, 1, len(g), g), fill(be, 1, len(ug), ug), backend.SwiGLUOAI)
	for i := range g {
		x, y := math.Min(float64(g[i]), 7), math.Max(-7, math.Min(float64(ug[i]), 7))
		want := x / (1 + math.Exp(-1.702*x)) * (y + 1)
		require.InDelta(t, want, float64(data(dst)[i]), 1e-6*math.Max(1, math.Abs(want)), "swiglu-oai x=%v y=%v", g[i], ug[i])
	}
	x := fill(be, 1, 3, []float32{-100, 0, 3})
	be.Softcap(x, 30)
	require.InDeltaSlice(t, []float64{30 * math.Tanh(-100.0/30), 0, 30 * math.Tanh(0.1)}, []float64{float64(data(x)[0]), float64(data(x)[1]), float64(data(x)[2])}, 1e-5)
}

func TestGatherArgmaxRead(t *testing.T) {
	be := New(1)
	x := fill(be, 3, 4, []float32{0, 3, 1, 3, 9, 8, 7, 6, -1, -2, -3, -0.5})
	require.Equal(t, []int32{1, 0, 3}, be.Argmax(x, []int{0, 1, 2}))
	g := be.Alloc(2, 4)
	be.Gather(g, x, []int{2, 0})
	require.Equal(t, []float32{-1, -2, -3, -0.5, 0, 3, 1, 3}, data(g))
	row := make([]float32, 4)
	be.Read(x, 1, row)
	require.Equal(t, []float32{9, 8, 7, 6}, row)
	s := be.Alloc(1, 4)
	be.Add(s, fill(be, 1, 4, []float32{1, 2, 3, 4}), fill(be, 1, 4, []float32{10, 20, 30, 40}))
	require.Equal(t, []float32{11, 22, 33, 44}, data(s))
}

// naiveAttention is float64 causal attention of one query over keys/values
// at positions [first, p], with an attention sink when sink is not nil.
func naiveAttention(q []float32, ks, vs [][]float32, scale float64, sink *float64) []float64 {
	sc := make([]float64, len(ks))
	mx := math.Inf(-1)
	for j, k := range ks {
		for e := range q {
			sc[j] += float64(q[e]) * float64(k[e])
		}
		sc[j] *= scale
		mx = math.Max(mx, sc[j])
	}
	var z float64
	for j := range sc {
		sc[j] = math.Exp(sc[j] - mx)
		z += sc[j]
	}
	if sink != nil {
		z += math.Exp(*sink - mx)
	}
	out := make([]float64, len(q))
	for j, v := range vs {
		for e := range out {
			out[e] += sc[j] / z * float64(v[e])
		}
	}
	return out
}

// TestAttention runs two sequences with scattered block tables, GQA and a
// sliding window, in two steps (prefill, then one token each), against a
// float64 reference; the F16 cache within F16 rounding, F32 tightly.
func TestAttention(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	const heads, kvHeads, hd, bs = 4, 2, 8, 4
	for _, tc := range []struct {
		typ    quant.Type
		window int
		sinks  []float32
		tol    float64
	}{
		{quant.F32, 0, nil, 1e-5},
		{quant.F16, 0, nil, 5e-3},
		{quant.F32, 3, nil, 1e-5},
		{quant.F32, 3, []float32{-2, 0, 1.5, 4}, 1e-5},
		{quant.F16, 0, []float32{0.5, -30, 2, 1}, 5e-3},
	} {
		be := New(2)
		kvc, err := be.NewKV(backend.KVSpec{Layers: 1, KVDim: kvHeads * hd, Blocks: 8, BlockSize: bs, Type: tc.typ})
		require.NoError(t, err)
		tables := [][]int32{{5, 1, 6}, {2, 7}}
		lens := []int{6, 3} // prompt lengths
		// Keys and values per sequence and position, generated up front.
		keys := [][][]float32{{}, {}}
		vals := [][][]float32{{}, {}}
		qs := [][][]float32{{}, {}}
		for s := range lens {
			for p := 0; p <= lens[s]; p++ {
				keys[s] = append(keys[s], randn(r, kvHeads*hd))
				vals[s] = append(vals[s], randn(r, kvHeads*hd))
				qs[s] = append(qs[s], randn(r, heads*hd))
			}
		}
		a := backend.Attn{Layer: 0, Heads: heads, KVHeads: kvHeads, HeadDim: hd, Scale: 0.35, Window: tc.window}
		if tc.sinks != nil {
			w, err := be.Upload("sinks", quant.F32, []int64{heads}, f32bytes(tc.sinks))
			require.NoError(t, err)
			a.Sinks = w
		}
		step := func(b *backend.Batch) []float32 {
			var q, k, v []float32
			for i := range b.Tokens {
				s, p := b.Seq[i], b.Pos[i]
				q = append(q, qs[s][p]...)
				k = append(k, keys[s][p]...)
				v = append(v, vals[s][p]...)
			}
			n := b.Len()
			dst := be.Alloc(n, heads*hd)
			be.Attention(dst, fill(be, n, heads*hd, q), fill(be, n, kvHeads*hd, k), fill(be, n, kvHeads*hd, v), kvc, b, a)
			return data(dst)
		}
		check := func(b *backend.Batch, got []float32) {
			for i := range b.Tokens {
				s, p := int(b.Seq[i]), int(b.Pos[i])
				first := 0
				if tc.window > 0 {
					first = max(0, p-tc.window+1)
				}
				for h := 0; h < heads; h++ {
					kh := h / (heads / kvHeads)
					var ks, vs [][]float32
					for pp := first; pp <= p; pp++ {
						ks = append(ks, keys[s][pp][kh*hd:(kh+1)*hd])
						vs = append(vs, vals[s][pp][kh*hd:(kh+1)*hd])
					}
					var sink *float64
					if tc.sinks != nil {
						v := float64(tc.sinks[h])
						sink = &v
					}
					want := naiveAttention(qs[s][p][h*hd:(h+1)*hd], ks, vs, float64(a.Scale), sink)
					for e := range want {
						require.InDelta(t, want[e], float64(got[i*heads*hd+h*hd+e]), tc.tol, "%s seq %d pos %d head %d", tc.typ, s, p, h)
					}
				}
			}
		}
		pre := &backend.Batch{Blocks: tables}
		for s, n := range lens {
			for p := 0; p < n; p++ {
				pre.Tokens = append(pre.Tokens, 0)
				pre.Pos = append(pre.Pos, int32(p))
				pre.Seq = append(pre.Seq, int32(s))
			}
		}
		check(pre, step(pre))
		dec := &backend.Batch{Tokens: []int32{0, 0}, Pos: []int32{int32(lens[0]), int32(lens[1])}, Seq: []int32{0, 1}, Blocks: tables}
		check(dec, step(dec))

		// Copy-on-write: a fork of sequence 1 whose (partial) block 2 was
		// copied to block 3 recomputes the last token identically.
		kvc.CopyBlock(3, 2)
		p := lens[1]
		fork := &backend.Batch{Tokens: []int32{0}, Pos: []int32{int32(p)}, Seq: []int32{0}, Blocks: [][]int32{{3}}}
		dst := be.Alloc(1, heads*hd)
		be.Attention(dst, fill(be, 1, heads*hd, qs[1][p]), fill(be, 1, kvHeads*hd, keys[1][p]), fill(be, 1, kvHeads*hd, vals[1][p]), kvc, fork, a)
		check(&backend.Batch{Tokens: []int32{0}, Pos: []int32{int32(p)}, Seq: []int32{1}, Blocks: tables}, data(dst))
	}
	_, err := New(1).NewKV(backend.KVSpec{Layers: 1, KVDim: 8, Blocks: 2, BlockSize: 4, Type: quant.Q4_0})
	require.ErrorContains(t, err, "not supported")
}
