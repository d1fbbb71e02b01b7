//go:build amd64 && !purego

#include "textflag.h"

// The panel kernel (see Panel): per block, Z0-Z7 hold the tile's eight
// 4-byte quant groups of 16 rows (as unsigned bytes), Z8 the rows' d, Z9
// their s. Per weight row g, two int32 accumulators take the even and the
// odd groups' VPDPBUSD with the row's group broadcast; their sum less
// 128·Σ(weights) is each row's exact block sum, and the float part adds
// into Z10+g in DotFunc's order for the mode. The weight group's tables
// follow its 128 bytes of quants: d at 128, m at 144, the offsets at 160.

#define IDOT(g, A, B) \
	VPXORD A, A, A; \
	VPXORD B, B, B; \
	VPDPBUSD.BCST (32*g+0)(DI), Z0, A; \
	VPDPBUSD.BCST (32*g+4)(DI), Z1, B; \
	VPDPBUSD.BCST (32*g+8)(DI), Z2, A; \
	VPDPBUSD.BCST (32*g+12)(DI), Z3, B; \
	VPDPBUSD.BCST (32*g+16)(DI), Z4, A; \
	VPDPBUSD.BCST (32*g+20)(DI), Z5, B; \
	VPDPBUSD.BCST (32*g+24)(DI), Z6, A; \
	VPDPBUSD.BCST (32*g+28)(DI), Z7, B; \
	VPADDD B, A, A; \
	VPSUBD.BCST (160+4*g)(DI), A, A; \
	VCVTDQ2PS A, A

// mode 0: acc += (s·dw)·dx
#define F0(g, A, T, ACC) \
	VMULPS.BCST (128+4*g)(DI), A, T; \
	VMULPS Z8, T, T; \
	VADDPS T, ACC, ACC

// mode 1: acc += (dw·dx)·s
#define F1(g, A, T, ACC) \
	VMULPS.BCST (128+4*g)(DI), Z8, T; \
	VMULPS A, T, T; \
	VADDPS T, ACC, ACC

// mode 2: acc += (dw·dx)·s + mw·sx
#define F2(g, A, T, U, ACC) \
	VMULPS.BCST (128+4*g)(DI), Z8, T; \
	VMULPS A, T, T; \
	VMULPS.BCST (144+4*g)(DI), Z9, U; \
	VADDPS U, T, T; \
	VADDPS T, ACC, ACC

#define LOADA \
	VMOVDQU64 0(SI), Z0; \
	VMOVDQU64 64(SI), Z1; \
	VMOVDQU64 128(SI), Z2; \
	VMOVDQU64 192(SI), Z3; \
	VMOVDQU64 256(SI), Z4; \
	VMOVDQU64 320(SI), Z5; \
	VMOVDQU64 384(SI), Z6; \
	VMOVDQU64 448(SI), Z7; \
	VMOVUPS 512(SI), Z8

#define NEXT(l) \
	ADDQ $640, SI; \
	ADDQ $176, DI; \
	DECQ CX; \
	JNZ  l

// func panelKern(nb int, a, w *byte, mode int, out *[64]float32)
TEXT ·panelKern(SB), NOSPLIT, $0-40
	MOVQ nb+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ w+16(FP), DI
	MOVQ mode+24(FP), AX
	VPXORD Z10, Z10, Z10
	VPXORD Z11, Z11, Z11
	VPXORD Z12, Z12, Z12
	VPXORD Z13, Z13, Z13
	TESTQ CX, CX
	JLE   pdone
	CMPQ  AX, $1
	JEQ   p1loop
	JGT   p2loop

p0loop:
	LOADA
	IDOT(0, Z14, Z15)
	IDOT(1, Z16, Z17)
	IDOT(2, Z18, Z19)
	IDOT(3, Z20, Z21)
	F0(0, Z14, Z22, Z10)
	F0(1, Z16, Z23, Z11)
	F0(2, Z18, Z24, Z12)
	F0(3, Z20, Z25, Z13)
	NEXT(p0loop)
	JMP pdone

