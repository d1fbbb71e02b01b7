package quant

import (
	"encoding/binary"
	"math"

	"github.com/x448/float16"
)

// f16Table maps every IEEE half bit pattern to its float32 value, so the hot
// loops decode a scale with one load instead of bit twiddling.
var f16Table = func() *[1 << 16]float32 {
	var t [1 << 16]float32
	for i := range t {
		t[i] = float16.Frombits(uint16(i)).Float32()
	}
	return &t
}()

// F16ToF32 decodes an IEEE half.
func F16ToF32(h uint16) float32 { return f16Table[h] }

// F32ToF16 encodes an IEEE half, rounding to nearest even like ggml.
func F32ToF16(f float32) uint16 { return uint16(float16.Fromfloat32(f)) }

// BF16ToF32 decodes a bfloat16.
func BF16ToF32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// F32ToBF16 encodes a bfloat16 as ggml_compute_fp32_to_bf16 does: NaN made
// quiet, otherwise round to nearest even (subnormals kept).
func F32ToBF16(f float32) uint16 {
	u := math.Float32bits(f)
	if u&0x7fffffff > 0x7f800000 {
		return uint16(u>>16) | 64
	}
	return uint16((u + 0x7fff + (u>>16)&1) >> 16)
}

// half reads the little-endian fp16 at b[0:2] as float32.
func half(b []byte) float32 { return f16Table[uint16(b[0])|uint16(b[1])<<8] }

// putHalf writes f as a little-endian fp16 at b[0:2].
func putHalf(b []byte, f float32) { binary.LittleEndian.PutUint16(b, F32ToF16(f)) }

// e8m0Half is ggml_e8m0_to_fp32_half: 2^(e-128), the MXFP4 scale with the
// factor 1/2 that the doubled kvalues need folded in.
func e8m0Half(e uint8) float32 {
	if e < 2 {
		return math.Float32frombits(0x00200000 << e)
	}
	return math.Float32frombits(uint32(e-1) << 23)
}

// nearestInt is ggml's nearest_int: round half to even through the float
// mantissa trick. Kept bit-for-bit because the k-quant quantizers depend on it.
func nearestInt(f float32) int32 {
	v := f + 12582912
	return int32(math.Float32bits(v)&0x007fffff) - 0x00400000
}

// roundf rounds half away from zero, as C's roundf.
func roundf(f float32) float32 { return float32(math.Round(float64(f))) }
