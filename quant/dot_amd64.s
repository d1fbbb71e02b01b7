//go:build amd64 && !purego

#include "textflag.h"

// AVX2 quantized dot products. The integer part of each block is exact, so
// the kernels get the same int32 sums as the Go code; the float32 part
// repeats the Go code's operations in its order, so results are identical.
//
// VPMADDUBSW multiplies unsigned by signed bytes and adds adjacent pairs
// into int16 with saturation. Weight codes are kept unsigned (< 64) so no
// pair can saturate; a code offset (q-8, q-16, q-32) is applied by
// subtracting VPMADDUBSW(offset, y), also exact. Q8_0 weights are signed,
// so they go through int16 (VPMOVSXBW + VPMADDWD), exact for all bytes.

// perm16 reorders each 16-byte half to 0,8,1,9,...,7,15 so that VPMADDUBSW
// pairs element l with element l+8: both fall in lane l mod 8, as the
// k-quant lane sums need.
DATA perm16<>+0(SB)/8, $0x0b030a0209010800
DATA perm16<>+8(SB)/8, $0x0f070e060d050c04
DATA perm16<>+16(SB)/8, $0x0b030a0209010800
DATA perm16<>+24(SB)/8, $0x0f070e060d050c04
GLOBL perm16<>(SB), RODATA|NOPTR, $32

// qhShuf spreads the 4 bytes of a Q5 qh word: byte k of qh to bytes
// 8k..8k+7 (the VPSHUFB indices are relative to each 128-bit half).
DATA qhShuf<>+0(SB)/8, $0x0000000000000000
DATA qhShuf<>+8(SB)/8, $0x0101010101010101
DATA qhShuf<>+16(SB)/8, $0x0202020202020202
DATA qhShuf<>+24(SB)/8, $0x0303030303030303
GLOBL qhShuf<>(SB), RODATA|NOPTR, $32

// qhBits selects bit j mod 8 in byte j.
DATA qhBits<>+0(SB)/8, $0x8040201008040201
DATA qhBits<>+8(SB)/8, $0x8040201008040201
DATA qhBits<>+16(SB)/8, $0x8040201008040201
DATA qhBits<>+24(SB)/8, $0x8040201008040201
GLOBL qhBits<>(SB), RODATA|NOPTR, $32

DATA c30<>+0(SB)/8, $0x3030303030303030
DATA c30<>+8(SB)/8, $0x3030303030303030
DATA c30<>+16(SB)/8, $0x3030303030303030
DATA c30<>+24(SB)/8, $0x3030303030303030
GLOBL c30<>(SB), RODATA|NOPTR, $32

// BCAST fills every byte of Y with the byte b.
#define BCAST(b, X, Y) \
	MOVL $(b*0x01010101), AX; \
	VMOVD AX, X; \
	VPBROADCASTD X, Y

// HSUM leaves the sum of the eight int32 of Y0 in every lane of X0.
// Clobbers X1.
#define HSUM \
	VEXTRACTI128 $1, Y0, X1; \
	VPADDD X1, X0, X0; \
	VPSHUFD $0x4e, X0, X1; \
	VPADDD X1, X0, X0; \
	VPSHUFD $0xb1, X0, X1; \
	VPADDD X1, X0, X0

// The 32-element kernels also do the float32 part, one block after the
// other, with the same scalar operations in the same order as the Go code
// (VEX-encoded so that mixing with the YMM code costs nothing). fp16 scales
// are read through the same table as the Go code (R9), so every value is
// identical. X7 accumulates sumf.

// HALF loads the fp16 at off(R) as float32 into X.
#define HALF(off, R, X) \
	MOVWLZX off(R), AX; \
	VMOVSS (R9)(AX*4), X

// func dotQ8_0Asm(nb int, w, x *byte, tab *[65536]float32) float32
TEXT ·dotQ8_0Asm(SB), NOSPLIT, $0-36
	MOVQ nb+0(FP), CX
	MOVQ w+8(FP), SI
	MOVQ x+16(FP), DI
	MOVQ tab+24(FP), R9
	VXORPS X7, X7, X7
	TESTQ CX, CX
	JLE  q8done

q8loop:
	VPMOVSXBW 2(SI), Y0
	VPMOVSXBW 18(SI), Y1
	VPMOVSXBW 2(DI), Y2
	VPMOVSXBW 18(DI), Y3
	VPMADDWD  Y2, Y0, Y0
	VPMADDWD  Y3, Y1, Y1
	VPADDD    Y1, Y0, Y0
	HSUM
	// sumf += float32(s) * (d_w * d_x)
	VCVTDQ2PS X0, X0
	HALF(0, SI, X2)
	HALF(0, DI, X3)
	VMULSS    X3, X2, X2
	VMULSS    X2, X0, X0
	VADDSS    X0, X7, X7
	ADDQ $34, SI
	ADDQ $34, DI
	DECQ CX
	JNZ  q8loop

q8done:
	VMOVSS X7, ret+32(FP)
	VZEROUPPER
	RET

// Q4 loads the 16 packed bytes at qs(SI) as 32 codes in element order into
// Y0: low nibbles, then high nibbles. Y15 holds 0x0f bytes.
#define Q4(qs) \
	VMOVDQU qs(SI), X0; \
	VPSRLW $4, X0, X1; \
	VINSERTI128 $1, X1, Y0, Y0; \
	VPAND Y15, Y0, Y0

// Q5 ORs the fifth bits from the qh word at qh(SI) into Y0 as 0x10.
// Y12 holds qhShuf, Y11 qhBits, Y10 0x10 bytes.
#define Q5(qh) \
	VPBROADCASTD qh(SI), Y2; \
	VPSHUFB Y12, Y2, Y2; \
	VPAND Y11, Y2, Y2; \
	VPCMPEQB Y11, Y2, Y2; \
	VPAND Y10, Y2, Y2; \
	VPOR Y2, Y0, Y0

// DOT32 sums Y0 (unsigned codes) times the 32 int8 at qs(DI) into Y0 as
// eight int32. Y14 holds int16 ones.
#define DOT32(qs) \
	VPMADDUBSW qs(DI), Y0, Y0; \
	VPMADDWD Y14, Y0, Y0

// DOT32OFF is DOT32 for codes minus the offset whose bytes Y13 holds.
#define DOT32OFF(qs) \
	VPMADDUBSW qs(DI), Y0, Y0; \
	VPMADDUBSW qs(DI), Y13, Y1; \
	VPSUBW Y1, Y0, Y0; \
	VPMADDWD Y14, Y0, Y0

// CONSTS loads the constants of the 4- and 5-bit kernels; off is the code
// offset (8, 16 or 0).
#define CONSTS(off) \
	BCAST(0x0f, X15, Y15); \
	MOVL $0x00010001, AX; \
	VMOVD AX, X14; \
	VPBROADCASTD X14, Y14; \
	BCAST(off, X13, Y13); \
	VMOVDQU qhShuf<>(SB), Y12; \
	VMOVDQU qhBits<>(SB), Y11; \
	BCAST(0x10, X10, Y10); \
	VXORPS X7, X7, X7

// FMUL3 is sumf += float32(float32(s) * d_w * d_x) (Q4_0's order).
#define FMUL3 \
	VCVTDQ2PS X0, X0; \
	HALF(0, SI, X2); \
	HALF(0, DI, X3); \
	VMULSS X2, X0, X0; \
	VMULSS X3, X0, X0; \
	VADDSS X0, X7, X7

// FMUL is sumf += float32(float32(d_w * d_x) * float32(s)) (Q5_0).
#define FMUL \
	VCVTDQ2PS X0, X0; \
	HALF(0, SI, X2); \
	HALF(0, DI, X3); \
	VMULSS X3, X2, X2; \
	VMULSS X0, X2, X2; \
	VADDSS X2, X7, X7

// FMULMIN is sumf += float32(d_w*d_x)*float32(s) + float32(m_w*s_x)
// (Q4_1, Q5_1: d and m/s are the block's first two fp16).
#define FMULMIN \
	VCVTDQ2PS X0, X0; \
	HALF(0, SI, X2); \
	HALF(0, DI, X3); \
	VMULSS X3, X2, X2; \
	VMULSS X0, X2, X2; \
	HALF(2, SI, X3); \
	HALF(2, DI, X4); \
	VMULSS X4, X3, X3; \
	VADDSS X3, X2, X2; \
	VADDSS X2, X7, X7

// NEXT advances to the next blocks and loops back to label l.
#define NEXT(wsize, xsize, l) \
	ADDQ $wsize, SI; \
	ADDQ $xsize, DI; \
	DECQ CX; \
	JNZ  l

// func dotQ4_0Asm(nb int, w, x *byte, tab *[65536]float32) float32
TEXT ·dotQ4_0Asm(SB), NOSPLIT, $0-36
	MOVQ nb+0(FP), CX
	MOVQ w+8(FP), SI
	MOVQ x+16(FP), DI
	MOVQ tab+24(FP), R9
	CONSTS(8)
	TESTQ CX, CX
	JLE   q40done

q40loop:
	Q4(2)
	DOT32OFF(2)
	HSUM
	FMUL3
	NEXT(18, 34, q40loop)

q40done:
	VMOVSS X7, ret+32(FP)
	VZEROUPPER
	RET

// func dotQ4_1Asm(nb int, w, x *byte, tab *[65536]float32) float32
TEXT ·dotQ4_1Asm(SB), NOSPLIT, $0-36
	MOVQ nb+0(FP), CX
	MOVQ w+8(FP), SI
	MOVQ x+16(FP), DI
	MOVQ tab+24(FP), R9
	CONSTS(0)
	TESTQ CX, CX
	JLE   q41done

q41loop:
	Q4(4)
	DOT32(4)
	HSUM
	FMULMIN
	NEXT(20, 36, q41loop)

q41done:
	VMOVSS X7, ret+32(FP)
	VZEROUPPER
	RET

