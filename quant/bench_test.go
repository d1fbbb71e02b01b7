package quant

import (
	"math/rand/v2"
	"testing"
)

// benchTypes are the weight types with a dot product, fastest-path ones first.
var benchTypes = []Type{F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, MXFP4}

const benchN = 4096

// benchData quantizes rows Gaussian rows of benchN elements to typ (16
// distinct rows, tiled, to keep setup quick) and one activation row to
// VecDotType(typ).
func benchData(b *testing.B, typ Type, rows int) (w, x []byte) {
	rng := rand.New(rand.NewPCG(3, 4))
	src := make([]float32, benchN)
	rowBytes, _ := RowBytes(typ, benchN)
	w = make([]byte, int(rowBytes)*rows)
	for r := 0; r < rows; r++ {
		if r < 16 {
			for i := range src {
				src[i] = float32(rng.NormFloat64())
			}
			if err := Quantize(typ, src, w[r*int(rowBytes):(r+1)*int(rowBytes)]); err != nil {
				b.Fatal(err)
			}
		} else {
			copy(w[r*int(rowBytes):], w[(r%16)*int(rowBytes):(r%16+1)*int(rowBytes)])
		}
	}
	vt := VecDotType(typ)
	xBytes, _ := RowBytes(vt, benchN)
	x = make([]byte, xBytes)
	for i := range src {
		src[i] = float32(rng.NormFloat64())
	}
	if err := Quantize(vt, src, x); err != nil {
		b.Fatal(err)
	}
	return w, x
}

var sink float32

// impls are the dot products to compare for typ: the Go code and, where
// this CPU has one, the assembly kernel.
func impls(typ Type) []struct {
	name string
	f    DotFn
} {
	out := []struct {
		name string
		f    DotFn
	}{{"go", genericDot(typ)}}
	if f := archDot(typ); f != nil {
		out = append(out, struct {
			name string
			f    DotFn
		}{"asm", f})
	}
	return out
}

// BenchmarkVecDot measures one 4096-element row, Go code against the
// assembly kernel; MB/s counts weight bytes.
func BenchmarkVecDot(b *testing.B) {
	for _, typ := range benchTypes {
		for _, im := range impls(typ) {
			b.Run(typ.String()+"/"+im.name, func(b *testing.B) {
				w, x := benchData(b, typ, 1)
				f := im.f
				b.SetBytes(int64(len(w)))
				b.ResetTimer()
				for b.Loop() {
					sink += f(benchN, w, x)
				}
				b.ReportMetric(float64(benchN)*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gelem/s")
			})
		}
	}
}

// BenchmarkMatVec multiplies a 1024x4096 weight by one activation row on
// one goroutine, Go code against the assembly kernel; MB/s counts weight
// bytes.
func BenchmarkMatVec(b *testing.B) {
	const rows = 1024
	for _, typ := range benchTypes {
		for _, im := range impls(typ) {
			b.Run(typ.String()+"/"+im.name, func(b *testing.B) {
				w, x := benchData(b, typ, rows)
				rb := len(w) / rows
				f := im.f
				out := make([]float32, rows)
				b.SetBytes(int64(len(w)))
				b.ResetTimer()
				for b.Loop() {
					for r := range out {
						out[r] = f(benchN, w[r*rb:(r+1)*rb], x)
					}
				}
				b.ReportMetric(float64(rows*benchN)*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gelem/s")
			})
		}
	}
}

// BenchmarkQuantizeActivation measures quantizing one 4096-element row to
// the activation formats; MB/s counts float32 input bytes.
func BenchmarkQuantizeActivation(b *testing.B) {
	for _, typ := range []Type{Q8_0, Q8_1, Q8_K} {
		b.Run(typ.String(), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(5, 6))
			src := make([]float32, benchN)
			for i := range src {
				src[i] = float32(rng.NormFloat64())
			}
			size, _ := RowBytes(typ, benchN)
			dst := make([]byte, size)
			b.SetBytes(4 * benchN)
			for b.Loop() {
				_ = Quantize(typ, src, dst)
			}
		})
	}
}
