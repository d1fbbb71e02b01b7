package quant

import (
	"encoding/binary"
	"fmt"
	"math"
)

// kvaluesMXFP4 are the e2m1 values doubled (ggml's kvalues_mxfp4).
var kvaluesMXFP4 = [16]int8{0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12}

var dequantizers = map[Type]func(src []byte, dst []float32){
	F32:   deqF32,
	F16:   deqF16,
	BF16:  deqBF16,
	Q4_0:  deqQ4_0,
	Q4_1:  deqQ4_1,
	Q5_0:  deqQ5_0,
	Q5_1:  deqQ5_1,
	Q8_0:  deqQ8_0,
	Q8_1:  deqQ8_1,
	Q2_K:  deqQ2_K,
	Q3_K:  deqQ3_K,
	Q4_K:  deqQ4_K,
	Q5_K:  deqQ5_K,
	Q6_K:  deqQ6_K,
	Q8_K:  deqQ8_K,
	MXFP4: deqMXFP4,
}

// checkRow validates that n elements of t occupy exactly nbytes bytes.
func checkRow(op string, t Type, n, nbytes int) error {
	want, err := RowBytes(t, int64(n))
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if int64(nbytes) != want {
		return fmt.Errorf("%s %s: %d elements need %d bytes, got %d", op, t, n, want, nbytes)
	}
	return nil
}

// Dequantize decodes n = len(dst) elements of type t from src
// (len(src) must be RowBytes(t, n)). The arithmetic follows ggml's
// dequantize_row_* so the results are bit-identical.
func Dequantize(t Type, src []byte, dst []float32) error {
	f, ok := dequantizers[t]
	if !ok {
		return fmt.Errorf("dequantize: no dequantizer for type %s", t)
	}
	if err := checkRow("dequantize", t, len(dst), len(src)); err != nil {
		return err
	}
	f(src, dst)
	return nil
}

func deqF32(src []byte, dst []float32) {
	for i := range dst {
		dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
	}
}

func deqF16(src []byte, dst []float32) {
	for i := range dst {
		dst[i] = half(src[2*i:])
	}
}

func deqBF16(src []byte, dst []float32) {
	for i := range dst {
		dst[i] = BF16ToF32(binary.LittleEndian.Uint16(src[2*i:]))
	}
}

func deqQ4_0(src []byte, dst []float32) {
	for i := 0; i < len(dst)/32; i++ {
		b := src[i*18 : i*18+18]
		y := dst[i*32 : i*32+32]
		d := half(b)
		for j := 0; j < 16; j++ {
			q := b[2+j]
			y[j] = float32(int32(q&0xF)-8) * d
			y[j+16] = float32(int32(q>>4)-8) * d
		}
	}
}

func deqQ4_1(src []byte, dst []float32) {
	for i := 0; i < len(dst)/32; i++ {
		b := src[i*20 : i*20+20]
		y := dst[i*32 : i*32+32]
		d, m := half(b), half(b[2:])
		for j := 0; j < 16; j++ {
			q := b[4+j]
			y[j] = float32(q&0xF)*d + m
			y[j+16] = float32(q>>4)*d + m
		}
	}
}

func deqQ5_0(src []byte, dst []float32) {
	for i := 0; i < len(dst)/32; i++ {
		b := src[i*22 : i*22+22]
		y := dst[i*32 : i*32+32]
		d := half(b)
		qh := binary.LittleEndian.Uint32(b[2:])
		for j := 0; j < 16; j++ {
			q := b[6+j]
			h0 := byte(qh>>j<<4) & 0x10
			h1 := byte(qh>>(j+12)) & 0x10
			y[j] = float32(int32(q&0xF|h0)-16) * d
			y[j+16] = float32(int32(q>>4|h1)-16) * d
		}
	}
}

func deqQ5_1(src []byte, dst []float32) {
	for i := 0; i < len(dst)/32; i++ {
		b := src[i*24 : i*24+24]
		y := dst[i*32 : i*32+32]
		d, m := half(b), half(b[2:])
		qh := binary.LittleEndian.Uint32(b[4:])
		for j := 0; j < 16; j++ {
			q := b[8+j]
			h0 := byte(qh>>j<<4) & 0x10
			h1 := byte(qh>>(j+12)) & 0x10
			y[j] = float32(q&0xF|h0)*d + m
			y[j+16] = float32(q>>4|h1)*d + m
		}
	}
}