// func dotQ5_0Asm(nb int, w, x *byte, tab *[65536]float32) float32
TEXT ·dotQ5_0Asm(SB), NOSPLIT, $0-36
	MOVQ nb+0(FP), CX
	MOVQ w+8(FP), SI
	MOVQ x+16(FP), DI
	MOVQ tab+24(FP), R9
	CONSTS(16)
	TESTQ CX, CX
	JLE   q50done

q50loop:
	Q4(6)
	Q5(2)
	DOT32OFF(2)
	HSUM
	FMUL
	NEXT(22, 34, q50loop)

q50done:
	VMOVSS X7, ret+32(FP)
	VZEROUPPER
	RET

// func dotQ5_1Asm(nb int, w, x *byte, tab *[65536]float32) float32
TEXT ·dotQ5_1Asm(SB), NOSPLIT, $0-36
	MOVQ nb+0(FP), CX
	MOVQ w+8(FP), SI
	MOVQ x+16(FP), DI
	MOVQ tab+24(FP), R9
	CONSTS(0)
	TESTQ CX, CX
	JLE   q51done

q51loop:
	Q4(8)
	Q5(4)
	DOT32(4)
	HSUM
	FMULMIN
	NEXT(24, 36, q51loop)

q51done:
	VMOVSS X7, ret+32(FP)
	VZEROUPPER
	RET

// The k-quant kernels return, per 256-element block, the eight lane sums of
// sc*q*y (lane = element index mod 8) that ggml's generic code builds. They
// take 64 elements at a time as two 32-element halves A and B; each 16
// elements have one scale, read from sc as four int16 per 64 elements:
// A's first 16, B's first 16, A's second 16, B's second 16.
//
// Register use: Y13 perm16, Y15 0x0f bytes, Y8/Y9 lanes 0-3/4-7 (one copy
// per 128-bit half), R8 scales, DX output.

// KPAIR adds the scaled lane sums of the int16 pair sums in Y0 (A) and Y1
// (B), whose scales are at soff(R8).
#define KPAIR(soff) \
	VPBROADCASTD soff(R8), Y4; \
	VPBROADCASTD (soff+4)(R8), X5; \
	VINSERTI128 $1, X5, Y4, Y4; \
	VPUNPCKLWD Y1, Y0, Y5; \
	VPUNPCKHWD Y1, Y0, Y6; \
	VPMADDWD Y4, Y5, Y5; \
	VPMADDWD Y4, Y6, Y6; \
	VPADDD Y5, Y8, Y8; \
	VPADDD Y6, Y9, Y9

// KLOADY loads 32 int8 activations at qs(DI) in perm16 order into Y.
#define KLOADY(qs, Y) \
	VMOVDQU qs(DI), Y; \
	VPSHUFB Y13, Y, Y

// KSTORE adds the two halves of Y8/Y9 and stores the eight lanes at (DX).
#define KSTORE \
	VPERM2I128 $0x20, Y9, Y8, Y0; \
	VPERM2I128 $0x31, Y9, Y8, Y1; \
	VPADDD Y1, Y0, Y0; \
	VMOVDQU Y0, (DX)

// KSETUP loads the constants; the arguments are in CX, SI, DI, R8, DX.
#define KSETUP \
	VMOVDQU perm16<>(SB), Y13; \
	BCAST(0x0f, X15, Y15)

#define KNEXT(wsize, l) \
	ADDQ $wsize, SI; \
	ADDQ $292, DI; \
	ADDQ $32, R8; \
	ADDQ $32, DX; \
	DECQ CX; \
	JNZ  l

// Q4K64 handles elements 64m..64m+63 of a Q4_K block: the 32 bytes at
// 16+32m hold A in low nibbles and B in high nibbles.
#define Q4K64(m) \
	VMOVDQU (16+32*m)(SI), Y0; \
	VPSHUFB Y13, Y0, Y0; \
	VPSRLW $4, Y0, Y1; \
	VPAND Y15, Y0, Y0; \
	VPAND Y15, Y1, Y1; \
	KLOADY(4+64*m, Y2); \
	KLOADY(36+64*m, Y3); \
	VPMADDUBSW Y2, Y0, Y0; \
	VPMADDUBSW Y3, Y1, Y1; \
	KPAIR(8*m)

// func lanesQ4_K(nb int, w, x *byte, sc *uint64, out *int32)
TEXT ·lanesQ4_K(SB), NOSPLIT, $0-40
	MOVQ nb+0(FP), CX
	MOVQ w+8(FP), SI
	MOVQ x+16(FP), DI
	MOVQ sc+24(FP), R8
	MOVQ out+32(FP), DX
	KSETUP
	TESTQ CX, CX
	JLE   q4kdone

q4kloop:
	VPXOR Y8, Y8, Y8
	VPXOR Y9, Y9, Y9
	Q4K64(0)
	Q4K64(1)
	Q4K64(2)
	Q4K64(3)
	KSTORE
	KNEXT(144, q4kloop)

q4kdone:
	VZEROUPPER
	RET

// Q5K64 is Q4K64 for Q5_K: low/high nibbles of the 32 bytes at 48+32m plus
// the fifth bits, taken from Y7 (qh in perm16 order, shifted right one bit
// after each use) as 0x10. Y12 holds 0x01 bytes.
#define Q5K64(m) \
	VMOVDQU (48+32*m)(SI), Y0; \
	VPSHUFB Y13, Y0, Y0; \
	VPSRLW $4, Y0, Y1; \
	VPAND Y15, Y0, Y0; \
	VPAND Y15, Y1, Y1; \
	VPAND Y12, Y7, Y2; \
	VPSLLW $4, Y2, Y2; \
	VPOR Y2, Y0, Y0; \
	VPSRLW $1, Y7, Y7; \
	VPAND Y12, Y7, Y2; \
	VPSLLW $4, Y2, Y2; \
	VPOR Y2, Y1, Y1; \
	VPSRLW $1, Y7, Y7; \
	KLOADY(4+64*m, Y2); \
	KLOADY(36+64*m, Y3); \
	VPMADDUBSW Y2, Y0, Y0; \
	VPMADDUBSW Y3, Y1, Y1; \
	KPAIR(8*m)

// func lanesQ5_K(nb int, w, x *byte, sc *uint64, out *int32)
TEXT ·lanesQ5_K(SB), NOSPLIT, $0-40
	MOVQ nb+0(FP), CX
	MOVQ w+8(FP), SI
	MOVQ x+16(FP), DI
	MOVQ sc+24(FP), R8
	MOVQ out+32(FP), DX
	KSETUP
	BCAST(0x01, X12, Y12)
	TESTQ CX, CX
	JLE   q5kdone

q5kloop:
	VPXOR   Y8, Y8, Y8
	VPXOR   Y9, Y9, Y9
	VMOVDQU 16(SI), Y7
	VPSHUFB Y13, Y7, Y7
	Q5K64(0)
	Q5K64(1)
	Q5K64(2)
	Q5K64(3)
	KSTORE
	KNEXT(176, q5kloop)

q5kdone:
	VZEROUPPER
	RET

// Q6DOT ORs the two high bits (already at 0x30 in Y2) into the low four
// bits in Y0, then leaves in Yout the int16 pair sums of (q-32)*y with the
// activations at qs(DI). Y10 holds 0x20 bytes.
#define Q6DOT(qs, Yout) \
	VPOR Y2, Y0, Y0; \
	KLOADY(qs, Y3); \
	VPMADDUBSW Y3, Y0, Yout; \
	VPMADDUBSW Y3, Y10, Y3; \
	VPSUBW Y3, Yout, Yout

// Q6K128 handles elements 128k..128k+127 of a Q6_K block: ql bytes 64k..
// 64k+63 (Y11, Y12) and qh bytes 128+32k.. (Y7), all in perm16 order.
#define Q6K128(k) \
	VMOVDQU (64*k)(SI), Y11; \
	VPSHUFB Y13, Y11, Y11; \
	VMOVDQU (64*k+32)(SI), Y12; \
	VPSHUFB Y13, Y12, Y12; \
	VMOVDQU (128+32*k)(SI), Y7; \
	VPSHUFB Y13, Y7, Y7; \
	VPAND Y15, Y11, Y0; \
	VPSLLW $4, Y7, Y2; \
	VPAND c30<>(SB), Y2, Y2; \
	Q6DOT(4+128*k, Y14); \
	VPAND Y15, Y12, Y0; \
	VPSLLW $2, Y7, Y2; \
	VPAND c30<>(SB), Y2, Y2; \
	Q6DOT(36+128*k, Y1); \
	VMOVDQA Y14, Y0; \
	KPAIR(16*k); \
	VPSRLW $4, Y11, Y0; \
	VPAND Y15, Y0, Y0; \
	VPAND c30<>(SB), Y7, Y2; \
	Q6DOT(68+128*k, Y14); \
	VPSRLW $4, Y12, Y0; \
	VPAND Y15, Y0, Y0; \
	VPSRLW $2, Y7, Y2; \
	VPAND c30<>(SB), Y2, Y2; \
	Q6DOT(100+128*k, Y1); \
	VMOVDQA Y14, Y0; \
	KPAIR(16*k+8)

// func lanesQ6_K(nb int, w, x *byte, sc *uint64, out *int32)
TEXT ·lanesQ6_K(SB), NOSPLIT, $0-40
	MOVQ nb+0(FP), CX
	MOVQ w+8(FP), SI
	MOVQ x+16(FP), DI
	MOVQ sc+24(FP), R8
	MOVQ out+32(FP), DX
	KSETUP
	BCAST(0x20, X10, Y10)
	TESTQ CX, CX
	JLE   q6kdone

q6kloop:
	VPXOR Y8, Y8, Y8
	VPXOR Y9, Y9, Y9
	Q6K128(0)
	Q6K128(1)
	KSTORE
	KNEXT(210, q6kloop)

q6kdone:
	VZEROUPPER
	RET


// The four-row kernels dot one weight row with four activation rows: each
// weight block is loaded and unpacked once (Y6), dotted with the four rows
// (Y0-Y3), and the float32 part runs for the four rows at once, row r in
// lane r of X7. Lane-wise VMULPS/VADDPS round exactly like VMULSS/VADDSS,
// and each lane repeats the single-row kernel's operations in its order,
// so every result is bit-identical to it. Rows are at DI, R10, R11, R12.

