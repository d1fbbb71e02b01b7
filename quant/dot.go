package quant

import (
	"encoding/binary"
	"math"
)

// A DotFn returns the dot product of n elements of a weight row w with an
// activation row x already quantized to the weight type's VecDotType. It
// returns NaN when n is not a whole number of blocks or a row is too short.
type DotFn = func(n int, w, x []byte) float32

var nan32 = float32(math.NaN())

// VecDotType is the activation format a weight of type t is dotted with,
// as ggml's type_traits_cpu vec_dot_type. Types without a dot product
// (Q8_1, Q8_K, integer types) map to themselves.
func VecDotType(t Type) Type {
	switch t {
	case Q4_0, Q5_0, Q8_0, MXFP4:
		return Q8_0
	case Q4_1, Q5_1:
		return Q8_1
	case Q2_K, Q3_K, Q4_K, Q5_K, Q6_K:
		return Q8_K
	}
	return t
}

// DotFunc returns the dot product for weights of type t, or nil when t has
// none. Fetch it once per matrix and call it per row. Where the CPU allows,
// it is an assembly kernel whose results are bit-identical to the Go code;
// for MXFP4 on x86 it is instead bit-identical to ggml's x86 AVX2 kernel,
// as llama.cpp computes it there (see dotMXFP4AVX2).
func DotFunc(t Type) DotFn {
	if f := archDot(t); f != nil {
		return f
	}
	return genericDot(t)
}

// genericDot returns the portable Go dot product for t, or nil.
func genericDot(t Type) DotFn {
	switch t {
	case F32:
		return dotF32
	case F16:
		return dotF16
	case BF16:
		return dotBF16
	case Q4_0:
		return dotQ4_0
	case Q4_1:
		return dotQ4_1
	case Q5_0:
		return dotQ5_0
	case Q5_1:
		return dotQ5_1
	case Q8_0:
		return dotQ8_0
	case Q2_K:
		return dotQ2_K
	case Q3_K:
		return dotQ3_K
	case Q4_K:
		return dotQ4_K
	case Q5_K:
		return dotQ5_K
	case Q6_K:
		return dotQ6_K
	case MXFP4:
		return dotMXFP4
	}
	return nil
}

// VecDot returns the dot product of n elements: w is one row of type t and
// x the activation row quantized to VecDotType(t). The result equals ggml's
// generic ggml_vec_dot_<t>_<vt> (same integer sums, same float order), but
// for MXFP4 with AVX2, which follows ggml's AVX2 kernel (DotFunc). It is
// NaN when t has no dot product or the rows do not hold n elements.
func VecDot(t Type, n int, w, x []byte) float32 {
	f := DotFunc(t)
	if f == nil {
		return nan32
	}
	return f(n, w, x)
}

// blocks validates a dot's arguments and returns the number of blocks.
func blocks(n, bs, wsize, xsize int, w, x []byte) (int, bool) {
	nb := n / bs
	if n < 0 || n%bs != 0 || len(w) < nb*wsize || len(x) < nb*xsize {
		return 0, false
	}
	return nb, true
}

func f32le(b []byte) float32 { return math.Float32frombits(binary.LittleEndian.Uint32(b)) }

// dotF32 sums in 16 float32 lanes, lane j taking the products of elements
// 16m+j in order (each product rounded to float32, then added: no fused
// multiply-add, so the Go and assembly forms agree), then halves the lanes
// (s[j] += s[j+h], h = 8, 4, 2, 1). The F32 panel kernel follows the same
// order, so a row's result does not depend on the batch it runs in. ggml
// sums F32 in float32 lanes too.
func dotF32(n int, w, x []byte) float32 {
	if _, ok := blocks(n, 1, 4, 4, w, x); !ok {
		return nan32
	}
	var s [16]float32
	i := 0
	for ; i+16 <= n; i += 16 {
		a := (*[64]byte)(w[4*i:])
		b := (*[64]byte)(x[4*i:])
		for j := range s {
			s[j] += float32(f32le(a[4*j:]) * f32le(b[4*j:]))
		}
	}
	for j := 0; i < n; i, j = i+1, j+1 {
		s[j] += float32(f32le(w[4*i:]) * f32le(x[4*i:]))
	}
	return lanes16(&s)
}

