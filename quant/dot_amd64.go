//go:build amd64 && !purego

package quant

import (
	"encoding/binary"
	"math"
	"unsafe"

	"golang.org/x/sys/cpu"
)

// The AVX2 kernels in dot_amd64.s get the same exact integer sums as the Go
// code and repeat its float32 operations in the same order, so results are
// bit-identical to it (a NaN result may carry another NaN payload). MXFP4 is
// the exception: its kernels repeat ggml's own x86 AVX2 kernel instead (see
// dotMXFP4AVX2).

// The 32-element kernels do the whole dot; tab is f16Table.

//go:noescape
func dotQ8_0Asm(nb int, w, x *byte, tab *[1 << 16]float32) float32

//go:noescape
func dotQ4_0Asm(nb int, w, x *byte, tab *[1 << 16]float32) float32

//go:noescape
func dotQ4_1Asm(nb int, w, x *byte, tab *[1 << 16]float32) float32

//go:noescape
func dotQ5_0Asm(nb int, w, x *byte, tab *[1 << 16]float32) float32

//go:noescape
func dotQ5_1Asm(nb int, w, x *byte, tab *[1 << 16]float32) float32

// e8 is e8m0Table.
//
//go:noescape
func dotMXFP4Asm(nb int, w, x *byte, tab *[1 << 16]float32, e8 *[256]float32) float32

// The k-quant kernels return per super-block the eight int32 lane sums;
// Go adds the mins and the float part.

//go:noescape
func lanesQ4_K(nb int, w, x *byte, sc *uint64, out *int32)

//go:noescape
func lanesQ5_K(nb int, w, x *byte, sc *uint64, out *int32)

//go:noescape
func lanesQ6_K(nb int, w, x *byte, sc *uint64, out *int32)

// hasAVX2 reports whether the assembly kernels can run (the x/sys check
// includes OS support for the YMM registers).
var hasAVX2 = cpu.X86.HasAVX2

// archDot returns the accelerated dot product for t, or nil.
func archDot(t Type) DotFn {
	if !hasAVX2 {
		return nil
	}
	switch t {
	case Q8_0:
		return dotQ8_0AVX2
	case Q4_0:
		return dotQ4_0AVX2
	case Q4_1:
		return dotQ4_1AVX2
	case Q5_0:
		return dotQ5_0AVX2
	case Q5_1:
		return dotQ5_1AVX2
	case Q4_K:
		return dotQ4_KAVX2
	case Q5_K:
		return dotQ5_KAVX2
	case Q6_K:
		return dotQ6_KAVX2
	case MXFP4:
		return dotMXFP4AVX2
	case F32:
		if hasPanel {
			return dotF32AVX512
		}
	}
	return nil
}

// Super-blocks per k-quant kernel call: the scratch lives on the stack.
const chunkK = 16

func dotQ8_0AVX2(n int, w, x []byte) float32 {
	nb, ok := blocks(n, 32, 34, 34, w, x)
	if !ok {
		return nan32
	}
	if nb == 0 {
		return 0
	}
	return dotQ8_0Asm(nb, &w[0], &x[0], f16Table)
}

func dotQ4_0AVX2(n int, w, x []byte) float32 {
	nb, ok := blocks(n, 32, 18, 34, w, x)
	if !ok {
		return nan32
	}
	if nb == 0 {
		return 0
	}
	return dotQ4_0Asm(nb, &w[0], &x[0], f16Table)
}

func dotQ4_1AVX2(n int, w, x []byte) float32 {
	nb, ok := blocks(n, 32, 20, 36, w, x)
	if !ok {
		return nan32
	}
	if nb == 0 {
		return 0
	}
	return dotQ4_1Asm(nb, &w[0], &x[0], f16Table)
}

func dotQ5_0AVX2(n int, w, x []byte) float32 {
	nb, ok := blocks(n, 32, 22, 34, w, x)
	if !ok {
		return nan32
	}
	if nb == 0 {
		return 0
	}
	return dotQ5_0Asm(nb, &w[0], &x[0], f16Table)
}

func dotQ5_1AVX2(n int, w, x []byte) float32 {
	nb, ok := blocks(n, 32, 24, 36, w, x)
	if !ok {
		return nan32
	}
	if nb == 0 {
		return 0
	}
	return dotQ5_1Asm(nb, &w[0], &x[0], f16Table)
}

// e8m0Table maps an E8M0 exponent byte to e8m0Half of it.
var e8m0Table = func() *[256]float32 {
	var t [256]float32
	for i := range t {
		t[i] = e8m0Half(uint8(i))
	}
	return &t
}()

