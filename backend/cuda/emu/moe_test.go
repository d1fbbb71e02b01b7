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
	"github.com/tscale/engine/quant"
)

// The mixture-of-experts kernels (kernels/moe.cu) against backend/cpu's
// MoERoute and MoEExperts.

func filled[T any](n int, v T) []T {
	x := make([]T, n)
	for i := range x {
		x[i] = v
	}
	return x
}

var nan32 = float32(math.NaN())

// requireSame checks that got equals want bit for bit, any NaN matching any NaN.
func requireSame(t *testing.T, want, got []float32, msg string, args ...any) {
	t.Helper()
	require.Len(t, got, len(want))
	for i := range want {
		if want[i] != want[i] && got[i] != got[i] {
			continue
		}
		require.Equal(t, math.Float32bits(want[i]), math.Float32bits(got[i]), "%s: element %d: want %g, got %g",
			fmt.Sprintf(msg, args...), i, want[i], got[i])
	}
}

// routeLogits are n rows of router logits: random, then rows made of ties
// (equal logits; scores that round to the same float from different
// logits: saturated sigmoids, softmax terms that underflow) and of NaN and
// infinities.
func routeLogits(r *rand.Rand, n, e int) []float32 {
	x := randn(r, n*e)
	row := func(i int) []float32 { return x[i*e : (i+1)*e] }
	for j := range row(1) {
		row(1)[j] = float32(r.Intn(3) - 1) // many equal logits
	}
	for j := range row(2) {
		row(2)[j] = 0.25 // all equal
	}
	for j := range row(3) {
		row(3)[j] = 20 + float32(j%5) // sigmoid 1 for all; softmax ties in fives
	}
	for j := range row(4) {
		row(4)[j] = -200 - float32(j) // softmax terms underflow to 0 but the first
	}
	row(4)[e-1] = 3
	row(5)[e/2] = nan32
	row(6)[0] = nan32
	row(7)[1], row(7)[e-1] = float32(math.Inf(-1)), float32(math.Inf(1))
	for j := range row(8) {
		row(8)[j] = float32(math.Inf(-1))
	}
	return x
}

// devRoute runs moe_route_f32 on logits [n, r.Experts] with warps tokens per
// block and returns the device ids and weights, poisoned first.
func devRoute(t *testing.T, logits DevPtr, n int, r backend.Route, warps int, counts DevPtr) (DevPtr, DevPtr) {
	t.Helper()
	ids, w := dev(t, filled[int32](n*r.K, -7)), dev(t, filled(n*r.K, nan32))
	norm := int64(0)
	if r.Norm {
		norm = 1
	}
	grid := uint32((n + warps - 1) / warps)
	require.NoError(t, Launch("moe_route_f32", Dim3{grid, 1, 1}, Dim3{32, uint32(warps), 1}, uint32(warps*r.Experts*4),
		Ptr(ids), Ptr(w), Ptr(counts), Ptr(logits), I64(int64(n)), I64(int64(r.Experts)), I64(int64(r.K)),
		I64(int64(r.Gating)), I64(norm), F64(float64(r.Scale))))
	return ids, w
}

func TestMoERouteKernel(t *testing.T) { bothOrders(t, testMoERouteKernel) }

func testMoERouteKernel(t *testing.T) {
	r := rand.New(rand.NewSource(11))
	experts, scales := []int{4, 7, 32, 33, 128}, []float32{0, 1, 2.5}
	if testing.Short() {
		experts, scales = []int{4, 33}, []float32{0, 2.5}
	}
	const n, layer = 11, 1
	for _, ne := range experts {
		logits := routeLogits(r, n, ne)
		be := cpu.New(1)
		lt, lp := cpuTensor(t, be, n, ne, logits), dev(t, logits)
		for _, g := range []backend.Gating{backend.Softmax, backend.Sigmoid, backend.SoftmaxWeight} {
			for k := 1; k <= 4; k++ {
				for _, norm := range []bool{false, true} {
					for _, sc := range scales {
						rt := backend.Route{Layer: layer, Experts: ne, K: k, Gating: g, Norm: norm, Scale: sc}
						name := fmt.Sprintf("%+v", rt)
						be.ResetExpertCounts()
						counts := dev(t, make([]int64, 2*ne)) // layers 0 and 1
						wantIDs, wantW := cpu.Experts(be.MoERoute(lt, rt))
						warps := 1 + k%4 // 1..4 tokens a block, the last block partly empty
						ids, w := devRoute(t, lp, n, rt, warps, counts+DevPtr(layer*ne*8))
						require.Equal(t, wantIDs, back[int32](ids, n*k), name)
						requireSame(t, wantW, back[float32](w, n*k), "%s", name)
						// A second route adds to the counts.
						be.MoERoute(lt, rt)
						devRoute(t, lp, n, rt, warps, counts+DevPtr(layer*ne*8))
						got := back[int64](counts, 2*ne)
						require.Equal(t, make([]int64, ne), got[:ne], "%s: layer 0 untouched", name)
						require.Equal(t, be.ExpertCounts()[layer], got[ne:], "%s: counts", name)
					}
				}
			}
		}
	}
}

