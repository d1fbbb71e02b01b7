//go:build cudaemu

package emu

import (
	"fmt"
	"math"
	"math/rand"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tscale/engine/backend/cpu"
	"github.com/tscale/engine/quant"
)

// The quantized products (kernels/matmul.cu) and activation quantizers
// (kernels/quantize.cu) against the CPU backend's MatMul and
// quant.QuantizeActivation.

// devBytes copies b to new device memory of exactly len(b) bytes.
func devBytes(t *testing.T, b []byte) DevPtr {
	t.Helper()
	p, err := Malloc(max(1, len(b)))
	require.NoError(t, err)
	t.Cleanup(func() { Free(p) })
	HtoD(p, b)
	return p
}

// poisoned is device memory for n floats, all NaN: an output the kernel
// does not write stays NaN and fails the comparison.
func poisoned(t *testing.T, n int) DevPtr {
	nan := make([]float32, n)
	for i := range nan {
		nan[i] = float32(math.NaN())
	}
	return dev(t, nan)
}

// quantizeKernel is the activation quantizer kernel for act (a VecDotType).
var quantizeKernel = map[quant.Type]string{quant.Q8_0: "quantize_q8_0", quant.Q8_1: "quantize_q8_1", quant.Q8_K: "quantize_q8_k"}

// quantizeOnDevice quantizes rows × cols floats at x to act with the kernel
// and returns the device buffer (rows × RowBytes(act, cols) bytes).
func quantizeOnDevice(t *testing.T, act quant.Type, x DevPtr, rows, cols int) DevPtr {
	t.Helper()
	rb, err := quant.RowBytes(act, int64(cols))
	require.NoError(t, err)
	nb := rows * cols / act.BlockSize()
	q := devBytes(t, make([]byte, rows*int(rb)))
	require.NoError(t, Launch(quantizeKernel[act], Dim3{uint32((nb + 7) / 8), 1, 1}, Dim3{256, 1, 1}, 0, Ptr(q), Ptr(x), I64(int64(nb))))
	return q
}

func TestQuantizeKernels(t *testing.T) { bothOrders(t, testQuantizeKernels) }

func testQuantizeKernels(t *testing.T) {
	r := rand.New(rand.NewSource(11))
	for _, act := range []quant.Type{quant.Q8_0, quant.Q8_1, quant.Q8_K} {
		const rows, cols = 3, 512
		x := randn(r, rows*cols)
		for i := range x[:256] { // a zero block, and blocks of huge, tiny and tied magnitudes
			x[i] = 0
		}
		for i := 256; i < 512; i++ {
			x[i] *= 1e30
		}
		for i := 512; i < 768; i++ {
			x[i] *= 1e-30
		}
		x[800], x[801], x[830] = 50, -50, 50 // the first of the largest magnitude sets Q8_K's sign
		x[1100], x[1101] = -60, 60
		for i := 1300; i < 1331; i++ { // scale 1 (amax 127) and halves: ties to even
			x[i] = float32(i-1315) + 0.5
		}
		x[1331] = 127
		rb, _ := quant.RowBytes(act, cols)
		want := make([]byte, rows*int(rb))
		for i := 0; i < rows; i++ {
			require.NoError(t, quant.QuantizeActivation(act, x[i*cols:(i+1)*cols], want[i*int(rb):(i+1)*int(rb)]))
		}
		got := back[byte](quantizeOnDevice(t, act, dev(t, x), rows, cols), len(want))
		require.Equal(t, want, got, "%s", act)
	}
}

// kernelName is the suffix of a type's kernels: q4_k for Q4_K.
func kernelName(t quant.Type) string { return strings.ToLower(t.String()) }

// normErr is max|got-want| / max|want|; NaN (an unwritten output) gives +Inf.
func normErr(want, got []float32) float64 {
	var top, diff float64
	for i := range want {
		top = max(top, math.Abs(float64(want[i])))
		d := math.Abs(float64(got[i]) - float64(want[i]))
		if d != d {
			return math.Inf(1)
		}
		diff = max(diff, d)
	}
	if top == 0 {
		return diff
	}
	return diff / top
}

// matmulTypes are every weight type of the CPU backend's MatMul, with the
// largest normalised error allowed against it. The float types sum float
// products in double as the CPU does: equal but for a rare last-bit tie. The
// quantized types compute the CPU's exact integer block sums and scale them
// in the CPU's float order; only the order of the float sum over blocks
// differs (k-quants: per 32-value chunk instead of eight lane sums; MXFP4:
// against ggml's AVX2 order with FMAs on amd64). F32: the CPU sums the
// products in 16 float32 lanes, the kernel in its own float32 order, so
// the two differ by a few ulps of the sum (F16/BF16 still sum in float64).
var matmulTypes = []struct {
	t   quant.Type
	tol float64
}{
	{quant.F32, 5e-7}, {quant.F16, 1e-7}, {quant.BF16, 1e-7},
	{quant.Q8_0, 1e-6}, {quant.Q4_0, 1e-6}, {quant.Q4_1, 1e-6}, {quant.Q5_0, 1e-6}, {quant.Q5_1, 1e-6},
	{quant.Q2_K, 1e-6}, {quant.Q3_K, 1e-6}, {quant.Q4_K, 1e-6}, {quant.Q5_K, 1e-6}, {quant.Q6_K, 1e-6},
	{quant.MXFP4, 1e-6},
}

