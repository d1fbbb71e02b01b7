//go:build cudaemu

package emu

import (
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tscale/engine/backend/cpu"
	"github.com/tscale/engine/quant"
)

// embedTypes are every type quant.Dequantize decodes.
var embedTypes = []quant.Type{quant.F32, quant.F16, quant.BF16, quant.Q4_0, quant.Q4_1, quant.Q5_0, quant.Q5_1,
	quant.Q8_0, quant.Q8_1, quant.Q2_K, quant.Q3_K, quant.Q4_K, quant.Q5_K, quant.Q6_K, quant.Q8_K, quant.MXFP4}

func TestEmbedKernels(t *testing.T) { bothOrders(t, testEmbedKernels) }

// The kernels decode as the CPU does, operation for operation: equal bits.
func testEmbedKernels(t *testing.T) {
	r := rand.New(rand.NewSource(14))
	be := cpu.New(1)
	const vocab = 7
	for _, typ := range embedTypes {
		for _, cols := range []int{256, 768} {
			tf := randn(r, vocab*cols)
			for i := range tf {
				tf[i] *= float32(1 + i/cols) // rows of different scales
			}
			rb, err := quant.RowBytes(typ, int64(cols))
			require.NoError(t, err)
			tq := make([]byte, vocab*int(rb))
			require.NoError(t, quant.Quantize(typ, tf, tq))
			w, err := be.Upload("tok", typ, []int64{int64(cols), vocab}, tq)
			require.NoError(t, err)
			td := devBytes(t, tq)
			ids := []int32{6, 0, 3, 3, 1}
			for _, scale := range []float32{1, 0.37} {
				name := fmt.Sprintf("%s cols %d scale %g", typ, cols, scale)
				want := be.Alloc(len(ids), cols)
				be.Embed(want, w, ids, scale)
				dst := poisoned(t, len(ids)*cols)
				require.NoError(t, Launch("embed_"+kernelName(typ), Dim3{uint32(len(ids)), 1, 1}, Dim3{256, 1, 1}, 0,
					Ptr(dst), Ptr(td), Ptr(dev(t, ids)), I64(int64(cols)), I64(vocab), F64(float64(scale))), name)
				got := back[float32](dst, len(ids)*cols)
				exp := cpuRows(be, want)
				for i := range exp {
					require.Equal(t, math.Float32bits(exp[i]), math.Float32bits(got[i]), "%s: element %d: %g, want %g", name, i, got[i], exp[i])
				}
			}
		}
	}
}

// An id outside the table gives a row of NaN, not a read out of bounds.
func TestEmbedBadID(t *testing.T) {
	const cols, vocab = 64, 3
	tq := make([]byte, vocab*cols*4)
	dst := dev(t, make([]float32, 3*cols))
	require.NoError(t, Launch("embed_f32", Dim3{3, 1, 1}, Dim3{32, 1, 1}, 0,
		Ptr(dst), Ptr(devBytes(t, tq)), Ptr(dev(t, []int32{-1, 1, vocab})), I64(cols), I64(vocab), F64(1)))
	got := back[float32](dst, 3*cols)
	for i, v := range got {
		if i/cols == 1 {
			require.Zero(t, v, "element %d", i)
		} else {
			require.True(t, math.IsNaN(float64(v)), "element %d: %g", i, v)
		}
	}
}