// dotMXFP4AVX2 is bit-identical to ggml_vec_dot_mxfp4_q8_0 in llama.cpp's
// x86 builds with AVX2 (the CPU backend variants from haswell up), not to
// the Go dotMXFP4, which follows ggml's generic C code: the AVX2 kernel sums
// the blocks in another order and with FMA, so the two can differ in the
// last bits. It also differs where an activation is -128 against a negative
// weight value (see dot_amd64.s); ggml's Q8_0 quantizer never writes -128.
func dotMXFP4AVX2(n int, w, x []byte) float32 {
	nb, ok := blocks(n, 32, 17, 34, w, x)
	if !ok {
		return nan32
	}
	if nb == 0 {
		return 0
	}
	return dotMXFP4Asm(nb, &w[0], &x[0], f16Table, e8m0Table)
}

// The lane kernels read a super-block's scales as four uint64, one per 64
// elements: the int16 scales of its elements 0-15, 32-47, 16-31, 48-63.

// scales2 is that uint64 when elements 0-31 have scale a and 32-63 b.
func scales2(a, b uint64) uint64 { return a | b<<16 | a<<32 | b<<48 }

// scales4 is that uint64 for four int8 scales of 16 elements each.
func scales4(s []byte) uint64 {
	return uint64(uint16(i8(s[0]))) | uint64(uint16(i8(s[2])))<<16 |
		uint64(uint16(i8(s[1])))<<32 | uint64(uint16(i8(s[3])))<<48
}

// k4Scales unpacks the eight 6-bit scales and mins of a Q4_K/Q5_K block
// (as scaleMinK4 does, all at once), one byte each.
func k4Scales(q []byte) (sc, mn uint64) {
	u0 := binary.LittleEndian.Uint32(q[0:])
	u1 := binary.LittleEndian.Uint32(q[4:])
	u2 := binary.LittleEndian.Uint32(q[8:])
	sc = uint64(u0&0x3f3f3f3f) | uint64(u2&0x0f0f0f0f|(u0>>6&0x03030303)<<4)<<32
	mn = uint64(u1&0x3f3f3f3f) | uint64(u2>>4&0x0f0f0f0f|(u1>>6&0x03030303)<<4)<<32
	return sc, mn
}

// dotK4 is dotQ4_K and dotQ5_K around a lane kernel: both have eight 6-bit
// scales and mins per super-block. (A bool, not a func value, picks the
// kernel: an indirect call would make the scratch arrays escape.)
func dotK4(n int, q5 bool, w, x []byte) float32 {
	size := 144
	if q5 {
		size = 176
	}
	nb, ok := blocks(n, QK_K, size, 292, w, x)
	if !ok {
		return nan32
	}
	var lanes kLanes
	var sumf float32
	var sc [4 * chunkK]uint64
	var mins [chunkK]int32
	var acc [8 * chunkK]int32
	for i0 := 0; i0 < nb; i0 += chunkK {
		c := min(chunkK, nb-i0)
		for k := 0; k < c; k++ {
			b := w[(i0+k)*size:]
			y := (*[292]byte)(x[(i0+k)*292:])
			s, mn := k4Scales(b[4:16])
			var sumi int32
			for j := 0; j < 8; j++ {
				sumi += (q8kBsum(y, 2*j) + q8kBsum(y, 2*j+1)) * int32(mn>>(8*j)&0xff)
			}
			mins[k] = sumi
			d := sc[4*k : 4*k+4 : 4*k+4]
			d[0] = scales2(s&0xff, s>>8&0xff)
			d[1] = scales2(s>>16&0xff, s>>24&0xff)
			d[2] = scales2(s>>32&0xff, s>>40&0xff)
			d[3] = scales2(s>>48&0xff, s>>56)
		}
		if q5 {
			lanesQ5_K(c, &w[i0*size], &x[i0*292], &sc[0], &acc[0])
		} else {
			lanesQ4_K(c, &w[i0*size], &x[i0*292], &sc[0], &acc[0])
		}
		for k := 0; k < c; k++ {
			b := w[(i0+k)*size:]
			yd := q8kD((*[292]byte)(x[(i0+k)*292:]))
			lanes.add(half(b[0:])*yd, (*[8]int32)(acc[8*k:]))
			sumf -= float32(half(b[2:]) * yd * float32(mins[k]))
		}
	}
	return lanes.total(sumf)
}

func dotQ4_KAVX2(n int, w, x []byte) float32 { return dotK4(n, false, w, x) }

func dotQ5_KAVX2(n int, w, x []byte) float32 { return dotK4(n, true, w, x) }