// groupRef groups the slots of ids (k per token) by expert as the CPU's
// MoEExperts does: expert e's slots in slot order, experts in id order.
func groupRef(ids []int32, k, ne int) (offsets, rowTok, rowExp, slotRow []int32) {
	groups := make([][]int, ne)
	for sl, e := range ids {
		groups[e] = append(groups[e], sl)
	}
	slotRow = make([]int32, len(ids))
	for e, g := range groups {
		offsets = append(offsets, int32(len(rowTok)))
		for _, sl := range g {
			slotRow[sl] = int32(len(rowTok))
			rowTok = append(rowTok, int32(sl/k))
			rowExp = append(rowExp, int32(e))
		}
	}
	return append(offsets, int32(len(ids))), rowTok, rowExp, slotRow
}

// group is moe_group's output on the device.
type group struct {
	offsets, rowTok, rowExp, slotRow DevPtr
}

func devGroup(t *testing.T, ids DevPtr, n, k, ne int, block uint32) group {
	t.Helper()
	m := n * k
	g := group{dev(t, filled[int32](ne+1, -7)), dev(t, filled[int32](m+1, -7)), dev(t, filled[int32](m+1, -7)),
		dev(t, filled[int32](m+1, -7))}
	require.NoError(t, Launch("moe_group", Dim3{1, 1, 1}, Dim3{block, 1, 1}, uint32(2*ne*4),
		Ptr(g.offsets), Ptr(g.rowTok), Ptr(g.rowExp), Ptr(g.slotRow), Ptr(ids), I64(int64(n)), I64(int64(k)), I64(int64(ne))))
	return g
}

func TestMoEGroupKernel(t *testing.T) { bothOrders(t, testMoEGroupKernel) }

func testMoEGroupKernel(t *testing.T) {
	r := rand.New(rand.NewSource(12))
	for _, c := range []struct{ n, k, ne int }{{1, 1, 4}, {1, 4, 32}, {5, 2, 8}, {70, 4, 40}, {33, 3, 7}, {9, 2, 128}} {
		ids := make([]int32, c.n*c.k)
		for tk := 0; tk < c.n; tk++ {
			// k distinct experts from the first ne-2 (the last two get none),
			// or from a few (long groups).
			span := c.ne - 2
			if tk%2 == 1 {
				span = max(c.k, 3)
			}
			for i, e := range r.Perm(span)[:c.k] {
				ids[tk*c.k+i] = int32(e)
			}
		}
		wo, wt, we, ws := groupRef(ids, c.k, c.ne)
		m := c.n * c.k
		for _, block := range []uint32{32, 256} {
			name := fmt.Sprintf("%+v/block %d", c, block)
			g := devGroup(t, dev(t, ids), c.n, c.k, c.ne, block)
			require.Equal(t, wo, back[int32](g.offsets, c.ne+1), name)
			// One past the end stays poisoned: nothing written beyond.
			require.Equal(t, append(wt, -7), back[int32](g.rowTok, m+1), name)
			require.Equal(t, append(we, -7), back[int32](g.rowExp, m+1), name)
			require.Equal(t, append(ws, -7), back[int32](g.slotRow, m+1), name)
		}
	}
}

