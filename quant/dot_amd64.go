//go:build amd64 && !purego

package quant

import (
	"encoding/binary"

	"golang.org/x/sys/cpu"
)

// The AVX2 kernels in dot_amd64.s compute only the exact integer part of a
// dot product; the float32 combination below repeats the generic code's
// operations in the same order, so results are bit-identical to it.

//go:noescape
func sumsQ8_0(nb int, w, x *byte, out *int32)

//go:noescape
func sumsQ4_0(nb int, w, x *byte, out *int32)

//go:noescape
func sumsQ4_1(nb int, w, x *byte, out *int32)

//go:noescape
func sumsQ5_0(nb int, w, x *byte, out *int32)

//go:noescape
func sumsQ5_1(nb int, w, x *byte, out *int32)

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
	}
	return nil
}

// Blocks per kernel call: the scratch lives on the stack.
const (
	chunk32 = 128 // 32-element blocks
	chunkK  = 16  // 256-element super-blocks
)

func dotQ8_0AVX2(n int, w, x []byte) float32 {
	nb, ok := blocks(n, 32, 34, 34, w, x)
	if !ok {
		return nan32
	}
	var sums [chunk32]int32
	var sumf float32
	for i0 := 0; i0 < nb; i0 += chunk32 {
		c := min(chunk32, nb-i0)
		sumsQ8_0(c, &w[i0*34], &x[i0*34], &sums[0])
		for k, s := range sums[:c] {
			b := w[(i0+k)*34:]
			y := x[(i0+k)*34:]
			sumf += float32(float32(s) * float32(half(b[0:])*half(y[0:])))
		}
	}
	return sumf
}

func dotQ4_0AVX2(n int, w, x []byte) float32 {
	nb, ok := blocks(n, 32, 18, 34, w, x)
	if !ok {
		return nan32
	}
	var sums [chunk32]int32
	var sumf float32
	for i0 := 0; i0 < nb; i0 += chunk32 {
		c := min(chunk32, nb-i0)
		sumsQ4_0(c, &w[i0*18], &x[i0*34], &sums[0])
		for k, s := range sums[:c] {
			b := w[(i0+k)*18:]
			y := x[(i0+k)*34:]
			sumf += float32(float32(s) * half(b[0:]) * half(y[0:]))
		}
	}
	return sumf
}

func dotQ4_1AVX2(n int, w, x []byte) float32 {
	nb, ok := blocks(n, 32, 20, 36, w, x)
	if !ok {
		return nan32
	}
	var sums [chunk32]int32
	var sumf float32
	for i0 := 0; i0 < nb; i0 += chunk32 {
		c := min(chunk32, nb-i0)
		sumsQ4_1(c, &w[i0*20], &x[i0*36], &sums[0])
		for k, s := range sums[:c] {
			b := w[(i0+k)*20:]
			y := x[(i0+k)*36:]
			sumf += float32(float32(half(b[0:])*half(y[0:]))*float32(s)) + float32(half(b[2:])*half(y[2:]))
		}
	}
	return sumf
}

func dotQ5_0AVX2(n int, w, x []byte) float32 {
	nb, ok := blocks(n, 32, 22, 34, w, x)
	if !ok {
		return nan32
	}
	var sums [chunk32]int32
	var sumf float32
	for i0 := 0; i0 < nb; i0 += chunk32 {
		c := min(chunk32, nb-i0)
		sumsQ5_0(c, &w[i0*22], &x[i0*34], &sums[0])
		for k, s := range sums[:c] {
			b := w[(i0+k)*22:]
			y := x[(i0+k)*34:]
			sumf += float32(float32(half(b[0:])*half(y[0:])) * float32(s))
		}
	}
	return sumf
}

func dotQ5_1AVX2(n int, w, x []byte) float32 {
	nb, ok := blocks(n, 32, 24, 36, w, x)
	if !ok {
		return nan32
	}
	var sums [chunk32]int32
	var sumf float32
	for i0 := 0; i0 < nb; i0 += chunk32 {
		c := min(chunk32, nb-i0)
		sumsQ5_1(c, &w[i0*24], &x[i0*36], &sums[0])
		for k, s := range sums[:c] {
			b := w[(i0+k)*24:]
			y := x[(i0+k)*36:]
			sumf += float32(float32(half(b[0:])*half(y[0:]))*float32(s)) + float32(half(b[2:])*half(y[2:]))
		}
	}
	return sumf
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
