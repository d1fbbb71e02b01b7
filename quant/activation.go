package quant

import "math"

// QuantizeActivation converts one activation row to t as ggml's CPU backend
// does before a quantized dot product on x86 with AVX: its vectorized Q8_0
// and Q8_1 quantizers scale by 127/amax and round half to even, unlike the
// reference quantizers (1/(amax/127), half away from zero). Those differ in
// about one value per thousand, and quantized models amplify such changes,
// so matching them is what keeps greedy tokens aligned with llama.cpp.
// Every other type is quantized as Quantize does.
func QuantizeActivation(t Type, src []float32, dst []byte) error {
	switch t {
	case Q8_0, Q8_1:
		if err := checkRow("quantize", t, len(src), len(dst)); err != nil {
			return err
		}
		if !archQuantQ8Act(t, src, dst) {
			quantQ8Act(t, src, dst)
		}
		return nil
	case Q8_K:
		if err := checkRow("quantize", t, len(src), len(dst)); err != nil {
			return err
		}
		if !archQuantQ8K(src, dst) {
			quantQ8_K(src, dst)
		}
		return nil
	}
	return Quantize(t, src, dst)
}

func quantQ8Act(t Type, src []float32, dst []byte) {
	bs := t.TypeSize()
	off := bs - 32 // qs follow d (and s for Q8_1)
	for i := 0; i < len(src)/32; i++ {
		x := src[i*32 : i*32+32]
		y := dst[i*bs : (i+1)*bs]
		amax := absMax(x)
		d := amax / 127
		var id float32
		if amax != 0 {
			id = 127 / amax
		}
		putHalf(y, d)
		var sum int32
		for j, v := range x {
			q := int8(math.RoundToEven(float64(v * id)))
			y[off+j] = byte(q)
			sum += int32(q)
		}
		if t == Q8_1 {
			putHalf(y[2:], d*float32(sum))
		}
	}
}
