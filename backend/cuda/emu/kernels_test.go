//go:build cudaemu

package emu

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tscale/engine/backend"
	"github.com/tscale/engine/backend/cpu"
	"github.com/tscale/engine/quant"
)

// The kernels against the CPU backend's ops on the same inputs.

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

// cpuTensor is a rows × cols CPU tensor holding x (through an F32 embedding).
func cpuTensor(t *testing.T, be *cpu.Backend, rows, cols int, x []float32) backend.Tensor {
	t.Helper()
	w, err := be.Upload("x", quant.F32, []int64{int64(cols), int64(rows)}, f32bytes(x))
	require.NoError(t, err)
	ids := make([]int32, rows)
	for i := range ids {
		ids[i] = int32(i)
	}
	dst := be.Alloc(rows, cols)
	be.Embed(dst, w, ids, 1)
	return dst
}

func cpuRows(be *cpu.Backend, x backend.Tensor) []float32 {
	out := make([]float32, x.Rows()*x.Cols())
	for r := 0; r < x.Rows(); r++ {
		be.Read(x, r, out[r*x.Cols():(r+1)*x.Cols()])
	}
	return out
}

// bothOrders runs f with the threads of each block in ascending, then in
// descending order (SetReverseOrder): a missing barrier shows in one of them.
func bothOrders(t *testing.T, f func(t *testing.T)) {
	for _, rev := range []bool{false, true} {
		name := map[bool]string{false: "ascending", true: "descending"}[rev]
		t.Run(name, func(t *testing.T) {
			SetReverseOrder(rev)
			defer SetReverseOrder(false)
			f(t)
		})
	}
}

// block1D is the block size for a row of n values: a multiple of 32, at most max.
func block1D(n, max int) uint32 {
	return uint32(min(max, (n+31)/32*32))
}

func TestAddKernel(t *testing.T) { bothOrders(t, testAddKernel) }

func testAddKernel(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	be := cpu.New(1)
	for _, sh := range [][2]int{{1, 1}, {3, 37}, {16, 1000}} {
		rows, cols := sh[0], sh[1]
		a, b := randn(r, rows*cols), randn(r, rows*cols)
		want := be.Alloc(rows, cols)
		be.Add(want, cpuTensor(t, be, rows, cols, a), cpuTensor(t, be, rows, cols, b))
		n := rows * cols
		out := dev(t, make([]float32, n))
		grid := uint32(min(64, (n+255)/256))
		require.NoError(t, Launch("add_f32", Dim3{grid, 1, 1}, Dim3{256, 1, 1}, 0, Ptr(out), Ptr(dev(t, a)), Ptr(dev(t, b)), I64(int64(n))))
		require.Equal(t, cpuRows(be, want), back[float32](out, n), "%dx%d", rows, cols)
	}
}

func TestRMSNormKernel(t *testing.T) { bothOrders(t, testRMSNormKernel) }

func testRMSNormKernel(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	be := cpu.New(1)
	for _, c := range []struct {
		rows, cols, group, maxBlock int
		eps                         float32
	}{
		{1, 5, 5, 1024, 1e-6},
		{4, 576, 576, 256, 1e-5},    // a row per group, more values than threads
		{3, 8 * 64, 64, 1024, 1e-6}, // per head
		{2, 2048, 2048, 1024, 1e-6},
		{2, 96, 96, 32, 1e-2}, // one warp
	} {
		name := fmt.Sprintf("%dx%d/group %d/block %d", c.rows, c.cols, c.group, c.maxBlock)
		x, w := randn(r, c.rows*c.cols), randn(r, c.group)
		for i := range x[:c.cols] { // a row of large values: the sum of squares in double matters
			x[i] *= 300
		}
		wt, err := be.Upload("w", quant.F32, []int64{int64(c.group)}, f32bytes(w))
		require.NoError(t, err)
		want := be.Alloc(c.rows, c.cols)
		be.RMSNorm(want, cpuTensor(t, be, c.rows, c.cols, x), wt, c.eps)

		groups := c.rows * c.cols / c.group
		out := dev(t, make([]float32, len(x)))
		require.NoError(t, Launch("rmsnorm_f32", Dim3{uint32(groups), 1, 1}, Dim3{block1D(c.group, c.maxBlock), 1, 1}, 0,
			Ptr(out), Ptr(dev(t, x)), Ptr(dev(t, w)), I64(int64(c.group)), F64(float64(c.eps))))
		got, exp := back[float32](out, len(x)), cpuRows(be, want)
		for i := range got {
			// Only the order of the double sum differs: a float ulp at most.
			require.InDelta(t, exp[i], got[i], 1e-6*math.Abs(float64(exp[i]))+1e-30, "%s: element %d", name, i)
		}
	}
}

