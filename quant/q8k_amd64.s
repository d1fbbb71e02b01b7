//go:build amd64 && !purego

#include "textflag.h"

// func q8kAsm(src *float32, nb int, dst *byte) bool
// quantQ8_K for nb super-blocks with AVX-512, the same values: amax from
// the largest |x| bit pattern (every |x| finite, else false), the signed
// maximum the first element of that magnitude, q = round-to-even of
// (-127/max)·x (nearestInt's result in its range) capped at 127, the
// 16-element sums, d = 1/iscale.
TEXT ·q8kAsm(SB), NOSPLIT, $0-25
	MOVQ src+0(FP), SI
	MOVQ nb+8(FP), CX
	MOVQ dst+16(FP), DI
	MOVL $0x7fffffff, AX
	VPBROADCASTD AX, Z30
	MOVL $127, AX
	VPBROADCASTD AX, Z29
	MOVL $0x80808080, AX
	VPBROADCASTD AX, Z28
	VPXORD Z27, Z27, Z27
	TESTQ CX, CX
	JLE   qkok

qkblock:
	// Z26 = max over the block of |x| as bits.
	VPANDD (SI), Z30, Z26
	MOVQ   $64, AX

qkmax:
	VPANDD  (SI)(AX*1), Z30, Z25
	VPMAXUD Z25, Z26, Z26
	ADDQ    $64, AX
	CMPQ    AX, $1024
	JLT     qkmax
	VEXTRACTI64X4 $1, Z26, Y25
	VPMAXUD Y25, Y26, Y26
	VEXTRACTI32X4 $1, Y26, X25
	VPMAXUD X25, X26, X26
	VPSHUFD $0x4e, X26, X25
	VPMAXUD X25, X26, X26
	VPSHUFD $0xb1, X26, X25
	VPMAXUD X25, X26, X26
	VMOVD   X26, AX
	CMPL    AX, $0x7f7fffff
	JHI     qkbad
	TESTL   AX, AX
	JNZ     qkfind
	// amax 0: an all-zero block.
	VMOVDQU64 Z27, 0(DI)
	VMOVDQU64 Z27, 64(DI)
	VMOVDQU64 Z27, 128(DI)
	VMOVDQU64 Z27, 192(DI)
	VMOVDQU64 Z27, 228(DI)
	JMP       qknext

qkfind:
	// The first element whose |x| bits equal amax's.
	VPBROADCASTD X26, Z26
	XORQ AX, AX

qkscan:
	VPANDD   (SI)(AX*1), Z30, Z25
	VPCMPEQD Z26, Z25, K1
	KMOVW    K1, DX
	TESTL    DX, DX
	JNZ      qkfound
	ADDQ     $64, AX
	JMP      qkscan

qkfound:
	TZCNTL DX, DX
	SHRQ   $2, AX
	ADDQ   DX, AX
	VMOVSS (SI)(AX*4), X0
	MOVL   $0xc2fe0000, AX // -127
	VMOVD  AX, X1
	VDIVSS X0, X1, X1      // iscale = -127/max
	VBROADCASTSS X1, Z24
	MOVL   $0x3f800000, AX // 1
	VMOVD  AX, X2
	VDIVSS X1, X2, X2
	VMOVSS X2, 0(DI)
	XORQ   AX, AX
	XORQ   BX, BX

qkquant:
	VMULPS    (SI)(AX*1), Z24, Z0
	VCVTPS2DQ Z0, Z0
	VPMINSD   Z29, Z0, Z0
	VPMOVDB   Z0, X0
	VMOVDQU   X0, 4(DI)(BX*1)
	VPXORD    X28, X0, X0
	VPSADBW   X27, X0, X0
	VPSHUFD   $0x4e, X0, X1
	VPADDQ    X1, X0, X0
	VMOVD     X0, DX
	SUBL      $2048, DX
	MOVQ      BX, R8
	SHRQ      $3, R8
	MOVW      DX, 260(DI)(R8*1)
	ADDQ      $64, AX
	ADDQ      $16, BX
	CMPQ      BX, $256
	JLT       qkquant

qknext:
	ADDQ $1024, SI
	ADDQ $292, DI
	DECQ CX
	JNZ  qkblock

qkok:
	MOVB $1, ret+24(FP)
	VZEROUPPER
	RET

qkbad:
	MOVB $0, ret+24(FP)
	VZEROUPPER
	RET
