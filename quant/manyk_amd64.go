//go:build amd64 && !purego

package quant

import "encoding/binary"

// lanesAddRow does kLanes.add(d[k], acc[8k:8k+8]) for k < nb, in order.
//
//go:noescape
func lanesAddRow(nb int, d *float32, acc *int32, sums *[8]float32)

// manyQ4_K and manyQ6_K (manyk_amd64.s) set out[j] to DotFunc's dot of
// the weight row at w + j*wstride with x, bit for bit, for nb >= 1
// super-blocks and rows >= 1.
//
//go:noescape
func manyQ4_K(nb, rows int, w *byte, wstride int, x *byte, tab *[1 << 16]float32, out *float32)

//go:noescape
func manyQ6_K(nb, rows int, w *byte, wstride int, x *byte, tab *[1 << 16]float32, out *float32)

// manyK is DotMany for Q4_K and Q6_K rows: one assembly call for all rows
// (the caller has checked the sizes). It reports false for types it does
// not take.
func manyK(t Type, nb int, w []byte, rowBytes int, x []byte, out []float32) bool {
	if nb <= 0 || len(out) == 0 {
		return false
	}
	switch t {
	case Q4_K:
		manyQ4_K(nb, len(out), &w[0], rowBytes, &x[0], f16Table, &out[0])
	case Q6_K:
		manyQ6_K(nb, len(out), &w[0], rowBytes, &x[0], f16Table, &out[0])
	default:
		return false
	}
	return true
}

// manyKGo is the previous manyK, kept for BenchmarkDotMany ("go"): the row
// loop of dotK4 / dotQ6_KAVX2 with the activation side (scales, the
// block-sum pairs the Q4_K mins multiply) decoded once for all rows, per
// row the same lane kernel and float operations in the same order, for
// rows of at most chunkK super-blocks.
func manyKGo(t Type, nb int, w []byte, rowBytes int, x []byte, out []float32) bool {
	if nb > chunkK || (t != Q4_K && t != Q6_K) {
		return false
	}
	var yd [chunkK]float32
	var bp [chunkK][8]int32
	for k := 0; k < nb; k++ {
		y := (*[292]byte)(x[k*292:])
		yd[k] = q8kD(y)
		for j := range bp[k] {
			bp[k][j] = q8kBsum(y, 2*j) + q8kBsum(y, 2*j+1)
		}
	}
	var sc [4 * chunkK]uint64
	var mins [chunkK]int32
	var acc [8 * chunkK]int32
	var d [chunkK]float32
	for r := range out {
		row := w[r*rowBytes:]
		var lanes kLanes
		if t == Q6_K {
			for k := 0; k < nb; k++ {
				s := row[k*210+192 : k*210+208]
				d := sc[4*k : 4*k+4 : 4*k+4]
				d[0], d[1], d[2], d[3] = scales4w(s[0:4]), scales4w(s[4:8]), scales4w(s[8:12]), scales4w(s[12:16])
			}
			lanesQ6_K(nb, &row[0], &x[0], &sc[0], &acc[0])
			for k := 0; k < nb; k++ {
				d[k] = half(row[k*210+208:]) * yd[k]
			}
			lanesAddRow(nb, &d[0], &acc[0], &lanes.sums)
			out[r] = lanes.total(0)
			continue
		}
		for k := 0; k < nb; k++ {
			s, mn := k4Scales(row[k*144+4 : k*144+16])
			var sumi int32
			for j, p := range bp[k] {
				sumi += p * int32(mn>>(8*j)&0xff)
			}
			mins[k] = sumi
			d := sc[4*k : 4*k+4 : 4*k+4]
			d[0] = scales2(s&0xff, s>>8&0xff)
			d[1] = scales2(s>>16&0xff, s>>24&0xff)
			d[2] = scales2(s>>32&0xff, s>>40&0xff)
			d[3] = scales2(s>>48&0xff, s>>56)
		}
		lanesQ4_K(nb, &row[0], &x[0], &sc[0], &acc[0])
		var sumf float32
		for k := 0; k < nb; k++ {
			b := row[k*144:]
			d[k] = half(b[0:]) * yd[k]
			sumf -= float32(half(b[2:]) * yd[k] * float32(mins[k]))
		}
		lanesAddRow(nb, &d[0], &acc[0], &lanes.sums)
		out[r] = lanes.total(sumf)
	}
	return true
}

// scales4w is scales4 in SWAR: the four int8 scales go to int16 lanes 0,
// 2, 1, 3 of one word by two masks and a shift, and are sign-extended at
// once (0xff00 into every lane whose bit 7 is set).
func scales4w(s []byte) uint64 {
	v := binary.LittleEndian.Uint32(s)
	u := uint64(v&0x00ff00ff) | uint64(v>>8&0x00ff00ff)<<32
	return u | (u&0x0080008000800080)>>7*0xff00
}