func dotQ6_KAVX2(n int, w, x []byte) float32 {
	nb, ok := blocks(n, QK_K, 210, 292, w, x)
	if !ok {
		return nan32
	}
	var lanes kLanes
	var sc [4 * chunkK]uint64
	var acc [8 * chunkK]int32
	for i0 := 0; i0 < nb; i0 += chunkK {
		c := min(chunkK, nb-i0)
		for k := 0; k < c; k++ {
			s := w[(i0+k)*210+192 : (i0+k)*210+208]
			d := sc[4*k : 4*k+4 : 4*k+4]
			d[0], d[1], d[2], d[3] = scales4(s[0:4]), scales4(s[4:8]), scales4(s[8:12]), scales4(s[12:16])
		}
		lanesQ6_K(c, &w[i0*210], &x[i0*292], &sc[0], &acc[0])
		for k := 0; k < c; k++ {
			b := w[(i0+k)*210:]
			lanes.add(half(b[208:])*q8kD((*[292]byte)(x[(i0+k)*292:])), (*[8]int32)(acc[8*k:]))
		}
	}
	return lanes.total(0)
}

// The four-row kernels set out[r] to the dot of w with the row at xs[r].

//go:noescape
func dotQ8_0x4(nb int, w *byte, xs *[4]*byte, tab *[1 << 16]float32, out *[4]float32)

//go:noescape
func dotQ4_0x4(nb int, w *byte, xs *[4]*byte, tab *[1 << 16]float32, out *[4]float32)

//go:noescape
func dotQ4_1x4(nb int, w *byte, xs *[4]*byte, tab *[1 << 16]float32, out *[4]float32)

//go:noescape
func dotQ5_0x4(nb int, w *byte, xs *[4]*byte, tab *[1 << 16]float32, out *[4]float32)

//go:noescape
func dotQ5_1x4(nb int, w *byte, xs *[4]*byte, tab *[1 << 16]float32, out *[4]float32)

//go:noescape
func dotMXFP4x4(nb int, w *byte, xs *[4]*byte, tab *[1 << 16]float32, e8 *[256]float32, out *[4]float32)

// The four-row lane kernels store per super-block the lanes of four rows.

//go:noescape
func lanesQ4_Kx4(nb int, w *byte, xs *[4]*byte, sc *uint32, out *int32)

//go:noescape
func lanesQ6_Kx4(nb int, w *byte, xs *[4]*byte, sc *uint32, out *int32)

// archDotRows returns the accelerated multi-row dot product for t, or nil.
func archDotRows(t Type) DotRowsFn {
	if !hasAVX2 {
		return nil
	}
	switch t {
	case Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, MXFP4:
		wsize, xsize := t.TypeSize(), VecDotType(t).TypeSize() // map reads: once, not per call
		return func(n int, w []byte, xs [][]byte, out []float32) { rows32(t, wsize, xsize, n, w, xs, out) }
	case Q4_K, Q6_K:
		wsize := t.TypeSize()
		return func(n int, w []byte, xs [][]byte, out []float32) { rowsK(t, wsize, n, w, xs, out) }
	}
	return nil
}

// rows32 is the multi-row dot of the 32-element block types, four rows per
// kernel call; a short last group repeats its last row and drops the extra
// results. Invalid sizes go through the single-row kernel, which reports
// them as NaN per row.
func rows32(t Type, wsize, xsize, n int, w []byte, xs [][]byte, out []float32) {
	nb, ok := blocks(n, 32, wsize, 0, w, nil)
	for _, x := range xs {
		ok = ok && len(x) >= nb*xsize
	}
	if !ok || nb == 0 {
		dot := archDot(t)
		for r, x := range xs {
			out[r] = dot(n, w, x)
		}
		return
	}
	out = out[:len(xs)]
	for lo := 0; lo < len(xs); lo += 4 {
		var p [4]*byte
		for k := range p {
			p[k] = &xs[min(lo+k, len(xs)-1)][0]
		}
		var o [4]float32
		switch t {
		case Q8_0:
			dotQ8_0x4(nb, &w[0], &p, f16Table, &o)
		case Q4_0:
			dotQ4_0x4(nb, &w[0], &p, f16Table, &o)
		case Q4_1:
			dotQ4_1x4(nb, &w[0], &p, f16Table, &o)
		case Q5_0:
			dotQ5_0x4(nb, &w[0], &p, f16Table, &o)
		case Q5_1:
			dotQ5_1x4(nb, &w[0], &p, f16Table, &o)
		case MXFP4:
			dotMXFP4x4(nb, &w[0], &p, f16Table, e8m0Table, &o)
		}
		copy(out[lo:], o[:])
	}
}

