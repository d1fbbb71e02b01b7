package quant

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// fma32 is a*b+c with one rounding to float32, as VFMADD231PS/SS. The
// product of two float32 is exact in float64; the sum is rounded to odd
// (TwoSum gives the error), after which rounding to float32 is exact.
func fma32(a, b, c float32) float32 {
	p := float64(float64(a) * float64(b)) // conversion: no fused multiply-add
	s := p + float64(c)
	if math.IsInf(s, 0) || math.IsNaN(s) {
		return float32(s)
	}
	bb := s - p
	e := (p - (s - bb)) + (float64(c) - bb)
	if u := math.Float64bits(s); e != 0 && u&1 == 0 {
		if (e > 0) == (s > 0) {
			u++
		} else {
			u--
		}
		s = math.Float64frombits(u)
	}
	return float32(s)
}

// signMul is the product ggml's mul_add_epi8 forms for weight k and
// activation y: |k| times y with k's sign applied in int8 (-(-128) wraps).
func signMul(k, y int8) int32 {
	switch {
	case k < 0:
		return int32(-k) * int32(-y)
	case k == 0:
		return 0
	}
	return int32(k) * int32(y)
}

// dotMXFP4x86 is ggml's x86 AVX2 ggml_vec_dot_mxfp4_q8_0 written out in
// scalar Go: the model the assembly kernels must match bit for bit.
func dotMXFP4x86(n int, w, x []byte) float32 {
	nb, ok := blocks(n, 32, 17, 34, w, x)
	if !ok {
		return nan32
	}
	var acc [2][8]float32
	ib := 0
	for ; ib+1 < nb; ib += 2 {
		for k := range acc {
			b, y := w[(ib+k)*17:], x[(ib+k)*34:]
			d := half(y[0:]) * e8m0Half(b[0])
			for l := range acc[k] {
				var s int32 // lane l: elements 4l..4l+3
				for j := 4 * l; j < 4*l+4; j++ {
					c := b[1+j%16] & 0xf
					if j >= 16 {
						c = b[1+j%16] >> 4
					}
					s += signMul(kvaluesMXFP4[c], int8(y[2+j]))
				}
				acc[k][l] = fma32(d, float32(s), acc[k][l])
			}
		}
	}
	var v [8]float32
	for l := range v {
		v[l] = acc[0][l] + acc[1][l]
	}
	sumf := ((v[4] + v[0]) + (v[6] + v[2])) + ((v[5] + v[1]) + (v[7] + v[3]))
	if ib < nb {
		b, y := w[ib*17:], x[ib*34:]
		var s int32
		for j := 0; j < 16; j++ {
			s += i8(y[2+j])*int32(kvaluesMXFP4[b[1+j]&0xf]) + i8(y[18+j])*int32(kvaluesMXFP4[b[1+j]>>4])
		}
		sumf = fma32(half(y[0:])*e8m0Half(b[0]), float32(s), sumf)
	}
	return sumf
}

func TestFMA32(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for i := 0; i < 100000; i++ {
		a, b := float32(rng.NormFloat64()), float32(rng.NormFloat64())
		c := float32(rng.NormFloat64() * math.Exp2(float64(rng.IntN(60)-30)))
		want := exactFMA32(a, b, c)
		require.Equal(t, math.Float32bits(want), math.Float32bits(fma32(a, b, c)), "fma32(%v, %v, %v)", a, b, c)
	}
	// a*b+c is just above a float32 tie but rounds to the tie in float64:
	// rounding twice would go down to the even neighbour.
	a, b := float32(1+0x1p-12), float32(1+0x1p-12) // a*b = 1 + 2^-11 + 2^-24
	c := float32(0x1p-60)
	require.Equal(t, float32(1+0x1p-11+0x1p-23), exactFMA32(a, b, c))
	require.Equal(t, float32(1+0x1p-11+0x1p-23), fma32(a, b, c), "just above the tie: rounds up")
	require.True(t, math.IsInf(float64(fma32(3e38, 2, 0)), 1))
	require.True(t, math.IsNaN(float64(fma32(float32(math.Inf(1)), 0, 1))))
}

// exactFMA32 is a*b+c computed exactly in big.Float, rounded once.
func exactFMA32(a, b, c float32) float32 {
	x := new(big.Float).SetPrec(1000).SetFloat64(float64(a))
	x.Mul(x, new(big.Float).SetFloat64(float64(b)))
	x.Add(x, new(big.Float).SetFloat64(float64(c)))
	f, _ := x.Float32()
	return f
}

// mxfp4Cases reads testdata/MXFP4_x86.qv (quant/testdata/mxfp4_x86.py):
// rows and ggml_vec_dot_mxfp4_q8_0 results of llama.cpp's x86 AVX2 build.
func mxfp4Cases(t *testing.T) (ns []int, ws, xs [][]byte, want []float32) {
	t.Helper()
	v := loadRecords(t, filepath.Join("testdata", "MXFP4_x86.qv"))
	cases := int(binary.LittleEndian.Uint32(v["cases"]))
	for i := 0; i < cases; i++ {
		ns = append(ns, int(binary.LittleEndian.Uint32(v["n"][4*i:])))
		ws = append(ws, v[fmt.Sprintf("w%d", i)])
		xs = append(xs, v[fmt.Sprintf("x%d", i)])
		want = append(want, math.Float32frombits(binary.LittleEndian.Uint32(v["dot"][4*i:])))
	}
	require.NotEmpty(t, ns)
	return ns, ws, xs, want
}