p1loop:
	LOADA
	IDOT(0, Z14, Z15)
	IDOT(1, Z16, Z17)
	IDOT(2, Z18, Z19)
	IDOT(3, Z20, Z21)
	F1(0, Z14, Z22, Z10)
	F1(1, Z16, Z23, Z11)
	F1(2, Z18, Z24, Z12)
	F1(3, Z20, Z25, Z13)
	NEXT(p1loop)
	JMP pdone

p2loop:
	LOADA
	VMOVUPS 576(SI), Z9
	IDOT(0, Z14, Z15)
	IDOT(1, Z16, Z17)
	IDOT(2, Z18, Z19)
	IDOT(3, Z20, Z21)
	F2(0, Z14, Z22, Z26, Z10)
	F2(1, Z16, Z23, Z27, Z11)
	F2(2, Z18, Z24, Z28, Z12)
	F2(3, Z20, Z25, Z29, Z13)
	NEXT(p2loop)

pdone:
	MOVQ    out+32(FP), AX
	VMOVUPS Z10, 0(AX)
	VMOVUPS Z11, 64(AX)
	VMOVUPS Z12, 128(AX)
	VMOVUPS Z13, 192(AX)
	VZEROUPPER
	RET

// F32: per chunk of 16 elements, Z0 holds the weight row's 16 values; each
// of the tile's 16 rows is multiplied in float32 (VMULPS, rounded as dotF32
// rounds: no FMA) and added into Z8+row, lane j taking elements 16m+j:
// dotF32's lanes. A last partial chunk loads its weights under a mask (the
// panel's padding is zero). Then every row's lanes are halved as lanes16
// does (lane j plus lane j+h, h = 8, 4, 2, 1), 16 rows at a time: each step
// pairs registers so that one add serves both.
#define F32ROW(off, Z) \
	VMULPS off(SI), Z0, Z1; \
	VADDPS Z1, Z, Z

// func panelF32(nc, tail int, a, w *byte, out *[16]float32)
TEXT ·panelF32(SB), NOSPLIT, $0-40
	MOVQ nc+0(FP), CX
	MOVQ a+16(FP), SI
	MOVQ w+24(FP), DI
	VPXORQ Z8, Z8, Z8
	VPXORQ Z9, Z9, Z9
	VPXORQ Z10, Z10, Z10
	VPXORQ Z11, Z11, Z11
	VPXORQ Z12, Z12, Z12
	VPXORQ Z13, Z13, Z13
	VPXORQ Z14, Z14, Z14
	VPXORQ Z15, Z15, Z15
	VPXORQ Z16, Z16, Z16
	VPXORQ Z17, Z17, Z17
	VPXORQ Z18, Z18, Z18
	VPXORQ Z19, Z19, Z19
	VPXORQ Z20, Z20, Z20
	VPXORQ Z21, Z21, Z21
	VPXORQ Z22, Z22, Z22
	VPXORQ Z23, Z23, Z23
	TESTQ CX, CX
	JLE   f32tail

f32loop:
	VMOVUPS (DI), Z0
	F32ROW(0, Z8)
	F32ROW(64, Z9)
	F32ROW(128, Z10)
	F32ROW(192, Z11)
	F32ROW(256, Z12)
	F32ROW(320, Z13)
	F32ROW(384, Z14)
	F32ROW(448, Z15)
	F32ROW(512, Z16)
	F32ROW(576, Z17)
	F32ROW(640, Z18)
	F32ROW(704, Z19)
	F32ROW(768, Z20)
	F32ROW(832, Z21)
	F32ROW(896, Z22)
	F32ROW(960, Z23)
	ADDQ $1024, SI
	ADDQ $64, DI
	DECQ CX
	JNZ  f32loop

