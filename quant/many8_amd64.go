//go:build amd64 && !purego

package quant

import "golang.org/x/sys/cpu"

// The eight-row decode kernels (many8_amd64.s) run DotMany eight weight
// rows at a time, one row per float32 lane, with each lane repeating its
// row's Go float operations: bit-identical to DotFunc, so a row's result
// does not depend on how many rows a call streams or which. Types: Q4_0,
// Q4_1, Q5_0, Q5_1, Q8_0.

// The kernels set out[8g+r] to the dot of row 8g+r (wstride bytes apart
// from w) with x, for g < groups.

//go:noescape
func many8Q4_1V(nb, groups int, w *byte, wstride int, x *byte, tab *[1 << 16]float32, out *float32)

//go:noescape
func many8Q4_1A(nb, groups int, w *byte, wstride int, x *byte, tab *[1 << 16]float32, out *float32)

//go:noescape
func many8Q8_0V(nb, groups int, w *byte, wstride int, x *byte, tab *[1 << 16]float32, out *float32)

//go:noescape
func many8Q8_0A(nb, groups int, w *byte, wstride int, x *byte, tab *[1 << 16]float32, out *float32)

//go:noescape
func many8Q5_0V(nb, groups int, w *byte, wstride int, x *byte, tab *[1 << 16]float32, out *float32)

//go:noescape
func many8Q5_0A(nb, groups int, w *byte, wstride int, x *byte, tab *[1 << 16]float32, out *float32)

//go:noescape
func many8Q4_0V(nb, groups int, w *byte, wstride int, x *byte, tab *[1 << 16]float32, out *float32)

//go:noescape
func many8Q4_0A(nb, groups int, w *byte, wstride int, x *byte, tab *[1 << 16]float32, out *float32)

//go:noescape
func many8Q5_1V(nb, groups int, w *byte, wstride int, x *byte, tab *[1 << 16]float32, out *float32)

//go:noescape
func many8Q5_1A(nb, groups int, w *byte, wstride int, x *byte, tab *[1 << 16]float32, out *float32)

// hasVNNI reports whether the V kernels can run: EVEX VPDPBUSD on YMM
// (AVX512-VNNI with AVX512VL) and byte-masked adds (AVX512BW); x/sys sets
// these only where the OS saves the AVX-512 state.
var hasVNNI = hasAVX2 && cpu.X86.HasAVX512VL && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VNNI

// many8VNNI picks the V kernels; tests turn it off to run the A kernels.
var many8VNNI = hasVNNI

// many8 runs the eight-row kernel for t over the first len(out)/8*8 rows
// and returns how many rows it did (0 when t has no such kernel). The
// caller has checked the sizes, as archDotMany does.
func many8(t Type, nb int, w []byte, rowBytes int, x []byte, out []float32) int {
	g := len(out) / 8
	if g == 0 || !hasAVX2 {
		return 0
	}
	switch {
	case t == Q4_1 && many8VNNI:
		many8Q4_1V(nb, g, &w[0], rowBytes, &x[0], f16Table, &out[0])
	case t == Q4_1:
		many8Q4_1A(nb, g, &w[0], rowBytes, &x[0], f16Table, &out[0])
	case t == Q8_0 && many8VNNI:
		many8Q8_0V(nb, g, &w[0], rowBytes, &x[0], f16Table, &out[0])
	case t == Q8_0:
		many8Q8_0A(nb, g, &w[0], rowBytes, &x[0], f16Table, &out[0])
	case t == Q5_0 && many8VNNI:
		many8Q5_0V(nb, g, &w[0], rowBytes, &x[0], f16Table, &out[0])
	case t == Q5_0:
		many8Q5_0A(nb, g, &w[0], rowBytes, &x[0], f16Table, &out[0])
	case t == Q4_0 && many8VNNI:
		many8Q4_0V(nb, g, &w[0], rowBytes, &x[0], f16Table, &out[0])
	case t == Q4_0:
		many8Q4_0A(nb, g, &w[0], rowBytes, &x[0], f16Table, &out[0])
	case t == Q5_1 && many8VNNI:
		many8Q5_1V(nb, g, &w[0], rowBytes, &x[0], f16Table, &out[0])
	case t == Q5_1:
		many8Q5_1A(nb, g, &w[0], rowBytes, &x[0], f16Table, &out[0])
	default:
		return 0
	}
	return 8 * g
}