// rowsK is the multi-row dot of Q4_K and Q6_K, four rows per group as in
// rows32.
func rowsK(t Type, wsize, n int, w []byte, xs [][]byte, out []float32) {
	nb, ok := blocks(n, QK_K, wsize, 0, w, nil)
	for _, x := range xs {
		ok = ok && len(x) >= nb*292
	}
	if !ok || nb == 0 {
		dot := archDot(t)
		for r, x := range xs {
			out[r] = dot(n, w, x)
		}
		return
	}
	out = out[:len(xs)]
	for lo := 0; lo < len(xs); lo += 4 {
		var ys [4][]byte
		for k := range ys {
			ys[k] = xs[min(lo+k, len(xs)-1)]
		}
		var o [4]float32
		if t == Q4_K {
			o = dotQ4_Kx4(nb, w, &ys)
		} else {
			o = dotQ6_Kx4(nb, w, &ys)
		}
		copy(out[lo:], o[:])
	}
}

// spread writes the four-row kernels' scale operands of one super-block,
// given its four uint64 as the single-row kernels read them.
func spread(dst []uint32, s [4]uint64) {
	for i, v := range s {
		d := dst[8*i : 8*i+8 : 8*i+8]
		d[0], d[1], d[2], d[3] = uint32(v), uint32(v), uint32(v), uint32(v)
		d[4], d[5], d[6], d[7] = uint32(v>>32), uint32(v>>32), uint32(v>>32), uint32(v>>32)
	}
}

// xptrs sets p to the four rows' pointers at super-block i.
func xptrs(p *[4]*byte, ys *[4][]byte, i int) *[4]*byte {
	for r := range p {
		p[r] = &ys[r][i*292]
	}
	return p
}

// dotQ4_Kx4 is dotK4 (Q4_K) for four rows at once, with the same float
// operations per row.
func dotQ4_Kx4(nb int, w []byte, ys *[4][]byte) (o [4]float32) {
	var lanes [4]kLanes
	var sumf [4]float32
	var sc [32 * chunkK]uint32
	var mins [4][chunkK]int32
	var acc [32 * chunkK]int32
	var p [4]*byte
	for i0 := 0; i0 < nb; i0 += chunkK {
		c := min(chunkK, nb-i0)
		for k := 0; k < c; k++ {
			s, mn := k4Scales(w[(i0+k)*144+4 : (i0+k)*144+16])
			for r := range ys {
				y := (*[292]byte)(ys[r][(i0+k)*292:])
				var sumi int32
				for j := 0; j < 8; j++ {
					sumi += (q8kBsum(y, 2*j) + q8kBsum(y, 2*j+1)) * int32(mn>>(8*j)&0xff)
				}
				mins[r][k] = sumi
			}
			spread(sc[32*k:], [4]uint64{scales2(s&0xff, s>>8&0xff), scales2(s>>16&0xff, s>>24&0xff),
				scales2(s>>32&0xff, s>>40&0xff), scales2(s>>48&0xff, s>>56)})
		}
		lanesQ4_Kx4(c, &w[i0*144], xptrs(&p, ys, i0), &sc[0], &acc[0])
		for k := 0; k < c; k++ {
			b := w[(i0+k)*144:]
			for r := range ys {
				yd := q8kD((*[292]byte)(ys[r][(i0+k)*292:]))
				lanes[r].add(half(b[0:])*yd, (*[8]int32)(acc[32*k+8*r:]))
				sumf[r] -= float32(half(b[2:]) * yd * float32(mins[r][k]))
			}
		}
	}
	for r := range o {
		o[r] = lanes[r].total(sumf[r])
	}
	return o
}

// dotQ6_Kx4 is dotQ6_KAVX2 for four rows at once.
func dotQ6_Kx4(nb int, w []byte, ys *[4][]byte) (o [4]float32) {
	var lanes [4]kLanes
	var sc [32 * chunkK]uint32
	var acc [32 * chunkK]int32
	var p [4]*byte
	for i0 := 0; i0 < nb; i0 += chunkK {
		c := min(chunkK, nb-i0)
		for k := 0; k < c; k++ {
			s := w[(i0+k)*210+192 : (i0+k)*210+208]
			spread(sc[32*k:], [4]uint64{scales4(s[0:4]), scales4(s[4:8]), scales4(s[8:12]), scales4(s[12:16])})
		}
		lanesQ6_Kx4(c, &w[i0*210], xptrs(&p, ys, i0), &sc[0], &acc[0])
		for k := 0; k < c; k++ {
			b := w[(i0+k)*210:]
			for r := range ys {
				lanes[r].add(half(b[208:])*q8kD((*[292]byte)(ys[r][(i0+k)*292:])), (*[8]int32)(acc[32*k+8*r:]))
			}
		}
	}
	for r := range o {
		o[r] = lanes[r].total(0)
	}
	return o
}

