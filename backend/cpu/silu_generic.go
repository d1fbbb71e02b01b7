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