// lanes16 is dotF32's reduction of its lanes.
func lanes16(s *[16]float32) float32 {
	for h := 8; h >= 1; h /= 2 {
		for j := 0; j < h; j++ {
			s[j] += s[j+h]
		}
	}
	return s[0]
}

// The F16 and BF16 dots follow ggml_vec_dot_{f16,bf16}'s generic form: each
// product rounded to float32, summed in float64. Four partial sums instead
// of one only reorder float64 additions, far below float32 rounding.

func dotF16(n int, w, x []byte) float32 {
	if _, ok := blocks(n, 1, 2, 2, w, x); !ok {
		return nan32
	}
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= n; i += 4 {
		a := w[2*i : 2*i+8 : 2*i+8]
		b := x[2*i : 2*i+8 : 2*i+8]
		s0 += float64(half(a[0:]) * half(b[0:]))
		s1 += float64(half(a[2:]) * half(b[2:]))
		s2 += float64(half(a[4:]) * half(b[4:]))
		s3 += float64(half(a[6:]) * half(b[6:]))
	}
	for ; i < n; i++ {
		s0 += float64(half(w[2*i:]) * half(x[2*i:]))
	}
	return float32(s0 + s1 + s2 + s3)
}

func bf16le(b []byte) float32 { return math.Float32frombits(uint32(b[0])<<16 | uint32(b[1])<<24) }

func dotBF16(n int, w, x []byte) float32 {
	if _, ok := blocks(n, 1, 2, 2, w, x); !ok {
		return nan32
	}
	var s0, s1 float64
	i := 0
	for ; i+2 <= n; i += 2 {
		a := w[2*i : 2*i+4 : 2*i+4]
		b := x[2*i : 2*i+4 : 2*i+4]
		s0 += float64(bf16le(a[0:]) * bf16le(b[0:]))
		s1 += float64(bf16le(a[2:]) * bf16le(b[2:]))
	}
	for ; i < n; i++ {
		s0 += float64(bf16le(w[2*i:]) * bf16le(x[2*i:]))
	}
	return float32(s0 + s1)
}

// i8 reads a byte as a signed quant.
func i8(b byte) int32 { return int32(int8(b)) }

func dotQ4_0(n int, w, x []byte) float32 {
	nb, ok := blocks(n, 32, 18, 34, w, x)
	if !ok {
		return nan32
	}
	var sumf float32
	for i := 0; i < nb; i++ {
		b := (*[18]byte)(w[i*18:])
		y := (*[34]byte)(x[i*34:])
		lo, hi := y[2:18], y[18:34]
		q := b[2:18]
		var s0, s1 int32
		for j := 0; j < 16; j += 4 {
			s0 += (int32(q[j]&0xF)-8)*i8(lo[j]) + (int32(q[j+1]&0xF)-8)*i8(lo[j+1]) +
				(int32(q[j+2]&0xF)-8)*i8(lo[j+2]) + (int32(q[j+3]&0xF)-8)*i8(lo[j+3])
			s1 += (int32(q[j]>>4)-8)*i8(hi[j]) + (int32(q[j+1]>>4)-8)*i8(hi[j+1]) +
				(int32(q[j+2]>>4)-8)*i8(hi[j+2]) + (int32(q[j+3]>>4)-8)*i8(hi[j+3])
		}
		sumf += float32(float32(s0+s1) * half(b[0:]) * half(y[0:]))
	}
	return sumf
}

func dotQ4_1(n int, w, x []byte) float32 {
	nb, ok := blocks(n, 32, 20, 36, w, x)
	if !ok {
		return nan32
	}
	var sumf float32
	for i := 0; i < nb; i++ {
		b := (*[20]byte)(w[i*20:])
		y := (*[36]byte)(x[i*36:])
		lo, hi := y[4:20], y[20:36]
		q := b[4:20]
		var s0, s1 int32
		for j := 0; j < 16; j += 4 {
			s0 += int32(q[j]&0xF)*i8(lo[j]) + int32(q[j+1]&0xF)*i8(lo[j+1]) +
				int32(q[j+2]&0xF)*i8(lo[j+2]) + int32(q[j+3]&0xF)*i8(lo[j+3])
			s1 += int32(q[j]>>4)*i8(hi[j]) + int32(q[j+1]>>4)*i8(hi[j+1]) +
				int32(q[j+2]>>4)*i8(hi[j+2]) + int32(q[j+3]>>4)*i8(hi[j+3])
		}
		sumf += float32(float32(half(b[0:])*half(y[0:]))*float32(s0+s1)) + float32(half(b[2:])*half(y[2:]))
	}
	return sumf
}

