//go:build !amd64 || purego

package cpu

import "math"

// silu sets d[i] = g[i] / (1 + float32(math.Exp(float64(-g[i])))) * u[i].
func silu(d, g, u []float32) {
	g, u = g[:len(d)], u[:len(d)]
	for i, x := range g {
		d[i] = x / (1 + float32(math.Exp(float64(-x)))) * u[i]
	}
}

// expShift sets d[i] = float32(math.Exp(float64(s[i] - m))).
func expShift(d, s []float32, m float32) {
	s = s[:len(d)]
	for i, x := range s {
		d[i] = float32(math.Exp(float64(x - m)))
	}
}
