//go:build amd64 && !purego

package quant

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkDotManyK times Gemma-3-shaped Q4_K/Q6_K decode products (640
// rows of 1024 and 2048 elements: attn_output, ffn_down), reporting ns per
// row: "old" is DotFunc row by row, "go" the Go row loop around the lane
// kernels (manyKGo), "asm" the whole-row kernels DotMany runs.
func BenchmarkDotManyK(b *testing.B) {
	if !hasAVX2 {
		b.Skip("no AVX2")
	}
	const rows = 640
	for _, typ := range []Type{Q4_K, Q6_K} {
		for _, n := range []int{1024, 2048} {
			rng := rand.New(rand.NewPCG(7, uint64(n)))
			rb, _ := RowBytes(typ, int64(n))
			w := make([]byte, rows*int(rb))
			src := make([]float32, n)
			for r := 0; r < rows; r++ {
				for i := range src {
					src[i] = float32(rng.NormFloat64())
				}
				if err := Quantize(typ, src, w[r*int(rb):(r+1)*int(rb)]); err != nil {
					b.Fatal(err)
				}
			}
			xb, _ := RowBytes(Q8_K, int64(n))
			x := make([]byte, xb)
			if err := QuantizeActivation(Q8_K, src, x); err != nil {
				b.Fatal(err)
			}
			out := make([]float32, rows)
			dot := DotFunc(typ)
			run := map[string]func(){
				"old": func() {
					for j := range out {
						out[j] = dot(n, w[j*int(rb):(j+1)*int(rb)], x)
					}
				},
				"go":  func() { manyKGo(typ, n/QK_K, w, int(rb), x, out) },
				"asm": func() { DotMany(typ, n, w, int(rb), x, out) },
			}
			for _, v := range []string{"old", "go", "asm"} {
				b.Run(fmt.Sprintf("%s/n=%d/%s", typ, n, v), func(b *testing.B) {
					b.SetBytes(int64(len(w)))
					for b.Loop() {
						run[v]()
					}
					b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rows), "ns/row")
				})
			}
		}
	}
}