// The tile kernels are the four-row kernels reading the rows' decoded
// scales from sc (see Tile).

//go:noescape
func tileQ8_0(nb int, w *byte, xs *[4]*byte, tab *[1 << 16]float32, sc *float32, out *[4]float32)

//go:noescape
func tileQ4_0(nb int, w *byte, xs *[4]*byte, tab *[1 << 16]float32, sc *float32, out *[4]float32)

//go:noescape
func tileQ4_1(nb int, w *byte, xs *[4]*byte, tab *[1 << 16]float32, sc *float32, out *[4]float32)

//go:noescape
func tileQ5_0(nb int, w *byte, xs *[4]*byte, tab *[1 << 16]float32, sc *float32, out *[4]float32)

//go:noescape
func tileQ5_1(nb int, w *byte, xs *[4]*byte, tab *[1 << 16]float32, sc *float32, out *[4]float32)

//go:noescape
func lanesAdd4(d *[4]float32, acc *int32, sums *[32]float32)

//go:noescape
func tile8Q4_0(nb int, w *byte, xs *[8]*byte, sc *float32, out *[8]float32)

//go:noescape
func tile8Q4_1(nb int, w *byte, xs *[8]*byte, sc *float32, out *[8]float32)

//go:noescape
func tile8Q5_0(nb int, w *byte, xs *[8]*byte, sc *float32, out *[8]float32)

//go:noescape
func tile8Q5_1(nb int, w *byte, xs *[8]*byte, sc *float32, out *[8]float32)

//go:noescape
func tile8MXFP4(np int, w *byte, xs *[8]*byte, xoff int, sc *float32, e8 *[256]float32, acc *[8][8]float32)

// fmaSS is a*b+c rounded once (VFMADD231SS).
func fmaSS(a, b, c float32) float32

// archTileRows is 8 for the types with eight-row tile kernels (k-quants:
// two groups of four sharing the weight's unpacked scales; MXFP4: one
// kernel run per block parity).
func archTileRows(t Type) int {
	switch t {
	case Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q6_K, MXFP4:
		if hasAVX2 {
			return 8
		}
	}
	return 4
}

// archTileSet decodes the rows' block scales for the tile kernels: per
// block 16 words, the eight rows' d (float32 bits), then their s (Q8_1) or
// code offset times the block's activation sum (int32, Q4_0/Q5_0). Rows
// past the tile's repeat its last. A tile of one row, or rows of the wrong
// size, is left to the single-row dot.
func archTileSet(tl *Tile) {
	switch tl.t {
	case Q8_0, Q4_0, Q4_1, Q5_0, Q5_1:
	case Q4_K, Q6_K:
		tileSetK(tl)
		return
	case MXFP4:
		tileSetMXFP4(tl)
		return
	default:
		return
	}
	xsize := VecDotType(tl.t).TypeSize()
	nb, ok := tl.prepare(32, xsize, 16)
	if !ok {
		return
	}
	off := int32(8)
	if tl.t == Q5_0 {
		off = 16
	}
	for i := 0; i < nb; i++ {
		s := tl.sc[16*i : 16*i+16 : 16*i+16]
		for k := 0; k < 8; k++ {
			x := tl.rows[min(k, len(tl.rows)-1)][i*xsize:]
			s[k] = math.Float32bits(half(x[0:]))
			switch tl.t {
			case Q4_1, Q5_1:
				s[8+k] = math.Float32bits(half(x[2:]))
			case Q4_0, Q5_0:
				var sum int32
				for _, y := range x[2:34] {
					sum += int32(int8(y))
				}
				s[8+k] = uint32(off * sum)
			}
		}
	}
	tl.nb, tl.wb = nb, nb*tl.t.TypeSize()
}