f32tail:
	MOVQ tail+8(FP), CX
	TESTQ CX, CX
	JLE   f32done
	MOVL  $1, AX
	SHLL  CX, AX
	DECL  AX
	KMOVW AX, K1
	VMOVUPS.Z (DI), K1, Z0
	F32ROW(0, Z8)
	F32ROW(64, Z9)
	F32ROW(128, Z10)
	F32ROW(192, Z11)
	F32ROW(256, Z12)
	F32ROW(320, Z13)
	F32ROW(384, Z14)
	F32ROW(448, Z15)
	F32ROW(512, Z16)
	F32ROW(576, Z17)
	F32ROW(640, Z18)
	F32ROW(704, Z19)
	F32ROW(768, Z20)
	F32ROW(832, Z21)
	F32ROW(896, Z22)
	F32ROW(960, Z23)

f32done:
	// h = 8: rows 2i, 2i+1 -> Z8+2i (row 2i in 128-bit lanes 0-1).
	VSHUFF32X4 $0x44, Z9, Z8, Z2
	VSHUFF32X4 $0xEE, Z9, Z8, Z3
	VADDPS Z3, Z2, Z8
	VSHUFF32X4 $0x44, Z11, Z10, Z2
	VSHUFF32X4 $0xEE, Z11, Z10, Z3
	VADDPS Z3, Z2, Z10
	VSHUFF32X4 $0x44, Z13, Z12, Z2
	VSHUFF32X4 $0xEE, Z13, Z12, Z3
	VADDPS Z3, Z2, Z12
	VSHUFF32X4 $0x44, Z15, Z14, Z2
	VSHUFF32X4 $0xEE, Z15, Z14, Z3
	VADDPS Z3, Z2, Z14
	VSHUFF32X4 $0x44, Z17, Z16, Z2
	VSHUFF32X4 $0xEE, Z17, Z16, Z3
	VADDPS Z3, Z2, Z16
	VSHUFF32X4 $0x44, Z19, Z18, Z2
	VSHUFF32X4 $0xEE, Z19, Z18, Z3
	VADDPS Z3, Z2, Z18
	VSHUFF32X4 $0x44, Z21, Z20, Z2
	VSHUFF32X4 $0xEE, Z21, Z20, Z3
	VADDPS Z3, Z2, Z20
	VSHUFF32X4 $0x44, Z23, Z22, Z2
	VSHUFF32X4 $0xEE, Z23, Z22, Z3
	VADDPS Z3, Z2, Z22
	// h = 4: -> Z8, Z12, Z16, Z20 (row 4m+L in 128-bit lane L).
	VSHUFF32X4 $0x88, Z10, Z8, Z2
	VSHUFF32X4 $0xDD, Z10, Z8, Z3
	VADDPS Z3, Z2, Z8
	VSHUFF32X4 $0x88, Z14, Z12, Z2
	VSHUFF32X4 $0xDD, Z14, Z12, Z3
	VADDPS Z3, Z2, Z12
	VSHUFF32X4 $0x88, Z18, Z16, Z2
	VSHUFF32X4 $0xDD, Z18, Z16, Z3
	VADDPS Z3, Z2, Z16
	VSHUFF32X4 $0x88, Z22, Z20, Z2
	VSHUFF32X4 $0xDD, Z22, Z20, Z3
	VADDPS Z3, Z2, Z20
	// h = 2: -> Z8 (rows L and 4+L in lane L), Z16 (rows 8+L, 12+L).
	VSHUFPS $0x44, Z12, Z8, Z2
	VSHUFPS $0xEE, Z12, Z8, Z3
	VADDPS Z3, Z2, Z8
	VSHUFPS $0x44, Z20, Z16, Z2
	VSHUFPS $0xEE, Z20, Z16, Z3
	VADDPS Z3, Z2, Z16
	// h = 1: lane L holds rows L, 4+L, 8+L, 12+L.
	VSHUFPS $0x88, Z16, Z8, Z2
	VSHUFPS $0xDD, Z16, Z8, Z3
	VADDPS Z3, Z2, Z2
	MOVQ    out+32(FP), AX
	VMOVUPS Z2, 0(AX)
	VZEROUPPER
	RET