// matmulIns are the row lengths tried per block size: fewer chunks than a
// warp's lanes, and more than one step of matmul's shared tile (the last
// one partial).
func matmulIns(t quant.Type) []int {
	short := testing.Short()
	switch t.BlockSize() {
	case 1:
		if short {
			return []int{37, 300}
		}
		return []int{37, 300, 600}
	case 32:
		if short {
			return []int{96, 1088}
		}
		return []int{96, 1088, 2080}
	}
	if short {
		return []int{256, 1280}
	}
	return []int{256, 1280, 2304}
}

func TestMatmulKernels(t *testing.T) { bothOrders(t, testMatmulKernels) }

func testMatmulKernels(t *testing.T) {
	r := rand.New(rand.NewSource(12))
	be := cpu.New(1)
	outs, batches := []int{33, 70}, []int{1, 3, 17}
	if testing.Short() {
		outs = []int{33}
	}
	for _, tc := range matmulTypes {
		worst := 0.0
		for _, in := range matmulIns(tc.t) {
			for _, out := range outs {
				wf := randn(r, out*in)
				for i := range wf { // rows of different scales
					wf[i] *= float32(1 + i/in%5)
				}
				rb, err := quant.RowBytes(tc.t, int64(in))
				require.NoError(t, err)
				wq := make([]byte, out*int(rb))
				require.NoError(t, quant.Quantize(tc.t, wf, wq))
				w, err := be.Upload("w", tc.t, []int64{int64(in), int64(out)}, wq)
				require.NoError(t, err)
				bias := randn(r, out)
				bw, err := be.Upload("b", quant.F32, []int64{int64(out)}, f32bytes(bias))
				require.NoError(t, err)
				wd := devBytes(t, wq)
				for _, rows := range batches {
					withBias := rows != 3
					name := fmt.Sprintf("%s %dx%d·%dx%dᵀ bias %v", tc.t, rows, in, out, in, withBias)
					x := randn(r, rows*in)
					want := be.Alloc(rows, out)
					if withBias {
						be.MatMul(want, cpuTensor(t, be, rows, in, x), w, bw)
					} else {
						be.MatMul(want, cpuTensor(t, be, rows, in, x), w, nil)
					}
					exp := cpuRows(be, want)

					xd := dev(t, x)
					if act := quant.VecDotType(tc.t); act.BlockSize() > 1 {
						xd = quantizeOnDevice(t, act, xd, rows, in)
					}
					var bd DevPtr
					if withBias {
						bd = dev(t, bias)
					}
					args := func(dst DevPtr) []uint64 {
						return []uint64{Ptr(dst), Ptr(wd), Ptr(xd), Ptr(bd), I64(int64(in)), I64(int64(out)), I64(int64(rows))}
					}
					mv, mm := poisoned(t, rows*out), poisoned(t, rows*out)
					require.NoError(t, Launch("matvec_"+kernelName(tc.t), Dim3{uint32((out + 3) / 4), uint32((rows + 7) / 8), 1}, Dim3{128, 1, 1}, 0, args(mv)...), name)
					require.NoError(t, Launch("matmul_"+kernelName(tc.t), Dim3{uint32((out + 15) / 16), uint32((rows + 15) / 16), 1}, Dim3{256, 1, 1}, 0, args(mm)...), name)
					gv, gm := back[float32](mv, rows*out), back[float32](mm, rows*out)
					e := normErr(exp, gv)
					worst = max(worst, e)
					require.LessOrEqual(t, e, tc.tol, "%s: matvec's normalised error", name)
					// Both kernels sum in the same order: the same bits.
					for i := range gv {
						require.Equal(t, math.Float32bits(gv[i]), math.Float32bits(gm[i]), "%s: matvec and matmul differ at %d", name, i)
					}
				}
			}
		}
		t.Logf("%s: largest normalised error %.3g (allowed %.3g)", tc.t, worst, tc.tol)
	}
}

// TestMatmulBatchIndependent: a row's result is the same bits whatever the
// other rows of the batch and the tile it falls in (as on the CPU).
func TestMatmulBatchIndependent(t *testing.T) {
	r := rand.New(rand.NewSource(13))
	const in, out, rows = 512, 20, 19
	for _, typ := range []quant.Type{quant.Q4_K, quant.Q8_0, quant.F16} {
		rb, _ := quant.RowBytes(typ, in)
		wq := make([]byte, out*int(rb))
		require.NoError(t, quant.Quantize(typ, randn(r, out*in), wq))
		wd := devBytes(t, wq)
		x := randn(r, rows*in)
		run := func(x []float32, n int, kernel string) []float32 {
			xd := dev(t, x)
			if act := quant.VecDotType(typ); act.BlockSize() > 1 {
				xd = quantizeOnDevice(t, act, xd, n, in)
			}
			dst := poisoned(t, n*out)
			grid := Dim3{uint32((out + 3) / 4), uint32((n + 7) / 8), 1}
			block := Dim3{128, 1, 1}
			if kernel == "matmul_" {
				grid, block = Dim3{uint32((out + 15) / 16), uint32((n + 15) / 16), 1}, Dim3{256, 1, 1}
			}
			require.NoError(t, Launch(kernel+kernelName(typ), grid, block, 0, Ptr(dst), Ptr(wd), Ptr(xd), 0, I64(in), I64(out), I64(int64(n))))
			return back[float32](dst, n*out)
		}
		all := run(x, rows, "matmul_")
		for _, i := range []int{0, 17, 18} {
			one := run(x[i*in:(i+1)*in], 1, "matvec_")
			require.Equal(t, all[i*out:(i+1)*out], one, "%s: row %d", typ, i)
		}
	}
}