// expand5 maps eight qh bits to 0x10 in each byte whose bit is set: the
// fifth bit of eight Q5 quants at once.
var expand5 = func() (t [256]uint64) {
	for b := range t {
		for k := 0; k < 8; k++ {
			t[b] |= uint64(b>>k&1) << (8*k + 4)
		}
	}
	return t
}()

// unpackQ5 writes the 32 five-bit quants of a Q5_0/Q5_1 block (qh, qs) in
// element order.
func unpackQ5(dst *[32]byte, qh, qs []byte) {
	lo := binary.LittleEndian.Uint64(qs[0:8])
	hi := binary.LittleEndian.Uint64(qs[8:16])
	binary.LittleEndian.PutUint64(dst[0:8], lo&m4|expand5[qh[0]])
	binary.LittleEndian.PutUint64(dst[8:16], hi&m4|expand5[qh[1]])
	binary.LittleEndian.PutUint64(dst[16:24], lo>>4&m4|expand5[qh[2]])
	binary.LittleEndian.PutUint64(dst[24:32], hi>>4&m4|expand5[qh[3]])
}

// dot32 is the integer dot of 32 signed bytes with 32 signed bytes.
func dot32(p *[32]byte, q []byte) int32 {
	q = q[:32:32]
	var s0, s1 int32
	for j := 0; j < 32; j += 8 {
		s0 += i8(p[j])*i8(q[j]) + i8(p[j+1])*i8(q[j+1]) + i8(p[j+2])*i8(q[j+2]) + i8(p[j+3])*i8(q[j+3])
		s1 += i8(p[j+4])*i8(q[j+4]) + i8(p[j+5])*i8(q[j+5]) + i8(p[j+6])*i8(q[j+6]) + i8(p[j+7])*i8(q[j+7])
	}
	return s0 + s1
}

func dotQ5_0(n int, w, x []byte) float32 {
	nb, ok := blocks(n, 32, 22, 34, w, x)
	if !ok {
		return nan32
	}
	var sumf float32
	var a [32]byte
	for i := 0; i < nb; i++ {
		b := (*[22]byte)(w[i*22:])
		y := (*[34]byte)(x[i*34:])
		unpackQ5(&a, b[2:6], b[6:22])
		for k := 0; k < 32; k += 8 { // q - 16 per byte, as int8
			v := binary.LittleEndian.Uint64(a[k:])
			binary.LittleEndian.PutUint64(a[k:], ((v|hb)-0x1010101010101010)^hb)
		}
		sumf += float32(float32(half(b[0:])*half(y[0:])) * float32(dot32(&a, y[2:34])))
	}
	return sumf
}

func dotQ5_1(n int, w, x []byte) float32 {
	nb, ok := blocks(n, 32, 24, 36, w, x)
	if !ok {
		return nan32
	}
	var sumf float32
	var a [32]byte
	for i := 0; i < nb; i++ {
		b := (*[24]byte)(w[i*24:])
		y := (*[36]byte)(x[i*36:])
		unpackQ5(&a, b[4:8], b[8:24]) // values < 32: valid as int8
		sumi := dot32(&a, y[4:36])
		sumf += float32(float32(half(b[0:])*half(y[0:]))*float32(sumi)) + float32(half(b[2:])*half(y[2:]))
	}
	return sumf
}

func dotQ8_0(n int, w, x []byte) float32 {
	nb, ok := blocks(n, 32, 34, 34, w, x)
	if !ok {
		return nan32
	}
	var sumf float32
	for i := 0; i < nb; i++ {
		b := (*[34]byte)(w[i*34:])
		y := (*[34]byte)(x[i*34:])
		p, q := b[2:34], y[2:34]
		var s0, s1 int32
		for j := 0; j < 32; j += 8 {
			s0 += i8(p[j])*i8(q[j]) + i8(p[j+1])*i8(q[j+1]) + i8(p[j+2])*i8(q[j+2]) + i8(p[j+3])*i8(q[j+3])
			s1 += i8(p[j+4])*i8(q[j+4]) + i8(p[j+5])*i8(q[j+5]) + i8(p[j+6])*i8(q[j+6]) + i8(p[j+7])*i8(q[j+7])
		}
		sumf += float32(float32(s0+s1) * float32(half(b[0:])*half(y[0:])))
	}
	return sumf
}

