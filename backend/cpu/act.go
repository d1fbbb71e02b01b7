package cpu

import "math"

// geluF32 is the tanh approximation of GELU.
func geluF32(x float32) float32 {
	const a, s = 0.044715, 0.79788456080286535587989211986876
	return 0.5 * x * (1 + float32(math.Tanh(float64(s*x*(1+a*x*x)))))
}

// geluHalf tabulates GELU over every F16 input, rounded to F16: ggml's CPU
// backend evaluates GELU this way, and matching it keeps logits aligned.
var geluHalf = func() []uint16 {
	t := make([]uint16, 1<<16)
	for i := range t {
		t[i] = toHalf(geluF32(half[i]))
	}
	return t
}()

func gelu(x float32) float32 {
	switch {
	case x <= -10:
		return 0
	case x >= 10:
		return x
	}
	return half[geluHalf[toHalf(x)]]
}