func deqQ8_0(src []byte, dst []float32) {
	for i := 0; i < len(dst)/32; i++ {
		b := src[i*34 : i*34+34]
		y := dst[i*32 : i*32+32]
		d := half(b)
		for j := range y {
			y[j] = float32(int8(b[2+j])) * d
		}
	}
}

func deqQ8_1(src []byte, dst []float32) {
	for i := 0; i < len(dst)/32; i++ {
		b := src[i*36 : i*36+36]
		y := dst[i*32 : i*32+32]
		d := half(b)
		for j := range y {
			y[j] = float32(int8(b[4+j])) * d
		}
	}
}

func deqQ8_K(src []byte, dst []float32) {
	for i := 0; i < len(dst)/QK_K; i++ {
		b := src[i*292 : i*292+292]
		y := dst[i*QK_K : i*QK_K+QK_K]
		d := math.Float32frombits(binary.LittleEndian.Uint32(b))
		for j := range y {
			y[j] = d * float32(int8(b[4+j]))
		}
	}
}

func deqMXFP4(src []byte, dst []float32) {
	for i := 0; i < len(dst)/32; i++ {
		b := src[i*17 : i*17+17]
		y := dst[i*32 : i*32+32]
		d := e8m0Half(b[0])
		for j := 0; j < 16; j++ {
			q := b[1+j]
			y[j] = float32(kvaluesMXFP4[q&0xF]) * d
			y[j+16] = float32(kvaluesMXFP4[q>>4]) * d
		}
	}
}

// Q2_K block: scales[16] (low nibble scale, high nibble min), qs[64], d, dmin.
func deqQ2_K(src []byte, dst []float32) {
	for i := 0; i < len(dst)/QK_K; i++ {
		b := src[i*84 : i*84+84]
		y := dst[i*QK_K : i*QK_K+QK_K]
		d, dmin := half(b[80:]), half(b[82:])
		is := 0
		for n := 0; n < 2; n++ {
			q := b[16+32*n : 16+32*n+32]
			for j := 0; j < 4; j++ {
				shift := uint(2 * j)
				for h := 0; h < 2; h++ {
					sc := b[is]
					is++
					dl, ml := d*float32(sc&0xF), dmin*float32(sc>>4)
					out := y[n*128+j*32+h*16 : n*128+j*32+h*16+16]
					for l := range out {
						out[l] = dl*float32((q[h*16+l]>>shift)&3) - ml
					}
				}
			}
		}
	}
}

// q3Scales unpacks the sixteen 6-bit Q3_K scales (already minus 32).
func q3Scales(s []byte) (sc [16]int8) {
	for j := 0; j < 16; j++ {
		var lo byte
		if j < 8 {
			lo = s[j] & 0xF
		} else {
			lo = s[j-8] >> 4
		}
		hi := (s[8+j%4] >> (2 * (j / 4))) & 3
		sc[j] = int8(lo|hi<<4) - 32
	}
	return sc
}

// Q3_K block: hmask[32], qs[64], scales[12], d.
func deqQ3_K(src []byte, dst []float32) {
	for i := 0; i < len(dst)/QK_K; i++ {
		b := src[i*110 : i*110+110]
		y := dst[i*QK_K : i*QK_K+QK_K]
		dAll := half(b[108:])
		hm := b[0:32]
		sc := q3Scales(b[96:108])
		is := 0
		m := byte(1)
		for n := 0; n < 2; n++ {
			q := b[32+32*n : 32+32*n+32]
			for j := 0; j < 4; j++ {
				shift := uint(2 * j)
				for h := 0; h < 2; h++ {
					dl := dAll * float32(sc[is])
					is++
					out := y[n*128+j*32+h*16 : n*128+j*32+h*16+16]
					for l := range out {
						v := int32((q[h*16+l] >> shift) & 3)
						if hm[h*16+l]&m == 0 {
							v -= 4
						}
						out[l] = dl * float32(v)
					}
				}
				m <<= 1
			}
		}
	}
}

