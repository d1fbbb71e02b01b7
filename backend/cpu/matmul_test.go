package cpu

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tscale/engine/quant"
)

// BenchmarkMatMul times one 768 -> 1536 product (an FFN up projection; a
// multiple of 256 so that the k-quants run) for a 128-token prefill and one
// decode token, one thread, with Gaussian weights and activations.
func BenchmarkMatMul(b *testing.B) {
	const in, out = 768, 1536
	for _, typ := range []quant.Type{quant.Q4_1, quant.Q5_0, quant.Q8_0, quant.Q4_0, quant.Q4_K, quant.Q6_K} {
		for _, rows := range []int{128, 1} {
			b.Run(fmt.Sprintf("%s/rows=%d", typ, rows), func(b *testing.B) {
				r := rand.New(rand.NewPCG(5, 6))
				be := New(1)
				rb, err := quant.RowBytes(typ, in)
				require.NoError(b, err)
				wb := make([]byte, int(rb)*out)
				require.NoError(b, quant.Quantize(typ, randn(r, in*out), wb))
				w, err := be.Upload("w", typ, []int64{in, out}, wb)
				require.NoError(b, err)
				x := fill(be, rows, in, randn(r, rows*in))
				dst := be.Alloc(rows, out)
				for b.Loop() {
					be.MatMul(dst, x, w, nil)
				}
			})
		}
	}
}
