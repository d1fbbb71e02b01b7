package cpu

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tscale/engine/quant"
)

// BenchmarkMatMulRows times a 768 -> 1536 product (one thread) for the
// batch sizes of batched decoding and short prefills, through the panels
// and through the tiles they replace.
func BenchmarkMatMulRows(b *testing.B) {
	const in, out = 768, 1536
	for _, typ := range []quant.Type{quant.Q4_1, quant.Q8_0, quant.Q5_0, quant.Q4_K, quant.Q6_K} {
		for _, rows := range []int{6, 8, 16, 32} {
			for _, panels := range []bool{false, true} {
				b.Run(fmt.Sprintf("%s/rows=%d/panels=%v", typ, rows, panels), func(b *testing.B) {
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
					defer func() { usePanels = true }()
					usePanels = panels
					for b.Loop() {
						be.MatMul(dst, x, w, nil)
					}
				})
			}
		}
	}
}
