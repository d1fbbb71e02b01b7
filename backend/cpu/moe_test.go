package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tscale/engine/backend"
	"github.com/tscale/engine/quant"
)

// refRoute is MoERoute in float64: scores, a stable descending sort, the
// k best, renormalised and scaled.
func refRoute(logits []float64, r backend.Route) ([]int32, []float64) {
	p := make([]float64, len(logits))
	switch r.Gating {
	case backend.Softmax:
		mx := math.Inf(-1)
		for _, v := range logits {
			mx = math.Max(mx, v)
		}
		var sum float64
		for j, v := range logits {
			p[j] = math.Exp(v - mx)
			sum += p[j]
		}
		for j := range p {
			p[j] /= sum
		}
	case backend.Sigmoid:
		for j, v := range logits {
			p[j] = 1 / (1 + math.Exp(-v))
		}
	case backend.SoftmaxWeight:
		copy(p, logits) // chosen by logit, softmaxed below
	}
	order := make([]int, len(p))
	for j := range order {
		order[j] = j
	}
	sort.SliceStable(order, func(a, b int) bool { return p[order[a]] > p[order[b]] })
	ids := make([]int32, r.K)
	w := make([]float64, r.K)
	var sum float64
	for s := 0; s < r.K; s++ {
		ids[s] = int32(order[s])
		w[s] = p[order[s]]
	}
	if r.Gating == backend.SoftmaxWeight {
		var z float64
		for s := range w {
			w[s] = math.Exp(w[s] - p[order[0]])
			z += w[s]
		}
		for s := range w {
			w[s] /= z
		}
	}
	for _, v := range w {
		sum += v
	}
	for s := range w {
		if r.Norm {
			w[s] /= sum
		}
		if r.Scale != 0 {
			w[s] *= float64(r.Scale)
		}
	}
	return ids, w
}

func TestMoERoute(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	be := New(1)
	const n = 7
	for _, r := range []backend.Route{
		{Experts: 4, K: 2, Gating: backend.Softmax, Norm: true},
		{Experts: 8, K: 3, Gating: backend.Softmax},
		{Experts: 6, K: 1, Gating: backend.Sigmoid, Scale: 2.5},
		{Experts: 16, K: 4, Gating: backend.Sigmoid, Norm: true},
		{Experts: 5, K: 5, Gating: backend.Softmax, Norm: true, Scale: 1},
		{Experts: 8, K: 4, Gating: backend.SoftmaxWeight},
		{Experts: 32, K: 4, Gating: backend.SoftmaxWeight, Scale: 0.5},
	} {
		t.Run(fmt.Sprintf("%d-of-%d-gating%d-norm%v-scale%g", r.K, r.Experts, r.Gating, r.Norm, r.Scale), func(t *testing.T) {
			x := randn(rng, n*r.Experts)
			rt := be.MoERoute(fill(be, n, r.Experts, x), r)
			require.Equal(t, n, rt.Tokens())
			require.Equal(t, r.K, rt.K())
			ids, w := Experts(rt)
			for i := 0; i < n; i++ {
				l := make([]float64, r.Experts)
				for j := range l {
					l[j] = float64(x[i*r.Experts+j])
				}
				wantIDs, wantW := refRoute(l, r)
				require.Equal(t, wantIDs, ids[i*r.K:(i+1)*r.K], "token %d", i)
				for s := range wantW {
					require.InDelta(t, wantW[s], float64(w[i*r.K+s]), 1e-6*max(1, wantW[s]), "token %d slot %d", i, s)
				}
			}
		})
	}
}

// Equal scores go to the lower expert id, in every slot.
func TestMoERouteTies(t *testing.T) {
	be := New(1)
	x := []float32{0.5, 2, 0.5, 2, -1}
	rt := be.MoERoute(fill(be, 1, 5, x), backend.Route{Experts: 5, K: 4, Gating: backend.Softmax})
	ids, _ := Experts(rt)
	require.Equal(t, []int32{1, 3, 0, 2}, ids)
}

func TestExpertCounts(t *testing.T) {
	be := New(1)
	x := []float32{
		3, 2, 1, 0, // experts 0, 1
		0, 1, 2, 3, // 3, 2
		0, 5, 0, 4, // 1, 3
	}
	r := backend.Route{Layer: 2, Experts: 4, K: 2, Gating: backend.Softmax}
	be.MoERoute(fill(be, 3, 4, x), r)
	be.MoERoute(fill(be, 1, 4, x[:4]), r)
	require.Equal(t, [][]int64{nil, nil, {2, 3, 1, 2}}, be.ExpertCounts())
	be.ResetExpertCounts()
	require.Empty(t, be.ExpertCounts())
	require.Empty(t, New(1).ExpertCounts(), "counts are per backend")
}

