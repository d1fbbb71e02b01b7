//go:build amd64 && !purego

package cpu

import (
	"math"

	"golang.org/x/sys/cpu"
)

//go:noescape
func siluRow(dst, gate, up *float32, n int) int

// hasSiLU: the kernels repeat math.Exp's FMA path, which Go takes when the
// CPU has AVX and FMA.
var hasSiLU = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// has8: siluRow8 and expRow8 (exp512_amd64.s) run eight lanes.
var has8 = hasSiLU && cpu.X86.HasAVX512F

// hasVL: masked YMM operations (expRow8's and scaleF16Asm's last group).
var hasVL = cpu.X86.HasAVX512F && cpu.X86.HasAVX512VL

//go:noescape
func siluRow8(dst, gate, up *float32, n int) int

//go:noescape
func expRow8(dst, src *float32, m float32, n int) int

// silu sets d[i] = g[i] / (1 + float32(math.Exp(float64(-g[i])))) * u[i].
func silu(d, g, u []float32) {
	g, u = g[:len(d)], u[:len(d)]
	i := 0
	if has8 && len(d) >= 8 {
		i = siluRow8(&d[0], &g[0], &u[0], len(d)) // the rest as before
	}
	for hasSiLU && len(d)-i >= 4 {
		i += siluRow(&d[i], &g[i], &u[i], len(d)-i)
		if len(d)-i < 4 {
			break
		}
		// A group the kernel leaves (a huge or NaN argument) runs in Go.
		for e := i + 4; i < e; i++ {
			d[i] = g[i] / (1 + float32(math.Exp(float64(-g[i])))) * u[i]
		}
	}
	for ; i < len(d); i++ {
		d[i] = g[i] / (1 + float32(math.Exp(float64(-g[i])))) * u[i]
	}
}

//go:noescape
func expRow(dst, src *float32, m float32, n int) int

// expShift sets d[i] = float32(math.Exp(float64(s[i] - m))).
func expShift(d, s []float32, m float32) {
	s = s[:len(d)]
	i := 0
	if n := len(d); has8 && n > 0 {
		if !hasVL {
			n &^= 7 // the masked last group needs AVX-512 VL
		}
		i = expRow8(&d[0], &s[0], m, n) // the rest as before
	}
	for hasSiLU && len(d)-i >= 4 {
		i += expRow(&d[i], &s[i], m, len(d)-i)
		if len(d)-i < 4 {
			break
		}
		for e := i + 4; i < e; i++ {
			d[i] = float32(math.Exp(float64(s[i] - m)))
		}
	}
	for ; i < len(d); i++ {
		d[i] = float32(math.Exp(float64(s[i] - m)))
	}
}