// K-quants (see panelk.go). Per super-block: Z13 the rows' d, Z14-Z17
// d·dw of the four weight rows; per lane l (AX: its eight activation
// groups, DX: the weight groups, R10: the offsets, R9: the lane sums)
// Z9-Z12 the four rows' int32 lane sums.
#define KGRP(t) \
	VMOVDQU64 (64*t)(AX), Z0; \
	VPBROADCASTD (128*t+0)(DX), Z1; \
	VPBROADCASTD (128*t+32)(DX), Z2; \
	VPBROADCASTD (128*t+64)(DX), Z3; \
	VPBROADCASTD (128*t+96)(DX), Z4; \
	VPMADDUBSW Z1, Z0, Z1; \
	VPMADDUBSW Z2, Z0, Z2; \
	VPMADDUBSW Z3, Z0, Z3; \
	VPMADDUBSW Z4, Z0, Z4; \
	VPDPWSSD.BCST (1024+4*t)(DI), Z1, Z9; \
	VPDPWSSD.BCST (1056+4*t)(DI), Z2, Z10; \
	VPDPWSSD.BCST (1088+4*t)(DI), Z3, Z11; \
	VPDPWSSD.BCST (1120+4*t)(DI), Z4, Z12

#define KLANE(off, A, D) \
	VPSUBD.BCST off(R10), A, A; \
	VCVTDQ2PS A, A; \
	VMULPS D, A, A; \
	VADDPS (off*16)(R9), A, A; \
	VMOVUPS A, (off*16)(R9)

// KMIN: Q4_K's mins term of weight row g: sumf -= (dmin·d)·Σ bsums·mins.
#define KMIN(g, A, S) \
	VPXORD A, A, A; \
	VPDPWSSD.BCST (1312+32*g+0)(DI), Z22, A; \
	VPDPWSSD.BCST (1312+32*g+4)(DI), Z23, A; \
	VPDPWSSD.BCST (1312+32*g+8)(DI), Z24, A; \
	VPDPWSSD.BCST (1312+32*g+12)(DI), Z25, A; \
	VPDPWSSD.BCST (1312+32*g+16)(DI), Z26, A; \
	VPDPWSSD.BCST (1312+32*g+20)(DI), Z27, A; \
	VPDPWSSD.BCST (1312+32*g+24)(DI), Z28, A; \
	VPDPWSSD.BCST (1312+32*g+28)(DI), Z29, A; \
	VCVTDQ2PS A, A; \
	VMULPS.BCST (1296+4*g)(DI), Z13, Z1; \
	VMULPS A, Z1, Z1; \
	VSUBPS Z1, S, S

// KSUM adds weight row g's eight lane sums to S in lane order.
#define KSUM(g, S) \
	VADDPS (512*g+0)(R8), S, S; \
	VADDPS (512*g+64)(R8), S, S; \
	VADDPS (512*g+128)(R8), S, S; \
	VADDPS (512*g+192)(R8), S, S; \
	VADDPS (512*g+256)(R8), S, S; \
	VADDPS (512*g+320)(R8), S, S; \
	VADDPS (512*g+384)(R8), S, S; \
	VADDPS (512*g+448)(R8), S, S

// func panelKern4(nb int, a, w *byte, q6 int, lanes *[4][8][16]float32, out *[4][16]float32)
TEXT ·panelKern4(SB), NOSPLIT, $0-48
	MOVQ nb+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ w+16(FP), DI
	MOVQ q6+24(FP), BX
	MOVQ lanes+32(FP), R8
	VPXORD Z18, Z18, Z18
	VPXORD Z19, Z19, Z19
	VPXORD Z20, Z20, Z20
	VPXORD Z21, Z21, Z21
	MOVQ  R8, AX
	MOVQ  $32, R11