// XSCALES loads the fp16 at off in each row's block into the lanes of X.
#define XSCALES(off, X) \
	MOVWLZX off(DI), AX; \
	VMOVSS (R9)(AX*4), X; \
	MOVWLZX off(R10), AX; \
	VINSERTPS $0x10, (R9)(AX*4), X, X; \
	MOVWLZX off(R11), AX; \
	VINSERTPS $0x20, (R9)(AX*4), X, X; \
	MOVWLZX off(R12), AX; \
	VINSERTPS $0x30, (R9)(AX*4), X, X

// WSCALE loads the weight block's fp16 at off into every lane of X.
#define WSCALE(off, X) \
	MOVWLZX off(SI), AX; \
	VBROADCASTSS (R9)(AX*4), X

// HSUM4 leaves in X0 the sums of the eight int32 of Y0, Y1, Y2, Y3, one per
// lane. Clobbers Y1, Y2.
#define HSUM4 \
	VPHADDD Y1, Y0, Y0; \
	VPHADDD Y3, Y2, Y2; \
	VPHADDD Y2, Y0, Y0; \
	VEXTRACTI128 $1, Y0, X1; \
	VPADDD X1, X0, X0

// RDOT sums Y6 (unsigned codes) times the 32 int8 at qs(R) into Y as
// eight int32; RDOTOFF does it for the codes minus the offset in Y13.
#define RDOT(qs, R, Y) \
	VPMADDUBSW qs(R), Y6, Y; \
	VPMADDWD Y14, Y, Y

#define RDOTOFF(qs, R, Y) \
	VPMADDUBSW qs(R), Y6, Y; \
	VPMADDUBSW qs(R), Y13, Y4; \
	VPSUBW Y4, Y, Y; \
	VPMADDWD Y14, Y, Y

#define RDOT4(qs) \
	RDOT(qs, DI, Y0); \
	RDOT(qs, R10, Y1); \
	RDOT(qs, R11, Y2); \
	RDOT(qs, R12, Y3)

#define RDOTOFF4(qs) \
	RDOTOFF(qs, DI, Y0); \
	RDOTOFF(qs, R10, Y1); \
	RDOTOFF(qs, R11, Y2); \
	RDOTOFF(qs, R12, Y3)

// X4NEXT advances to the next blocks and loops back to label l.
#define X4NEXT(wsize, xsize, l) \
	ADDQ $wsize, SI; \
	ADDQ $xsize, DI; \
	ADDQ $xsize, R10; \
	ADDQ $xsize, R11; \
	ADDQ $xsize, R12; \
	DECQ CX; \
	JNZ  l

// Q8ROW sums the 32 int8 weights in Y5, Y6 (as int16) times the 32 int8 at
// 2(R) into Y as eight int32. Clobbers Y8, Y9.
#define Q8ROW(R, Y) \
	VPMOVSXBW 2(R), Y8; \
	VPMOVSXBW 18(R), Y9; \
	VPMADDWD Y8, Y5, Y; \
	VPMADDWD Y9, Y6, Y8; \
	VPADDD Y8, Y, Y

// func dotQ8_0x4(nb int, w *byte, xs *[4]*byte, tab *[65536]float32, out *[4]float32)
TEXT ·dotQ8_0x4(SB), NOSPLIT, $0-40
	MOVQ nb+0(FP), CX
	MOVQ w+8(FP), SI
	MOVQ xs+16(FP), AX
	MOVQ 0(AX), DI
	MOVQ 8(AX), R10
	MOVQ 16(AX), R11
	MOVQ 24(AX), R12
	MOVQ tab+24(FP), R9
	VXORPS X7, X7, X7
	TESTQ  CX, CX
	JLE    q8x4done

q8x4loop:
	VPMOVSXBW 2(SI), Y5
	VPMOVSXBW 18(SI), Y6
	Q8ROW(DI, Y0)
	Q8ROW(R10, Y1)
	Q8ROW(R11, Y2)
	Q8ROW(R12, Y3)
	HSUM4
	// sumf += float32(s) * (d_w * d_x)
	VCVTDQ2PS X0, X0
	WSCALE(0, X2)
	XSCALES(0, X3)
	VMULPS X3, X2, X2
	VMULPS X2, X0, X0
	VADDPS X0, X7, X7
	X4NEXT(34, 34, q8x4loop)

q8x4done:
	MOVQ    out+32(FP), AX
	VMOVUPS X7, (AX)
	VZEROUPPER
	RET

// FMUL3X4 is FMUL3 for four rows.
#define FMUL3X4 \
	VCVTDQ2PS X0, X0; \
	WSCALE(0, X2); \
	XSCALES(0, X3); \
	VMULPS X2, X0, X0; \
	VMULPS X3, X0, X0; \
	VADDPS X0, X7, X7

// FMULX4 is FMUL for four rows.
#define FMULX4 \
	VCVTDQ2PS X0, X0; \
	WSCALE(0, X2); \
	XSCALES(0, X3); \
	VMULPS X3, X2, X2; \
	VMULPS X0, X2, X2; \
	VADDPS X2, X7, X7

// FMULMINX4 is FMULMIN for four rows.
#define FMULMINX4 \
	VCVTDQ2PS X0, X0; \
	WSCALE(0, X2); \
	XSCALES(0, X3); \
	VMULPS X3, X2, X2; \
	VMULPS X0, X2, X2; \
	WSCALE(2, X3); \
	XSCALES(2, X4); \
	VMULPS X4, X3, X3; \
	VADDPS X3, X2, X2; \
	VADDPS X2, X7, X7

// func dotQ4_0x4(nb int, w *byte, xs *[4]*byte, tab *[65536]float32, out *[4]float32)
TEXT ·dotQ4_0x4(SB), NOSPLIT, $0-40
	MOVQ nb+0(FP), CX
	MOVQ w+8(FP), SI
	MOVQ xs+16(FP), AX
	MOVQ 0(AX), DI
	MOVQ 8(AX), R10
	MOVQ 16(AX), R11
	MOVQ 24(AX), R12
	MOVQ tab+24(FP), R9
	CONSTS(8)
	TESTQ CX, CX
	JLE   q40x4done

q40x4loop:
	Q4(2)
	VMOVDQA Y0, Y6
	RDOTOFF4(2)
	HSUM4
	FMUL3X4
	X4NEXT(18, 34, q40x4loop)

q40x4done:
	MOVQ    out+32(FP), AX
	VMOVUPS X7, (AX)
	VZEROUPPER
	RET

// func dotQ4_1x4(nb int, w *byte, xs *[4]*byte, tab *[65536]float32, out *[4]float32)
TEXT ·dotQ4_1x4(SB), NOSPLIT, $0-40
	MOVQ nb+0(FP), CX
	MOVQ w+8(FP), SI
	MOVQ xs+16(FP), AX
	MOVQ 0(AX), DI
	MOVQ 8(AX), R10
	MOVQ 16(AX), R11
	MOVQ 24(AX), R12
	MOVQ tab+24(FP), R9
	CONSTS(0)
	TESTQ CX, CX
	JLE   q41x4done

q41x4loop:
	Q4(4)
	VMOVDQA Y0, Y6
	RDOT4(4)
	HSUM4
	FMULMINX4
	X4NEXT(20, 36, q41x4loop)

q41x4done:
	MOVQ    out+32(FP), AX
	VMOVUPS X7, (AX)
	VZEROUPPER
	RET

// func dotQ5_0x4(nb int, w *byte, xs *[4]*byte, tab *[65536]float32, out *[4]float32)
TEXT ·dotQ5_0x4(SB), NOSPLIT, $0-40
	MOVQ nb+0(FP), CX
	MOVQ w+8(FP), SI
	MOVQ xs+16(FP), AX
	MOVQ 0(AX), DI
	MOVQ 8(AX), R10
	MOVQ 16(AX), R11
	MOVQ 24(AX), R12
	MOVQ tab+24(FP), R9
	CONSTS(16)
	TESTQ CX, CX
	JLE   q50x4done

q50x4loop:
	Q4(6)
	Q5(2)
	VMOVDQA Y0, Y6
	RDOTOFF4(2)
	HSUM4
	FMULX4
	X4NEXT(22, 34, q50x4loop)

q50x4done:
	MOVQ    out+32(FP), AX
	VMOVUPS X7, (AX)
	VZEROUPPER
	RET

// func dotQ5_1x4(nb int, w *byte, xs *[4]*byte, tab *[65536]float32, out *[4]float32)
TEXT ·dotQ5_1x4(SB), NOSPLIT, $0-40
	MOVQ nb+0(FP), CX
	MOVQ w+8(FP), SI
	MOVQ xs+16(FP), AX
	MOVQ 0(AX), DI
	MOVQ 8(AX), R10
	MOVQ 16(AX), R11
	MOVQ 24(AX), R12
	MOVQ tab+24(FP), R9
	CONSTS(0)
	TESTQ CX, CX
	JLE   q51x4done

q51x4loop:
	Q4(8)
	Q5(4)
	VMOVDQA Y0, Y6
	RDOT4(4)
	HSUM4
	FMULMINX4
	X4NEXT(24, 36, q51x4loop)

q51x4done:
	MOVQ    out+32(FP), AX
	VMOVUPS X7, (AX)
	VZEROUPPER
	RET

// The four-row k-quant kernels return the lane sums of lanesQ4_K/lanesQ6_K
// for four activation rows (at DI, R10, R11, R12): per super-block, eight
// int32 per row, row after row. Each 64-element step unpacks the weight
// codes once (Y0 A, Y1 B) and adds every row's scaled lane sums into its
// accumulators; the sums are exact, so they equal the single-row kernel's.
// sc holds per step a whole 32-byte VPMADDWD operand: the int16 scale pair
// of lanes 0-3 four times, then that of lanes 4-7 four times. Register use:
// Y13 perm16, Y2-Y4 scratch, Y5 0x20 bytes (Q6_K), row accumulators
// Y6/Y7, Y8/Y9, Y10/Y11, Y12/Y14.