// archTileDot runs the tile kernel, or reports false for a weight row of
// the wrong size (the single-row dot then gives its NaN).
func archTileDot(tl *Tile, w []byte, out []float32) bool {
	if len(w) < tl.wb {
		return false
	}
	sc := (*float32)(unsafe.Pointer(&tl.sc[0]))
	p4 := (*[4]*byte)(tl.p[:4])
	switch tl.t {
	case MXFP4:
		tileMXFP4(tl, w, out)
		return true
	case Q4_K, Q6_K:
		var o [8]float32
		if tl.t == Q4_K {
			tileQ4_K(tl, w, &o)
		} else {
			tileQ6_K(tl, w, &o)
		}
		copy(out, o[:])
		return true
	}
	if len(tl.rows) > 4 {
		var o [8]float32
		switch tl.t {
		case Q4_0:
			tile8Q4_0(tl.nb, &w[0], &tl.p, sc, &o)
		case Q4_1:
			tile8Q4_1(tl.nb, &w[0], &tl.p, sc, &o)
		case Q5_0:
			tile8Q5_0(tl.nb, &w[0], &tl.p, sc, &o)
		case Q5_1:
			tile8Q5_1(tl.nb, &w[0], &tl.p, sc, &o)
		default:
			return false
		}
		copy(out, o[:])
		return true
	}
	var o [4]float32
	switch tl.t {
	case Q8_0:
		tileQ8_0(tl.nb, &w[0], p4, f16Table, sc, &o)
	case Q4_0:
		tileQ4_0(tl.nb, &w[0], p4, f16Table, sc, &o)
	case Q4_1:
		tileQ4_1(tl.nb, &w[0], p4, f16Table, sc, &o)
	case Q5_0:
		tileQ5_0(tl.nb, &w[0], p4, f16Table, sc, &o)
	case Q5_1:
		tileQ5_1(tl.nb, &w[0], p4, f16Table, sc, &o)
	}
	copy(out, o[:])
	return true
}

// prepare checks that the tile can run a kernel (AVX2, two rows or more,
// whole blocks of block elements, rows of at least xsize bytes per block),
// sizes sc to words per block, and points p at the rows, the last repeated.
// It returns the blocks per row.
func (tl *Tile) prepare(block, xsize, words int) (int, bool) {
	nb := tl.n / block
	if !hasAVX2 || len(tl.rows) < 2 || tl.n <= 0 || tl.n%block != 0 {
		return 0, false
	}
	for _, x := range tl.rows {
		if len(x) < nb*xsize {
			return 0, false
		}
	}
	if cap(tl.sc) < words*nb {
		tl.sc = make([]uint32, words*nb)
	}
	tl.sc = tl.sc[:words*nb]
	for k := range tl.p {
		tl.p[k] = &tl.rows[min(k, len(tl.rows)-1)][0]
	}
	return nb, true
}

// tileSetMXFP4 prepares an MXFP4 tile: per block the eight rows' d as
// float32 (rows past the tile's repeat its last).
func tileSetMXFP4(tl *Tile) {
	nb, ok := tl.prepare(32, 34, 8)
	if !ok {
		return
	}
	for i := 0; i < nb; i++ {
		for k := 0; k < 8; k++ {
			tl.sc[8*i+k] = math.Float32bits(half(tl.rows[min(k, len(tl.rows)-1)][i*34:]))
		}
	}
	tl.nb, tl.wb = nb, nb*17
}

// tileMXFP4 is dotMXFP4Asm over an MXFP4 tile, row by row the same
// operations in the same order: up to four rows go through the four-row
// kernel; more go through tile8MXFP4, once for the even and once for the
// odd blocks of the pairs, and then through MXHSUM's additions and
// MXTAIL's exact integer sum and FMA here.
func tileMXFP4(tl *Tile, w []byte, out []float32) {
	if len(tl.rows) <= 4 {
		var o [4]float32
		dotMXFP4x4(tl.nb, &w[0], (*[4]*byte)(tl.p[:4]), f16Table, e8m0Table, &o)
		copy(out, o[:])
		return
	}
	var acc [2][8][8]float32
	if np := tl.nb / 2; np > 0 {
		for k := range acc {
			tile8MXFP4(np, &w[17*k], &tl.p, 34*k, (*float32)(unsafe.Pointer(&tl.sc[8*k])), e8m0Table, &acc[k])
		}
	}
	for r, x := range tl.rows {
		var v [8]float32
		for l := range v {
			v[l] = acc[0][r][l] + acc[1][r][l]
		}
		s := ((v[4] + v[0]) + (v[6] + v[2])) + ((v[5] + v[1]) + (v[7] + v[3]))
		if i := tl.nb - 1; tl.nb%2 == 1 {
			b, y := w[i*17:i*17+17], x[i*34:i*34+34]
			var q int32
			for j := 0; j < 16; j++ {
				q += int32(int8(y[2+j]))*int32(kvaluesMXFP4[b[1+j]&0xf]) + int32(int8(y[18+j]))*int32(kvaluesMXFP4[b[1+j]>>4])
			}
			d := math.Float32frombits(tl.sc[8*i+min(r, 7)]) * e8m0Table[b[0]]
			s = fmaSS(float32(q), d, s)
		}
		out[r] = s
	}
}

