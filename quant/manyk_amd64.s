//go:build amd64 && !purego

#include "textflag.h"

// Whole-row Q4_K and Q6_K decode products: for each of rows weight rows
// (wstride bytes apart) the kernel decodes the super-block scales (and the
// Q4_K mins), runs the lane sums of lanesQ4_K / lanesQ6_K and the float
// part of dotK4 / dotQ6_KAVX2 (kLanes.add per block, then kLanes.total),
// all without leaving assembly. Integer parts are exact; every float
// operation is the Go code's, in its order, one lane per element mod 8, so
// each out[j] is bit-identical to DotFunc's. The scale words go through
// 32 bytes of stack in the layout the lane kernels read (see scales2,
// scales4).

// kperm is perm16 (dot_amd64.s): each 16-byte half to 0,8,1,9,...,7,15.
DATA kperm<>+0(SB)/8, $0x0b030a0209010800
DATA kperm<>+8(SB)/8, $0x0f070e060d050c04
DATA kperm<>+16(SB)/8, $0x0b030a0209010800
DATA kperm<>+24(SB)/8, $0x0f070e060d050c04
GLOBL kperm<>(SB), RODATA|NOPTR, $32

// kc30 holds 0x30 bytes (the Q6_K high bits).
DATA kc30<>+0(SB)/8, $0x3030303030303030
DATA kc30<>+8(SB)/8, $0x3030303030303030
DATA kc30<>+16(SB)/8, $0x3030303030303030
DATA kc30<>+24(SB)/8, $0x3030303030303030
GLOBL kc30<>(SB), RODATA|NOPTR, $32

// q6sc orders each four Q6_K scale bytes 0, 2, 1, 3 (as scales4 does).
DATA q6sc<>+0(SB)/8, $0x0705060403010200
DATA q6sc<>+8(SB)/8, $0x0f0d0e0c0b090a08
GLOBL q6sc<>(SB), RODATA|NOPTR, $16

#define KBCAST(b, X, Y) \
	MOVL $(b*0x01010101), AX; \
	VMOVD AX, X; \
	VPBROADCASTD X, Y

// MPAIR adds the scaled lane sums of the int16 pair sums in Y0 (A) and Y1
// (B), whose scale words are at soff(SP) and soff+4(SP); MPAIR1 when both
// halves have the one word at soff(SP) (Q4_K).
#define MPAIR(soff) \
	VPBROADCASTD soff(SP), Y4; \
	VPBROADCASTD (soff+4)(SP), X5; \
	VINSERTI128 $1, X5, Y4, Y4; \
	MPAIRY

#define MPAIR1(soff) \
	VPBROADCASTD soff(SP), Y4; \
	MPAIRY

#define MPAIRY \
	VPUNPCKLWD Y1, Y0, Y5; \
	VPUNPCKHWD Y1, Y0, Y6; \
	VPMADDWD Y4, Y5, Y5; \
	VPMADDWD Y4, Y6, Y6; \
	VPADDD Y5, Y8, Y8; \
	VPADDD Y6, Y9, Y9

// MLOADY loads 32 int8 activations at qs(DI) in perm16 order into Y.
#define MLOADY(qs, Y) \
	VMOVDQU qs(DI), Y; \
	VPSHUFB Y13, Y, Y

// MACC leaves the block's eight lane sums (Y8, Y9 halves added) in Y0.
#define MACC \
	VPERM2I128 $0x20, Y9, Y8, Y0; \
	VPERM2I128 $0x31, Y9, Y8, Y1; \
	VPADDD Y1, Y0, Y0

// MLANES is kLanes.add(half(doff(SI)) * yd, Y0) with the lanes in Y (yd is
// the float32 at 0(DI)). Clobbers Y1-Y3.
#define MLANES(doff, Y) \
	MOVWLZX doff(SI), AX; \
	VBROADCASTSS (R11)(AX*4), Y2; \
	VBROADCASTSS (DI), Y3; \
	VMULPS Y3, Y2, Y2; \
	VCVTDQ2PS Y0, Y1; \
	VMULPS Y1, Y2, Y1; \
	VADDPS Y1, Y, Y

