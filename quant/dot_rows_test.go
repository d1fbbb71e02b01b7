package quant

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// rowsTypes are the types DotRowsFunc is checked for: every type with an
// assembly dot product, plus a few that only have the generic loop.
var rowsTypes = append([]Type{F32, F16, Q2_K, Q3_K}, archTypes...)

// checkRows requires every out of the multi-row dot to be bit-equal to the
// single-row DotFunc result for that row (NaN only against NaN).
func checkRows(t *testing.T, typ Type, name string, n int, w []byte, xs [][]byte) {
	t.Helper()
	dot, rows := DotFunc(typ), DotRowsFunc(typ)
	out := make([]float32, len(xs)+1)
	out[len(xs)] = 42 // must stay untouched
	rows(n, w, xs, out[:len(xs)])
	for r, x := range xs {
		want := dot(n, w, x)
		if out[r] != out[r] && want != want {
			continue
		}
		require.Equal(t, math.Float32bits(want), math.Float32bits(out[r]),
			"%s, n %d, row %d of %d: rows %v, DotFunc %v", name, n, r, len(xs), out[r], want)
	}
	require.Equal(t, float32(42), out[len(xs)], "%s: wrote past out", name)
	// The same rows as Tiles of up to TileRows, one Tile value reused.
	var tl Tile
	for lo := 0; lo < len(xs); lo += TileRows(typ) {
		hi := min(lo+TileRows(typ), len(xs))
		tl.Set(typ, n, xs[lo:hi])
		out[hi-lo] = 42
		tl.Dot(w, out[:hi-lo])
		for r, x := range xs[lo:hi] {
			want := dot(n, w, x)
			if out[r] != out[r] && want != want {
				continue
			}
			require.Equal(t, math.Float32bits(want), math.Float32bits(out[r]),
				"%s, n %d, tile row %d of %d: %v, DotFunc %v", name, n, lo+r, len(xs), out[r], want)
		}
		require.Equal(t, float32(42), out[hi-lo], "%s: tile wrote past out", name)
	}
}

func TestDotRowsMatchesDotFunc(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	random := func(int) byte { return byte(rng.Uint32()) }
	for _, typ := range rowsTypes {
		t.Run(typ.String(), func(t *testing.T) {
			require.NotNil(t, DotRowsFunc(typ))
			if archDot(typ) != nil && typ != Q5_K && typ != F32 { // F32: prefill runs Panel, decode one row
				require.NotNil(t, archDotRows(typ), "no multi-row kernel beside the single-row one")
			}
			vt := VecDotType(typ)
			bs, xs := typ.BlockSize(), vt.TypeSize()
			for _, nb := range []int{0, 1, 3, 17, 40} {
				for nr := 1; nr <= 10; nr++ {
					// Raw random bytes: every code and activation value.
					x := make([][]byte, nr)
					for r := range x {
						x[r] = fill(vt, nb, random, 0)
					}
					checkRows(t, typ, "random bytes", nb*bs, fill(typ, nb, random, 0), x)
					// Quantized Gaussian rows, as a model sees them.
					src := make([]float32, nb*bs)
					for i := range src {
						src[i] = float32(rng.NormFloat64())
					}
					w := make([]byte, nb*typ.TypeSize())
					require.NoError(t, Quantize(typ, src, w))
					for r := range x {
						for i := range src {
							src[i] = float32(rng.NormFloat64() * 3)
						}
						x[r] = make([]byte, nb*xs)
						require.NoError(t, QuantizeActivation(vt, src, x[r]))
					}
					checkRows(t, typ, "quantized", nb*bs, w, x)
				}
			}
			// Extremes: saturating codes and activations, zero and huge scales,
			// a different extreme per row.
			xbytes := []byte{0x80, 0x7f, 0x00, 0x81, 0xff, 0x01}
			for _, wb := range []byte{0x00, 0xff, 0x80, 0x7f, 0x55} {
				for _, scale := range []float32{1, 0, -65504} {
					nb := 9
					w := fill(typ, nb, func(int) byte { return wb }, scale)
					for nr := 1; nr <= 6; nr++ {
						x := make([][]byte, nr)
						for r := range x {
							x[r] = fill(vt, nb, func(int) byte { return xbytes[r] }, scale)
						}
						checkRows(t, typ, fmt.Sprintf("w %#x scale %v", wb, scale), nb*bs, w, x)
					}
				}
			}
			// Bad sizes: NaN exactly where the single-row dot gives NaN.
			n := 2 * bs
			good := make([]byte, 2*xs)
			checkRows(t, typ, "short x row", n, make([]byte, 4096), [][]byte{good, good[:1], good})
			checkRows(t, typ, "short w row", n, make([]byte, 1), [][]byte{good, good})
			checkRows(t, typ, "partial block", bs+1, make([]byte, 4096), [][]byte{make([]byte, 4096), make([]byte, 4096)})
			checkRows(t, typ, "no rows", n, make([]byte, 4096), nil)
		})
	}
}