func dotMXFP4(n int, w, x []byte) float32 {
	nb, ok := blocks(n, 32, 17, 34, w, x)
	if !ok {
		return nan32
	}
	var sumf float32
	for i := 0; i < nb; i++ {
		b := (*[17]byte)(w[i*17:])
		y := (*[34]byte)(x[i*34:])
		d := half(y[0:]) * e8m0Half(b[0])
		lo, hi := y[2:18], y[18:34]
		q := b[1:17]
		var s0, s1 int32
		for j := 0; j < 16; j++ {
			s0 += i8(lo[j]) * int32(kvaluesMXFP4[q[j]&0xF])
			s1 += i8(hi[j]) * int32(kvaluesMXFP4[q[j]>>4])
		}
		sumf += float32(d * float32(s0+s1))
	}
	return sumf
}

// Q8_K activation block: float32 d, int8 qs[256], int16 bsums[16].
func q8kD(y *[292]byte) float32 { return f32le(y[0:4]) }

func q8kBsum(y *[292]byte, j int) int32 {
	return int32(int16(binary.LittleEndian.Uint16(y[260+2*j:])))
}

func dotQ2_K(n int, w, x []byte) float32 {
	nb, ok := blocks(n, QK_K, 84, 292, w, x)
	if !ok {
		return nan32
	}
	var sumf float32
	for i := 0; i < nb; i++ {
		b := (*[84]byte)(w[i*84:])
		y := (*[292]byte)(x[i*292:])
		sc := b[0:16]
		var summs int32
		for j := 0; j < 16; j++ {
			summs += q8kBsum(y, j) * int32(sc[j]>>4)
		}
		yd := q8kD(y)
		dall := yd * half(b[80:])
		dmin := yd * half(b[82:])
		var isum int32
		for k := 0; k < 2; k++ {
			q2 := b[16+32*k : 48+32*k]
			for j := 0; j < 4; j++ {
				shift := uint(2 * j)
				q8 := y[4+128*k+32*j : 36+128*k+32*j]
				var s0, s1 int32
				for l := 0; l < 16; l++ {
					s0 += i8(q8[l]) * int32(q2[l]>>shift&3)
					s1 += i8(q8[l+16]) * int32(q2[l+16]>>shift&3)
				}
				isum += int32(sc[8*k+2*j]&0xF)*s0 + int32(sc[8*k+2*j+1]&0xF)*s1
			}
		}
		sumf += float32(dall*float32(isum)) - float32(dmin*float32(summs))
	}
	return sumf
}

// kLanes finishes a k-quant dot as ggml's generic code does: eight lane
// sums of scale*q*q8 (lane = element index mod 8) are each scaled by d and
// accumulated per lane across blocks, then added to sumf in lane order.
type kLanes struct{ sums [8]float32 }

func (k *kLanes) add(d float32, acc *[8]int32) {
	for l := range acc {
		k.sums[l] += float32(d * float32(acc[l]))
	}
}

func (k *kLanes) total(sumf float32) float32 {
	for _, s := range k.sums {
		sumf += s
	}
	return sumf
}

func dotQ3_K(n int, w, x []byte) float32 {
	nb, ok := blocks(n, QK_K, 110, 292, w, x)
	if !ok {
		return nan32
	}
	var lanes kLanes
	var a [QK_K]byte
	var sc [16]int32
	for i := 0; i < nb; i++ {
		b := (*[110]byte)(w[i*110:])
		y := (*[292]byte)(x[i*292:])
		hm := b[0:32]
		for k := 0; k < 2; k++ {
			q3 := b[32+32*k : 64+32*k]
			for l := 0; l < 32; l += 8 {
				q := binary.LittleEndian.Uint64(q3[l:])
				h := binary.LittleEndian.Uint64(hm[l:])
				for j := 0; j < 4; j++ {
					// (q & 3) | hbit << 2 is in [0, 8): minus 4 per byte.
					v := q>>(2*j)&m2 | (h>>(4*k+j)&m1)<<2
					binary.LittleEndian.PutUint64(a[128*k+32*j+l:], ((v|hb)-0x0404040404040404)^hb)
				}
			}
		}
		for j, s := range q3Scales(b[96:108]) {
			sc[j] = int32(s)
		}
		acc := laneDot16(&a, y[4:260], &sc)
		lanes.add(half(b[108:])*q8kD(y), &acc)
	}
	return lanes.total(0)
}

