package quant

import (
	"math"
	"testing"
)

// fuzzTypes are the types Dequantize and VecDot accept.
var fuzzTypes = []Type{F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_K, MXFP4}

// FuzzDequantize feeds arbitrary bytes, cut to whole blocks of the type the
// first byte picks, to Dequantize and to the type's dot product (against the
// same bytes reread as activations): neither may panic; NaN and Inf are fine.
func FuzzDequantize(f *testing.F) {
	f.Add([]byte{byte(3), 0x00, 0x3c, 0x12, 0x34})
	f.Add(append([]byte{9}, make([]byte, 144)...))
	f.Add(append([]byte{14}, make([]byte, 210*2)...))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		typ := fuzzTypes[int(data[0])%len(fuzzTypes)]
		data = data[1:]
		nb := len(data) / typ.TypeSize()
		src := data[:nb*typ.TypeSize()]
		n := nb * typ.BlockSize()
		dst := make([]float32, n)
		if err := Dequantize(typ, src, dst); err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		// A too-short source must be an error, not a panic.
		if nb > 0 && Dequantize(typ, src[:len(src)-1], dst) == nil {
			t.Fatalf("%s: short source accepted", typ)
		}
		if dot := DotFunc(typ); dot != nil {
			vt := VecDotType(typ)
			xb := make([]byte, nb*vt.TypeSize()*typ.BlockSize()/vt.BlockSize())
			copy(xb, data)
			_ = dot(n, src, xb)
			if nb > 0 && !math.IsNaN(float64(dot(n, src[:len(src)-1], xb))) {
				t.Fatalf("%s: short weight row gave a number", typ)
			}
		}
	})
}
