//go:build !amd64 || purego

package cpu

// decodeF16 sets dst[i] to the float32 value of the F16 bits src[i].
func decodeF16(dst []float32, src []uint16) {
	src = src[:len(dst)]
	for i, x := range src {
		dst[i] = half[x]
	}
}

// addScaledF16 does acc[i] += float64(w * v[i]) with v in F16 bits.
func addScaledF16(acc []float64, w float32, v []uint16) {
	v = v[:len(acc)]
	for i, x := range v {
		acc[i] += float64(w * half[x])
	}
}

// addScaled does acc[i] += float64(w * v[i]).
func addScaled(acc []float64, w float32, v []float32) {
	v = v[:len(acc)]
	for i, x := range v {
		acc[i] += float64(w * x)
	}
}

// encodeF16 sets dst[i] to toHalf(src[i]).
func encodeF16(dst []uint16, src []float32) {
	dst = dst[:len(src)]
	for i, x := range src {
		dst[i] = toHalf(x)
	}
}

func scoresF16x8([]float32, int, *[8]*uint16, []float32, []float32, int) bool { return false }

func hasTranspose(int) bool { return false }

func transposeF16x8(*[8]*uint16, int, []float32) { panic("cpu: no transposeF16x8 here") }

func scoresKT([]float32, int, []float32, []float32, int) { panic("cpu: no scoresKT here") }

// addScaledF16Heads does addScaledF16(acc[g*hd:(g+1)*hd], ws[g], v) for
// every head g < len(ws).
func addScaledF16Heads(acc []float64, ws []float32, v []uint16, hd int) {
	for g, wt := range ws {
		addScaledF16(acc[g*hd:(g+1)*hd], wt, v)
	}
}

func addScaledF16Run([]float64, []float32, int, int, []uint16, int, int, int) bool { return false }

// scaleMax multiplies s by scale in place and returns the largest value.
func scaleMax(s []float32, scale float32) float32 { return scaleMaxGo(s, scale) }

// scaleF16 sets s[i] to the F16-rounded value of s[i]*k.
func scaleF16(s []float32, k float32) {
	for i, x := range s {
		s[i] = half[toHalf(x*k)]
	}
}