// Arguments the kernels cannot serve trap: the launch fails, nothing is
// written out of bounds.
func TestMoEKernelsTrap(t *testing.T) {
	route := func(experts, k int64, block uint32) error {
		return Launch("moe_route_f32", Dim3{1, 1, 1}, Dim3{block, 1, 1}, uint32(experts*4), Ptr(dev(t, make([]int32, 8))),
			Ptr(dev(t, make([]float32, 8))), 0, Ptr(dev(t, make([]float32, experts))), I64(1), I64(experts), I64(k),
			I64(int64(backend.Softmax)), I64(0), F64(1))
	}
	for name, launch := range map[string]func() error{
		"k 0":            func() error { return route(4, 0, 32) },
		"k > experts":    func() error { return route(4, 5, 32) },
		"2049 experts":   func() error { return route(2049, 2, 32) },
		"block of 64":    func() error { return route(4, 2, 64) },
		"unknown gating": func() error { return routeGating(t, 3) },
		"group: id 4 of 4": func() error {
			return Launch("moe_group", Dim3{1, 1, 1}, Dim3{32, 1, 1}, 2*4*4, Ptr(dev(t, make([]int32, 5))),
				Ptr(dev(t, make([]int32, 4))), Ptr(dev(t, make([]int32, 4))), Ptr(dev(t, make([]int32, 4))),
				Ptr(dev(t, []int32{0, 3, 4, 1})), I64(2), I64(2), I64(4))
		},
	} {
		err := launch()
		require.Error(t, err, name)
		require.Contains(t, err.Error(), "__trap", name)
	}
}

func routeGating(t *testing.T, g int64) error {
	return Launch("moe_route_f32", Dim3{1, 1, 1}, Dim3{32, 1, 1}, 4*4, Ptr(dev(t, make([]int32, 1))),
		Ptr(dev(t, make([]float32, 1))), 0, Ptr(dev(t, make([]float32, 4))), I64(1), I64(4), I64(1), I64(g), I64(0), F64(1))
}

var biasGLUKernels = []struct {
	act    backend.Act
	kernel string
	ulp    int64
	rel    float64
}{
	{backend.SiLU, "moe_bias_glu_silu_f32", 4, 0},
	{backend.GELUTanh, "moe_bias_glu_gelu_tanh_f32", 1, 1.0 / 1024}, // an F16 step where tanh rounds the other way
	{backend.SwiGLUOAI, "moe_bias_glu_swiglu_oai_f32", 4, 0},
}

func TestMoEBiasGLUKernel(t *testing.T) { bothOrders(t, testMoEBiasGLUKernel) }

func testMoEBiasGLUKernel(t *testing.T) {
	r := rand.New(rand.NewSource(13))
	be := cpu.New(1)
	const rows, ff, ne = 12, 300, 5
	rowExp := make([]int32, rows)
	for i := range rowExp {
		rowExp[i] = int32(i * ne / rows)
	}
	for _, c := range biasGLUKernels {
		for _, bias := range []bool{false, true} {
			g, u := activations(r, rows*ff, 0), activations(r, rows*ff, 100)
			gb, ub := randn(r, ne*ff), randn(r, ne*ff)
			gi, ui := append([]float32(nil), g...), append([]float32(nil), u...)
			gbp, ubp := DevPtr(0), DevPtr(0)
			if bias {
				for i := range gi {
					e := int(rowExp[i/ff])
					gi[i] += gb[e*ff+i%ff]
					ui[i] += ub[e*ff+i%ff]
				}
				gbp, ubp = dev(t, gb), dev(t, ub)
			}
			want := be.Alloc(rows, ff)
			be.GLU(want, cpuTensor(t, be, rows, ff, gi), cpuTensor(t, be, rows, ff, ui), c.act)
			gp := dev(t, g) // in place: dst is gate
			require.NoError(t, Launch(c.kernel, Dim3{(ff + 127) / 128, 5, 1}, Dim3{128, 1, 1}, 0,
				Ptr(gp), Ptr(gp), Ptr(dev(t, u)), Ptr(gbp), Ptr(ubp), Ptr(dev(t, rowExp)), I64(rows), I64(ff)))
			requireClose(t, cpuRows(be, want), back[float32](gp, rows*ff), c.ulp, c.rel, fmt.Sprintf("%s bias %v", c.kernel, bias))
		}
	}
}