//go:noescape
func minsK4(nb int, mn *uint64, ps *int32, stride int, out *int32)

// A k-quant tile runs its rows in groups of four (the lane kernels' width),
// sharing each weight block's unpacked scales between the groups. Per
// super-block and group it holds kGroup words: the four rows' d (float32
// bits), then (Q4_K) each row's eight int32 sums of bsums 2j and 2j+1,
// which the mins multiply.
const kGroup = 4 + 32

// tileSetK prepares a Q4_K or Q6_K tile.
func tileSetK(tl *Tile) {
	ng := (len(tl.rows) + 3) / 4
	nb, ok := tl.prepare(QK_K, 292, kGroup*ng)
	if !ok {
		return
	}
	for i := 0; i < nb; i++ {
		for g := 0; g < ng; g++ {
			s := tl.sc[kGroup*(i*ng+g) : kGroup*(i*ng+g+1)]
			for k := 0; k < 4; k++ {
				y := (*[292]byte)(tl.rows[min(4*g+k, len(tl.rows)-1)][i*292:])
				s[k] = math.Float32bits(q8kD(y))
				for j := 0; j < 8; j++ {
					s[4+8*k+j] = uint32(q8kBsum(y, 2*j) + q8kBsum(y, 2*j+1))
				}
			}
		}
	}
	tl.nb, tl.wb = nb, nb*tl.t.TypeSize()
}

// tilePtrs sets p to group g's four rows' pointers at super-block i.
func tilePtrs(p *[4]*byte, tl *Tile, g, i int) *[4]*byte {
	for r := range p {
		p[r] = (*byte)(unsafe.Add(unsafe.Pointer(tl.p[4*g+r]), i*292))
	}
	return p
}

// tileQ4_K is dotQ4_Kx4 over a tile: the same operations per row, with the
// activation scales and block sums read from the tile.
func tileQ4_K(tl *Tile, w []byte, o *[8]float32) {
	var sums [2][32]float32 // kLanes of the rows, four per group
	var sumf [8]float32
	var sc [32 * chunkK]uint32
	var mn [chunkK]uint64
	var mins [4 * chunkK]int32
	var acc [32 * chunkK]int32
	var p [4]*byte
	nb, ng := tl.nb, (len(tl.rows)+3)/4
	for i0 := 0; i0 < nb; i0 += chunkK {
		c := min(chunkK, nb-i0)
		for k := 0; k < c; k++ {
			var s uint64
			s, mn[k] = k4Scales(w[(i0+k)*144+4 : (i0+k)*144+16])
			spread(sc[32*k:], [4]uint64{scales2(s&0xff, s>>8&0xff), scales2(s>>16&0xff, s>>24&0xff),
				scales2(s>>32&0xff, s>>40&0xff), scales2(s>>48&0xff, s>>56)})
		}
		for g := 0; g < ng; g++ {
			base := kGroup * (i0*ng + g)
			minsK4(c, &mn[0], (*int32)(unsafe.Pointer(&tl.sc[base+4])), 4*kGroup*ng, &mins[0])
			lanesQ4_Kx4(c, &w[i0*144], tilePtrs(&p, tl, g, i0), &sc[0], &acc[0])
			for k := 0; k < c; k++ {
				b := w[(i0+k)*144:]
				dw, mw := half(b[0:]), half(b[2:])
				t := tl.sc[base+kGroup*ng*k:]
				var d [4]float32
				for r := 0; r < 4; r++ {
					yd := math.Float32frombits(t[r])
					d[r] = dw * yd
					sumf[4*g+r] -= float32(mw * yd * float32(mins[4*k+r]))
				}
				lanesAdd4(&d, &acc[32*k], &sums[g])
			}
		}
	}
	for r := 0; r < 4*ng; r++ {
		l := kLanes{sums: [8]float32(sums[r/4][8*(r%4) : 8*(r%4)+8])}
		o[r] = l.total(sumf[r])
	}
}

