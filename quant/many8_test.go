//go:build amd64 && !purego

package quant

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// many8Variants are the eight-row kernel sets this CPU runs: VNNI where it
// has it, and AVX2.
func many8Variants(t *testing.T) []bool {
	if !hasAVX2 {
		t.Skip("no AVX2")
	}
	if hasVNNI {
		return []bool{true, false}
	}
	return []bool{false}
}

// TestMany8MatchesGeneric checks the eight-row DotMany kernels against the
// Go dot product bit for bit (tolerance: none), per row, on random bytes
// (every code, activation and scale bit pattern), quantized Gaussian rows
// and extremes, for row counts around multiples of eight (the tail goes
// through the single-row kernel), odd block counts and padded strides. It
// also checks that each row's result is the one it gets streamed alone or
// from another first row (batch invariance). Q4_K and Q6_K check manyK.
func TestMany8MatchesGeneric(t *testing.T) {
	for _, vnni := range many8Variants(t) {
		for _, typ := range []Type{Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q6_K} { // K: manyK
			if typ.BlockSize() != 32 && !vnni && hasVNNI {
				continue // manyK has no VNNI variant: run once
			}
			t.Run(fmt.Sprintf("%s/vnni=%v", typ, vnni), func(t *testing.T) {
				defer func(v bool) { many8VNNI = v }(many8VNNI)
				many8VNNI = vnni
				testMany8(t, typ)
			})
		}
	}
}

func testMany8(t *testing.T, typ Type) {
	rng := rand.New(rand.NewPCG(81, uint64(typ)))
	random := func(int) byte { return byte(rng.Uint32()) }
	vt := VecDotType(typ)
	bs, ws := typ.BlockSize(), typ.TypeSize()
	gen := genericDot(typ)
	check := func(name string, nb, rb int, w, x []byte, rows int) {
		n := nb * bs
		out := make([]float32, rows+1)
		out[rows] = 42
		DotMany(typ, n, w, rb, x, out[:rows])
		require.Equal(t, float32(42), out[rows], "%s: wrote past out", name)
		for j := 0; j < rows; j++ {
			want := gen(n, w[j*rb:j*rb+nb*ws], x)
			if want != want && out[j] != out[j] {
				continue // NaN scales: both NaN (the payload may differ)
			}
			require.Equal(t, math.Float32bits(want), math.Float32bits(out[j]),
				"%s: %d blocks, row %d of %d: kernel %v, Go %v", name, nb, j, rows, out[j], want)
		}
		// The same rows from row 3 on, and row 5 alone.
		if rows > 11 {
			sub := make([]float32, rows-3)
			DotMany(typ, n, w[3*rb:], rb, x, sub)
			for j, v := range sub {
				require.Equal(t, math.Float32bits(out[3+j]), math.Float32bits(v), "%s: row %d from row 3", name, 3+j)
			}
			one := make([]float32, 1)
			DotMany(typ, n, w[5*rb:], rb, x, one)
			require.Equal(t, math.Float32bits(out[5]), math.Float32bits(one[0]), "%s: row 5 alone", name)
		}
	}
	for _, rows := range []int{8, 9, 16, 23, 37} {
		for _, nb := range []int{1, 2, 7, 16, 19} { // K: 16 super-blocks and more go row by row
			for _, pad := range []int{0, 3} {
				rb := nb*ws + pad
				w := make([]byte, rows*rb)
				for i := range w {
					w[i] = random(0)
				}
				check("random bytes", nb, rb, w, fill(vt, nb, random, 0), rows)
				src := make([]float32, nb*bs)
				for j := 0; j < rows; j++ {
					for i := range src {
						src[i] = float32(rng.NormFloat64())
					}
					require.NoError(t, Quantize(typ, src, w[j*rb:j*rb+nb*ws]))
				}
				for i := range src {
					src[i] = float32(rng.NormFloat64() * 3)
				}
				x := make([]byte, nb*vt.TypeSize())
				require.NoError(t, QuantizeActivation(vt, src, x))
				check("quantized", nb, rb, w, x, rows)
			}
		}
	}
	// Extremes: every weight byte 0x00/0xff/0x80/0x7f against activations
	// of -128 and 127 (largest integer sums), with large and zero scales.
	for _, wb := range []byte{0x00, 0xff, 0x80, 0x7f} {
		for _, xb := range []byte{0x80, 0x7f} {
			for _, scale := range []float32{1, 0, -65504} {
				nb := 5
				w := fill(typ, 16*nb, func(int) byte { return wb }, scale)
				x := fill(vt, nb, func(int) byte { return xb }, scale)
				check(fmt.Sprintf("w %#x x %#x scale %v", wb, xb, scale), nb, nb*ws, w, x, 16)
			}
		}
	}
}

