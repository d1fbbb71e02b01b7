package cpu

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tscale/engine/quant"
)

// TestMatMulBatchInvariant: a row's product is the same bit for bit whether
// it is computed alone (a decode step), in a tile or in a panel, for every
// panel type, batch sizes around the panel thresholds and 16-row tiles, and
// 1 or 2 threads.
func TestMatMulBatchInvariant(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	sizes := []int{2, 5, 6, 11, 12, 16, 17, 33}
	for _, typ := range []quant.Type{quant.F32, quant.Q8_0, quant.Q4_0, quant.Q4_1, quant.Q5_0, quant.Q5_1, quant.Q4_K, quant.Q6_K} {
		in, out := 512, 37
		t.Run(typ.String(), func(t *testing.T) {
			rb, err := quant.RowBytes(typ, int64(in))
			require.NoError(t, err)
			wb := make([]byte, int(rb)*out)
			require.NoError(t, quant.Quantize(typ, randn(r, in*out), wb))
			for _, threads := range []int{1, 2} {
				be := New(threads)
				w, err := be.Upload("w", typ, []int64{int64(in), int64(out)}, wb)
				require.NoError(t, err)
				for _, rows := range sizes {
					x := randn(r, rows*in)
					dst := be.Alloc(rows, out)
					be.MatMul(dst, fill(be, rows, in, x), w, nil)
					for i := 0; i < rows; i++ {
						one := be.Alloc(1, out)
						be.MatMul(one, fill(be, 1, in, x[i*in:(i+1)*in]), w, nil)
						require.Equal(t, data(one), data(dst)[i*out:(i+1)*out], fmt.Sprintf("%d threads, row %d of %d", threads, i, rows))
					}
				}
			}
		})
	}
}