// tileQ6_K is dotQ6_Kx4 over a tile.
func tileQ6_K(tl *Tile, w []byte, o *[8]float32) {
	var sums [2][32]float32
	var sc [32 * chunkK]uint32
	var acc [32 * chunkK]int32
	var p [4]*byte
	nb, ng := tl.nb, (len(tl.rows)+3)/4
	for i0 := 0; i0 < nb; i0 += chunkK {
		c := min(chunkK, nb-i0)
		for k := 0; k < c; k++ {
			s := w[(i0+k)*210+192 : (i0+k)*210+208]
			spread(sc[32*k:], [4]uint64{scales4(s[0:4]), scales4(s[4:8]), scales4(s[8:12]), scales4(s[12:16])})
		}
		for g := 0; g < ng; g++ {
			lanesQ6_Kx4(c, &w[i0*210], tilePtrs(&p, tl, g, i0), &sc[0], &acc[0])
			for k := 0; k < c; k++ {
				dw := half(w[(i0+k)*210+208:])
				t := tl.sc[kGroup*((i0+k)*ng+g):]
				var d [4]float32
				for r := 0; r < 4; r++ {
					d[r] = dw * math.Float32frombits(t[r])
				}
				lanesAdd4(&d, &acc[32*k], &sums[g])
			}
		}
	}
	for r := 0; r < 4*ng; r++ {
		l := kLanes{sums: [8]float32(sums[r/4][8*(r%4) : 8*(r%4)+8])}
		o[r] = l.total(0)
	}
}

//go:noescape
func quantQ8Asm(src *float32, nb int, dst *byte, bs int, amax *float32) bool

// archQuantQ8Act is quantQ8Act with the per-element work in AVX2; false
// when it cannot run or the row has a NaN or infinity.
func archQuantQ8Act(t Type, src []float32, dst []byte) bool {
	nb := len(src) / 32
	if !hasAVX2 || nb == 0 {
		return false
	}
	bs := t.TypeSize()
	off := bs - 32
	var buf [64]float32
	for i0 := 0; i0 < nb; i0 += len(buf) {
		c := min(len(buf), nb-i0)
		if !quantQ8Asm(&src[i0*32], c, &dst[i0*bs+off], bs, &buf[0]) {
			return false
		}
		for k, amax := range buf[:c] {
			y := dst[(i0+k)*bs : (i0+k+1)*bs]
			d := amax / 127
			putHalf(y, d)
			if t == Q8_1 {
				var sum int32
				for _, q := range y[off:] {
					sum += int32(int8(q))
				}
				putHalf(y[2:], d*float32(sum))
			}
		}
	}
	return true
}

// The many-row kernels: out[j] = the single-row kernel for weight row j.

//go:noescape
func dotQ8_0Many(nb, rows int, w *byte, wstride int, x *byte, tab *[1 << 16]float32, out *float32)

//go:noescape
func dotQ4_0Many(nb, rows int, w *byte, wstride int, x *byte, tab *[1 << 16]float32, out *float32)

//go:noescape
func dotQ4_1Many(nb, rows int, w *byte, wstride int, x *byte, tab *[1 << 16]float32, out *float32)

//go:noescape
func dotQ5_0Many(nb, rows int, w *byte, wstride int, x *byte, tab *[1 << 16]float32, out *float32)

//go:noescape
func dotQ5_1Many(nb, rows int, w *byte, wstride int, x *byte, tab *[1 << 16]float32, out *float32)

// archDotMany runs a many-row kernel, or reports false when t has none or
// the sizes are off (DotMany then falls back to one dot per row).
func archDotMany(t Type, n int, w []byte, rowBytes int, x []byte, out []float32) bool {
	if t == Q4_K || t == Q6_K { // manyk_amd64.go
		nb, ws := n/QK_K, t.TypeSize()
		return hasAVX2 && len(out) > 0 && n > 0 && n%QK_K == 0 && rowBytes >= nb*ws &&
			len(w) >= (len(out)-1)*rowBytes+nb*ws && len(x) >= nb*292 && manyK(t, nb, w, rowBytes, x, out)
	}
	if !hasAVX2 || len(out) == 0 || n <= 0 || n%32 != 0 {
		return false
	}
	nb := n / 32
	wsize := t.TypeSize()
	if rowBytes < nb*wsize || len(w) < (len(out)-1)*rowBytes+nb*wsize || len(x) < nb*VecDotType(t).TypeSize() {
		return false
	}
	f := dotQ4_1Many
	switch t {
	case Q8_0:
		f = dotQ8_0Many
	case Q4_0:
		f = dotQ4_0Many
	case Q4_1:
	case Q5_0:
		f = dotQ5_0Many
	case Q5_1:
		f = dotQ5_1Many
	default:
		return false
	}
	if k := many8(t, nb, w, rowBytes, x, out); k > 0 { // eight rows at a time (many8_amd64.go)
		if out = out[k:]; len(out) == 0 {
			return true
		}
		w = w[k*rowBytes:]
	}
	f(nb, len(out), &w[0], rowBytes, &x[0], f16Table, &out[0])
	return true
}
