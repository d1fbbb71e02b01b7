package quant

import (
	"math"
	"testing"
)

// FuzzDotMany feeds arbitrary bytes to DotMany: the first byte picks the
// type, the second the row count (0-23), the third the row padding (0-7)
// and the fourth the blocks per row (0-7); the rest, repeated as needed, is
// the activation row and then the weight rows. Every result must equal
// DotFunc's for its row bit for bit (NaN against NaN), out must not be
// written past its end, and nothing may panic.
func FuzzDotMany(f *testing.F) {
	f.Add([]byte{5, 9, 0, 3, 0x00, 0x3c, 0x12, 0x34})
	f.Add([]byte{2, 16, 3, 1, 0xff, 0x80, 0x7f})
	f.Add([]byte{12, 8, 0, 1, 0x01})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 5 {
			return
		}
		typ := fuzzTypes[int(data[0])%len(fuzzTypes)]
		dot := DotFunc(typ)
		if dot == nil {
			return
		}
		rows, pad, nb := int(data[1])%24, int(data[2])%8, int(data[3])%8
		body := data[4:]
		vt := VecDotType(typ)
		n := nb * typ.BlockSize()
		rb := nb*typ.TypeSize() + pad
		xn := n / vt.BlockSize() * vt.TypeSize()
		buf := make([]byte, xn+rows*rb)
		for i := range buf {
			buf[i] = body[i%len(body)]
		}
		x, w := buf[:xn], buf[xn:]
		out := make([]float32, rows+1)
		out[rows] = 42
		DotMany(typ, n, w, rb, x, out[:rows])
		if out[rows] != 42 {
			t.Fatalf("%s: wrote past out", typ)
		}
		for j := 0; j < rows; j++ {
			want := dot(n, w[j*rb:(j+1)*rb], x)
			if want != want && out[j] != out[j] {
				continue
			}
			if math.Float32bits(want) != math.Float32bits(out[j]) {
				t.Fatalf("%s: %d blocks, row %d of %d: DotMany %v, DotFunc %v", typ, nb, j, rows, out[j], want)
			}
		}
	})
}
