//go:build amd64 && !purego

#include "textflag.h"

// Element-wise kernels for attention over the KV cache. Every lane does
// what the Go loops in attn_generic.go do for its element (VCVTPH2PS is the
// exact F16 to F32 conversion; products are rounded to float32 before the
// exact widening to float64), so results are identical. n is a multiple
// of 8; callers do the rest in Go.

// func f16Row(dst *float32, src *uint16, n int)
TEXT ·f16Row(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $3, CX
	JZ   f16done

f16loop:
	VCVTPH2PS (SI), Y0
	VMOVUPS   Y0, (DI)
	ADDQ      $16, SI
	ADDQ      $32, DI
	DECQ      CX
	JNZ       f16loop

f16done:
	VZEROUPPER
	RET

// func axpyF16(acc *float64, w float32, v *uint16, n int)
TEXT ·axpyF16(SB), NOSPLIT, $0-32
	MOVQ         acc+0(FP), DI
	VBROADCASTSS w+8(FP), Y1
	MOVQ         v+16(FP), SI
	MOVQ         n+24(FP), CX
	SHRQ         $3, CX
	JZ           a16done

a16loop:
	VCVTPH2PS    (SI), Y0
	VMULPS       Y1, Y0, Y0
	VCVTPS2PD    X0, Y2
	VEXTRACTF128 $1, Y0, X3
	VCVTPS2PD    X3, Y3
	VADDPD       (DI), Y2, Y2
	VADDPD       32(DI), Y3, Y3
	VMOVUPD      Y2, (DI)
	VMOVUPD      Y3, 32(DI)
	ADDQ         $16, SI
	ADDQ         $64, DI
	DECQ         CX
	JNZ          a16loop

a16done:
	VZEROUPPER
	RET

// func axpyF32(acc *float64, w float32, v *float32, n int)
TEXT ·axpyF32(SB), NOSPLIT, $0-32
	MOVQ         acc+0(FP), DI
	VBROADCASTSS w+8(FP), Y1
	MOVQ         v+16(FP), SI
	MOVQ         n+24(FP), CX
	SHRQ         $3, CX
	JZ           a32done

a32loop:
	VMULPS       (SI), Y1, Y0
	VCVTPS2PD    X0, Y2
	VEXTRACTF128 $1, Y0, X3
	VCVTPS2PD    X3, Y3
	VADDPD       (DI), Y2, Y2
	VADDPD       32(DI), Y3, Y3
	VMOVUPD      Y2, (DI)
	VMOVUPD      Y3, 32(DI)
	ADDQ         $32, SI
	ADDQ         $64, DI
	DECQ         CX
	JNZ          a32loop

a32done:
	VZEROUPPER
	RET

// func f16Round(dst *uint16, src *float32, n int)
// VCVTPS2PH with immediate 0 rounds to nearest even, as toHalf does.
TEXT ·f16Round(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $3, CX
	JZ   frdone

frloop:
	VMOVUPS   (SI), Y0
	VCVTPS2PH $0, Y0, (DI)
	ADDQ      $32, SI
	ADDQ      $16, DI
	DECQ      CX
	JNZ       frloop

frdone:
	VZEROUPPER
	RET

// func f16Transpose8(rows *[8]*uint16, hd int, kT *float32)
// kT[8e+j] = float32(rows[j][e]) for e < hd (a multiple of 8): eight
// cached key rows converted (VCVTPH2PS, exact) and transposed so that the
// scores of eight positions can be summed lane-wise.
TEXT ·f16Transpose8(SB), NOSPLIT, $0-24
	MOVQ rows+0(FP), AX
	MOVQ 0(AX), DI
	MOVQ 8(AX), SI
	MOVQ 16(AX), BX
	MOVQ 24(AX), DX
	MOVQ 32(AX), R8
	MOVQ 40(AX), R9
	MOVQ 48(AX), R10
	MOVQ 56(AX), R11
	MOVQ hd+8(FP), CX
	MOVQ kT+16(FP), R12
	SHRQ $3, CX
	JZ   trdone
	XORQ AX, AX

trloop:
	VCVTPH2PS (DI)(AX*1), Y0
	VCVTPH2PS (SI)(AX*1), Y1
	VCVTPH2PS (BX)(AX*1), Y2
	VCVTPH2PS (DX)(AX*1), Y3
	VCVTPH2PS (R8)(AX*1), Y4
	VCVTPH2PS (R9)(AX*1), Y5
	VCVTPH2PS (R10)(AX*1), Y6
	VCVTPH2PS (R11)(AX*1), Y7
	VUNPCKLPS Y1, Y0, Y8
	VUNPCKHPS Y1, Y0, Y9
	VUNPCKLPS Y3, Y2, Y10
	VUNPCKHPS Y3, Y2, Y11
	VUNPCKLPS Y5, Y4, Y0
	VUNPCKHPS Y5, Y4, Y1
	VUNPCKLPS Y7, Y6, Y2
	VUNPCKHPS Y7, Y6, Y3
	VSHUFPS $0x44, Y10, Y8, Y4
	VSHUFPS $0xee, Y10, Y8, Y5
	VSHUFPS $0x44, Y11, Y9, Y6
	VSHUFPS $0xee, Y11, Y9, Y7
	VSHUFPS $0x44, Y2, Y0, Y8
	VSHUFPS $0xee, Y2, Y0, Y9
	VSHUFPS $0x44, Y3, Y1, Y10
	VSHUFPS $0xee, Y3, Y1, Y11
	VPERM2F128 $0x20, Y8, Y4, Y0
	VPERM2F128 $0x20, Y9, Y5, Y1
	VPERM2F128 $0x20, Y10, Y6, Y2
	VPERM2F128 $0x20, Y11, Y7, Y3
	VMOVUPS Y0, 0(R12)
	VMOVUPS Y1, 32(R12)
	VMOVUPS Y2, 64(R12)
	VMOVUPS Y3, 96(R12)
	VPERM2F128 $0x31, Y8, Y4, Y0
	VPERM2F128 $0x31, Y9, Y5, Y1
	VPERM2F128 $0x31, Y10, Y6, Y2
	VPERM2F128 $0x31, Y11, Y7, Y3
	VMOVUPS Y0, 128(R12)
	VMOVUPS Y1, 160(R12)
	VMOVUPS Y2, 192(R12)
	VMOVUPS Y3, 224(R12)
	ADDQ $16, AX
	ADDQ $256, R12
	DECQ CX
	JNZ  trloop

trdone:
	VZEROUPPER
	RET

// func scores8x2(q0, q1 *float32, hd int, kT *float32, out0, out1 *float32)
// outH[j] = sum over e in order of qH[e]*kT[8e+j], for two heads at once:
// each lane is one position's float32 sum, product then add per element,
// as the Go loop computes it.
TEXT ·scores8x2(SB), NOSPLIT, $0-48
	MOVQ q0+0(FP), SI
	MOVQ q1+8(FP), DI
	MOVQ hd+16(FP), CX
	MOVQ kT+24(FP), R12
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	TESTQ CX, CX
	JLE   scdone

scloop:
	VMOVUPS      (R12), Y2
	VBROADCASTSS (SI), Y3
	VMULPS       Y2, Y3, Y3
	VADDPS       Y3, Y0, Y0
	VBROADCASTSS (DI), Y4
	VMULPS       Y2, Y4, Y4
	VADDPS       Y4, Y1, Y1
	ADDQ         $4, SI
	ADDQ         $4, DI
	ADDQ         $32, R12
	DECQ         CX
	JNZ          scloop

scdone:
	MOVQ    out0+32(FP), AX
	VMOVUPS Y0, (AX)
	MOVQ    out1+40(FP), AX
	VMOVUPS Y1, (AX)
	VZEROUPPER
	RET

// func axpyF16Heads(acc *float64, ws *float32, heads int, v *uint16, hd int)
// For each head g < heads: acc[g*hd+e] += float64(ws[g] * float32(v[e])),
// e < hd (a multiple of 8): one value row, converted once, into every head
// of its group; per element the same operations as axpyF16.
TEXT ·axpyF16Heads(SB), NOSPLIT, $0-40
	MOVQ acc+0(FP), DI
	MOVQ ws+8(FP), R8
	MOVQ heads+16(FP), R9
	MOVQ v+24(FP), SI
	MOVQ hd+32(FP), CX
	MOVQ CX, R10
	SHLQ $3, R10 // bytes per head of acc
	SHRQ $3, CX
	JZ   ahdone
	TESTQ R9, R9
	JLE  ahdone

ahloop:
	VCVTPH2PS (SI), Y0
	MOVQ DI, R11
	MOVQ R8, R12
	MOVQ R9, DX

ahhead:
	VBROADCASTSS (R12), Y1
	VMULPS       Y1, Y0, Y1
	VCVTPS2PD    X1, Y2
	VEXTRACTF128 $1, Y1, X3
	VCVTPS2PD    X3, Y3
	VADDPD       (R11), Y2, Y2
	VADDPD       32(R11), Y3, Y3
	VMOVUPD      Y2, (R11)
	VMOVUPD      Y3, 32(R11)
	ADDQ         $4, R12
	ADDQ         R10, R11
	DECQ         DX
	JNZ          ahhead

	ADDQ $16, SI
	ADDQ $64, DI
	DECQ CX
	JNZ  ahloop

ahdone:
	VZEROUPPER
	RET

// func axpyF16Run(acc *float64, sc *float32, sstride, heads int, v *uint16, vstride, hd, count int)
// axpyF16Heads for count consecutive cached rows (v, v+vstride bytes, ...)
// in order, the weight of row k for head g at sc + g*sstride bytes + 4k:
// per element the same operations in the same order as count calls. Per
// head and eight elements the sum stays in Z0 across the rows (AVX-512).
TEXT ·axpyF16Run(SB), NOSPLIT, $0-64
	MOVQ acc+0(FP), DI
	MOVQ sc+8(FP), R8
	MOVQ sstride+16(FP), BX
	MOVQ heads+24(FP), R9
	MOVQ vstride+40(FP), DX
	MOVQ hd+48(FP), R10
	SHRQ $3, R10
	JZ   arundone
	TESTQ R9, R9
	JLE  arundone
	MOVQ count+56(FP), CX
	TESTQ CX, CX
	JLE  arundone

arunhead:
	MOVQ v+32(FP), SI // chunk c of row 0
	MOVQ R10, R15

arunchunk:
	VMOVUPD (DI), Z0
	MOVQ    SI, R14
	MOVQ    R8, R12
	MOVQ    count+56(FP), CX

arunrow:
	VCVTPH2PS    (R14), Y1
	VBROADCASTSS (R12), Y2
	VMULPS       Y2, Y1, Y1
	VCVTPS2PD    Y1, Z1
	VADDPD       Z1, Z0, Z0
	ADDQ         DX, R14
	ADDQ         $4, R12
	DECQ         CX
	JNZ          arunrow

	VMOVUPD Z0, (DI)
	ADDQ    $64, DI
	ADDQ    $16, SI
	DECQ    R15
	JNZ     arunchunk

	ADDQ BX, R8
	DECQ R9
	JNZ  arunhead

arundone:
	VZEROUPPER
	RET

// func scaleMaxAsm(s *float32, n int, scale float32) float32
// s[i] *= scale for i < n, returning the largest product (-Inf for none;
// unspecified with a NaN among them).
TEXT ·scaleMaxAsm(SB), NOSPLIT, $0-28
	MOVQ         s+0(FP), SI
	MOVQ         n+8(FP), CX
	VBROADCASTSS scale+16(FP), Y1
	MOVL         $0xff800000, AX
	VMOVD        AX, X0
	VBROADCASTSS X0, Y0

smvec:
	CMPQ    CX, $8
	JLT     smtail
	VMULPS  (SI), Y1, Y2
	VMOVUPS Y2, (SI)
	VMAXPS  Y2, Y0, Y0
	ADDQ    $32, SI
	SUBQ    $8, CX
	JMP     smvec

smtail:
	VEXTRACTF128 $1, Y0, X2
	VMAXPS       X2, X0, X0
	VPERMILPS    $0x4e, X0, X2
	VMAXPS       X2, X0, X0
	VPERMILPS    $0xb1, X0, X2
	VMAXPS       X2, X0, X0
	TESTQ        CX, CX
	JLE          smdone

smone:
	VMOVSS (SI), X2
	VMULSS X1, X2, X2
	VMOVSS X2, (SI)
	VMAXSS X2, X0, X0
	ADDQ   $4, SI
	DECQ   CX
	JNZ    smone

smdone:
	VMOVSS X0, ret+24(FP)
	VZEROUPPER
	RET

// func scaleF16Asm(s *float32, n int, k float32)
// s[i] = float32 of the F16 rounding (nearest even) of s[i]*k for i < n,
// the last n mod 8 under a mask: the softmax's normalization and its F16
// rounding in one pass. Needs AVX-512 F (the mask).
TEXT ·scaleF16Asm(SB), NOSPLIT, $0-20
	MOVQ         s+0(FP), SI
	MOVQ         n+8(FP), CX
	VBROADCASTSS k+16(FP), Y1
	MOVQ         CX, DX
	SHRQ         $3, CX
	JZ           sftail

sfloop:
	VMULPS    (SI), Y1, Y0
	VCVTPS2PH $0, Y0, X0
	VCVTPH2PS X0, Y0
	VMOVUPS   Y0, (SI)
	ADDQ      $32, SI
	DECQ      CX
	JNZ       sfloop

sftail:
	ANDQ      $7, DX
	JZ        sfdone
	MOVQ      DX, CX
	MOVL      $1, AX
	SHLL      CX, AX
	DECL      AX
	KMOVW     AX, K2
	VMOVUPS.Z (SI), K2, Y0
	VMULPS    Y0, Y1, Y0
	VCVTPS2PH $0, Y0, X0
	VCVTPH2PS X0, Y0
	VMOVUPS   Y0, K2, (SI)

sfdone:
	VZEROUPPER
	RET