func TestMoECombineKernel(t *testing.T) { bothOrders(t, testMoECombineKernel) }

func testMoECombineKernel(t *testing.T) {
	r := rand.New(rand.NewSource(14))
	const n, dim, ne = 7, 300, 6
	for k := 1; k <= 4; k++ {
		for _, bias := range []bool{false, true} {
			m := n * k
			out, w, db := randn(r, m*dim), randn(r, m), randn(r, ne*dim)
			ids, slotRow := make([]int32, m), make([]int32, m)
			for sl, row := range r.Perm(m) {
				ids[sl], slotRow[sl] = int32(r.Intn(ne)), int32(row)
			}
			// The CPU's loop (backend/cpu MoEExperts): the bias added to the
			// product, products rounded before each add.
			want := make([]float32, n*dim)
			for tk := 0; tk < n; tk++ {
				for j := 0; j < dim; j++ {
					o := func(i int) float32 {
						sl := tk*k + i
						v := out[int(slotRow[sl])*dim+j]
						if bias {
							v += db[int(ids[sl])*dim+j]
						}
						return v
					}
					acc := o(0) * w[tk*k]
					for i := 1; i < k; i++ {
						acc += float32(o(i) * w[tk*k+i])
					}
					want[tk*dim+j] = acc
				}
			}
			dbp := DevPtr(0)
			if bias {
				dbp = dev(t, db)
			}
			dst := dev(t, filled(n*dim+1, nan32))
			require.NoError(t, Launch("moe_combine_f32", Dim3{(dim + 127) / 128, 3, 1}, Dim3{128, 1, 1}, 0,
				Ptr(dst), Ptr(dev(t, out)), Ptr(dev(t, w)), Ptr(dev(t, ids)), Ptr(dev(t, slotRow)), Ptr(dbp),
				I64(n), I64(int64(k)), I64(dim)))
			got := back[float32](dst, n*dim+1)
			requireSame(t, want, got[:n*dim], "k %d bias %v", k, bias)
			require.True(t, got[n*dim] != got[n*dim], "written past the end")
		}
	}
}

// TestMoEExpertsKernels composes MoEExperts from the kernels as the CUDA
// backend does (kernels/README.md), with each expert's products done by the
// CPU backend's MatMul on the expert's 2-D slice of the 3-D F32 weights,
// and compares with the CPU's MoERoute and MoEExperts.
func TestMoEExpertsKernels(t *testing.T) { bothOrders(t, testMoEExpertsKernels) }