func TestArgmaxKernel(t *testing.T) { bothOrders(t, testArgmaxKernel) }

func testArgmaxKernel(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	be := cpu.New(1)
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	const cols = 1500
	var x []float32
	special := [][]float32{
		{nan, 1, 2},                           // NaN first: the CPU's scan stays at 0
		{1, nan, 5, 5, nan},                   // NaN skipped, tie to the lower index
		{-inf, -inf, -inf},                    // all equal: 0
		{nan, nan, nan},                       // all NaN: 0
		{-3, -1, -2, inf, inf},                // +inf, the first
		{0, float32(math.Copysign(0, -1)), 0}, // -0 == 0: index 0
	}
	for _, s := range special {
		row := make([]float32, cols)
		for i := range row {
			row[i] = -1000
		}
		copy(row[len(row)-len(s):], s) // at the end: lanes of the last warp
		if s[0] != s[0] {
			copy(row, s)
		}
		x = append(x, row...)
	}
	for i := 0; i < 5; i++ {
		row := randn(r, cols)
		row[r.Intn(cols)], row[r.Intn(cols)] = 9, 9 // a tie between two random places
		x = append(x, row...)
	}
	nrows := len(x) / cols
	rows := []int{}
	for i := nrows - 1; i >= 0; i-- {
		rows = append(rows, i, i) // reversed, repeated
	}
	want := be.Argmax(cpuTensor(t, be, nrows, cols, x), rows)
	rows32 := make([]int32, len(rows))
	for i, v := range rows {
		rows32[i] = int32(v)
	}
	for _, bs := range []uint32{32, 256, 1024} {
		out := dev(t, make([]int32, len(rows)))
		require.NoError(t, Launch("argmax_f32", Dim3{uint32(len(rows)), 1, 1}, Dim3{bs, 1, 1}, 0,
			Ptr(out), Ptr(dev(t, x)), Ptr(dev(t, rows32)), I64(cols)))
		require.Equal(t, want, back[int32](out, len(rows)), "block %d", bs)
	}
}

// ulps is the distance between a and b in float32 steps (0 for two NaNs).
func ulps(a, b float32) int64 {
	if a != a || b != b {
		if a != a && b != b {
			return 0
		}
		return math.MaxInt64
	}
	ord := func(f float32) int64 {
		u := int64(math.Float32bits(f))
		if u&0x80000000 != 0 {
			return 0x80000000 - u
		}
		return u
	}
	d := ord(a) - ord(b)
	if d < 0 {
		d = -d
	}
	return d
}

// requireClose checks got against want element by element: within maxULP
// float steps, or within rel of want's magnitude.
func requireClose(t *testing.T, want, got []float32, maxULP int64, rel float64, msg string) {
	t.Helper()
	require.Len(t, got, len(want))
	for i := range want {
		if ulps(want[i], got[i]) <= maxULP {
			continue
		}
		require.InDelta(t, want[i], got[i], rel*math.Abs(float64(want[i])), "%s: element %d", msg, i)
	}
}

// activations are random values with the edges an op must survive, from
// n/2+at on (a different at for each operand pairs edges with ordinary values).
func activations(r *rand.Rand, n, at int) []float32 {
	x := randn(r, n)
	for i := range x {
		x[i] *= 4
	}
	edges := []float32{0, float32(math.Copysign(0, -1)), 7, -7, 7.5, -7.5, 9.999, 10, -10, -10.001, 40, -40, 1e4, -1e4,
		float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), 1e-40}
	copy(x[n/2+at:], edges)
	return x
}

func TestSoftcapKernel(t *testing.T) { bothOrders(t, testSoftcapKernel) }