// scaleMinK4 is ggml's get_scale_min_k4: the j-th 6-bit scale and min of a
// Q4_K/Q5_K block from its 12 packed bytes.
func scaleMinK4(j int, q []byte) (d, m byte) {
	if j < 4 {
		return q[j] & 63, q[j+4] & 63
	}
	return q[j+4]&0xF | (q[j-4]>>6)<<4, q[j+4]>>4 | (q[j]>>6)<<4
}

// Q4_K block: d, dmin, scales[12], qs[128].
func deqQ4_K(src []byte, dst []float32) {
	for i := 0; i < len(dst)/QK_K; i++ {
		b := src[i*144 : i*144+144]
		y := dst[i*QK_K : i*QK_K+QK_K]
		d, dmin := half(b), half(b[2:])
		scales := b[4:16]
		for j := 0; j < 4; j++ {
			q := b[16+32*j : 16+32*j+32]
			sc, m := scaleMinK4(2*j, scales)
			d1, m1 := d*float32(sc), dmin*float32(m)
			sc, m = scaleMinK4(2*j+1, scales)
			d2, m2 := d*float32(sc), dmin*float32(m)
			out := y[64*j : 64*j+64]
			for l := 0; l < 32; l++ {
				out[l] = d1*float32(q[l]&0xF) - m1
				out[l+32] = d2*float32(q[l]>>4) - m2
			}
		}
	}
}

// Q5_K block: d, dmin, scales[12], qh[32], qs[128].
func deqQ5_K(src []byte, dst []float32) {
	for i := 0; i < len(dst)/QK_K; i++ {
		b := src[i*176 : i*176+176]
		y := dst[i*QK_K : i*QK_K+QK_K]
		d, dmin := half(b), half(b[2:])
		scales, qh := b[4:16], b[16:48]
		u1, u2 := byte(1), byte(2)
		for j := 0; j < 4; j++ {
			ql := b[48+32*j : 48+32*j+32]
			sc, m := scaleMinK4(2*j, scales)
			d1, m1 := d*float32(sc), dmin*float32(m)
			sc, m = scaleMinK4(2*j+1, scales)
			d2, m2 := d*float32(sc), dmin*float32(m)
			out := y[64*j : 64*j+64]
			for l := 0; l < 32; l++ {
				lo, hi := ql[l]&0xF, ql[l]>>4
				if qh[l]&u1 != 0 {
					lo += 16
				}
				if qh[l]&u2 != 0 {
					hi += 16
				}
				out[l] = d1*float32(lo) - m1
				out[l+32] = d2*float32(hi) - m2
			}
			u1 <<= 2
			u2 <<= 2
		}
	}
}

// Q6_K block: ql[128], qh[64], scales[16] (int8), d.
func deqQ6_K(src []byte, dst []float32) {
	for i := 0; i < len(dst)/QK_K; i++ {
		b := src[i*210 : i*210+210]
		y := dst[i*QK_K : i*QK_K+QK_K]
		d := half(b[208:])
		for n := 0; n < 2; n++ {
			ql := b[64*n : 64*n+64]
			qh := b[128+32*n : 128+32*n+32]
			sc := b[192+8*n : 192+8*n+8]
			out := y[128*n : 128*n+128]
			for l := 0; l < 32; l++ {
				is := l / 16
				q1 := int32(ql[l]&0xF|(qh[l]>>0&3)<<4) - 32
				q2 := int32(ql[l+32]&0xF|(qh[l]>>2&3)<<4) - 32
				q3 := int32(ql[l]>>4|(qh[l]>>4&3)<<4) - 32
				q4 := int32(ql[l+32]>>4|(qh[l]>>6&3)<<4) - 32
				out[l] = d * float32(int8(sc[is])) * float32(q1)
				out[l+32] = d * float32(int8(sc[is+2])) * float32(q2)
				out[l+64] = d * float32(int8(sc[is+4])) * float32(q3)
				out[l+96] = d * float32(int8(sc[is+6])) * float32(q4)
			}
		}
	}
}