func requireSameBits(t *testing.T, want, got float32, msg string, args ...any) {
	t.Helper()
	if want != want && got != got {
		return // NaN: the payload may differ
	}
	require.Equal(t, math.Float32bits(want), math.Float32bits(got), fmt.Sprintf(msg, args...)+fmt.Sprintf(": got %v, want %v", got, want))
}

// TestMXFP4MatchesGGMLx86 pins the MXFP4 dot of the AVX2 path to what the
// llama.cpp binary computes: the Go model everywhere, and DotFunc,
// DotRowsFunc and Tiles where the CPU runs the assembly.
func TestMXFP4MatchesGGMLx86(t *testing.T) {
	ns, ws, xs, want := mxfp4Cases(t)
	differ := 0
	for i := range ns {
		requireSameBits(t, want[i], dotMXFP4x86(ns[i], ws[i], xs[i]), "model, case %d (n %d)", i, ns[i])
		if g := dotMXFP4(ns[i], ws[i], xs[i]); g == g && g != want[i] {
			differ++
		}
	}
	// The file must pin an order of its own: many cases differ from the
	// generic order in the last bits.
	t.Logf("%d of %d cases differ from the generic Go dot", differ, len(ns))
	require.Greater(t, differ, len(ns)/4)
	if archDot(MXFP4) == nil {
		t.Skip("no MXFP4 assembly kernel on this CPU")
	}
	dot, rows := DotFunc(MXFP4), DotRowsFunc(MXFP4)
	for i := range ns {
		requireSameBits(t, want[i], dot(ns[i], ws[i], xs[i]), "DotFunc, case %d (n %d)", i, ns[i])
		// The same weights against 1..8 activation rows, case i's row last,
		// through DotRowsFunc and a Tile.
		for nr := 1; nr <= 8; nr++ {
			rowsX := make([][]byte, nr)
			for r := range rowsX {
				rowsX[r] = xs[(i+1+r)%len(xs)]
				if len(rowsX[r]) < len(xs[i]) {
					rowsX[r] = xs[i]
				}
			}
			rowsX[nr-1] = xs[i]
			out := make([]float32, nr)
			rows(ns[i], ws[i], rowsX, out)
			requireSameBits(t, want[i], out[nr-1], "DotRowsFunc, case %d, %d rows", i, nr)
			var tl Tile
			tl.Set(MXFP4, ns[i], rowsX)
			tl.Dot(ws[i], out)
			requireSameBits(t, want[i], out[nr-1], "Tile, case %d, %d rows", i, nr)
		}
	}
}

// mxfp4Rows makes random MXFP4 weight and Q8_0 activation rows of nb
// blocks: raw codes and activations, sane scales. With min128 the
// activations may hold -128, which ggml's quantizer never writes.
func mxfp4Rows(rng *rand.Rand, nb int, min128 bool) (w, x []byte) {
	w, x = make([]byte, nb*17), make([]byte, nb*34)
	for i := range w {
		w[i] = byte(rng.Uint32())
	}
	for i := range x {
		x[i] = byte(rng.Uint32())
		if !min128 && x[i] == 0x80 {
			x[i] = 0x81
		}
	}
	for i := 0; i < nb; i++ {
		w[i*17] = byte(112 + rng.IntN(24))
		putHalf(x[i*34:], float32(rng.NormFloat64()*0.1))
	}
	return w, x
}

// TestMXFP4AVX2 checks the assembly against the Go model of ggml's AVX2
// kernel (bit for bit) and against the Go generic dot, which sums in
// another order: within float32 accumulation error of it.
func TestMXFP4AVX2(t *testing.T) {
	asm := archDot(MXFP4)
	if asm == nil {
		t.Skip("no MXFP4 assembly kernel on this CPU")
	}
	rng := rand.New(rand.NewPCG(31, 32))
	for _, nb := range []int{0, 1, 2, 3, 4, 5, 8, 9, 31, 32, 33, 90, 91, 288} {
		for rep := 0; rep < 30; rep++ {
			w, x := mxfp4Rows(rng, nb, rep%3 == 0)
			n := nb * 32
			got := asm(n, w, x)
			requireSameBits(t, dotMXFP4x86(n, w, x), got, "nb %d rep %d: asm vs model", nb, rep)
			if rep%3 == 0 {
				continue // -128 activations: ggml's AVX2 products wrap there
			}
			gen := genericDot(MXFP4)(n, w, x)
			var mag float64 // sum of |block dot|, bounding the rounding error
			for i := 0; i < nb; i++ {
				b, y := w[i*17:], x[i*34:]
				var s float64
				for j := 0; j < 16; j++ {
					s += math.Abs(float64(i8(y[2+j])*int32(kvaluesMXFP4[b[1+j]&0xf]))) +
						math.Abs(float64(i8(y[18+j])*int32(kvaluesMXFP4[b[1+j]>>4])))
				}
				mag += s * math.Abs(float64(half(y[0:])*e8m0Half(b[0])))
			}
			tol := float64(nb+8) * 0x1p-23 * mag
			require.InDelta(t, gen, got, tol, "nb %d rep %d: asm %v, generic %v", nb, rep, got, gen)
		}
	}
	// Bad sizes give NaN.
	require.True(t, math.IsNaN(float64(asm(33, make([]byte, 4096), make([]byte, 4096)))))
	require.True(t, math.IsNaN(float64(asm(64, make([]byte, 33), make([]byte, 4096)))))
	require.True(t, math.IsNaN(float64(asm(64, make([]byte, 4096), make([]byte, 67)))))
}

