//go:build amd64 && !purego

#include "textflag.h"

// siluRow is GLU's SiLU, dst = g / (1 + float32(math.Exp(float64(-g)))) * u,
// four elements at a time. The exp is Go's amd64 math.Exp (exp_amd64.s,
// the FMA path it takes on CPUs with AVX and FMA) done lane-wise in float64
// with the same operations in the same order, so every value is the same.
// Only the ordinary path runs here: a group of four with an argument of
// magnitude 700 or more (or NaN) stops the kernel, and the caller does it
// in Go.

DATA siluc<>+0(SB)/8, $0.5
DATA siluc<>+8(SB)/8, $1.0
DATA siluc<>+16(SB)/8, $2.0
DATA siluc<>+24(SB)/8, $1.6666666666666666667e-1
DATA siluc<>+32(SB)/8, $4.1666666666666666667e-2
DATA siluc<>+40(SB)/8, $8.3333333333333333333e-3
DATA siluc<>+48(SB)/8, $1.3888888888888888889e-3
DATA siluc<>+56(SB)/8, $1.9841269841269841270e-4
DATA siluc<>+64(SB)/8, $2.4801587301587301587e-5
DATA siluc<>+72(SB)/8, $1.4426950408889634073599246810018920
DATA siluc<>+80(SB)/8, $0.69314718055966295651160180568695068359375
DATA siluc<>+88(SB)/8, $0.28235290563031577122588448175013436025525412068e-12
DATA siluc<>+96(SB)/8, $0.0625
DATA siluc<>+104(SB)/8, $700.0
DATA siluc<>+112(SB)/8, $0x7fffffffffffffff
DATA siluc<>+120(SB)/8, $1023
DATA siluc<>+128(SB)/8, $0x8000000000000000
DATA siluc<>+136(SB)/4, $0x3f800000
DATA siluc<>+140(SB)/4, $0
GLOBL siluc<>(SB), RODATA|NOPTR, $144

#define C(off, Y) VBROADCASTSD siluc<>+off(SB), Y

// EXP sets Y0 to exp(Y0) lane-wise for |Y0| < 700, as math.Exp. Uses
// Y1-Y3 and X6; Y8-Y12 hold LOG2E, LN2U, LN2L, 2.0, 1.0 (EXPCONSTS).
#define EXP \
	VMULPD    Y8, Y0, Y1; \
	VCVTPD2DQY Y1, X6; \
	VCVTDQ2PD X6, Y1; \
	VFNMADD231PD Y9, Y1, Y0; \
	VFNMADD231PD Y10, Y1, Y0; \
	VMULPD    Y15, Y0, Y0; \
	C(64, Y1); \
	C(56, Y2); \
	VFMADD213PD Y2, Y0, Y1; \
	C(48, Y2); \
	VFMADD213PD Y2, Y0, Y1; \
	C(40, Y2); \
	VFMADD213PD Y2, Y0, Y1; \
	C(32, Y2); \
	VFMADD213PD Y2, Y0, Y1; \
	C(24, Y2); \
	VFMADD213PD Y2, Y0, Y1; \
	C(0, Y2); \
	VFMADD213PD Y2, Y0, Y1; \
	VFMADD213PD Y12, Y0, Y1; \
	VMULPD    Y1, Y0, Y0; \
	VADDPD    Y11, Y0, Y1; \
	VMULPD    Y1, Y0, Y0; \
	VADDPD    Y11, Y0, Y1; \
	VMULPD    Y1, Y0, Y0; \
	VADDPD    Y11, Y0, Y1; \
	VMULPD    Y1, Y0, Y0; \
	VADDPD    Y11, Y0, Y1; \
	VFMADD213PD Y12, Y1, Y0; \
	VPMOVSXDQ X6, Y2; \
	C(120, Y3); \
	VPADDQ    Y3, Y2, Y2; \
	VPSLLQ    $52, Y2, Y2; \
	VMULPD    Y2, Y0, Y0

#define EXPCONSTS \
	C(72, Y8); \
	C(80, Y9); \
	C(88, Y10); \
	C(16, Y11); \
	C(8, Y12); \
	C(104, Y13); \
	C(112, Y14); \
	C(96, Y15)

// func siluRow(dst, gate, up *float32, n int) int
// Returns how many elements (a multiple of 4) it did.
TEXT ·siluRow(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ gate+8(FP), SI
	MOVQ up+16(FP), DX
	MOVQ n+24(FP), CX
	SHRQ $2, CX
	XORQ R8, R8
	TESTQ CX, CX
	JZ    sdone
	EXPCONSTS // and Y13 700, Y14 abs mask, Y15 0.0625
	C(128, Y4)  // float64 sign bit
	VBROADCASTSS siluc<>+136(SB), X7 // float32 1

sloop:
	// x = float64(-g)
	VMOVUPS   (SI)(R8*4), X5
	VCVTPS2PD X5, Y0
	VXORPD    Y4, Y0, Y0
	// all four |x| < 700, else stop
	VANDPD    Y14, Y0, Y1
	VCMPPD    $0x11, Y13, Y1, Y1
	VMOVMSKPD Y1, AX
	CMPL      AX, $0xf
	JNE       sdone
	EXP
	// g / (1 + float32(e)) * u
	VCVTPD2PSY Y0, X0
	VADDPS    X7, X0, X0
	VDIVPS    X0, X5, X5
	VMULPS    (DX)(R8*4), X5, X5
	VMOVUPS   X5, (DI)(R8*4)
	ADDQ      $4, R8
	DECQ      CX
	JNZ       sloop

sdone:
	MOVQ R8, ret+32(FP)
	VZEROUPPER
	RET

// func expRow(dst, src *float32, m float32, n int) int
// dst[i] = float32(math.Exp(float64(src[i] - m))) four at a time, as the
// softmax computes it; stops at a group with an argument of magnitude 700
// or more (or NaN). Returns how many elements it did.
TEXT ·expRow(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	VBROADCASTSS m+16(FP), X4
	MOVQ n+24(FP), CX
	SHRQ $2, CX
	XORQ R8, R8
	TESTQ CX, CX
	JZ    edone
	EXPCONSTS

eloop:
	VMOVUPS   (SI)(R8*4), X5
	VSUBPS    X4, X5, X5
	VCVTPS2PD X5, Y0
	VANDPD    Y14, Y0, Y1
	VCMPPD    $0x11, Y13, Y1, Y1
	VMOVMSKPD Y1, AX
	CMPL      AX, $0xf
	JNE       edone
	EXP
	VCVTPD2PSY Y0, X0
	VMOVUPS   X0, (DI)(R8*4)
	ADDQ      $4, R8
	DECQ      CX
	JNZ       eloop

edone:
	MOVQ R8, ret+32(FP)
	VZEROUPPER
	RET