DATA c0f<>+0(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA c0f<>+8(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA c0f<>+16(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA c0f<>+24(SB)/8, $0x0f0f0f0f0f0f0f0f
GLOBL c0f<>(SB), RODATA|NOPTR, $32

// KLOADR loads 32 int8 activations at qs(R) in perm16 order into Y.
#define KLOADR(qs, R, Y) \
	VMOVDQU qs(R), Y; \
	VPSHUFB Y13, Y, Y

// KACC adds the scaled lane sums of the int16 pair sums in Y3 (A) and Y4
// (B), scales at soff(R8), into the accumulators L and H.
#define KACC(soff, L, H) \
	VPUNPCKLWD Y4, Y3, Y2; \
	VPUNPCKHWD Y4, Y3, Y3; \
	VPMADDWD soff(R8), Y2, Y2; \
	VPMADDWD soff(R8), Y3, Y3; \
	VPADDD Y2, L, L; \
	VPADDD Y3, H, H

// K4ROW does one row of a Q4_K step: activations A at qa(R), B at qb(R).
#define K4ROW(qa, qb, soff, R, L, H) \
	KLOADR(qa, R, Y2); \
	VPMADDUBSW Y2, Y0, Y3; \
	KLOADR(qb, R, Y2); \
	VPMADDUBSW Y2, Y1, Y4; \
	KACC(soff, L, H)

// K6ROW does one row of a Q6_K step, with the code offset 32.
#define K6ROW(qa, qb, soff, R, L, H) \
	KLOADR(qa, R, Y2); \
	VPMADDUBSW Y2, Y0, Y3; \
	VPMADDUBSW Y2, Y5, Y2; \
	VPSUBW Y2, Y3, Y3; \
	KLOADR(qb, R, Y2); \
	VPMADDUBSW Y2, Y1, Y4; \
	VPMADDUBSW Y2, Y5, Y2; \
	VPSUBW Y2, Y4, Y4; \
	KACC(soff, L, H)

#define KROWS4(ROW, qa, qb, soff) \
	ROW(qa, qb, soff, DI, Y6, Y7); \
	ROW(qa, qb, soff, R10, Y8, Y9); \
	ROW(qa, qb, soff, R11, Y10, Y11); \
	ROW(qa, qb, soff, R12, Y12, Y14)

#define KZERO4 \
	VPXOR Y6, Y6, Y6; \
	VPXOR Y7, Y7, Y7; \
	VPXOR Y8, Y8, Y8; \
	VPXOR Y9, Y9, Y9; \
	VPXOR Y10, Y10, Y10; \
	VPXOR Y11, Y11, Y11; \
	VPXOR Y12, Y12, Y12; \
	VPXOR Y14, Y14, Y14

// KSTORER is KSTORE for the accumulators L, H at off(DX).
#define KSTORER(L, H, off) \
	VPERM2I128 $0x20, H, L, Y0; \
	VPERM2I128 $0x31, H, L, Y1; \
	VPADDD Y1, Y0, Y0; \
	VMOVDQU Y0, off(DX)

#define KSTORE4 \
	KSTORER(Y6, Y7, 0); \
	KSTORER(Y8, Y9, 32); \
	KSTORER(Y10, Y11, 64); \
	KSTORER(Y12, Y14, 96)

#define KNEXT4(wsize, l) \
	ADDQ $wsize, SI; \
	ADDQ $292, DI; \
	ADDQ $292, R10; \
	ADDQ $292, R11; \
	ADDQ $292, R12; \
	ADDQ $128, R8; \
	ADDQ $128, DX; \
	DECQ CX; \
	JNZ  l

// Q4KX4 handles elements 64m..64m+63 of a Q4_K block for the four rows.
#define Q4KX4(m) \
	VMOVDQU (16+32*m)(SI), Y0; \
	VPSHUFB Y13, Y0, Y0; \
	VPSRLW $4, Y0, Y1; \
	VPAND c0f<>(SB), Y0, Y0; \
	VPAND c0f<>(SB), Y1, Y1; \
	KROWS4(K4ROW, 4+64*m, 36+64*m, 32*m)

// func lanesQ4_Kx4(nb int, w *byte, xs *[4]*byte, sc *uint32, out *int32)
TEXT ·lanesQ4_Kx4(SB), NOSPLIT, $0-40
	MOVQ nb+0(FP), CX
	MOVQ w+8(FP), SI
	MOVQ xs+16(FP), AX
	MOVQ 0(AX), DI
	MOVQ 8(AX), R10
	MOVQ 16(AX), R11
	MOVQ 24(AX), R12
	MOVQ sc+24(FP), R8
	MOVQ out+32(FP), DX
	VMOVDQU perm16<>(SB), Y13
	TESTQ CX, CX
	JLE   q4kx4done

q4kx4loop:
	KZERO4
	Q4KX4(0)
	Q4KX4(1)
	Q4KX4(2)
	Q4KX4(3)
	KSTORE4
	KNEXT4(144, q4kx4loop)

q4kx4done:
	VZEROUPPER
	RET

// Q6KX4 handles elements 128k..128k+127 of a Q6_K block for the four rows,
// as Q6K128: codes from ql bytes 64k.. and qh bytes 128+32k.. (Y4).
#define Q6KX4(k) \
	KLOADR(128+32*k, SI, Y4); \
	KLOADR(64*k, SI, Y0); \
	VPAND c0f<>(SB), Y0, Y0; \
	VPSLLW $4, Y4, Y2; \
	VPAND c30<>(SB), Y2, Y2; \
	VPOR Y2, Y0, Y0; \
	KLOADR(64*k+32, SI, Y1); \
	VPAND c0f<>(SB), Y1, Y1; \
	VPSLLW $2, Y4, Y2; \
	VPAND c30<>(SB), Y2, Y2; \
	VPOR Y2, Y1, Y1; \
	KROWS4(K6ROW, 4+128*k, 36+128*k, 64*k); \
	KLOADR(128+32*k, SI, Y4); \
	KLOADR(64*k, SI, Y0); \
	VPSRLW $4, Y0, Y0; \
	VPAND c0f<>(SB), Y0, Y0; \
	VPAND c30<>(SB), Y4, Y2; \
	VPOR Y2, Y0, Y0; \
	KLOADR(64*k+32, SI, Y1); \
	VPSRLW $4, Y1, Y1; \
	VPAND c0f<>(SB), Y1, Y1; \
	VPSRLW $2, Y4, Y2; \
	VPAND c30<>(SB), Y2, Y2; \
	VPOR Y2, Y1, Y1; \
	KROWS4(K6ROW, 68+128*k, 100+128*k, 64*k+32)

// func lanesQ6_Kx4(nb int, w *byte, xs *[4]*byte, sc *uint32, out *int32)
TEXT ·lanesQ6_Kx4(SB), NOSPLIT, $0-40
	MOVQ nb+0(FP), CX
	MOVQ w+8(FP), SI
	MOVQ xs+16(FP), AX
	MOVQ 0(AX), DI
	MOVQ 8(AX), R10
	MOVQ 16(AX), R11
	MOVQ 24(AX), R12
	MOVQ sc+24(FP), R8
	MOVQ out+32(FP), DX
	VMOVDQU perm16<>(SB), Y13
	BCAST(0x20, X5, Y5)
	TESTQ CX, CX
	JLE   q6kx4done

q6kx4loop:
	KZERO4
	Q6KX4(0)
	Q6KX4(1)
	KSTORE4
	KNEXT4(210, q6kx4loop)

q6kx4done:
	VZEROUPPER
	RET

// MXFP4 follows ggml's x86 AVX2 ggml_vec_dot_mxfp4_q8_0 instead of the Go
// code: blocks go in pairs, each block's eight int32 lane sums are converted
// to float32 and fused-multiply-added (one rounding) into one of two
// accumulators, even blocks into the first; the two are then added and
// summed horizontally as its hsum_float_8; an odd last block adds its exact
// integer sum with a scalar FMA. Its integer products use VPSIGNB as ggml's
// mul_add_epi8 does, so an activation of -128 against a negative weight
// wraps exactly as there (ggml's Q8_0 quantizer never writes -128).
// Register use: X14 the 16 kvalues, Y15 0x0f bytes, Y13 int16 ones,
// R9 the fp16 table, R8 the e8m0 table.

// mxfp4Vals is kvaluesMXFP4, the VPSHUFB table from code to int8 value.
DATA mxfp4Vals<>+0(SB)/8, $0x0c08060403020100
DATA mxfp4Vals<>+8(SB)/8, $0xf4f8fafcfdfeff00
GLOBL mxfp4Vals<>(SB), RODATA|NOPTR, $16

#define MXCONSTS \
	BCAST(0x0f, X15, Y15); \
	MOVL $0x00010001, AX; \
	VMOVD AX, X13; \
	VPBROADCASTD X13, Y13; \
	VMOVDQU mxfp4Vals<>(SB), X14

// MXW loads the 32 int8 weight values of the block at off(SI) into Y (X its
// low half): low-nibble codes, then high-nibble codes. Clobbers XT.
#define MXW(off, Y, X, XT) \
	VMOVDQU (off+1)(SI), X; \
	VPSRLW $4, X, XT; \
	VPAND X15, X, X; \
	VPAND X15, XT, XT; \
	VPSHUFB X, X14, X; \
	VPSHUFB XT, X14, XT; \
	VINSERTI128 $1, XT, Y, Y

// MXSCALE sets X to fp16(d) of the activation block at xoff(R) times the
// e8m0 half of the weight block's exponent at woff(SI).
#define MXSCALE(woff, xoff, R, X) \
	MOVWLZX xoff(R), AX; \
	VMOVSS (R9)(AX*4), X; \
	MOVBLZX woff(SI), AX; \
	VMULSS (R8)(AX*4), X, X

// MXLANES sets Y to the eight lane sums, as float32, of the weight values
// in YW (their absolute values in YA) times the 32 int8 at off(R), and adds
// them times the block's scale into ACC. Clobbers Y3, X3.
#define MXLANES(woff, xoff, R, YW, YA, Y, ACC) \
	VMOVDQU (xoff+2)(R), Y; \
	VPSIGNB YW, Y, Y; \
	VPMADDUBSW Y, YA, Y; \
	VPMADDWD Y13, Y, Y; \
	VCVTDQ2PS Y, Y; \
	MXSCALE(woff, xoff, R, X3); \
	VBROADCASTSS X3, Y3; \
	VFMADD231PS Y3, Y, ACC

// MXHSUM adds accumulators B into A and leaves the horizontal sum of A in
// X0 (XA is A's low half). Clobbers X1.
#define MXHSUM(A, XA, B) \
	VADDPS B, A, A; \
	VEXTRACTF128 $1, A, X0; \
	VADDPS XA, X0, X0; \
	VMOVHLPS X0, X0, X1; \
	VADDPS X1, X0, X0; \
	VMOVSHDUP X0, X1; \
	VADDSS X1, X0, X0

// MXTAILW loads the block at SI's 32 weight values as int16 into Y2, Y3.
#define MXTAILW \
	MXW(0, Y1, X1, X2); \
	VPMOVSXBW X1, Y2; \
	VEXTRACTI128 $1, Y1, X1; \
	VPMOVSXBW X1, Y3

// MXTAIL adds to X0 with one FMA the scale times the exact integer dot of
// the weights in Y2, Y3 with the activation block at R. Clobbers Y4, Y5.
#define MXTAIL(R) \
	VPMOVSXBW 2(R), Y4; \
	VPMOVSXBW 18(R), Y5; \
	VPMADDWD Y4, Y2, Y4; \
	VPMADDWD Y5, Y3, Y5; \
	VPADDD Y5, Y4, Y4; \
	VEXTRACTI128 $1, Y4, X5; \
	VPADDD X5, X4, X4; \
	VPSHUFD $0x4e, X4, X5; \
	VPADDD X5, X4, X4; \
	VPSHUFD $0xb1, X4, X5; \
	VPADDD X5, X4, X4; \
	VCVTDQ2PS X4, X4; \
	MXSCALE(0, 0, R, X5); \
	VFMADD231SS X5, X4, X0

// func dotMXFP4Asm(nb int, w, x *byte, tab *[65536]float32, e8 *[256]float32) float32
TEXT ·dotMXFP4Asm(SB), NOSPLIT, $0-44
	MOVQ nb+0(FP), CX
	MOVQ w+8(FP), SI
	MOVQ x+16(FP), DI
	MOVQ tab+24(FP), R9
	MOVQ e8+32(FP), R8
	MXCONSTS
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	MOVQ   CX, DX
	SHRQ   $1, DX
	JZ     mxsum

mxloop:
	MXW(0, Y0, X0, X1)
	VPSIGNB Y0, Y0, Y1
	MXLANES(0, 0, DI, Y0, Y1, Y2, Y6)
	MXW(17, Y0, X0, X1)
	VPSIGNB Y0, Y0, Y1
	MXLANES(17, 34, DI, Y0, Y1, Y2, Y7)
	ADDQ $34, SI
	ADDQ $68, DI
	DECQ DX
	JNZ  mxloop

mxsum:
	MXHSUM(Y6, X6, Y7)
	TESTQ $1, CX
	JZ    mxdone
	MXTAILW
	MXTAIL(DI)

mxdone:
	VMOVSS X0, ret+40(FP)
	VZEROUPPER
	RET

// MXROWS4 does one weight block (at woff(SI)) for the four rows, adding
// into the accumulators A0..A3.
#define MXROWS4(woff, xoff, A0, A1, A2, A3) \
	MXW(woff, Y0, X0, X1); \
	VPSIGNB Y0, Y0, Y1; \
	MXLANES(woff, xoff, DI, Y0, Y1, Y2, A0); \
	MXLANES(woff, xoff, R10, Y0, Y1, Y2, A1); \
	MXLANES(woff, xoff, R11, Y0, Y1, Y2, A2); \
	MXLANES(woff, xoff, R12, Y0, Y1, Y2, A3)

// func dotMXFP4x4(nb int, w *byte, xs *[4]*byte, tab *[65536]float32, e8 *[256]float32, out *[4]float32)
TEXT ·dotMXFP4x4(SB), NOSPLIT, $0-48
	MOVQ nb+0(FP), CX
	MOVQ w+8(FP), SI
	MOVQ xs+16(FP), AX
	MOVQ 0(AX), DI
	MOVQ 8(AX), R10
	MOVQ 16(AX), R11
	MOVQ 24(AX), R12
	MOVQ tab+24(FP), R9
	MOVQ e8+32(FP), R8
	MXCONSTS
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11
	MOVQ   CX, DX
	SHRQ   $1, DX
	JZ     mx4sum

mx4loop:
	MXROWS4(0, 0, Y4, Y6, Y8, Y10)
	MXROWS4(17, 34, Y5, Y7, Y9, Y11)
	ADDQ $34, SI
	ADDQ $68, DI
	ADDQ $68, R10
	ADDQ $68, R11
	ADDQ $68, R12
	DECQ DX
	JNZ  mx4loop

mx4sum:
	MOVQ   out+40(FP), BX
	MXHSUM(Y4, X4, Y5)
	VMOVSS X0, 0(BX)
	MXHSUM(Y6, X6, Y7)
	VMOVSS X0, 4(BX)
	MXHSUM(Y8, X8, Y9)
	VMOVSS X0, 8(BX)
	MXHSUM(Y10, X10, Y11)
	VMOVSS X0, 12(BX)
	TESTQ  $1, CX
	JZ     mx4done
	MXTAILW
	VMOVSS 0(BX), X0
	MXTAIL(DI)
	VMOVSS X0, 0(BX)
	VMOVSS 4(BX), X0
	MXTAIL(R10)
	VMOVSS X0, 4(BX)
	VMOVSS 8(BX), X0
	MXTAIL(R11)
	VMOVSS X0, 8(BX)
	VMOVSS 12(BX), X0
	MXTAIL(R12)
	VMOVSS X0, 12(BX)

mx4done:
	VZEROUPPER
	RET

// The MXFP4 tile kernel runs eight rows. Sixteen accumulators (two per row,
// as in dotMXFP4Asm) do not fit in the registers, so it runs the blocks of
// one parity only: np blocks two apart from w (the first or second block of
// each pair, as xoff is 0 or 34), each into its row's one accumulator, and
// stores the eight accumulators to acc. Both calls together do each row's
// operations of dotMXFP4Asm's loop in its order; the caller adds the two
// accumulators and does the horizontal sum and an odd last block. The rows'
// activation scales come decoded from the tile (eight float32 per block);
// each row's scale is its d times the weight's e8m0 half, one rounding, as
// MXSCALE. Register use as dotMXFP4Asm, with Y4-Y11 the accumulators, Y12
// the broadcast e8m0 half and R14 the e8m0 table.

// MXTROW adds row R's lane sums for the block times its scale (the tile's
// float32 at k(R13) times Y12) into ACC.
#define MXTROW(R, k, ACC) \
	VMOVDQU 2(R), Y2; \
	VPSIGNB Y0, Y2, Y2; \
	VPMADDUBSW Y2, Y1, Y2; \
	VPMADDWD Y13, Y2, Y2; \
	VCVTDQ2PS Y2, Y2; \
	VBROADCASTSS k(R13), Y3; \
	VMULPS Y12, Y3, Y3; \
	VFMADD231PS Y3, Y2, ACC

// func tile8MXFP4(np int, w *byte, xs *[8]*byte, xoff int, sc *float32, e8 *[256]float32, acc *[8][8]float32)
TEXT ·tile8MXFP4(SB), NOSPLIT, $0-56
	MXCONSTS
	MOVQ xs+16(FP), AX
	MOVQ xoff+24(FP), CX
	MOVQ 0(AX), DI
	MOVQ 8(AX), BX
	MOVQ 16(AX), DX
	MOVQ 24(AX), R8
	MOVQ 32(AX), R9
	MOVQ 40(AX), R10
	MOVQ 48(AX), R11
	MOVQ 56(AX), R12
	ADDQ CX, DI
	ADDQ CX, BX
	ADDQ CX, DX
	ADDQ CX, R8
	ADDQ CX, R9
	ADDQ CX, R10
	ADDQ CX, R11
	ADDQ CX, R12
	MOVQ np+0(FP), CX
	MOVQ w+8(FP), SI
	MOVQ sc+32(FP), R13
	MOVQ e8+40(FP), R14
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11
	TESTQ  CX, CX
	JLE    mxt8store

mxt8loop:
	MXW(0, Y0, X0, X1)
	VPSIGNB      Y0, Y0, Y1
	MOVBLZX      (SI), AX
	VBROADCASTSS (R14)(AX*4), Y12
	MXTROW(DI, 0, Y4)
	MXTROW(BX, 4, Y5)
	MXTROW(DX, 8, Y6)
	MXTROW(R8, 12, Y7)
	MXTROW(R9, 16, Y8)
	MXTROW(R10, 20, Y9)
	MXTROW(R11, 24, Y10)
	MXTROW(R12, 28, Y11)
	ADDQ $34, SI
	ADDQ $68, DI
	ADDQ $68, BX
	ADDQ $68, DX
	ADDQ $68, R8
	ADDQ $68, R9
	ADDQ $68, R10
	ADDQ $68, R11
	ADDQ $68, R12
	ADDQ $64, R13
	DECQ CX
	JNZ  mxt8loop

mxt8store:
	MOVQ    acc+48(FP), AX
	VMOVUPS Y4, 0(AX)
	VMOVUPS Y5, 32(AX)
	VMOVUPS Y6, 64(AX)
	VMOVUPS Y7, 96(AX)
	VMOVUPS Y8, 128(AX)
	VMOVUPS Y9, 160(AX)
	VMOVUPS Y10, 192(AX)
	VMOVUPS Y11, 224(AX)
	VZEROUPPER
	RET

// func fmaSS(a, b, c float32) float32 is a*b+c with one rounding, as the
// single-row kernel's VFMADD231SS for an odd last block.
TEXT ·fmaSS(SB), NOSPLIT, $0-20
	VMOVSS      a+0(FP), X0
	VMOVSS      b+4(FP), X1
	VMOVSS      c+8(FP), X2
	VFMADD231SS X1, X0, X2
	VMOVSS      X2, ret+16(FP)
	RET
// The tile kernels are the four-row kernels for a Tile: the rows' block
// scales come decoded from its table at R13 (per block 64 bytes: eight
// rows' d, then their s or m as float32 from f16Table, or their code offset
// times the block's activation sum as int32; a four-row kernel reads rows
// 0-3 or, from R13+16, rows 4-7), vector loads where the four-row kernels
// look up eight fp16 values. The operations and their order are those of
// the four-row kernels.

#define TNEXT(wsize, xsize, l) \
	ADDQ $64, R13; \
	X4NEXT(wsize, xsize, l)

// The 4- and 5-bit tile kernels add up the rows' int16 pair sums before
// widening them (HSUMW4): one VPMADDWD for four rows instead of four. No
// int16 sum can wrap: codes are unsigned and below 32, so a pair is at most
// 2*31*128 = 7936 in magnitude, and four pairs at most 31744.

#define RDOTW4(qs) \
	VPMADDUBSW qs(DI), Y6, Y0; \
	VPMADDUBSW qs(R10), Y6, Y1; \
	VPMADDUBSW qs(R11), Y6, Y2; \
	VPMADDUBSW qs(R12), Y6, Y3

// HSUMW4 leaves in X0 the sums of the sixteen int16 of Y0, Y1, Y2, Y3, one
// per lane, as int32. Clobbers Y1, Y2.
#define HSUMW4 \
	VPHADDW Y1, Y0, Y0; \
	VPHADDW Y3, Y2, Y2; \
	VPHADDW Y2, Y0, Y0; \
	VPMADDWD Y14, Y0, Y0; \
	VEXTRACTI128 $1, Y0, X1; \
	VPADDD X1, X0, X0

// func tileQ8_0(nb int, w *byte, xs *[4]*byte, tab *[65536]float32, sc *float32, out *[4]float32)
TEXT ·tileQ8_0(SB), NOSPLIT, $0-48
	MOVQ nb+0(FP), CX
	MOVQ w+8(FP), SI
	MOVQ xs+16(FP), AX
	MOVQ 0(AX), DI
	MOVQ 8(AX), R10
	MOVQ 16(AX), R11
	MOVQ 24(AX), R12
	MOVQ tab+24(FP), R9
	MOVQ sc+32(FP), R13
	VXORPS X7, X7, X7
	TESTQ  CX, CX
	JLE    tq8done

tq8loop:
	VPMOVSXBW 2(SI), Y5
	VPMOVSXBW 18(SI), Y6
	Q8ROW(DI, Y0)
	Q8ROW(R10, Y1)
	Q8ROW(R11, Y2)
	Q8ROW(R12, Y3)
	HSUM4
	VCVTDQ2PS X0, X0
	WSCALE(0, X2)
	VMULPS (R13), X2, X2
	VMULPS X2, X0, X0
	VADDPS X0, X7, X7
	TNEXT(34, 34, tq8loop)

tq8done:
	MOVQ    out+40(FP), AX
	VMOVUPS X7, (AX)
	VZEROUPPER
	RET

// Q4_0 and Q5_0 tiles dot the unsigned codes and subtract the code offset
// times each row's block sum, which the tile holds (an exact int32 identity:
// sum (q-o)*y = sum q*y - o*sum y).

// func tileQ4_0(nb int, w *byte, xs *[4]*byte, tab *[65536]float32, sc *float32, out *[4]float32)
TEXT ·tileQ4_0(SB), NOSPLIT, $0-48
	MOVQ nb+0(FP), CX
	MOVQ w+8(FP), SI
	MOVQ xs+16(FP), AX
	MOVQ 0(AX), DI
	MOVQ 8(AX), R10
	MOVQ 16(AX), R11
	MOVQ 24(AX), R12
	MOVQ tab+24(FP), R9
	MOVQ sc+32(FP), R13
	CONSTS(0)
	TESTQ CX, CX
	JLE   tq40done

tq40loop:
	Q4(2)
	VMOVDQA Y0, Y6
	RDOTW4(2)
	HSUMW4
	VPSUBD 32(R13), X0, X0
	// FMUL3X4
	VCVTDQ2PS X0, X0
	WSCALE(0, X2)
	VMULPS X2, X0, X0
	VMULPS (R13), X0, X0
	VADDPS X0, X7, X7
	TNEXT(18, 34, tq40loop)

tq40done:
	MOVQ    out+40(FP), AX
	VMOVUPS X7, (AX)
	VZEROUPPER
	RET

// FMULMINT is FMULMINX4 with the tile's scales.
#define FMULMINT \
	VCVTDQ2PS X0, X0; \
	WSCALE(0, X2); \
	VMULPS (R13), X2, X2; \
	VMULPS X0, X2, X2; \
	WSCALE(2, X3); \
	VMULPS 32(R13), X3, X3; \
	VADDPS X3, X2, X2; \
	VADDPS X2, X7, X7

// func tileQ4_1(nb int, w *byte, xs *[4]*byte, tab *[65536]float32, sc *float32, out *[4]float32)
TEXT ·tileQ4_1(SB), NOSPLIT, $0-48
	MOVQ nb+0(FP), CX
	MOVQ w+8(FP), SI
	MOVQ xs+16(FP), AX
	MOVQ 0(AX), DI
	MOVQ 8(AX), R10
	MOVQ 16(AX), R11
	MOVQ 24(AX), R12
	MOVQ tab+24(FP), R9
	MOVQ sc+32(FP), R13
	CONSTS(0)
	TESTQ CX, CX
	JLE   tq41done

tq41loop:
	Q4(4)
	VMOVDQA Y0, Y6
	RDOTW4(4)
	HSUMW4
	FMULMINT
	TNEXT(20, 36, tq41loop)

tq41done:
	MOVQ    out+40(FP), AX
	VMOVUPS X7, (AX)
	VZEROUPPER
	RET

// func tileQ5_0(nb int, w *byte, xs *[4]*byte, tab *[65536]float32, sc *float32, out *[4]float32)
TEXT ·tileQ5_0(SB), NOSPLIT, $0-48
	MOVQ nb+0(FP), CX
	MOVQ w+8(FP), SI
	MOVQ xs+16(FP), AX
	MOVQ 0(AX), DI
	MOVQ 8(AX), R10
	MOVQ 16(AX), R11
	MOVQ 24(AX), R12
	MOVQ tab+24(FP), R9
	MOVQ sc+32(FP), R13
	CONSTS(0)
	TESTQ CX, CX
	JLE   tq50done

tq50loop:
	Q4(6)
	Q5(2)
	VMOVDQA Y0, Y6
	RDOTW4(2)
	HSUMW4
	VPSUBD 32(R13), X0, X0
	// FMULX4
	VCVTDQ2PS X0, X0
	WSCALE(0, X2)
	VMULPS (R13), X2, X2
	VMULPS X0, X2, X2
	VADDPS X2, X7, X7
	TNEXT(22, 34, tq50loop)

tq50done:
	MOVQ    out+40(FP), AX
	VMOVUPS X7, (AX)
	VZEROUPPER
	RET

// func tileQ5_1(nb int, w *byte, xs *[4]*byte, tab *[65536]float32, sc *float32, out *[4]float32)
TEXT ·tileQ5_1(SB), NOSPLIT, $0-48
	MOVQ nb+0(FP), CX
	MOVQ w+8(FP), SI
	MOVQ xs+16(FP), AX
	MOVQ 0(AX), DI
	MOVQ 8(AX), R10
	MOVQ 16(AX), R11
	MOVQ 24(AX), R12
	MOVQ tab+24(FP), R9
	MOVQ sc+32(FP), R13
	CONSTS(0)
	TESTQ CX, CX
	JLE   tq51done

tq51loop:
	Q4(8)
	Q5(4)
	VMOVDQA Y0, Y6
	RDOTW4(4)
	HSUMW4
	FMULMINT
	TNEXT(24, 36, tq51loop)

tq51done:
	MOVQ    out+40(FP), AX
	VMOVUPS X7, (AX)
	VZEROUPPER
	RET

// func lanesAdd4(d *[4]float32, acc *int32, sums *[32]float32)
// For rows r < 4: sums[8r+l] += d[r] * float32(acc[8r+l]), as kLanes.add
// does lane by lane (product rounded, then the sum).
TEXT ·lanesAdd4(SB), NOSPLIT, $0-24
	MOVQ d+0(FP), AX
	MOVQ acc+8(FP), SI
	MOVQ sums+16(FP), DI
	VBROADCASTSS 0(AX), Y1
	VCVTDQ2PS    0(SI), Y0
	VMULPS       Y0, Y1, Y0
	VADDPS       0(DI), Y0, Y0
	VMOVUPS      Y0, 0(DI)
	VBROADCASTSS 4(AX), Y1
	VCVTDQ2PS    32(SI), Y0
	VMULPS       Y0, Y1, Y0
	VADDPS       32(DI), Y0, Y0
	VMOVUPS      Y0, 32(DI)
	VBROADCASTSS 8(AX), Y1
	VCVTDQ2PS    64(SI), Y0
	VMULPS       Y0, Y1, Y0
	VADDPS       64(DI), Y0, Y0
	VMOVUPS      Y0, 64(DI)
	VBROADCASTSS 12(AX), Y1
	VCVTDQ2PS    96(SI), Y0
	VMULPS       Y0, Y1, Y0
	VADDPS       96(DI), Y0, Y0
	VMOVUPS      Y0, 96(DI)
	VZEROUPPER
	RET

// permPack restores element order after VPACKSSDW/VPACKSSWB of four
// registers (dword k of the packed result holds elements 4j..4j+3).
DATA permPack<>+0(SB)/8, $0x0000000400000000
DATA permPack<>+8(SB)/8, $0x0000000500000001
DATA permPack<>+16(SB)/8, $0x0000000600000002
DATA permPack<>+24(SB)/8, $0x0000000700000003
GLOBL permPack<>(SB), RODATA|NOPTR, $32

// func quantQ8Asm(src *float32, nb int, dst *byte, bs int, amax *float32) bool
//
// quantQ8Act's rounding for nb blocks of 32: amax[i] = max |x|, and the 32
// int8 round-to-even(x * (127/amax)) (0 when amax is 0) at dst + i*bs.
// VCVTPS2DQ rounds to nearest even under Go's MXCSR, as math.RoundToEven
// does for the float32 product. It reports false if any input is NaN or
// infinite or 127/amax overflows (the caller then redoes the row in Go,
// whose conversions define those cases).
TEXT ·quantQ8Asm(SB), NOSPLIT, $0-41
	MOVQ src+0(FP), SI
	MOVQ nb+8(FP), CX
	MOVQ dst+16(FP), DI
	MOVQ bs+24(FP), DX
	MOVQ amax+32(FP), R8
	MOVL $0x7fffffff, AX
	VMOVD AX, X15
	VPBROADCASTD X15, Y15
	MOVL $0x7f800000, AX
	VMOVD AX, X14
	VPBROADCASTD X14, Y14
	MOVL $0x42fe0000, AX // 127.0
	VMOVD AX, X13
	VPBROADCASTD X13, Y13
	VMOVDQU permPack<>(SB), Y12
	VPCMPEQD Y11, Y11, Y11
	VXORPS Y10, Y10, Y10
	TESTQ CX, CX
	JLE   q8adone

q8aloop:
	VANDPS (SI), Y15, Y0
	VANDPS 32(SI), Y15, Y1
	VANDPS 64(SI), Y15, Y2
	VANDPS 96(SI), Y15, Y3
	VCMPPS $0x11, Y14, Y0, Y4
	VANDPS Y4, Y11, Y11
	VCMPPS $0x11, Y14, Y1, Y4
	VANDPS Y4, Y11, Y11
	VCMPPS $0x11, Y14, Y2, Y4
	VANDPS Y4, Y11, Y11
	VCMPPS $0x11, Y14, Y3, Y4
	VANDPS Y4, Y11, Y11
	VMAXPS Y1, Y0, Y0
	VMAXPS Y3, Y2, Y2
	VMAXPS Y2, Y0, Y0
	VPERM2F128 $1, Y0, Y0, Y1
	VMAXPS Y1, Y0, Y0
	VSHUFPS $0x4e, Y0, Y0, Y1
	VMAXPS Y1, Y0, Y0
	VSHUFPS $0xb1, Y0, Y0, Y1
	VMAXPS Y1, Y0, Y0
	VMOVSS X0, (R8)
	// id = 127/amax, or 0 when amax is 0
	VDIVPS Y0, Y13, Y5
	VCMPPS $0x4, Y10, Y0, Y4
	VANDPS Y4, Y5, Y5
	VCMPPS $0x11, Y14, Y5, Y4 // 127/amax overflows for tiny amax
	VANDPS Y4, Y11, Y11
	VMULPS (SI), Y5, Y0
	VMULPS 32(SI), Y5, Y1
	VMULPS 64(SI), Y5, Y2
	VMULPS 96(SI), Y5, Y3
	VCVTPS2DQ Y0, Y0
	VCVTPS2DQ Y1, Y1
	VCVTPS2DQ Y2, Y2
	VCVTPS2DQ Y3, Y3
	VPACKSSDW Y1, Y0, Y0
	VPACKSSDW Y3, Y2, Y2
	VPACKSSWB Y2, Y0, Y0
	VPERMD Y0, Y12, Y0
	VMOVDQU Y0, (DI)
	ADDQ $128, SI
	ADDQ DX, DI
	ADDQ $4, R8
	DECQ CX
	JNZ  q8aloop

q8adone:
	VMOVMSKPS Y11, AX
	CMPL AX, $0xff
	SETEQ ret+40(FP)
	VZEROUPPER
	RET

// The eight-row tile kernels dot one weight block with eight activation
// rows (at DI, BX, DX, R8, R9, R10, R11, R12 plus the block offset AX) and
// do the float32 part for the eight rows at once, row r in lane r of Y13.
// Register use: Y8 codes, Y9 scratch, Y10-Y12 Q5 constants, Y14 int16
// ones, Y15 0x0f bytes. The weight scales are converted by F16C (the same
// values as f16Table).

#define Q4W(qs) \
	VMOVDQU qs(SI), X8; \
	VPSRLW $4, X8, X9; \
	VINSERTI128 $1, X9, Y8, Y8; \
	VPAND Y15, Y8, Y8

#define Q5W(qh) \
	VPBROADCASTD qh(SI), Y9; \
	VPSHUFB Y12, Y9, Y9; \
	VPAND Y11, Y9, Y9; \
	VPCMPEQB Y11, Y9, Y9; \
	VPAND Y10, Y9, Y9; \
	VPOR Y9, Y8, Y8

#define RDOT8(qs) \
	VPMADDUBSW qs(DI)(AX*1), Y8, Y0; \
	VPMADDUBSW qs(BX)(AX*1), Y8, Y1; \
	VPMADDUBSW qs(DX)(AX*1), Y8, Y2; \
	VPMADDUBSW qs(R8)(AX*1), Y8, Y3; \
	VPMADDUBSW qs(R9)(AX*1), Y8, Y4; \
	VPMADDUBSW qs(R10)(AX*1), Y8, Y5; \
	VPMADDUBSW qs(R11)(AX*1), Y8, Y6; \
	VPMADDUBSW qs(R12)(AX*1), Y8, Y7

// HSUMW8 leaves in Y0 the sums of the sixteen int16 of Y0-Y7, one row per
// lane, as int32 (int16 sums of at most eight elements: no wrap, as in
// HSUMW4).
#define HSUMW8 \
	VPHADDW Y1, Y0, Y0; \
	VPHADDW Y3, Y2, Y2; \
	VPHADDW Y5, Y4, Y4; \
	VPHADDW Y7, Y6, Y6; \
	VPHADDW Y2, Y0, Y0; \
	VPHADDW Y6, Y4, Y4; \
	VPMADDWD Y14, Y0, Y0; \
	VPMADDWD Y14, Y4, Y4; \
	VPERM2I128 $0x20, Y4, Y0, Y1; \
	VPERM2I128 $0x31, Y4, Y0, Y2; \
	VPADDD Y2, Y1, Y0

// WHALF broadcasts the weight block's fp16 at off as float32 into Y.
#define WHALF(off, X, Y) \
	VPBROADCASTW off(SI), X; \
	VCVTPH2PS X, Y

#define T8NEXT(wsize, xsize, l) \
	ADDQ $64, R13; \
	ADDQ $wsize, SI; \
	ADDQ $xsize, AX; \
	DECQ CX; \
	JNZ  l

// FMULMIN8 is FMULMINT for eight rows.
#define FMULMIN8 \
	VCVTDQ2PS Y0, Y0; \
	WHALF(0, X1, Y1); \
	VMULPS (R13), Y1, Y1; \
	VMULPS Y0, Y1, Y1; \
	WHALF(2, X2, Y2); \
	VMULPS 32(R13), Y2, Y2; \
	VADDPS Y2, Y1, Y1; \
	VADDPS Y1, Y13, Y13

#define CONSTS8 \
	BCAST(0x0f, X15, Y15); \
	MOVL $0x00010001, AX; \
	VMOVD AX, X14; \
	VPBROADCASTD X14, Y14; \
	VMOVDQU qhShuf<>(SB), Y12; \
	VMOVDQU qhBits<>(SB), Y11; \
	BCAST(0x10, X10, Y10); \
	VXORPS Y13, Y13, Y13

// func tile8Q4_0(nb int, w *byte, xs *[8]*byte, sc *float32, out *[8]float32)
TEXT ·tile8Q4_0(SB), NOSPLIT, $0-40
	CONSTS8
	MOVQ nb+0(FP), CX
	MOVQ w+8(FP), SI
	MOVQ xs+16(FP), AX
	MOVQ 0(AX), DI
	MOVQ 8(AX), BX
	MOVQ 16(AX), DX
	MOVQ 24(AX), R8
	MOVQ 32(AX), R9
	MOVQ 40(AX), R10
	MOVQ 48(AX), R11
	MOVQ 56(AX), R12
	MOVQ sc+24(FP), R13
	XORQ AX, AX
	TESTQ CX, CX
	JLE   t840done

t840loop:
	Q4W(2)
	RDOT8(2)
	HSUMW8
	VPSUBD 32(R13), Y0, Y0
	VCVTDQ2PS Y0, Y0
	WHALF(0, X1, Y1)
	VMULPS Y1, Y0, Y0
	VMULPS (R13), Y0, Y0
	VADDPS Y0, Y13, Y13
	T8NEXT(18, 34, t840loop)

t840done:
	MOVQ    out+32(FP), AX
	VMOVUPS Y13, (AX)
	VZEROUPPER
	RET

// func tile8Q4_1(nb int, w *byte, xs *[8]*byte, sc *float32, out *[8]float32)
TEXT ·tile8Q4_1(SB), NOSPLIT, $0-40
	CONSTS8
	MOVQ nb+0(FP), CX
	MOVQ w+8(FP), SI
	MOVQ xs+16(FP), AX
	MOVQ 0(AX), DI
	MOVQ 8(AX), BX
	MOVQ 16(AX), DX
	MOVQ 24(AX), R8
	MOVQ 32(AX), R9
	MOVQ 40(AX), R10
	MOVQ 48(AX), R11
	MOVQ 56(AX), R12
	MOVQ sc+24(FP), R13
	XORQ AX, AX
	TESTQ CX, CX
	JLE   t841done

t841loop:
	Q4W(4)
	RDOT8(4)
	HSUMW8
	FMULMIN8
	T8NEXT(20, 36, t841loop)

t841done:
	MOVQ    out+32(FP), AX
	VMOVUPS Y13, (AX)
	VZEROUPPER
	RET

// func tile8Q5_0(nb int, w *byte, xs *[8]*byte, sc *float32, out *[8]float32)
TEXT ·tile8Q5_0(SB), NOSPLIT, $0-40
	CONSTS8
	MOVQ nb+0(FP), CX
	MOVQ w+8(FP), SI
	MOVQ xs+16(FP), AX
	MOVQ 0(AX), DI
	MOVQ 8(AX), BX
	MOVQ 16(AX), DX
	MOVQ 24(AX), R8
	MOVQ 32(AX), R9
	MOVQ 40(AX), R10
	MOVQ 48(AX), R11
	MOVQ 56(AX), R12
	MOVQ sc+24(FP), R13
	XORQ AX, AX
	TESTQ CX, CX
	JLE   t850done

t850loop:
	Q4W(6)
	Q5W(2)
	RDOT8(2)
	HSUMW8
	VPSUBD 32(R13), Y0, Y0
	VCVTDQ2PS Y0, Y0
	WHALF(0, X1, Y1)
	VMULPS (R13), Y1, Y1
	VMULPS Y0, Y1, Y1
	VADDPS Y1, Y13, Y13
	T8NEXT(22, 34, t850loop)

t850done:
	MOVQ    out+32(FP), AX
	VMOVUPS Y13, (AX)
	VZEROUPPER
	RET

// func tile8Q5_1(nb int, w *byte, xs *[8]*byte, sc *float32, out *[8]float32)
TEXT ·tile8Q5_1(SB), NOSPLIT, $0-40
	CONSTS8
	MOVQ nb+0(FP), CX
	MOVQ w+8(FP), SI
	MOVQ xs+16(FP), AX
	MOVQ 0(AX), DI
	MOVQ 8(AX), BX
	MOVQ 16(AX), DX
	MOVQ 24(AX), R8
	MOVQ 32(AX), R9
	MOVQ 40(AX), R10
	MOVQ 48(AX), R11
	MOVQ 56(AX), R12
	MOVQ sc+24(FP), R13
	XORQ AX, AX
	TESTQ CX, CX
	JLE   t851done

t851loop:
	Q4W(8)
	Q5W(4)
	RDOT8(4)
	HSUMW8
	FMULMIN8
	T8NEXT(24, 36, t851loop)

t851done:
	MOVQ    out+32(FP), AX
	VMOVUPS Y13, (AX)
	VZEROUPPER
	RET

// func minsK4(nb int, mn *uint64, ps *int32, stride int, out *int32)
// For nb super-blocks: out[4i+r] = sum_j ps_i[8r+j] * mn_i byte j, the
// Q4_K mins term of four rows, in int32 arithmetic that wraps as Go's
// does. ps_i is at ps + i*stride bytes (four rows of eight int32 sums of
// bsums 2j and 2j+1).
TEXT ·minsK4(SB), NOSPLIT, $0-40
	MOVQ nb+0(FP), CX
	MOVQ mn+8(FP), SI
	MOVQ ps+16(FP), DI
	MOVQ stride+24(FP), DX
	MOVQ out+32(FP), BX
	TESTQ CX, CX
	JLE   mkdone

mkloop:
	VPMOVZXBD    (SI), Y4
	VPMULLD      (DI), Y4, Y0
	VPMULLD      32(DI), Y4, Y1
	VPMULLD      64(DI), Y4, Y2
	VPMULLD      96(DI), Y4, Y3
	HSUM4
	VMOVDQU      X0, (BX)
	ADDQ         $8, SI
	ADDQ         DX, DI
	ADDQ         $16, BX
	DECQ         CX
	JNZ          mkloop

mkdone:
	VZEROUPPER
	RET

// The many-row kernels run a single-row kernel over rows weight rows
// (wstride bytes apart) against one activation row x, storing row j's
// result in out[j]: one call for a whole decode product instead of one per
// row. Per row the operations are the single-row kernel's.

// func dotQ8_0Many(nb, rows int, w *byte, wstride int, x *byte, tab *[65536]float32, out *float32)
TEXT ·dotQ8_0Many(SB), NOSPLIT, $0-56
	MOVQ nb+0(FP), R8
	MOVQ rows+8(FP), R10
	MOVQ w+16(FP), R11
	MOVQ wstride+24(FP), R13
	MOVQ tab+40(FP), R9
	MOVQ out+48(FP), R12
	TESTQ R8, R8
	JLE   mq80done
	TESTQ R10, R10
	JLE   mq80done

mq80row:
	MOVQ   R8, CX
	MOVQ   R11, SI
	MOVQ   x+32(FP), DI
	VXORPS X7, X7, X7

mq80loop:
	VPMOVSXBW 2(SI), Y0
	VPMOVSXBW 18(SI), Y1
	VPMOVSXBW 2(DI), Y2
	VPMOVSXBW 18(DI), Y3
	VPMADDWD  Y2, Y0, Y0
	VPMADDWD  Y3, Y1, Y1
	VPADDD    Y1, Y0, Y0
	HSUM
	VCVTDQ2PS X0, X0
	HALF(0, SI, X2)
	HALF(0, DI, X3)
	VMULSS    X3, X2, X2
	VMULSS    X2, X0, X0
	VADDSS    X0, X7, X7
	NEXT(34, 34, mq80loop)
	VMOVSS X7, (R12)
	ADDQ   $4, R12
	ADDQ   R13, R11
	DECQ   R10
	JNZ    mq80row

mq80done:
	VZEROUPPER
	RET

// func dotQ4_0Many(nb, rows int, w *byte, wstride int, x *byte, tab *[65536]float32, out *float32)
TEXT ·dotQ4_0Many(SB), NOSPLIT, $0-56
	CONSTS(8)
	MOVQ nb+0(FP), R8
	MOVQ rows+8(FP), R10
	MOVQ w+16(FP), R11
	MOVQ wstride+24(FP), R13
	MOVQ tab+40(FP), R9
	MOVQ out+48(FP), R12
	TESTQ R8, R8
	JLE   mq40done
	TESTQ R10, R10
	JLE   mq40done

mq40row:
	MOVQ   R8, CX
	MOVQ   R11, SI
	MOVQ   x+32(FP), DI
	VXORPS X7, X7, X7

mq40loop:
	Q4(2)
	DOT32OFF(2)
	HSUM
	FMUL3
	NEXT(18, 34, mq40loop)
	VMOVSS X7, (R12)
	ADDQ   $4, R12
	ADDQ   R13, R11
	DECQ   R10
	JNZ    mq40row

mq40done:
	VZEROUPPER
	RET

// func dotQ4_1Many(nb, rows int, w *byte, wstride int, x *byte, tab *[65536]float32, out *float32)
TEXT ·dotQ4_1Many(SB), NOSPLIT, $0-56
	CONSTS(0)
	MOVQ nb+0(FP), R8
	MOVQ rows+8(FP), R10
	MOVQ w+16(FP), R11
	MOVQ wstride+24(FP), R13
	MOVQ tab+40(FP), R9
	MOVQ out+48(FP), R12
	TESTQ R8, R8
	JLE   mq41done
	TESTQ R10, R10
	JLE   mq41done

mq41row:
	MOVQ   R8, CX
	MOVQ   R11, SI
	MOVQ   x+32(FP), DI
	VXORPS X7, X7, X7

mq41loop:
	Q4(4)
	DOT32(4)
	HSUM
	FMULMIN
	NEXT(20, 36, mq41loop)
	VMOVSS X7, (R12)
	ADDQ   $4, R12
	ADDQ   R13, R11
	DECQ   R10
	JNZ    mq41row

mq41done:
	VZEROUPPER
	RET

// func dotQ5_0Many(nb, rows int, w *byte, wstride int, x *byte, tab *[65536]float32, out *float32)
TEXT ·dotQ5_0Many(SB), NOSPLIT, $0-56
	CONSTS(16)
	MOVQ nb+0(FP), R8
	MOVQ rows+8(FP), R10
	MOVQ w+16(FP), R11
	MOVQ wstride+24(FP), R13
	MOVQ tab+40(FP), R9
	MOVQ out+48(FP), R12
	TESTQ R8, R8
	JLE   mq50done
	TESTQ R10, R10
	JLE   mq50done

mq50row:
	MOVQ   R8, CX
	MOVQ   R11, SI
	MOVQ   x+32(FP), DI
	VXORPS X7, X7, X7

mq50loop:
	Q4(6)
	Q5(2)
	DOT32OFF(2)
	HSUM
	FMUL
	NEXT(22, 34, mq50loop)
	VMOVSS X7, (R12)
	ADDQ   $4, R12
	ADDQ   R13, R11
	DECQ   R10
	JNZ    mq50row

mq50done:
	VZEROUPPER
	RET

// func dotQ5_1Many(nb, rows int, w *byte, wstride int, x *byte, tab *[65536]float32, out *float32)
TEXT ·dotQ5_1Many(SB), NOSPLIT, $0-56
	CONSTS(0)
	MOVQ nb+0(FP), R8
	MOVQ rows+8(FP), R10
	MOVQ w+16(FP), R11
	MOVQ wstride+24(FP), R13
	MOVQ tab+40(FP), R9
	MOVQ out+48(FP), R12
	TESTQ R8, R8
	JLE   mq51done
	TESTQ R10, R10
	JLE   mq51done

mq51row:
	MOVQ   R8, CX
	MOVQ   R11, SI
	MOVQ   x+32(FP), DI
	VXORPS X7, X7, X7

mq51loop:
	Q4(8)
	Q5(4)
	DOT32(4)
	HSUM
	FMULMIN
	NEXT(24, 36, mq51loop)
	VMOVSS X7, (R12)
	ADDQ   $4, R12
	ADDQ   R13, R11
	DECQ   R10
	JNZ    mq51row

mq51done:
	VZEROUPPER
	RET