// MTOTAL is kLanes.total: X10 += lane 0, 1, ..., 7 of Y7, in order.
#define MTOTAL \
	VADDSS X7, X10, X10; \
	VMOVSHDUP X7, X1; \
	VADDSS X1, X10, X10; \
	VPSHUFD $0x02, X7, X1; \
	VADDSS X1, X10, X10; \
	VPSHUFD $0x03, X7, X1; \
	VADDSS X1, X10, X10; \
	VEXTRACTF128 $1, Y7, X7; \
	VADDSS X7, X10, X10; \
	VMOVSHDUP X7, X1; \
	VADDSS X1, X10, X10; \
	VPSHUFD $0x02, X7, X1; \
	VADDSS X1, X10, X10; \
	VPSHUFD $0x03, X7, X1; \
	VADDSS X1, X10, X10

// MQ4K64 handles elements 64m..64m+63 of a Q4_K block (lanesQ4_K's Q4K64).
#define MQ4K64(m) \
	VMOVDQU (16+32*m)(SI), Y0; \
	VPSHUFB Y13, Y0, Y0; \
	VPSRLW $4, Y0, Y1; \
	VPAND Y15, Y0, Y0; \
	VPAND Y15, Y1, Y1; \
	MLOADY(4+64*m, Y2); \
	MLOADY(36+64*m, Y3); \
	VPMADDUBSW Y2, Y0, Y0; \
	VPMADDUBSW Y3, Y1, Y1; \
	MPAIR1(4*m)

// func manyQ4_K(nb, rows int, w *byte, wstride int, x *byte, tab *[65536]float32, out *float32)
// Per block: the scale words (k4Scales, scales2: the int16 pair (s[2m],
// s[2m+1]) of elements 64m.. at 4m(SP); the mins term sum_j pair_j * mn[j]
// (pair_j = bsum 2j + bsum 2j+1, by VPMADDWD with ones) in int32 that
// wraps as Go's; sumf -= half(dmin)*yd*mins in X10; the lanes in Y7.
TEXT ·manyQ4_K(SB), NOSPLIT, $32-56
	MOVQ rows+8(FP), R8
	MOVQ w+16(FP), R12
	MOVQ wstride+24(FP), R10
	MOVQ tab+40(FP), R11
	MOVQ out+48(FP), DX
	VMOVDQU kperm<>(SB), Y13
	KBCAST(0x0f, X15, Y15)
	MOVL $0x00010001, AX
	VMOVD AX, X12
	VPBROADCASTD X12, Y12
	TESTQ R8, R8
	JLE   mq4done

mq4row:
	MOVQ  R12, SI
	MOVQ  x+32(FP), DI
	MOVQ  nb+0(FP), CX
	VXORPS Y7, Y7, Y7
	VXORPS X10, X10, X10

mq4block:
	// Scales: the low six bits of bytes 4-7, then bytes 12-15's low nibbles
	// with bytes 4-7's top two bits.
	MOVL 4(SI), AX
	MOVL 12(SI), BX
	MOVL AX, R9
	ANDL $0x3f3f3f3f, R9
	SHRL $6, AX
	ANDL $0x03030303, AX
	SHLL $4, AX
	MOVL BX, R13
	ANDL $0x0f0f0f0f, R13
	ORL  R13, AX
	SHLQ $32, AX
	ORQ  R9, AX
	VMOVQ AX, X4
	VPMOVZXBW X4, X4
	VMOVDQU X4, 0(SP)

	// Mins: bytes 8-11, then bytes 12-15's high nibbles with 8-11's top bits.
	MOVL 8(SI), AX
	MOVL AX, R9
	ANDL $0x3f3f3f3f, R9
	SHRL $6, AX
	ANDL $0x03030303, AX
	SHLL $4, AX
	SHRL $4, BX
	ANDL $0x0f0f0f0f, BX
	ORL  BX, AX
	SHLQ $32, AX
	ORQ  R9, AX
	VMOVQ AX, X5
	VPMOVZXBD X5, Y5
	VPMADDWD 260(DI), Y12, Y6
	VPMULLD Y6, Y5, Y5
	VEXTRACTI128 $1, Y5, X6
	VPADDD X6, X5, X5
	VPSHUFD $0x4e, X5, X6
	VPADDD X6, X5, X5
	VPSHUFD $0xb1, X5, X6
	VPADDD X6, X5, X5
	VCVTDQ2PS X5, X5
	MOVWLZX 2(SI), AX
	VMOVSS (R11)(AX*4), X6
	VMULSS (DI), X6, X6
	VMULSS X5, X6, X6
	VSUBSS X6, X10, X10

	VPXOR Y8, Y8, Y8
	VPXOR Y9, Y9, Y9
	MQ4K64(0)
	MQ4K64(1)
	MQ4K64(2)
	MQ4K64(3)
	MACC
	MLANES(0, Y7)
	ADDQ $144, SI
	ADDQ $292, DI
	DECQ CX
	JNZ  mq4block

	MTOTAL
	VMOVSS X10, (DX)
	ADDQ   $4, DX
	ADDQ   R10, R12
	DECQ   R8
	JNZ    mq4row

