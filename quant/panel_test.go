package quant

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

var panelTypes = []Type{Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, F32, Q4_K, Q6_K}

// TestPanelMatchesDotFunc requires every Panel product to be bit-equal to
// DotFunc's (NaN only against NaN) on random bytes with raw random fp16
// scales (NaN and infinity included), quantized Gaussian rows and
// saturating extremes, for odd row and weight counts, padded weight rows
// and a dst stride wider than the weight rows; dst cells it does not own
// stay untouched.
func TestPanelMatchesDotFunc(t *testing.T) {
	if !PanelOK(Q8_0, 32) {
		t.Skip("no AVX-512 VNNI on this CPU")
	}
	rng := rand.New(rand.NewPCG(41, 42))
	random := func(int) byte { return byte(rng.Uint32()) }
	for _, typ := range panelTypes {
		t.Run(typ.String(), func(t *testing.T) {
			vt := VecDotType(typ)
			ws, xsz := typ.TypeSize(), vt.TypeSize()
			per, span := 1, 32 // blocks per span; elements per step of nb
			switch typ {
			case F32:
				per = 32
			case Q4_K, Q6_K:
				span = QK_K
			}
			nbs, rowsList, counts := []int{1, 2, 5, 20}, []int{1, 3, 16, 17, 33}, []int{1, 4, 7}
			if !testing.Short() {
				nbs, rowsList, counts = append(nbs, 64), append(rowsList, 15, 48, 130), append(counts, 3, 9, 30)
			}
			for _, nb := range nbs {
				for _, rows := range rowsList {
					for _, count := range counts {
						for kind := 0; kind < 3; kind++ {
							rb := nb*per*ws + 3 // padded weight rows
							w := make([]byte, count*rb)
							xs := make([][]byte, rows)
							switch kind {
							case 0: // raw bytes, scales included
								for i := range w {
									w[i] = random(0)
								}
								for r := range xs {
									xs[r] = fill(vt, nb*per, random, 0)
									for b := 0; b < nb && per == 1; b++ {
										for k := 0; k < xsz-32; k++ {
											xs[r][b*xsz+k] = random(0)
										}
									}
								}
							case 1: // quantized Gaussian rows
								src := make([]float32, nb*span)
								for j := 0; j < count; j++ {
									for i := range src {
										src[i] = float32(rng.NormFloat64())
									}
									require.NoError(t, Quantize(typ, src, w[j*rb:j*rb+nb*per*ws]))
								}
								for r := range xs {
									for i := range src {
										src[i] = float32(rng.NormFloat64() * 3)
									}
									xs[r] = make([]byte, nb*per*xsz)
									require.NoError(t, QuantizeActivation(vt, src, xs[r]))
								}
							case 2: // saturating codes and activations
								wb := []byte{0x00, 0xff, 0x80, 0x7f}[rng.IntN(4)]
								for j := 0; j < count; j++ {
									copy(w[j*rb:], fill(typ, nb*per, func(int) byte { return wb }, -65504))
								}
								for r := range xs {
									xb := []byte{0x80, 0x7f, 0x00, 0x81, 0xff}[r%5]
									xs[r] = fill(vt, nb*per, func(int) byte { return xb }, 65504)
								}
							}
							checkPanel(t, typ, nb*span, w, rb, count, xs)
						}
					}
				}
			}
		})
	}
}

// TestPanelF32OddLengths: F32 panels take any multiple of four elements
// (stories260K's FFN has 172).
func TestPanelF32OddLengths(t *testing.T) {
	if !PanelOK(F32, 4) {
		t.Skip("no AVX-512 on this CPU")
	}
	rng := rand.New(rand.NewPCG(43, 44))
	for _, n := range []int{4, 12, 16, 64, 172, 516} {
		for _, rows := range []int{1, 7, 16, 21} {
			w := make([]byte, 5*4*n)
			src := make([]float32, 5*n)
			for i := range src {
				src[i] = float32(rng.NormFloat64())
			}
			require.NoError(t, Quantize(F32, src, w))
			xs := make([][]byte, rows)
			for r := range xs {
				for i := range src[:n] {
					src[i] = float32(rng.NormFloat64() * 10)
				}
				xs[r] = make([]byte, 4*n)
				require.NoError(t, Quantize(F32, src[:n], xs[r]))
			}
			checkPanel(t, F32, n, w, 4*n, 5, xs)
		}
	}
	require.False(t, PanelOK(F32, 6))
}