// kScales unpacks the eight 6-bit scales and mins of a Q4_K/Q5_K block.
func kScales(s []byte) (sc, mn [8]int32) {
	for j := 0; j < 8; j++ {
		a, b := scaleMinK4(j, s)
		sc[j], mn[j] = int32(a), int32(b)
	}
	return sc, mn
}

func dotQ4_K(n int, w, x []byte) float32 {
	nb, ok := blocks(n, QK_K, 144, 292, w, x)
	if !ok {
		return nan32
	}
	var lanes kLanes
	var sumf float32
	for i := 0; i < nb; i++ {
		b := (*[144]byte)(w[i*144:])
		y := (*[292]byte)(x[i*292:])
		sc, mn := kScales(b[4:16])
		var sumi int32
		for j := 0; j < 16; j++ {
			sumi += q8kBsum(y, j) * mn[j/2]
		}
		var a0, a1, a2, a3, a4, a5, a6, a7 int32
		for j := 0; j < 4; j++ {
			q4 := b[16+32*j : 48+32*j]
			q8 := y[4+64*j : 68+64*j]
			s1, s2 := sc[2*j], sc[2*j+1]
			for l := 0; l < 32; l += 8 {
				p := q4[l : l+8 : l+8]
				lo := q8[l : l+8 : l+8]
				hi := q8[l+32 : l+40 : l+40]
				a0 += s1*int32(p[0]&0xF)*i8(lo[0]) + s2*int32(p[0]>>4)*i8(hi[0])
				a1 += s1*int32(p[1]&0xF)*i8(lo[1]) + s2*int32(p[1]>>4)*i8(hi[1])
				a2 += s1*int32(p[2]&0xF)*i8(lo[2]) + s2*int32(p[2]>>4)*i8(hi[2])
				a3 += s1*int32(p[3]&0xF)*i8(lo[3]) + s2*int32(p[3]>>4)*i8(hi[3])
				a4 += s1*int32(p[4]&0xF)*i8(lo[4]) + s2*int32(p[4]>>4)*i8(hi[4])
				a5 += s1*int32(p[5]&0xF)*i8(lo[5]) + s2*int32(p[5]>>4)*i8(hi[5])
				a6 += s1*int32(p[6]&0xF)*i8(lo[6]) + s2*int32(p[6]>>4)*i8(hi[6])
				a7 += s1*int32(p[7]&0xF)*i8(lo[7]) + s2*int32(p[7]>>4)*i8(hi[7])
			}
		}
		yd := q8kD(y)
		acc := [8]int32{a0, a1, a2, a3, a4, a5, a6, a7}
		lanes.add(half(b[0:])*yd, &acc)
		sumf -= float32(half(b[2:]) * yd * float32(sumi))
	}
	return lanes.total(sumf)
}

func dotQ5_K(n int, w, x []byte) float32 {
	nb, ok := blocks(n, QK_K, 176, 292, w, x)
	if !ok {
		return nan32
	}
	var lanes kLanes
	var sumf float32
	var a [QK_K]byte
	var sc16 [16]int32
	for i := 0; i < nb; i++ {
		b := (*[176]byte)(w[i*176:])
		y := (*[292]byte)(x[i*292:])
		sc, mn := kScales(b[4:16])
		var sumi int32
		for j := 0; j < 16; j++ {
			sumi += q8kBsum(y, j) * mn[j/2]
		}
		qh := b[16:48]
		for j := 0; j < 4; j++ {
			ql := b[48+32*j : 80+32*j]
			for l := 0; l < 32; l += 8 {
				q := binary.LittleEndian.Uint64(ql[l:])
				h := binary.LittleEndian.Uint64(qh[l:])
				binary.LittleEndian.PutUint64(a[64*j+l:], q&m4|(h>>(2*j)&m1)<<4)
				binary.LittleEndian.PutUint64(a[64*j+32+l:], q>>4&m4|(h>>(2*j+1)&m1)<<4)
			}
		}
		for j := range sc16 {
			sc16[j] = sc[j/2]
		}
		acc := laneDot16(&a, y[4:260], &sc16)
		yd := q8kD(y)
		lanes.add(half(b[0:])*yd, &acc)
		sumf -= float32(half(b[2:]) * yd * float32(sumi))
	}
	return lanes.total(sumf)
}