mq4done:
	VZEROUPPER
	RET

// MQ6DOT is lanesQ6_K's Q6DOT (Y10: 0x20 bytes).
#define MQ6DOT(qs, Yout) \
	VPOR Y2, Y0, Y0; \
	MLOADY(qs, Y3); \
	VPMADDUBSW Y3, Y0, Yout; \
	VPMADDUBSW Y3, Y10, Y3; \
	VPSUBW Y3, Yout, Yout

// MQ6K128 is lanesQ6_K's Q6K128 with the scale words at 0(SP).
#define MQ6K128(k) \
	VMOVDQU (64*k)(SI), Y11; \
	VPSHUFB Y13, Y11, Y11; \
	VMOVDQU (64*k+32)(SI), Y12; \
	VPSHUFB Y13, Y12, Y12; \
	VMOVDQU (128+32*k)(SI), Y7; \
	VPSHUFB Y13, Y7, Y7; \
	VPAND Y15, Y11, Y0; \
	VPSLLW $4, Y7, Y2; \
	VPAND kc30<>(SB), Y2, Y2; \
	MQ6DOT(4+128*k, Y14); \
	VPAND Y15, Y12, Y0; \
	VPSLLW $2, Y7, Y2; \
	VPAND kc30<>(SB), Y2, Y2; \
	MQ6DOT(36+128*k, Y1); \
	VMOVDQA Y14, Y0; \
	MPAIR(16*k); \
	VPSRLW $4, Y11, Y0; \
	VPAND Y15, Y0, Y0; \
	VPAND kc30<>(SB), Y7, Y2; \
	MQ6DOT(68+128*k, Y14); \
	VPSRLW $4, Y12, Y0; \
	VPAND Y15, Y0, Y0; \
	VPSRLW $2, Y7, Y2; \
	VPAND kc30<>(SB), Y2, Y2; \
	MQ6DOT(100+128*k, Y1); \
	VMOVDQA Y14, Y0; \
	MPAIR(16*k+8)

// func manyQ6_K(nb, rows int, w *byte, wstride int, x *byte, tab *[65536]float32, out *float32)
// Per block: the 16 int8 scales, reordered and sign-extended, to the
// scales4 words at 0(SP); the lanes (no register is free) at 32(SP).
TEXT ·manyQ6_K(SB), NOSPLIT, $64-56
	MOVQ rows+8(FP), R8
	MOVQ w+16(FP), R12
	MOVQ wstride+24(FP), R10
	MOVQ tab+40(FP), R11
	MOVQ out+48(FP), DX
	VMOVDQU kperm<>(SB), Y13
	KBCAST(0x0f, X15, Y15)
	KBCAST(0x20, X10, Y10)
	TESTQ R8, R8
	JLE   mq6done

mq6row:
	MOVQ    R12, SI
	MOVQ    x+32(FP), DI
	MOVQ    nb+0(FP), CX
	VXORPS  Y0, Y0, Y0
	VMOVUPS Y0, 32(SP)

mq6block:
	VMOVDQU   192(SI), X4
	VPSHUFB   q6sc<>(SB), X4, X4
	VPMOVSXBW X4, Y4
	VMOVDQU   Y4, 0(SP)
	VPXOR     Y8, Y8, Y8
	VPXOR     Y9, Y9, Y9
	MQ6K128(0)
	MQ6K128(1)
	MACC
	VMOVUPS   32(SP), Y7
	MLANES(208, Y7)
	VMOVUPS   Y7, 32(SP)
	ADDQ      $210, SI
	ADDQ      $292, DI
	DECQ      CX
	JNZ       mq6block

	VMOVUPS 32(SP), Y7
	VXORPS  X10, X10, X10
	MTOTAL
	VMOVSS  X10, (DX)
	KBCAST(0x20, X10, Y10)
	ADDQ    $4, DX
	ADDQ    R10, R12
	DECQ    R8
	JNZ     mq6row

mq6done:
	VZEROUPPER
	RET