// moeWeights quantizes random 3-D expert tensors to typ and uploads them.
type moeWeights struct {
	gate, up, down backend.Weight
	gf, uf, df     []float32 // values after quantization
}

func newMoEWeights(t testing.TB, be *Backend, r *rand.Rand, typ quant.Type, dim, ff, ne int) moeWeights {
	mk := func(name string, in, out int) (backend.Weight, []float32) {
		vals := randn(r, in*out*ne)
		for i := range vals {
			vals[i] /= float32(math.Sqrt(float64(in)))
		}
		rb, err := quant.RowBytes(typ, int64(in))
		require.NoError(t, err)
		data := make([]byte, int(rb)*out*ne)
		deq := make([]float32, len(vals))
		for row := 0; row < out*ne; row++ {
			b := data[row*int(rb) : (row+1)*int(rb)]
			require.NoError(t, quant.Quantize(typ, vals[row*in:(row+1)*in], b))
			require.NoError(t, quant.Dequantize(typ, b, deq[row*in:(row+1)*in]))
		}
		w, err := be.Upload(name, typ, []int64{int64(in), int64(out), int64(ne)}, data)
		require.NoError(t, err)
		return w, deq
	}
	var m moeWeights
	m.gate, m.gf = mk("ffn_gate_exps", dim, ff)
	m.up, m.uf = mk("ffn_up_exps", dim, ff)
	m.down, m.df = mk("ffn_down_exps", ff, dim)
	return m
}

// expertSlice uploads expert e of a 3-D weight as a 2-D one.
func expertSlice(t *testing.T, be *Backend, w backend.Weight, e int) backend.Weight {
	ww := wgt(w)
	rows := int(ww.shape[1])
	s, err := be.Upload(ww.name, ww.typ, ww.shape[:2], ww.data[e*rows*ww.rowBytes:(e+1)*rows*ww.rowBytes])
	require.NoError(t, err)
	return s
}

// TestMoEExperts checks MoEExperts three ways: bit for bit against MatMul
// and GLU on each expert's slice followed by the weighted sum in slot
// order (what llama.cpp's graph does), against float64 arithmetic on the
// dequantized weights, and row by row against single-token calls.
func TestMoEExperts(t *testing.T) {
	const dim, ff, ne, k, n = 256, 512, 6, 2, 9
	for _, tc := range []struct {
		typ  quant.Type
		act  backend.Act
		bias bool
		tol  float64 // relative to the output's rms
	}{
		{quant.F32, backend.SiLU, false, 1e-5},
		{quant.F16, backend.SiLU, false, 5e-3},
		{quant.Q8_0, backend.SiLU, false, 5e-2},
		{quant.Q4_0, backend.SiLU, false, 0.1},
		{quant.Q4_K, backend.GELUTanh, false, 0.1},
		{quant.F32, backend.SwiGLUOAI, true, 1e-5},
		{quant.MXFP4, backend.SwiGLUOAI, true, 0.1},
	} {
		t.Run(fmt.Sprintf("%s-act%d-bias%v", tc.typ, tc.act, tc.bias), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(5, uint64(tc.typ)))
			be := New(2)
			w := newMoEWeights(t, be, rng, tc.typ, dim, ff, ne)
			ex := backend.Experts{Gate: w.gate, Up: w.up, Down: w.down}
			// Biases, whole ([n, experts]) and per expert (for MatMul).
			var gb, ub, db []float32
			bias := func(vals []float32, n, e int) backend.Weight {
				if vals == nil {
					return nil
				}
				b, err := be.Upload("bias", quant.F32, []int64{int64(n)}, f32bytes(vals[e*n:(e+1)*n]))
				require.NoError(t, err)
				return b
			}
			if tc.bias {
				up := func(vals []float32, n int) backend.Weight {
					b, err := be.Upload("bias", quant.F32, []int64{int64(n), ne}, f32bytes(vals))
					require.NoError(t, err)
					return b
				}
				gb, ub, db = randn(rng, ff*ne), randn(rng, ff*ne), randn(rng, dim*ne)
				ex.GateBias, ex.UpBias, ex.DownBias = up(gb, ff), up(ub, ff), up(db, dim)
			}
			at := func(vals []float32, i int) float64 {
				if vals == nil {
					return 0
				}
				return float64(vals[i])
			}
			x := fill(be, n, dim, randn(rng, n*dim))
			rt := be.MoERoute(fill(be, n, ne, randn(rng, n*ne)), backend.Route{Experts: ne, K: k, Gating: backend.Softmax, Norm: true})
			ids, wts := Experts(rt)
			dst := be.Alloc(n, dim)
			be.MoEExperts(dst, x, rt, ex, tc.act)

			// Through the dense ops, one token and expert at a time.
			g, u, o := be.Alloc(1, ff), be.Alloc(1, ff), be.Alloc(1, dim)
			var rms float64
			for _, v := range data(dst) {
				rms += float64(v) * float64(v)
			}
			rms = math.Sqrt(rms / float64(n*dim))
			for i := 0; i < n; i++ {
				xi := fill(be, 1, dim, data(x)[i*dim:(i+1)*dim])
				want := make([]float32, dim)
				ref := make([]float64, dim)
				for s := 0; s < k; s++ {
					e := int(ids[i*k+s])
					be.MatMul(g, xi, expertSlice(t, be, w.gate, e), bias(gb, ff, e))
					be.MatMul(u, xi, expertSlice(t, be, w.up, e), bias(ub, ff, e))
					be.GLU(g, g, u, tc.act)
					be.MatMul(o, g, expertSlice(t, be, w.down, e), bias(db, dim, e))
					for j, v := range data(o) {
						if s == 0 {
							want[j] = v * wts[i*k]
						} else {
							want[j] += float32(v * wts[i*k+s])
						}
					}
					// float64 reference on the dequantized weights.
					h := make([]float64, ff)
					for j := range h {
						var a, b float64
						for c := 0; c < dim; c++ {
							xv := float64(data(x)[i*dim+c])
							a += float64(w.gf[(e*ff+j)*dim+c]) * xv
							b += float64(w.uf[(e*ff+j)*dim+c]) * xv
						}
						a, b = a+at(gb, e*ff+j), b+at(ub, e*ff+j)
						switch tc.act {
						case backend.SiLU:
							h[j] = a / (1 + math.Exp(-a)) * b
						case backend.SwiGLUOAI:
							a, b = math.Min(a, 7), math.Max(-7, math.Min(b, 7))
							h[j] = a / (1 + math.Exp(-1.702*a)) * (b + 1)
						default:
							h[j] = 0.5 * a * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(a+0.044715*a*a*a))) * b
						}
					}
					for j := range ref {
						var acc float64
						for c := 0; c < ff; c++ {
							acc += float64(w.df[(e*dim+j)*ff+c]) * h[c]
						}
						acc += at(db, e*dim+j)
						ref[j] += acc * float64(wts[i*k+s])
					}
				}
				got := data(dst)[i*dim : (i+1)*dim]
				require.Equal(t, want, got, "token %d: not the dense ops' result", i)
				for j := range ref {
					require.InDelta(t, ref[j], float64(got[j]), tc.tol*rms, "token %d col %d", i, j)
				}

				// Alone, the token gets the same bits.
				one := be.Alloc(1, dim)
				rt1 := &routing{n: 1, k: k, ids: ids[i*k : (i+1)*k], w: wts[i*k : (i+1)*k]}
				be.MoEExperts(one, xi, rt1, ex, tc.act)
				require.Equal(t, got, data(one), "token %d alone", i)
			}
		})
	}
}

