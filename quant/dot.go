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
// none. Fetch it once per matrix and call it per row.
func DotFunc(t Type) DotFn {
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
// generic ggml_vec_dot_<t>_<vt> (same integer sums, same float order). It is
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

// The float dots follow ggml_vec_dot_{f32,f16,bf16}'s generic form: each
// product rounded to float32, summed in float64. Four partial sums instead
// of one only reorder float64 additions, far below float32 rounding.

func dotF32(n int, w, x []byte) float32 {
	if _, ok := blocks(n, 1, 4, 4, w, x); !ok {
		return nan32
	}
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= n; i += 4 {
		a := w[4*i : 4*i+16 : 4*i+16]
		b := x[4*i : 4*i+16 : 4*i+16]
		s0 += float64(f32le(a[0:]) * f32le(b[0:]))
		s1 += float64(f32le(a[4:]) * f32le(b[4:]))
		s2 += float64(f32le(a[8:]) * f32le(b[8:]))
		s3 += float64(f32le(a[12:]) * f32le(b[12:]))
	}
	for ; i < n; i++ {
		s0 += float64(f32le(w[4*i:]) * f32le(x[4*i:]))
	}
	return float32(s0 + s1 + s2 + s3)
}

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

func dotQ5_0(n int, w, x []byte) float32 {
	nb, ok := blocks(n, 32, 22, 34, w, x)
	if !ok {
		return nan32
	}
	var sumf float32
	for i := 0; i < nb; i++ {
		b := (*[22]byte)(w[i*22:])
		y := (*[34]byte)(x[i*34:])
		qh := binary.LittleEndian.Uint32(b[2:6])
		lo, hi := y[2:18], y[18:34]
		q := b[6:22]
		var s0, s1 int32
		for j := 0; j < 16; j++ {
			h0 := byte(qh>>j<<4) & 0x10
			h1 := byte(qh>>(j+12)) & 0x10
			s0 += (int32(q[j]&0xF|h0) - 16) * i8(lo[j])
			s1 += (int32(q[j]>>4|h1) - 16) * i8(hi[j])
		}
		sumf += float32(float32(half(b[0:])*half(y[0:])) * float32(s0+s1))
	}
	return sumf
}

func dotQ5_1(n int, w, x []byte) float32 {
	nb, ok := blocks(n, 32, 24, 36, w, x)
	if !ok {
		return nan32
	}
	var sumf float32
	for i := 0; i < nb; i++ {
		b := (*[24]byte)(w[i*24:])
		y := (*[36]byte)(x[i*36:])
		qh := binary.LittleEndian.Uint32(b[4:8])
		lo, hi := y[4:20], y[20:36]
		q := b[8:24]
		var s0, s1 int32
		for j := 0; j < 16; j++ {
			h0 := byte(qh>>j<<4) & 0x10
			h1 := byte(qh>>(j+12)) & 0x10
			s0 += int32(q[j]&0xF|h0) * i8(lo[j])
			s1 += int32(q[j]>>4|h1) * i8(hi[j])
		}
		sumf += float32(float32(half(b[0:])*half(y[0:]))*float32(s0+s1)) + float32(half(b[2:])*half(y[2:]))
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
	for i := 0; i < nb; i++ {
		b := (*[110]byte)(w[i*110:])
		y := (*[292]byte)(x[i*292:])
		hm := b[0:32]
		sc := q3Scales(b[96:108])
		q8 := y[4:260]
		var acc [8]int32
		m := byte(1)
		for k := 0; k < 2; k++ {
			q3 := b[32+32*k : 64+32*k]
			for j := 0; j < 4; j++ {
				shift := uint(2 * j)
				e0 := 128*k + 32*j
				for h := 0; h < 2; h++ {
					s := int32(sc[e0/16+h])
					for l := 16 * h; l < 16*h+16; l++ {
						a := int32(q3[l] >> shift & 3)
						if hm[l]&m == 0 {
							a -= 4
						}
						acc[l&7] += s * a * i8(q8[e0+l])
					}
				}
				m <<= 1
			}
		}
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
	for i := 0; i < nb; i++ {
		b := (*[176]byte)(w[i*176:])
		y := (*[292]byte)(x[i*292:])
		sc, mn := kScales(b[4:16])
		var sumi int32
		for j := 0; j < 16; j++ {
			sumi += q8kBsum(y, j) * mn[j/2]
		}
		qh := b[16:48]
		var acc [8]int32
		for j := 0; j < 4; j++ {
			ql := b[48+32*j : 80+32*j]
			q8 := y[4+64*j : 68+64*j]
			s1, s2 := sc[2*j], sc[2*j+1]
			m1, m2 := byte(1)<<(2*j), byte(2)<<(2*j)
			for l := 0; l < 32; l++ {
				lo, hi := int32(ql[l]&0xF), int32(ql[l]>>4)
				if qh[l]&m1 != 0 {
					lo += 16
				}
				if qh[l]&m2 != 0 {
					hi += 16
				}
				acc[l&7] += s1*lo*i8(q8[l]) + s2*hi*i8(q8[l+32])
			}
		}
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
	for i := 0; i < nb; i++ {
		b := (*[210]byte)(w[i*210:])
		y := (*[292]byte)(x[i*292:])
		var acc [8]int32
		for k := 0; k < 2; k++ {
			ql := b[64*k : 64*k+64]
			qh := b[128+32*k : 160+32*k]
			sc := b[192+8*k : 200+8*k]
			q8 := y[4+128*k : 132+128*k]
			for l := 0; l < 32; l++ {
				is := l / 16
				lo, hi, h := ql[l], ql[l+32], qh[l]
				q1 := int32(lo&0xF|(h&3)<<4) - 32
				q2 := int32(hi&0xF|(h>>2&3)<<4) - 32
				q3 := int32(lo>>4|(h>>4&3)<<4) - 32
				q4 := int32(hi>>4|(h>>6)<<4) - 32
				acc[l&7] += i8(sc[is])*q1*i8(q8[l]) + i8(sc[is+2])*q2*i8(q8[l+32]) +
					i8(sc[is+4])*q3*i8(q8[l+64]) + i8(sc[is+6])*q4*i8(q8[l+96])
			}
		}
		lanes.add(half(b[208:])*q8kD(y), &acc)
	}
	return lanes.total(0)
}