// BenchmarkDotMany times a decode product of 1024 rows of 4096 elements
// (one activation row; MANY8_ROWS sets another count), reporting ns per row and weight GB/s; "old" is the
// single-row-at-a-time many kernel, "avx2" and "vnni" the eight-row ones
// (K types: "old" is DotFunc row by row, "avx2" manyK).
func BenchmarkDotMany(b *testing.B) {
	rows := 1024
	if os.Getenv("MANY8_ROWS") != "" { // e.g. 32768: past the last-level cache
		rows, _ = strconv.Atoi(os.Getenv("MANY8_ROWS"))
	}
	for _, typ := range []Type{Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q6_K} {
		w, x := benchData(b, typ, rows)
		rb := len(w) / rows
		out := make([]float32, rows)
		variants := []struct {
			name  string
			old   bool
			vnni  bool
			avail bool
		}{{"old", true, false, true}, {"avx2", false, false, true}, {"vnni", false, true, hasVNNI && typ.BlockSize() == 32}}
		for _, v := range variants {
			if !v.avail {
				continue
			}
			b.Run(typ.String()+"/"+v.name, func(b *testing.B) {
				defer func(f bool) { many8VNNI = f }(many8VNNI)
				many8VNNI = v.vnni
				b.SetBytes(int64(len(w)))
				for b.Loop() {
					if v.old {
						oldMany(typ, w, rb, x, out)
					} else {
						DotMany(typ, benchN, w, rb, x, out)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rows), "ns/row")
			})
		}
	}
}

// oldMany runs the single-row-at-a-time many kernels over all rows (K
// types: DotFunc row by row).
func oldMany(typ Type, w []byte, rb int, x []byte, out []float32) {
	if typ == Q4_K || typ == Q6_K {
		dot := DotFunc(typ)
		for j := range out {
			out[j] = dot(benchN, w[j*rb:(j+1)*rb], x)
		}
		return
	}
	f := dotQ4_1Many
	switch typ {
	case Q4_0:
		f = dotQ4_0Many
	case Q5_0:
		f = dotQ5_0Many
	case Q5_1:
		f = dotQ5_1Many
	case Q8_0:
		f = dotQ8_0Many
	}
	f(benchN/32, len(out), &w[0], rb, &x[0], f16Table, &out[0])
}

// BenchmarkDotManyStream streams a Gemma-3-shaped output matrix (131072
// rows of 640 elements, 89 MB in Q8_0: past the last-level cache) through
// DotMany, as a decode step does; skipped with -short.
func BenchmarkDotManyStream(b *testing.B) {
	if testing.Short() {
		b.Skip("89 MB")
	}
	const rows, n = 131072, 640
	for _, typ := range []Type{Q8_0, Q4_1} {
		rb, _ := RowBytes(typ, n)
		w := make([]byte, rows*int(rb))
		rng := rand.New(rand.NewPCG(5, 6))
		for i := range w {
			w[i] = byte(rng.Uint32() & 0x3f) // small scales: no Inf/NaN
		}
		vt := VecDotType(typ)
		src := make([]float32, n)
		for i := range src {
			src[i] = float32(rng.NormFloat64())
		}
		xb, _ := RowBytes(vt, n)
		x := make([]byte, xb)
		require.NoError(b, QuantizeActivation(vt, src, x))
		out := make([]float32, rows)
		for _, v := range []string{"old", "new"} {
			b.Run(typ.String()+"/"+v, func(b *testing.B) {
				b.SetBytes(int64(len(w)))
				for b.Loop() {
					if v == "old" {
						f := dotQ8_0Many
						if typ == Q4_1 {
							f = dotQ4_1Many
						}
						f(n/32, rows, &w[0], int(rb), &x[0], f16Table, &out[0])
					} else {
						DotMany(typ, n, w, int(rb), x, out)
					}
				}
			})
		}
	}
}

// TestScales4w checks the SWAR scales4 against scales4: every value of
// each byte position, then random words.
func TestScales4w(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	for i := 0; i < 1<<16; i++ {
		var s [4]byte
		if i < 1024 {
			s[i>>8] = byte(i)
		} else {
			v := rng.Uint32()
			s = [4]byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)}
		}
		require.Equal(t, scales4(s[:]), scales4w(s[:]), "% x", s)
	}
}