func testSoftcapKernel(t *testing.T) {
	r := rand.New(rand.NewSource(4))
	be := cpu.New(1)
	for _, c := range []float32{30, 50} {
		x := activations(r, 3*700, 0)
		for i := range x {
			x[i] *= 10
		}
		want := cpuTensor(t, be, 3, 700, x)
		be.Softcap(want, c)
		p := dev(t, x)
		require.NoError(t, Launch("softcap_f32", Dim3{4, 1, 1}, Dim3{256, 1, 1}, 0, Ptr(p), I64(int64(len(x))), F64(float64(c))))
		requireClose(t, cpuRows(be, want), back[float32](p, len(x)), 2, 0, fmt.Sprintf("cap %g", c))
	}
}

func TestGatherKernel(t *testing.T) { bothOrders(t, testGatherKernel) }

func testGatherKernel(t *testing.T) {
	r := rand.New(rand.NewSource(5))
	be := cpu.New(1)
	const rows, cols = 9, 333
	x := randn(r, rows*cols)
	idx := []int{8, 0, 3, 3, 8}
	want := be.Alloc(len(idx), cols)
	be.Gather(want, cpuTensor(t, be, rows, cols, x), idx)
	idx32 := make([]int32, len(idx))
	for i, v := range idx {
		idx32[i] = int32(v)
	}
	out := dev(t, make([]float32, len(idx)*cols))
	require.NoError(t, Launch("gather_f32", Dim3{uint32(len(idx)), 1, 1}, Dim3{128, 1, 1}, 0, Ptr(out), Ptr(dev(t, x)), Ptr(dev(t, idx32)), I64(cols)))
	require.Equal(t, cpuRows(be, want), back[float32](out, len(idx)*cols))
}

func TestSigmoidGateKernel(t *testing.T) { bothOrders(t, testSigmoidGateKernel) }

func testSigmoidGateKernel(t *testing.T) {
	r := rand.New(rand.NewSource(6))
	be := cpu.New(1)
	const rows, cols, gcols = 6, 500, 3 // the gate is column 0 of a wider tensor
	x, g := randn(r, rows*cols), randn(r, rows*gcols)
	g[0], g[gcols], g[2*gcols], g[3*gcols] = 0, 30, -30, float32(math.NaN())
	want := cpuTensor(t, be, rows, cols, x)
	be.SigmoidGate(want, cpuTensor(t, be, rows, gcols, g))
	p := dev(t, x)
	require.NoError(t, Launch("sigmoid_gate_f32", Dim3{rows, 1, 1}, Dim3{256, 1, 1}, 0, Ptr(p), Ptr(dev(t, g)), I64(cols), I64(gcols)))
	requireClose(t, cpuRows(be, want), back[float32](p, rows*cols), 3, 0, "sigmoid gate")
}

func TestGLUKernel(t *testing.T) { bothOrders(t, testGLUKernel) }

func testGLUKernel(t *testing.T) {
	r := rand.New(rand.NewSource(7))
	be := cpu.New(1)
	for _, c := range []struct {
		act    backend.Act
		kernel string
		ulp    int64
		rel    float64
	}{
		{backend.SiLU, "glu_silu_f32", 4, 0},
		{backend.GELUTanh, "glu_gelu_tanh_f32", 1, 1.0 / 1024}, // an F16 step where tanh rounds the other way
		{backend.SwiGLUOAI, "glu_swiglu_oai_f32", 4, 0},
	} {
		const rows, cols = 4, 1000
		g, u := activations(r, rows*cols, 0), activations(r, rows*cols, 100)
		want := be.Alloc(rows, cols)
		be.GLU(want, cpuTensor(t, be, rows, cols, g), cpuTensor(t, be, rows, cols, u), c.act)
		out := dev(t, make([]float32, rows*cols))
		require.NoError(t, Launch(c.kernel, Dim3{8, 1, 1}, Dim3{256, 1, 1}, 0, Ptr(out), Ptr(dev(t, g)), Ptr(dev(t, u)), I64(rows*cols)))
		requireClose(t, cpuRows(be, want), back[float32](out, rows*cols), c.ulp, c.rel, c.kernel)
	}
}
