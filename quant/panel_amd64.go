//go:build amd64 && !purego

package quant

import "golang.org/x/sys/cpu"

// hasPanel reports whether the Panel kernels can run: AVX-512 F/BW/VL with
// VNNI and VBMI (the x/sys checks include OS support for the ZMM state).
var hasPanel = cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VL && cpu.X86.HasAVX512VNNI && cpu.X86.HasAVX512VBMI

// panelKern runs one tile of a panel (a: nb blocks of panelBlock bytes)
// against one decoded weight group (w: nb blocks of panelWBlk bytes):
// out[16g+r] = weight row g · activation row r, the float part by mode.
//
//go:noescape
func panelKern(nb int, a, w *byte, mode int, out *[panelGroup * panelRows]float32)

// panelF32 runs one tile of an F32 panel (a: nc chunks of panelF32Block
// bytes, then one more when tail > 0) against the weight row w (16·nc+tail
// elements): row r's dot, in dotF32's lanes and order, lands in
// out[4·(r%4)+r/4] (the order the lane reduction leaves them in).
//
//go:noescape
func panelF32(nc, tail int, a, w *byte, out *[panelRows]float32)

// panelKern4 runs one tile of a K-quant panel against one decoded weight
// group: out[g][r] is weight row g · activation row r (lanes is scratch
// for the lane sums; q6 = 0: Q4_K, with its mins term).
//
//go:noescape
func panelKern4(nb int, a, w *byte, q6 int, lanes *[panelGroup][8][panelRows]float32, out *[panelGroup * panelRows]float32)

// transK writes a K-quant super-block's 256 signed values a of one weight
// row as its groups (t, row, l) from w (stride 128 per t), and its eight
// lane offsets 128·Σ scale·q to corr (pairs: the scale pair of each t).
//
//go:noescape
func transK(a *[QK_K]byte, pairs *[8]uint32, w, corr *byte)

// panelDec decodes nb blocks of a 32-element weight row (kind 0-4: Q8_0,
// Q4_0, Q4_1, Q5_0, Q5_1; blocks of wsize bytes) into a weight group's
// slot: values to q, d, m and the offset term to tab (see Panel.decode).
//
//go:noescape
func panelDec(kind, nb int, w *byte, wsize int, q, tab *byte)

// dotF32Asm is dotF32 for 16·nc+tail elements, one ZMM of lanes.
//
//go:noescape
func dotF32Asm(nc, tail int, w, x *byte) float32

func dotF32AVX512(n int, w, x []byte) float32 {
	if _, ok := blocks(n, 1, 4, 4, w, x); !ok {
		return nan32
	}
	if n == 0 {
		return 0
	}
	return dotF32Asm(n/16, n%16, &w[0], &x[0])
}