kzero:
	VMOVUPS Z18, (AX)
	ADDQ    $64, AX
	DECQ    R11
	JNZ     kzero
	TESTQ CX, CX
	JLE   kdone

kloop:
	VMOVUPS 4096(SI), Z13
	VMULPS.BCST 1280(DI), Z13, Z14
	VMULPS.BCST 1284(DI), Z13, Z15
	VMULPS.BCST 1288(DI), Z13, Z16
	VMULPS.BCST 1292(DI), Z13, Z17
	MOVQ SI, AX
	MOVQ DI, DX
	LEAQ 1152(DI), R10
	MOVQ R8, R9
	MOVQ $8, R11

klane:
	VPXORD Z9, Z9, Z9
	VPXORD Z10, Z10, Z10
	VPXORD Z11, Z11, Z11
	VPXORD Z12, Z12, Z12
	KGRP(0)
	KGRP(1)
	KGRP(2)
	KGRP(3)
	KGRP(4)
	KGRP(5)
	KGRP(6)
	KGRP(7)
	KLANE(0, Z9, Z14)
	KLANE(32, Z10, Z15)
	KLANE(64, Z11, Z16)
	KLANE(96, Z12, Z17)
	ADDQ $512, AX
	ADDQ $4, DX
	ADDQ $4, R10
	ADDQ $64, R9
	DECQ R11
	JNZ  klane

	TESTQ BX, BX
	JNZ   knext
	VMOVDQU64 4160(SI), Z22
	VMOVDQU64 4224(SI), Z23
	VMOVDQU64 4288(SI), Z24
	VMOVDQU64 4352(SI), Z25
	VMOVDQU64 4416(SI), Z26
	VMOVDQU64 4480(SI), Z27
	VMOVDQU64 4544(SI), Z28
	VMOVDQU64 4608(SI), Z29
	KMIN(0, Z9, Z18)
	KMIN(1, Z10, Z19)
	KMIN(2, Z11, Z20)
	KMIN(3, Z12, Z21)

knext:
	ADDQ $4672, SI
	ADDQ $1440, DI
	DECQ CX
	JNZ  kloop

kdone:
	KSUM(0, Z18)
	KSUM(1, Z19)
	KSUM(2, Z20)
	KSUM(3, Z21)
	MOVQ    out+40(FP), AX
	VMOVUPS Z18, 0(AX)
	VMOVUPS Z19, 64(AX)
	VMOVUPS Z20, 128(AX)
	VMOVUPS Z21, 192(AX)
	VZEROUPPER
	RET

// transK's VPERMB index: byte 4l+u of the result is byte l+8u of the 32
// values (u < 4, l < 8).
DATA transIdx<>+0(SB)/8, $0x1911090118100800
DATA transIdx<>+8(SB)/8, $0x1b130b031a120a02
DATA transIdx<>+16(SB)/8, $0x1d150d051c140c04
DATA transIdx<>+24(SB)/8, $0x1f170f071e160e06
GLOBL transIdx<>(SB), RODATA|NOPTR, $32

// func transK(a *[256]byte, pairs *[8]uint32, w, corr *byte)
// For t < 8: the 32 values a[32t:] regrouped as 8 groups (l) of elements
// l+8u to w+128t, and into corr the eight int32 128·Σ_t pair_t·(group
// sums of elements u = 0,1 and u = 2,3).
TEXT ·transK(SB), NOSPLIT, $0-32
	MOVQ a+0(FP), SI
	MOVQ pairs+8(FP), DX
	MOVQ w+16(FP), DI
	VMOVDQU transIdx<>(SB), Y15
	MOVL $0x01010101, AX
	VMOVD AX, X14
	VPBROADCASTD X14, Y14
	VPXOR Y13, Y13, Y13
	MOVQ $8, CX

