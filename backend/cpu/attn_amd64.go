//go:build amd64 && !purego

package cpu

import "golang.org/x/sys/cpu"

//go:noescape
func f16Row(dst *float32, src *uint16, n int)

//go:noescape
func axpyF16(acc *float64, w float32, v *uint16, n int)

//go:noescape
func axpyF32(acc *float64, w float32, v *float32, n int)

// x/sys/cpu does not report F16C; every AVX2 CPU has it (F16C came first).
var hasF16C = cpu.X86.HasAVX2

// decodeF16 sets dst[i] to the float32 value of the F16 bits src[i].
func decodeF16(dst []float32, src []uint16) {
	src = src[:len(dst)]
	n := 0
	if hasF16C && len(dst) >= 8 {
		n = len(dst) &^ 7
		f16Row(&dst[0], &src[0], n)
	}
	for i := n; i < len(dst); i++ {
		dst[i] = half[src[i]]
	}
}

// addScaledF16 does acc[i] += float64(w * v[i]) with v in F16 bits.
func addScaledF16(acc []float64, w float32, v []uint16) {
	v = v[:len(acc)]
	n := 0
	if hasF16C && len(acc) >= 8 {
		n = len(acc) &^ 7
		axpyF16(&acc[0], w, &v[0], n)
	}
	for i := n; i < len(acc); i++ {
		acc[i] += float64(w * half[v[i]])
	}
}

// addScaled does acc[i] += float64(w * v[i]).
func addScaled(acc []float64, w float32, v []float32) {
	v = v[:len(acc)]
	n := 0
	if hasF16C && len(acc) >= 8 {
		n = len(acc) &^ 7
		axpyF32(&acc[0], w, &v[0], n)
	}
	for i := n; i < len(acc); i++ {
		acc[i] += float64(w * v[i])
	}
}

//go:noescape
func f16Round(dst *uint16, src *float32, n int)

// encodeF16 sets dst[i] to toHalf(src[i]).
func encodeF16(dst []uint16, src []float32) {
	dst = dst[:len(src)]
	n := 0
	if hasF16C && len(src) >= 8 {
		n = len(src) &^ 7
		f16Round(&dst[0], &src[0], n)
	}
	for i := n; i < len(src); i++ {
		dst[i] = toHalf(src[i])
	}
}

//go:noescape
func f16Transpose8(rows *[8]*uint16, hd int, kT *float32)

//go:noescape
func scores8x2(q0, q1 *float32, hd int, kT *float32, out0, out1 *float32)

// scoresF16x8 sets out[g*stride+j] = sum_e q[g*hd+e] * k_j[e] (in element
// order, float32) for heads g < len(q)/hd and the eight cached key rows
// k_j (F16), when the CPU and hd allow; false otherwise. kT is scratch of
// 8*hd floats.
func scoresF16x8(q []float32, hd int, rows *[8]*uint16, kT []float32, out []float32, stride int) bool {
	if !hasTranspose(hd) {
		return false
	}
	transposeF16x8(rows, hd, kT)
	scoresKT(q, hd, kT, out, stride)
	return true
}

// hasTranspose reports whether transposeF16x8 runs for head size hd.
func hasTranspose(hd int) bool { return hasF16C && hd%8 == 0 && hd > 0 }

// transposeF16x8 sets kT[8e+j] = rows[j][e] (as float32) for e < hd.
func transposeF16x8(rows *[8]*uint16, hd int, kT []float32) {
	kT = kT[:8*hd]
	f16Transpose8(rows, hd, &kT[0])
}

// scoresKT sets out[g*stride+j] for the eight key rows transposed in kT
// (transposeF16x8), as scoresF16x8.
func scoresKT(q []float32, hd int, kT []float32, out []float32, stride int) {
	kT = kT[:8*hd]
	per := len(q) / hd
	for g := 0; g < per; g += 2 {
		h := min(g+1, per-1) // an odd last head runs twice
		o0, o1 := out[g*stride:g*stride+8], out[h*stride:h*stride+8]
		scores8x2(&q[g*hd], &q[h*hd], hd, &kT[0], &o0[0], &o1[0])
	}
}

//go:noescape
func axpyF16Heads(acc *float64, ws *float32, heads int, v *uint16, hd int)

// hasRun: axpyF16Run keeps its sums in a ZMM register.
var hasRun = hasF16C && cpu.X86.HasAVX512F

//go:noescape
func axpyF16Run(acc *float64, sc *float32, sstride, heads int, v *uint16, vstride, hd, count int)

// addScaledF16Run does addScaledF16Heads(acc, ws_k, v[k*vstride:], hd) for
// the count rows k in order, ws_k[g] = sc[g*sstride+k], and reports false
// (having done nothing) where the kernel cannot run.
func addScaledF16Run(acc []float64, sc []float32, sstride, heads int, v []uint16, vstride, hd, count int) bool {
	if !hasRun || hd%8 != 0 || hd == 0 || heads <= 0 || count <= 0 {
		return false
	}
	_ = acc[heads*hd-1]
	_ = sc[(heads-1)*sstride+count-1]
	_ = v[(count-1)*vstride+hd-1]
	axpyF16Run(&acc[0], &sc[0], 4*sstride, heads, &v[0], 2*vstride, hd, count)
	return true
}

// addScaledF16Heads does addScaledF16(acc[g*hd:(g+1)*hd], ws[g], v) for
// every head g < len(ws), converting v once.
func addScaledF16Heads(acc []float64, ws []float32, v []uint16, hd int) {
	if !hasF16C || hd%8 != 0 || hd == 0 || len(ws) == 0 {
		for g, wt := range ws {
			addScaledF16(acc[g*hd:(g+1)*hd], wt, v)
		}
		return
	}
	_ = acc[len(ws)*hd-1]
	_ = v[hd-1]
	axpyF16Heads(&acc[0], &ws[0], len(ws), &v[0], hd)
}

//go:noescape
func scaleMaxAsm(s *float32, n int, scale float32) float32

// scaleMax multiplies s by scale in place and returns the largest value
// (-Inf for none; unspecified where a value is NaN: the softmax's weights
// are all NaN whatever it is).
func scaleMax(s []float32, scale float32) float32 {
	if !hasF16C || len(s) == 0 {
		return scaleMaxGo(s, scale)
	}
	return scaleMaxAsm(&s[0], len(s), scale)
}

//go:noescape
func scaleF16Asm(s *float32, n int, k float32)

// scaleF16 sets s[i] to the F16-rounded value of s[i]*k.
func scaleF16(s []float32, k float32) {
	n := 0
	if hasF16C && hasVL && len(s) > 0 {
		n = len(s)
		scaleF16Asm(&s[0], n, k)
	}
	for i := n; i < len(s); i++ {
		s[i] = half[toHalf(s[i]*k)]
	}
}