// BenchmarkDotRows compares four single-row dots with one four-row call on
// rows of 1536 elements.
func BenchmarkDotRows(b *testing.B) {
	const n = 1536
	for _, typ := range []Type{Q8_0, Q4_0, Q4_1, Q5_0, Q4_K, Q6_K, MXFP4} {
		vt := VecDotType(typ)
		nb := n / typ.BlockSize()
		rng := rand.New(rand.NewPCG(1, 2))
		random := func(int) byte { return byte(rng.Uint32()) }
		w := fill(typ, nb, random, 1)
		xs := make([][]byte, 4)
		for r := range xs {
			xs[r] = fill(vt, nb, random, 1)
		}
		out := make([]float32, len(xs))
		b.Run(typ.String()+"/single", func(b *testing.B) {
			dot := DotFunc(typ)
			for b.Loop() {
				for r, x := range xs {
					out[r] = dot(n, w, x)
				}
			}
		})
		b.Run(typ.String()+"/rows", func(b *testing.B) {
			rows := DotRowsFunc(typ)
			for b.Loop() {
				rows(n, w, xs, out)
			}
		})
		b.Run(typ.String()+"/tile", func(b *testing.B) {
			var tl Tile
			tl.Set(typ, n, xs)
			for b.Loop() {
				tl.Dot(w, out)
			}
		})
		if TileRows(typ) == 8 {
			xs8 := append(xs, xs...)
			out8 := make([]float32, 8)
			b.Run(typ.String()+"/tile8", func(b *testing.B) {
				var tl Tile
				tl.Set(typ, n, xs8)
				for b.Loop() {
					tl.Dot(w, out8)
				}
			})
		}
	}
}

// TestDotManyMatchesDotFunc checks DotMany against DotFunc bit for bit:
// random bytes and quantized rows, padded row strides, saturating extremes
// and sizes the kernels refuse.
func TestDotManyMatchesDotFunc(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	random := func(int) byte { return byte(rng.Uint32()) }
	for _, typ := range rowsTypes {
		t.Run(typ.String(), func(t *testing.T) {
			vt := VecDotType(typ)
			bs, ws := typ.BlockSize(), typ.TypeSize()
			check := func(name string, n, rowBytes int, w, x []byte, rows int) {
				out := make([]float32, rows+1)
				out[rows] = 42
				DotMany(typ, n, w, rowBytes, x, out[:rows])
				dot := DotFunc(typ)
				for j := 0; j < rows; j++ {
					lo := min(j*rowBytes, len(w))
					want := dot(n, w[lo:min(lo+rowBytes, len(w))], x)
					if want != want && out[j] != out[j] {
						continue
					}
					require.Equal(t, math.Float32bits(want), math.Float32bits(out[j]), "%s: n %d row %d of %d", name, n, j, rows)
				}
				require.Equal(t, float32(42), out[rows], "%s: wrote past out", name)
			}
			for _, nb := range []int{1, 3, 18} {
				for _, pad := range []int{0, 5} {
					rows := 7
					rb := nb*ws + pad
					check("random bytes", nb*bs, rb, fill(typ, rows*(nb+pad), random, 0)[:rows*rb], fill(vt, nb, random, 0), rows)
					src := make([]float32, nb*bs)
					w := make([]byte, rows*rb)
					for j := 0; j < rows; j++ {
						for i := range src {
							src[i] = float32(rng.NormFloat64())
						}
						require.NoError(t, Quantize(typ, src, w[j*rb:j*rb+nb*ws]))
					}
					x := make([]byte, nb*vt.TypeSize())
					require.NoError(t, QuantizeActivation(vt, src, x))
					check("quantized", nb*bs, rb, w, x, rows)
				}
			}
			for _, wb := range []byte{0x00, 0xff, 0x80} {
				for _, scale := range []float32{1, -65504} {
					w := fill(typ, 9*4, func(int) byte { return wb }, scale)
					x := fill(vt, 9, func(int) byte { return 0x80 }, scale)
					check(fmt.Sprintf("w %#x scale %v", wb, scale), 9*bs, 9*ws, w, x, 4)
				}
			}
			check("short w", 2*bs, 2*ws, make([]byte, 3*ws), make([]byte, 4096), 2)
			check("short x", 2*bs, 2*ws, make([]byte, 4*ws), make([]byte, 1), 2)
			check("partial block", bs+1, 2*ws, make([]byte, 4*ws), make([]byte, 4096), 2)
			check("no rows", 2*bs, 2*ws, nil, make([]byte, 4096), 0)
		})
	}
}