tkloop:
	VMOVDQU (SI), Y0
	VPERMB Y0, Y15, Y1
	VMOVDQU Y1, (DI)
	VPMADDUBSW Y1, Y14, Y2
	VPBROADCASTD (DX), Y3
	VPMADDWD Y3, Y2, Y2
	VPADDD Y2, Y13, Y13
	ADDQ $32, SI
	ADDQ $4, DX
	ADDQ $128, DI
	DECQ CX
	JNZ  tkloop

	VPSLLD $7, Y13, Y13
	MOVQ corr+24(FP), AX
	VMOVDQU Y13, (AX)
	VZEROUPPER
	RET

// panelDec: the 32-element weight decode for the panel kernel (see
// Panel.decode). Per block: the values q - offset as signed bytes to q
// (stride 176), d and m as float32 and 128·Σ values as int32 to tab, tab+16
// and tab+32. Y15 0x0f bytes, Y14 zero, Y13 0x80 bytes, Y12/Y11 the Q5
// high-bit shuffle and bits, Y10 0x10 bytes, Y9 the code offset bytes.
DATA decShuf<>+0(SB)/8, $0x0000000000000000
DATA decShuf<>+8(SB)/8, $0x0101010101010101
DATA decShuf<>+16(SB)/8, $0x0202020202020202
DATA decShuf<>+24(SB)/8, $0x0303030303030303
GLOBL decShuf<>(SB), RODATA|NOPTR, $32
DATA decBits<>+0(SB)/8, $0x8040201008040201
DATA decBits<>+8(SB)/8, $0x8040201008040201
DATA decBits<>+16(SB)/8, $0x8040201008040201
DATA decBits<>+24(SB)/8, $0x8040201008040201
GLOBL decBits<>(SB), RODATA|NOPTR, $32

#define DBCAST(v, X, Y) \
	MOVL $v, AX; \
	VMOVD AX, X; \
	VPBROADCASTD X, Y

// DNIB leaves in Y0 the 32 four-bit codes of the 16 bytes at qs(SI).
#define DNIB(qs) \
	VMOVDQU qs(SI), X0; \
	VPSRLW $4, X0, X1; \
	VINSERTI128 $1, X1, Y0, Y0; \
	VPAND Y15, Y0, Y0

// DHI ORs the fifth bits at qh(SI) into Y0.
#define DHI(qh) \
	VPBROADCASTD qh(SI), Y3; \
	VPSHUFB Y12, Y3, Y3; \
	VPAND Y11, Y3, Y3; \
	VPCMPEQB Y11, Y3, Y3; \
	VPAND Y10, Y3, Y3; \
	VPOR Y3, Y0, Y0

// DSUM leaves in DX the sum of Y1's 32 unsigned bytes.
#define DSUM \
	VPSADBW Y14, Y1, Y1; \
	VEXTRACTI128 $1, Y1, X2; \
	VPADDQ X2, X1, X1; \
	VPSHUFD $0x4e, X1, X2; \
	VPADDQ X2, X1, X1; \
	VMOVQ X1, DX

// DHALF stores the fp16 at off(SI) as float32 to to(R8).
#define DHALF(off, to) \
	MOVWLZX off(SI), AX; \
	VMOVD AX, X2; \
	VCVTPH2PS X2, X2; \
	VMOVSS X2, to(R8)

// DEND stores the values in Y0 and 128·(DX - bias) as the offset term.
#define DEND(bias) \
	VMOVDQU Y0, (DI); \
	SUBQ $bias, DX; \
	SHLL $7, DX; \
	MOVL DX, 32(R8); \
	ADDQ R9, SI; \
	ADDQ $176, DI; \
	ADDQ $176, R8; \
	DECQ CX

