//go:build amd64 && !purego

#include "textflag.h"

// Eight-lane (AVX-512) forms of siluRow and expRow (silu_amd64.s): the
// same math.Exp operations in the same order per lane, in ZMM registers.

DATA exp8c<>+0(SB)/8, $0.5
DATA exp8c<>+8(SB)/8, $1.0
DATA exp8c<>+16(SB)/8, $2.0
DATA exp8c<>+24(SB)/8, $1.6666666666666666667e-1
DATA exp8c<>+32(SB)/8, $4.1666666666666666667e-2
DATA exp8c<>+40(SB)/8, $8.3333333333333333333e-3
DATA exp8c<>+48(SB)/8, $1.3888888888888888889e-3
DATA exp8c<>+56(SB)/8, $1.9841269841269841270e-4
DATA exp8c<>+64(SB)/8, $2.4801587301587301587e-5
DATA exp8c<>+72(SB)/8, $1.4426950408889634073599246810018920
DATA exp8c<>+80(SB)/8, $0.69314718055966295651160180568695068359375
DATA exp8c<>+88(SB)/8, $0.28235290563031577122588448175013436025525412068e-12
DATA exp8c<>+96(SB)/8, $0.0625
DATA exp8c<>+104(SB)/8, $700.0
DATA exp8c<>+112(SB)/8, $0x7fffffffffffffff
DATA exp8c<>+120(SB)/8, $1023
DATA exp8c<>+128(SB)/8, $0x8000000000000000
DATA exp8c<>+136(SB)/4, $0x3f800000
DATA exp8c<>+140(SB)/4, $0
GLOBL exp8c<>(SB), RODATA|NOPTR, $144

#define C8(off, Z) VBROADCASTSD exp8c<>+off(SB), Z

// EXP8 sets Z0 to exp(Z0) lane-wise for |Z0| < 700, as math.Exp. Uses
// Z1-Z3 and Y6; Z8-Z12 hold LOG2E, LN2U, LN2L, 2.0, 1.0, Z15 0.0625.
#define EXP8 \
	VMULPD    Z8, Z0, Z1; \
	VCVTPD2DQ Z1, Y6; \
	VCVTDQ2PD Y6, Z1; \
	VFNMADD231PD Z9, Z1, Z0; \
	VFNMADD231PD Z10, Z1, Z0; \
	VMULPD    Z15, Z0, Z0; \
	C8(64, Z1); \
	C8(56, Z2); \
	VFMADD213PD Z2, Z0, Z1; \
	C8(48, Z2); \
	VFMADD213PD Z2, Z0, Z1; \
	C8(40, Z2); \
	VFMADD213PD Z2, Z0, Z1; \
	C8(32, Z2); \
	VFMADD213PD Z2, Z0, Z1; \
	C8(24, Z2); \
	VFMADD213PD Z2, Z0, Z1; \
	C8(0, Z2); \
	VFMADD213PD Z2, Z0, Z1; \
	VFMADD213PD Z12, Z0, Z1; \
	VMULPD    Z1, Z0, Z0; \
	VADDPD    Z11, Z0, Z1; \
	VMULPD    Z1, Z0, Z0; \
	VADDPD    Z11, Z0, Z1; \
	VMULPD    Z1, Z0, Z0; \
	VADDPD    Z11, Z0, Z1; \
	VMULPD    Z1, Z0, Z0; \
	VADDPD    Z11, Z0, Z1; \
	VFMADD213PD Z12, Z1, Z0; \
	VPMOVSXDQ Y6, Z2; \
	C8(120, Z3); \
	VPADDQ    Z3, Z2, Z2; \
	VPSLLQ    $52, Z2, Z2; \
	VMULPD    Z2, Z0, Z0

#define EXP8CONSTS \
	C8(72, Z8); \
	C8(80, Z9); \
	C8(88, Z10); \
	C8(16, Z11); \
	C8(8, Z12); \
	C8(104, Z13); \
	C8(112, Z14); \
	C8(96, Z15)

// OK8 jumps to done unless all eight |Z0| < 700 (NaN fails).
#define OK8(done) \
	VANDPD  Z14, Z0, Z1; \
	VCMPPD  $0x11, Z13, Z1, K1; \
	KMOVB   K1, AX; \
	CMPL    AX, $0xff; \
	JNE     done

// func siluRow8(dst, gate, up *float32, n int) int
// siluRow eight at a time; returns how many elements (a multiple of 8) it did.
TEXT ·siluRow8(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ gate+8(FP), SI
	MOVQ up+16(FP), DX
	MOVQ n+24(FP), CX
	SHRQ $3, CX
	XORQ R8, R8
	TESTQ CX, CX
	JZ    s8done
	EXP8CONSTS
	C8(128, Z4)
	VBROADCASTSS exp8c<>+136(SB), Y7

s8loop:
	VMOVUPS   (SI)(R8*4), Y5
	VCVTPS2PD Y5, Z0
	VXORPD    Z4, Z0, Z0
	OK8(s8done)
	EXP8
	VCVTPD2PS Z0, Y0
	VADDPS    Y7, Y0, Y0
	VDIVPS    Y0, Y5, Y5
	VMULPS    (DX)(R8*4), Y5, Y5
	VMOVUPS   Y5, (DI)(R8*4)
	ADDQ      $8, R8
	DECQ      CX
	JNZ       s8loop

s8done:
	MOVQ R8, ret+32(FP)
	VZEROUPPER
	RET

// func expRow8(dst, src *float32, m float32, n int) int
// expRow eight at a time, the last n mod 8 under a mask (softmax rows are
// short: a scalar tail cost as much as the vectors); returns how many
// elements it did (n, or a multiple of 8 where a group failed OK8).
TEXT ·expRow8(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	VBROADCASTSS m+16(FP), Y4
	MOVQ n+24(FP), CX
	SHRQ $3, CX
	XORQ R8, R8
	EXP8CONSTS
	TESTQ CX, CX
	JZ    e8tail

e8loop:
	VMOVUPS   (SI)(R8*4), Y5
	VSUBPS    Y4, Y5, Y5
	VCVTPS2PD Y5, Z0
	OK8(e8done)
	EXP8
	VCVTPD2PS Z0, Y0
	VMOVUPS   Y0, (DI)(R8*4)
	ADDQ      $8, R8
	DECQ      CX
	JNZ       e8loop

e8tail:
	MOVQ  n+24(FP), CX
	ANDQ  $7, CX
	JZ    e8done
	MOVL  $1, AX
	SHLL  CX, AX
	DECL  AX
	KMOVW AX, K2
	// Lanes past n are zero (exp(0) passes OK8) and never stored.
	VMOVUPS.Z (SI)(R8*4), K2, Y5
	VSUBPS.Z  Y4, Y5, K2, Y5
	VCVTPS2PD Y5, Z0
	OK8(e8done)
	EXP8
	VCVTPD2PS Z0, Y0
	VMOVUPS   Y0, K2, (DI)(R8*4)
	ADDQ      CX, R8

e8done:
	MOVQ R8, ret+32(FP)
	VZEROUPPER
	RET