// mxfp4Aligned makes weight and activation rows of nb blocks whose codes
// agree in sign with large activations: block sums of up to 16 bits, whose
// product with a scale rounds, so an FMA and a multiply-add differ.
func mxfp4Aligned(rng *rand.Rand, nb int, w []byte) []byte {
	x := make([]byte, nb*34)
	for i := 0; i < nb; i++ {
		putHalf(x[i*34:], float32(rng.NormFloat64()))
		for j := 0; j < 32; j++ {
			c := w[i*17+1+j%16] & 0xf
			if j >= 16 {
				c = w[i*17+1+j%16] >> 4
			}
			y := int8(64 + rng.IntN(64))
			if kvaluesMXFP4[c] < 0 {
				y = -y
			}
			x[i*34+2+j] = byte(y)
		}
	}
	return x
}

// TestMXFP4Tile checks MXFP4 Tiles of every size against the single-row
// assembly and the Go model of ggml's AVX2 kernel, bit for bit: random and
// sign-aligned rows (large block sums), even and odd block counts.
func TestMXFP4Tile(t *testing.T) {
	if archDot(MXFP4) == nil {
		t.Skip("no MXFP4 assembly kernel on this CPU")
	}
	require.Equal(t, 8, TileRows(MXFP4))
	rng := rand.New(rand.NewPCG(41, 42))
	dot := DotFunc(MXFP4)
	var tl Tile
	for _, nb := range []int{1, 2, 3, 4, 5, 9, 90, 91} {
		for nr := 1; nr <= 8; nr++ {
			for rep := 0; rep < 20; rep++ {
				w, _ := mxfp4Rows(rng, nb, false)
				xs := make([][]byte, nr)
				for r := range xs {
					if rep%2 == 0 {
						_, xs[r] = mxfp4Rows(rng, nb, rep%4 == 0)
					} else {
						xs[r] = mxfp4Aligned(rng, nb, w)
					}
				}
				tl.Set(MXFP4, nb*32, xs)
				out := make([]float32, nr+1)
				out[nr] = 42
				tl.Dot(w, out[:nr])
				for r, x := range xs {
					want := dot(nb*32, w, x)
					requireSameBits(t, dotMXFP4x86(nb*32, w, x), want, "nb %d rows %d rep %d row %d: asm vs model", nb, nr, rep, r)
					requireSameBits(t, want, out[r], "nb %d rows %d rep %d row %d: tile vs single", nb, nr, rep, r)
				}
				require.Equal(t, float32(42), out[nr])
			}
		}
	}
}

// FuzzDotMXFP4 compares, on arbitrary bytes, the assembly with the Go model
// of ggml's AVX2 kernel, and the four-row kernel and Tiles (of up to
// TileRows rows) with the single-row one.
func FuzzDotMXFP4(f *testing.F) {
	f.Add([]byte{1, 127, 0x12, 0x34})
	f.Add(make([]byte, 3*51+2))
	f.Add(append([]byte{7}, make([]byte, 3*(17+8*34))...))
	f.Fuzz(func(t *testing.T, data []byte) {
		asm := archDot(MXFP4)
		if asm == nil || len(data) == 0 {
			return
		}
		nr := 1 + int(data[0])%10
		data = data[1:]
		nb := len(data) / (17 + 34*nr)
		n := nb * 32
		w := data[:nb*17]
		xs := make([][]byte, nr)
		for r := range xs {
			xs[r] = data[nb*17+r*nb*34 : nb*17+(r+1)*nb*34]
		}
		out := make([]float32, nr)
		DotRowsFunc(MXFP4)(n, w, xs, out)
		for r, x := range xs {
			got := asm(n, w, x)
			requireSameBits(t, dotMXFP4x86(n, w, x), got, "row %d: asm vs model", r)
			requireSameBits(t, got, out[r], "row %d: rows vs single", r)
		}
		var tl Tile
		for lo := 0; lo < nr; lo += TileRows(MXFP4) {
			hi := min(lo+TileRows(MXFP4), nr)
			tl.Set(MXFP4, n, xs[lo:hi])
			tl.Dot(w, out[lo:hi])
			for r := lo; r < hi; r++ {
				requireSameBits(t, asm(n, w, xs[r]), out[r], "row %d: tile vs single", r)
			}
		}
	})
}
