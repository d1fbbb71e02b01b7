package quant

import (
	"math"
	"testing"
)

// FuzzPanel: a Panel's products equal DotFunc's bit for bit (NaN only
// against NaN) on arbitrary weight and activation bytes, row and weight
// counts, for every panel type.
func FuzzPanel(f *testing.F) {
	f.Add(uint8(0), uint8(1), uint8(3), uint8(2), []byte{1, 2, 3})
	f.Add(uint8(6), uint8(2), uint8(17), uint8(5), []byte{0x80, 0x7f, 0xff})
	f.Add(uint8(7), uint8(1), uint8(16), uint8(4), []byte{0x3c, 0x00, 0x55})
	f.Fuzz(func(t *testing.T, ti, nb, rows, count uint8, seed []byte) {
		if !PanelOK(Q8_0, 32) || len(seed) == 0 {
			return
		}
		typ := panelTypes[int(ti)%len(panelTypes)]
		span := 32
		if typ == Q4_K || typ == Q6_K {
			span = QK_K
		}
		n := (1 + int(nb)%4) * span
		nr, nc := 1+int(rows)%40, 1+int(count)%9
		wb, _ := RowBytes(typ, int64(n))
		xb, _ := RowBytes(VecDotType(typ), int64(n))
		k := 0
		next := func() byte { k++; return seed[k%len(seed)] ^ byte(k*131) }
		w := make([]byte, nc*int(wb))
		for i := range w {
			w[i] = next()
		}
		xs := make([][]byte, nr)
		for r := range xs {
			xs[r] = make([]byte, xb)
			for i := range xs[r] {
				xs[r][i] = next()
			}
		}
		var p Panel
		p.Set(typ, n, xs)
		dst := make([]float32, nr*nc)
		p.Mul(w, int(wb), nc, dst, nc)
		dot := DotFunc(typ)
		for r, x := range xs {
			for j := 0; j < nc; j++ {
				want, got := dot(n, w[j*int(wb):(j+1)*int(wb)], x), dst[r*nc+j]
				if want != want && got != got {
					continue
				}
				if math.Float32bits(want) != math.Float32bits(got) {
					t.Fatalf("%s n %d row %d weight row %d: panel %v, DotFunc %v", typ, n, r, j, got, want)
				}
			}
		}
	})
}