// func panelDec(kind, nb int, w *byte, wsize int, q, tab *byte)
// kind: 0 Q8_0, 1 Q4_0, 2 Q4_1, 3 Q5_0, 4 Q5_1.
TEXT ·panelDec(SB), NOSPLIT, $0-48
	MOVQ kind+0(FP), BX
	MOVQ nb+8(FP), CX
	MOVQ w+16(FP), SI
	MOVQ wsize+24(FP), R9
	MOVQ q+32(FP), DI
	MOVQ tab+40(FP), R8
	TESTQ CX, CX
	JLE   ddone
	DBCAST(0x0f0f0f0f, X15, Y15)
	VPXOR Y14, Y14, Y14
	DBCAST(0x80808080, X13, Y13)
	VMOVDQU decShuf<>(SB), Y12
	VMOVDQU decBits<>(SB), Y11
	DBCAST(0x10101010, X10, Y10)
	DBCAST(0x08080808, X9, Y9)
	CMPQ BX, $1
	JEQ  d40
	JLT  d80
	CMPQ BX, $3
	JEQ  d50
	JGT  d51

d41:
	DNIB(4)
	VMOVDQA Y0, Y1
	DSUM
	DHALF(0, 0)
	DHALF(2, 16)
	DEND(0)
	JNZ d41
	JMP ddone

d80:
	VMOVDQU 2(SI), Y0
	VPXOR Y13, Y0, Y1
	DSUM
	DHALF(0, 0)
	MOVL $0, 16(R8)
	DEND(4096)
	JNZ d80
	JMP ddone

d40:
	DNIB(2)
	VMOVDQA Y0, Y1
	DSUM
	VPSUBB Y9, Y0, Y0
	DHALF(0, 0)
	MOVL $0, 16(R8)
	DEND(256)
	JNZ d40
	JMP ddone

d50:
	DNIB(6)
	DHI(2)
	VMOVDQA Y0, Y1
	DSUM
	VPSUBB Y10, Y0, Y0
	DHALF(0, 0)
	MOVL $0, 16(R8)
	DEND(512)
	JNZ d50
	JMP ddone

d51:
	DNIB(8)
	DHI(4)
	VMOVDQA Y0, Y1
	DSUM
	DHALF(0, 0)
	DHALF(2, 16)
	DEND(0)
	JNZ d51

ddone:
	VZEROUPPER
	RET

// func dotF32Asm(nc, tail int, w, x *byte) float32
// dotF32's lanes in Z8 (a partial last chunk under a mask adds +0 to the
// other lanes, which leaves them as they are), then lanes16's halving.
TEXT ·dotF32Asm(SB), NOSPLIT, $0-36
	MOVQ   nc+0(FP), CX
	MOVQ   w+16(FP), SI
	MOVQ   x+24(FP), DI
	VPXORQ Z8, Z8, Z8
	TESTQ  CX, CX
	JLE    dtail

dloop:
	VMOVUPS (SI), Z0
	VMULPS  (DI), Z0, Z1
	VADDPS  Z1, Z8, Z8
	ADDQ    $64, SI
	ADDQ    $64, DI
	DECQ    CX
	JNZ     dloop

dtail:
	MOVQ  tail+8(FP), CX
	TESTQ CX, CX
	JLE   dsum
	MOVL  $1, AX
	SHLL  CX, AX
	DECL  AX
	KMOVW AX, K1
	VMOVUPS.Z (SI), K1, Z0
	VMOVUPS.Z (DI), K1, Z2
	VMULPS    Z2, Z0, Z1
	VADDPS    Z1, Z8, Z8

dsum:
	VEXTRACTF32X8 $1, Z8, Y1
	VADDPS        Y1, Y8, Y0
	VEXTRACTF128  $1, Y0, X1
	VADDPS        X1, X0, X0
	VMOVHLPS      X0, X0, X1
	VADDPS        X1, X0, X0
	VMOVSHDUP     X0, X1
	VADDSS        X1, X0, X0
	MOVSS         X0, ret+32(FP)
	VZEROUPPER
	RET
