package quant

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// archTypes are the types with an assembly dot product on some platform.
var archTypes = []Type{Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K, MXFP4}

// archRef is the Go dot product an assembly kernel must match bit for bit:
// the generic one, except for MXFP4, whose kernel follows ggml's AVX2 code.
func archRef(t Type) DotFn {
	if t == MXFP4 {
		return dotMXFP4x86
	}
	return genericDot(t)
}

// fill sets every block of a row of type t to the bytes fn returns per
// offset within the block, then overwrites the scale fields with scale.
func fill(t Type, nb int, fn func(off int) byte, scale float32) []byte {
	bs := int(t.TypeSize())
	row := make([]byte, nb*bs)
	for i := range row {
		row[i] = fn(i % bs)
	}
	for i := 0; i < nb; i++ {
		b := row[i*bs : (i+1)*bs]
		switch t {
		case Q8_0, Q4_0, Q5_0:
			putHalf(b, scale)
		case Q8_1, Q4_1, Q5_1:
			putHalf(b, scale)
			putHalf(b[2:], -scale)
		case Q4_K, Q5_K:
			putHalf(b, scale)
			putHalf(b[2:], scale/2)
		case Q6_K:
			putHalf(b[208:], scale)
		case MXFP4:
			if scale != 0 { // exponent of |scale|; 0 keeps the random byte
				_, e := math.Frexp(float64(scale))
				b[0] = byte(127 + e)
			}
		case Q8_K:
			b[0], b[1], b[2], b[3] = byte(math.Float32bits(scale)), byte(math.Float32bits(scale)>>8),
				byte(math.Float32bits(scale)>>16), byte(math.Float32bits(scale)>>24)
		}
	}
	return row
}

func TestArchDotMatchesGeneric(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	random := func(int) byte { return byte(rng.Uint32()) }
	for _, typ := range archTypes {
		t.Run(typ.String(), func(t *testing.T) {
			asm := archDot(typ)
			if asm == nil {
				t.Skip("no assembly dot product for this type on this CPU")
			}
			gen := archRef(typ)
			vt := VecDotType(typ)
			bs := int(typ.BlockSize())
			check := func(name string, nb int, w, x []byte) {
				got, want := asm(nb*bs, w, x), gen(nb*bs, w, x)
				if got != got && want != want {
					return // NaN scales: both NaN (the payload may differ)
				}
				require.Equal(t, math.Float32bits(want), math.Float32bits(got), "%s, %d blocks: asm %v, Go %v", name, nb, got, want)
			}
			for _, nb := range []int{0, 1, 2, 3, 7, 17, 130, 300} {
				for rep := 0; rep < 20; rep++ {
					// Raw random bytes: every code and activation value,
					// arbitrary scales (the float part is shared Go code).
					check("random bytes", nb, fill(typ, nb, random, 0), fill(vt, nb, random, 0))
					// Quantized Gaussian rows, as a model sees them.
					src := make([]float32, nb*bs)
					for i := range src {
						src[i] = float32(rng.NormFloat64())
					}
					w := make([]byte, nb*int(typ.TypeSize()))
					x := make([]byte, nb*int(vt.TypeSize()))
					require.NoError(t, Quantize(typ, src, w))
					for i := range src {
						src[i] = float32(rng.NormFloat64() * 3)
					}
					require.NoError(t, QuantizeActivation(vt, src, x))
					check("quantized", nb, w, x)
				}
			}
			// Extremes: all-ones and all-zero codes against activations of
			// -128 and 127, random scales bytes kept, and zero scales.
			for _, wb := range []byte{0x00, 0xff, 0x80, 0x7f, 0x55} {
				for _, xb := range []byte{0x80, 0x7f, 0x00, 0x81} {
					for _, scale := range []float32{1, 0, -65504} {
						nb := 9
						w := fill(typ, nb, func(off int) byte {
							if (typ == Q4_K || typ == Q5_K) && off >= 4 && off < 16 {
								return 0xff // largest 6-bit scales and mins
							}
							if typ == Q6_K && off >= 192 {
								return 0x80 // scale -128
							}
							return wb
						}, scale)
						x := fill(vt, nb, func(int) byte { return xb }, scale)
						check(fmt.Sprintf("w %#x x %#x scale %v", wb, xb, scale), nb, w, x)
					}
				}
			}
			// Bad sizes give NaN on both paths.
			require.True(t, math.IsNaN(float64(asm(bs+1, make([]byte, 4096), make([]byte, 4096)))))
			require.True(t, math.IsNaN(float64(asm(2*bs, make([]byte, 1), make([]byte, 4096)))))
		})
	}
}