func TestSigmoidGate(t *testing.T) {
	be := New(1)
	x := fill(be, 3, 2, []float32{1, -2, 3, 4, 5, 6})
	be.SigmoidGate(x, fill(be, 3, 1, []float32{0.7, -3, 0}))
	want := []float64{1, -2, 3, 4, 5, 6}
	for i, g := range []float64{0.7, -3, 0} {
		s := 1 / (1 + math.Exp(-g))
		for j := 0; j < 2; j++ {
			require.InDelta(t, want[i*2+j]*s, float64(data(x)[i*2+j]), 1e-6, "row %d", i)
		}
	}
}

// BenchmarkMoEExperts runs a Mixtral-shaped layer scaled down (dim 1024,
// expert FFN 2816, 8 experts, 2 per token, Q4_K / Q8_0) at several batch
// sizes; tokens/s is the figure to compare.
func BenchmarkMoEExperts(b *testing.B) {
	const dim, ff, ne, k = 1024, 2816, 8, 2
	for _, typ := range []quant.Type{quant.Q8_0, quant.Q4_K} {
		rng := rand.New(rand.NewPCG(7, 8))
		be := New(0)
		w := newMoEWeights(b, be, rng, typ, dim, ff, ne)
		for _, n := range []int{1, 4, 16, 64} {
			b.Run(fmt.Sprintf("%s/batch=%d", typ, n), func(b *testing.B) {
				x := fill(be, n, dim, randn(rng, n*dim))
				rt := be.MoERoute(fill(be, n, ne, randn(rng, n*ne)), backend.Route{Experts: ne, K: k, Gating: backend.Softmax, Norm: true})
				dst := be.Alloc(n, dim)
				b.ResetTimer()
				for b.Loop() {
					be.MoEExperts(dst, x, rt, backend.Experts{Gate: w.gate, Up: w.up, Down: w.down}, backend.SiLU)
				}
				b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "tokens/s")
			})
		}
	}
}