func testMoEExpertsKernels(t *testing.T) {
	r := rand.New(rand.NewSource(15))
	cases := []struct {
		name   string
		route  backend.Route
		act    backend.Act
		biases bool
		n      int
	}{
		{"mixtral", backend.Route{Experts: 8, K: 2, Gating: backend.Softmax, Norm: true}, backend.SiLU, false, 9},
		{"qwen3moe", backend.Route{Experts: 16, K: 4, Gating: backend.Softmax, Norm: true}, backend.SiLU, false, 6},
		{"gpt-oss", backend.Route{Experts: 8, K: 4, Gating: backend.SoftmaxWeight}, backend.SwiGLUOAI, true, 9},
		{"sigmoid", backend.Route{Experts: 6, K: 3, Gating: backend.Sigmoid, Norm: true, Scale: 2.5}, backend.GELUTanh, true, 5},
		{"decode", backend.Route{Experts: 32, K: 4, Gating: backend.Softmax}, backend.SiLU, true, 1},
	}
	const dim, ff = 64, 40
	for _, c := range cases {
		if testing.Short() && c.name == "qwen3moe" {
			continue
		}
		be := cpu.New(1)
		ne, k, n := c.route.Experts, c.route.K, c.n
		m := n * k
		up := func(name string, shape ...int64) (backend.Weight, []float32) {
			size := int64(1)
			for _, s := range shape {
				size *= s
			}
			v := randn(r, int(size))
			for i := range v {
				v[i] *= 0.3
			}
			w, err := be.Upload(name, quant.F32, shape, f32bytes(v))
			require.NoError(t, err)
			return w, v
		}
		var ex backend.Experts
		var gw, uw, dw, gb, ub, db []float32
		ex.Gate, gw = up("gate", dim, ff, int64(ne))
		ex.Up, uw = up("up", dim, ff, int64(ne))
		ex.Down, dw = up("down", ff, dim, int64(ne))
		if c.biases {
			ex.GateBias, gb = up("gate_bias", ff, int64(ne))
			ex.UpBias, ub = up("up_bias", ff, int64(ne))
			ex.DownBias, db = up("down_bias", dim, int64(ne))
		}
		x, logits := randn(r, n*dim), randn(r, n*ne)
		xt := cpuTensor(t, be, n, dim, x)
		rt := be.MoERoute(cpuTensor(t, be, n, ne, logits), c.route)
		want := be.Alloc(n, dim)
		be.MoEExperts(want, xt, rt, ex, c.act)

		// route → group → gather
		ids, w := devRoute(t, dev(t, logits), n, c.route, 4, 0)
		g := devGroup(t, ids, n, k, ne, 256)
		offsets := back[int32](g.offsets, ne+1) // the host's one read: rows per expert
		xs := dev(t, filled(m*dim, nan32))
		require.NoError(t, Launch("gather_f32", Dim3{uint32(m), 1, 1}, Dim3{64, 1, 1}, 0, Ptr(xs), Ptr(dev(t, x)), Ptr(g.rowTok), I64(dim)))

		// product runs y[rows a..b) = xs[rows a..b) · w_eᵀ for each expert e
		// with rows, w_e being floats e·rows·cols .. (e+1)·rows·cols of w.
		product := func(y, xs DevPtr, w []float32, cols, rows int) {
			for e := 0; e < ne; e++ {
				a, b := int(offsets[e]), int(offsets[e+1])
				if a == b {
					continue
				}
				we, err := be.Upload("w_e", quant.F32, []int64{int64(cols), int64(rows)}, f32bytes(w[e*rows*cols:(e+1)*rows*cols]))
				require.NoError(t, err)
				in := make([]float32, (b-a)*cols)
				DtoH(in, xs+DevPtr(a*cols*4))
				res := be.Alloc(b-a, rows)
				be.MatMul(res, cpuTensor(t, be, b-a, cols, in), we, nil)
				HtoD(y+DevPtr(a*rows*4), cpuRows(be, res))
			}
		}
		hg, hu := dev(t, filled(m*ff, nan32)), dev(t, filled(m*ff, nan32))
		product(hg, xs, gw, dim, ff)
		product(hu, xs, uw, dim, ff)
		bias := func(b []float32) DevPtr {
			if b == nil {
				return 0
			}
			return dev(t, b)
		}
		kernel := map[backend.Act]string{backend.SiLU: "moe_bias_glu_silu_f32", backend.GELUTanh: "moe_bias_glu_gelu_tanh_f32",
			backend.SwiGLUOAI: "moe_bias_glu_swiglu_oai_f32"}[c.act]
		require.NoError(t, Launch(kernel, Dim3{1, uint32(m), 1}, Dim3{64, 1, 1}, 0,
			Ptr(hg), Ptr(hg), Ptr(hu), Ptr(bias(gb)), Ptr(bias(ub)), Ptr(g.rowExp), I64(int64(m)), I64(ff)))
		out := dev(t, filled(m*dim, nan32))
		product(out, hg, dw, ff, dim)
		dst := dev(t, filled(n*dim, nan32))
		require.NoError(t, Launch("moe_combine_f32", Dim3{1, uint32(n), 1}, Dim3{64, 1, 1}, 0,
			Ptr(dst), Ptr(out), Ptr(w), Ptr(ids), Ptr(g.slotRow), Ptr(bias(db)), I64(int64(n)), I64(int64(k)), I64(dim)))

		// Only the activations' exponentials differ (a few ulps): an output
		// is within 1e-5 of its row's largest magnitude.
		exp, got := cpuRows(be, want), back[float32](dst, n*dim)
		for tk := 0; tk < n; tk++ {
			big := 0.0
			for _, v := range exp[tk*dim : (tk+1)*dim] {
				big = max(big, math.Abs(float64(v)))
			}
			for j := 0; j < dim; j++ {
				i := tk*dim + j
				require.InDelta(t, exp[i], got[i], 1e-5*big, "%s: token %d, element %d", c.name, tk, j)
			}
		}
	}
}
