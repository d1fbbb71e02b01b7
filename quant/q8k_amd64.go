//go:build amd64 && !purego

package quant

import "golang.org/x/sys/cpu"

var hasQ8KAsm = cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VL

//go:noescape
func q8kAsm(src *float32, nb int, dst *byte) bool

// archQuantQ8K is quantQ8_K in AVX-512 (bit-identical), or false when it
// cannot run or the row has a NaN or infinity (quantQ8_K then does the row).
func archQuantQ8K(src []float32, dst []byte) bool {
	nb := len(src) / QK_K
	if !hasQ8KAsm || nb == 0 || len(dst) < nb*292 {
		return false
	}
	return q8kAsm(&src[0], nb, &dst[0])
}