func checkPanel(t *testing.T, typ Type, n int, w []byte, rb, count int, xs [][]byte) {
	t.Helper()
	ld := count + 2
	dst := make([]float32, len(xs)*ld)
	for i := range dst {
		dst[i] = 42
	}
	var p Panel
	p.Set(typ, n, xs)
	require.Equal(t, len(xs), p.Rows())
	p.Mul(w, rb, count, dst, ld)
	dot := DotFunc(typ)
	for r, x := range xs {
		for j := 0; j < count; j++ {
			want, got := dot(n, w[j*rb:(j+1)*rb], x), dst[r*ld+j]
			if want != want && got != got {
				continue
			}
			require.Equal(t, math.Float32bits(want), math.Float32bits(got),
				"n %d, row %d of %d, weight row %d of %d: panel %v, DotFunc %v", n, r, len(xs), j, count, got, want)
		}
		for j := count; j < ld; j++ {
			require.Equal(t, float32(42), dst[r*ld+j], "row %d: wrote past the weight rows", r)
		}
	}
}

// TestPanelRefusesBadInput: sizes a panel cannot take panic with a message
// (internal misuse, as Tile.Set), and PanelOK says which shapes run.
func TestPanelRefusesBadInput(t *testing.T) {
	require.False(t, PanelOK(Q4_K, 128))
	require.False(t, PanelOK(Q2_K, 256))
	require.False(t, PanelOK(Q8_0, 33))
	require.False(t, PanelOK(Q8_0, 0))
	if !PanelOK(Q8_0, 32) {
		t.Skip("no AVX-512 VNNI on this CPU")
	}
	var p Panel
	require.PanicsWithValue(t, "quant: no Q8_0 panel of 0 rows of 32 elements here", func() { p.Set(Q8_0, 32, nil) })
	require.Panics(t, func() { p.Set(Q8_0, 64, [][]byte{make([]byte, 34)}) })
	p.Set(Q8_0, 32, [][]byte{make([]byte, 34)})
	require.Panics(t, func() { p.Mul(make([]byte, 33), 34, 1, make([]float32, 1), 1) })
	require.Panics(t, func() { p.Mul(make([]byte, 68), 34, 2, make([]float32, 1), 2) })
}

// BenchmarkPanel compares a 128-row product with 1536 weight rows of 768
// elements through Tiles and through a Panel (one core).
func BenchmarkPanel(b *testing.B) {
	const n, rows, out = 768, 128, 1536
	if !PanelOK(Q8_0, n) {
		b.Skip("no AVX-512 VNNI on this CPU")
	}
	for _, typ := range panelTypes {
		vt := VecDotType(typ)
		rng := rand.New(rand.NewPCG(1, 2))
		src := make([]float32, n*out)
		for i := range src {
			src[i] = float32(rng.NormFloat64())
		}
		rb64, _ := RowBytes(typ, n)
		xb64, _ := RowBytes(vt, n)
		rb, xb := int(rb64), int(xb64)
		w := make([]byte, out*rb)
		if err := Quantize(typ, src, w); err != nil {
			b.Fatal(err)
		}
		xs := make([][]byte, rows)
		for r := range xs {
			xs[r] = make([]byte, xb)
			if err := QuantizeActivation(vt, src[r*n:(r+1)*n], xs[r]); err != nil {
				b.Fatal(err)
			}
		}
		dst := make([]float32, rows*out)
		b.Run(typ.String()+"/tile", func(b *testing.B) {
			tr := TileRows(typ)
			tiles := make([]Tile, rows/tr)
			for i := range tiles {
				tiles[i].Set(typ, n, xs[i*tr:(i+1)*tr])
			}
			var res [8]float32
			for b.Loop() {
				for j := 0; j < out; j++ {
					for i := range tiles {
						tiles[i].Dot(w[j*rb:(j+1)*rb], res[:tr])
					}
				}
			}
		})
		b.Run(typ.String()+"/panel", func(b *testing.B) {
			var p Panel
			for b.Loop() {
				p.Set(typ, n, xs)
				p.Mul(w, rb, out, dst, out)
			}
		})
	}
}

// TestPanelDecMatchesGo: the assembly weight decode writes what the Go
// reference decode writes, on raw random blocks and into every slot.
func TestPanelDecMatchesGo(t *testing.T) {
	if !PanelOK(Q8_0, 32) {
		t.Skip("no AVX-512 VNNI on this CPU")
	}
	rng := rand.New(rand.NewPCG(45, 46))
	for _, typ := range []Type{Q8_0, Q4_0, Q4_1, Q5_0, Q5_1} {
		for _, nb := range []int{1, 3, 20} {
			w := make([]byte, nb*typ.TypeSize())
			for i := range w {
				w[i] = byte(rng.Uint32())
			}
			p := Panel{t: typ, nb: nb, wsize: typ.TypeSize()}
			for g := 0; g < panelGroup; g++ {
				want, got := make([]byte, nb*panelWBlk), make([]byte, nb*panelWBlk)
				p.decode(w, want, g)
				panelDec(decKind[typ], nb, &w[0], p.wsize, &got[32*g], &got[panelGroup*32+4*g])
				require.Equal(t, want, got, "%s, %d blocks, slot %d", typ, nb, g)
			}
		}
	}
}
