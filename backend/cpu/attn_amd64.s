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
