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