func dotQ6_K(n int, w, x []byte) float32 {
	nb, ok := blocks(n, QK_K, 210, 292, w, x)
	if !ok {
		return nan32
	}
	var lanes kLanes
	var a [QK_K]byte
	var sc [16]int32
	for i := 0; i < nb; i++ {
		b := (*[210]byte)(w[i*210:])
		y := (*[292]byte)(x[i*292:])
		for k := 0; k < 2; k++ {
			ql := b[64*k : 64*k+64]
			qh := b[128+32*k : 160+32*k]
			out := a[128*k : 128*k+128]
			// Eight elements per step: q = low 4 bits | high 2 bits << 4, then
			// q - 32 per byte (bit 7 is free, so no borrow crosses bytes).
			for l := 0; l < 32; l += 8 {
				lo := binary.LittleEndian.Uint64(ql[l:])
				hi := binary.LittleEndian.Uint64(ql[l+32:])
				h := binary.LittleEndian.Uint64(qh[l:])
				putQ6(out[l:], lo&m4|(h&m2)<<4)
				putQ6(out[l+32:], hi&m4|(h>>2&m2)<<4)
				putQ6(out[l+64:], lo>>4&m4|(h>>4&m2)<<4)
				putQ6(out[l+96:], hi>>4&m4|(h>>6&m2)<<4)
			}
		}
		for j, s := range b[192:208] {
			sc[j] = i8(s)
		}
		acc := laneDot16(&a, y[4:260], &sc)
		lanes.add(half(b[208:])*q8kD(y), &acc)
	}
	return lanes.total(0)
}

const (
	m4 = 0x0F0F0F0F0F0F0F0F
	m2 = 0x0303030303030303
	m1 = 0x0101010101010101
	hb = 0x8080808080808080
)

// putQ6 stores eight 6-bit values minus 32 as bytes (two's complement int8).
func putQ6(dst []byte, q uint64) {
	binary.LittleEndian.PutUint64(dst, ((q|hb)-0x2020202020202020)^hb)
}

// laneDot16 returns the eight lane sums of sc[e/16]*a[e]*q8[e] (lane = e mod
// 8) over a super-block: the integer part of ggml's generic k-quant dots.
func laneDot16(a *[QK_K]byte, q8 []byte, sc *[16]int32) [8]int32 {
	q := (*[QK_K]byte)(q8)
	var a0, a1, a2, a3, a4, a5, a6, a7 int32
	for j := 0; j < 16; j++ {
		s := sc[j]
		x := a[16*j : 16*j+16 : 16*j+16]
		y := q[16*j : 16*j+16 : 16*j+16]
		a0 += s * (i8(x[0])*i8(y[0]) + i8(x[8])*i8(y[8]))
		a1 += s * (i8(x[1])*i8(y[1]) + i8(x[9])*i8(y[9]))
		a2 += s * (i8(x[2])*i8(y[2]) + i8(x[10])*i8(y[10]))
		a3 += s * (i8(x[3])*i8(y[3]) + i8(x[11])*i8(y[11]))
		a4 += s * (i8(x[4])*i8(y[4]) + i8(x[12])*i8(y[12]))
		a5 += s * (i8(x[5])*i8(y[5]) + i8(x[13])*i8(y[13]))
		a6 += s * (i8(x[6])*i8(y[6]) + i8(x[14])*i8(y[14]))
		a7 += s * (i8(x[7])*i8(y[7]) + i8(x[15])*i8(y[15]))
	}
	return [8]int32{a0, a1, a2, a3, a4, a5, a6, a7}
}
