//go:build amd64 && !purego

#include "textflag.h"

// Eight-row decode kernels: DotMany over groups of eight weight rows, one
// row per float32 lane. Per block, each row's exact int32 sum goes into one
// YMM, RED8 reduces the eight YMMs to one YMM of the rows' block sums, and
// the float part runs in the eight lanes: each lane does its row's scalar
// Go operations (dotQ4_0, dotQ4_1, dotQ5_0, dotQ5_1, dotQ8_0) in their
// order, so every row's result is bit-identical to the single-row kernels
// and does not depend on the rows beside it. What is saved is the
// single-row kernels' horizontal sum and scalar float chain per block.
//
// Row r of a group starts at SI + r*stride: R13 = stride, BX = 3*stride,
// DX = 5*stride, R10 = 7*stride. DI is the activation block, R9 the fp16
// table, R11 the group's first row, R12 out, R14 the prefetch pointer, Y11
// the eight sums; groups+8(FP) counts the groups left.
//
// The V kernels use AVX512-VNNI VPDPBUSD (unsigned codes times signed
// activations into int32, EVEX-encoded on YMM) and AVX512BW masked byte
// adds; the A kernels are AVX2 only (with F16C, as every AVX2 CPU has).

// shufDM reorders each 128-bit half of four (d, m) fp16 pairs to the four
// d, then the four m.
DATA shufDM<>+0(SB)/8, $0x0d0c090805040100
DATA shufDM<>+8(SB)/8, $0x0f0e0b0a07060302
DATA shufDM<>+16(SB)/8, $0x0d0c090805040100
DATA shufDM<>+24(SB)/8, $0x0f0e0b0a07060302
GLOBL shufDM<>(SB), RODATA|NOPTR, $32

// M8BCAST fills every byte of Y with the byte b.
#define M8BCAST(b, X, Y) \
	MOVL $(b*0x01010101), AX; \
	VMOVD AX, X; \
	VPBROADCASTD X, Y

#define SETUP8 \
	MOVQ nb+0(FP), R8; \
	MOVQ w+16(FP), R11; \
	MOVQ wstride+24(FP), R13; \
	MOVQ tab+40(FP), R9; \
	MOVQ out+48(FP), R12; \
	LEAQ (R13)(R13*2), BX; \
	LEAQ (R13)(R13*4), DX; \
	LEAQ (BX)(R13*4), R10

#define GROUP8 \
	MOVQ   R8, CX; \
	MOVQ   R11, SI; \
	LEAQ   (R11)(R13*8), R14; \
	LEAQ   (R14)(R13*8), R14; \
	MOVQ   x+32(FP), DI; \
	VXORPS Y11, Y11, Y11

// PF3 and PF5 prefetch the group after next (16 rows ahead: on a quiet
// machine 12-14 GB/s streaming Q8_0 against 11 for 8 rows and 10-12 for
// 32) as one linear stream (the rows are back to back unless padded): per
// block the 8*size bytes at R14, in lines at most 64 bytes apart (3 lines
// for sizes up to 24, 5 up to 40). Eight rows read side by side are eight
// strided streams, which the hardware prefetchers follow worse than the
// one stream of a row at a time.
#define PF3(size) \
	PREFETCHT0 (R14); \
	PREFETCHT0 64(R14); \
	PREFETCHT0 128(R14); \
	ADDQ       $(8*size), R14

// PF5 (Q8_0) prefetches into L2 only (PREFETCHT1): streaming Gemma 3's
// output matrix that gave 21-27 GB/s against 16-20 with PREFETCHT0, which
// holds L1 miss buffers (Q4_1's PF3 gained nothing from it).
#define PF5(size) \
	PREFETCHT1 (R14); \
	PREFETCHT1 64(R14); \
	PREFETCHT1 128(R14); \
	PREFETCHT1 192(R14); \
	PREFETCHT1 256(R14); \
	ADDQ       $(8*size), R14

// NEXT8 stores the group's sums and loops back to label l for the next.
#define NEXT8(l) \
	VMOVUPS Y11, (R12); \
	ADDQ    $32, R12; \
	LEAQ    (R11)(R13*8), R11; \
	DECQ    groups+8(FP); \
	JNZ     l; \
	VZEROUPPER; \
	RET

// RED8 leaves in lane r of Y0 the sum of the eight int32 of Yr (r < 8).
// Clobbers Y1-Y7.
#define RED8 \
	VPHADDD    Y1, Y0, Y0; \
	VPHADDD    Y3, Y2, Y2; \
	VPHADDD    Y5, Y4, Y4; \
	VPHADDD    Y7, Y6, Y6; \
	VPHADDD    Y2, Y0, Y0; \
	VPHADDD    Y6, Y4, Y4; \
	VPERM2I128 $0x20, Y4, Y0, Y1; \
	VPERM2I128 $0x31, Y4, Y0, Y2; \
	VPADDD     Y2, Y1, Y0

// SCALESDM loads the eight rows' (d, m) fp16 pairs at the block start as
// float32: d into Y1, m into Y2.
#define SCALESDM \
	VMOVD        (SI), X1; \
	VPINSRD      $1, (SI)(R13*1), X1, X1; \
	VPINSRD      $2, (SI)(R13*2), X1, X1; \
	VPINSRD      $3, (SI)(BX*1), X1, X1; \
	VMOVD        (SI)(R13*4), X2; \
	VPINSRD      $1, (SI)(DX*1), X2, X2; \
	VPINSRD      $2, (SI)(BX*2), X2, X2; \
	VPINSRD      $3, (SI)(R10*1), X2, X2; \
	VINSERTI128  $1, X2, Y1, Y1; \
	VPSHUFB      shufDM<>(SB), Y1, Y1; \
	VPERMQ       $0xd8, Y1, Y1; \
	VEXTRACTI128 $1, Y1, X2; \
	VCVTPH2PS    X1, Y1; \
	VCVTPH2PS    X2, Y2

// SCALESD loads the eight rows' fp16 d at the block start into Y1.
#define SCALESD \
	MOVWLZX   (SI), AX; \
	VMOVD     AX, X1; \
	VPINSRW   $1, (SI)(R13*1), X1, X1; \
	VPINSRW   $2, (SI)(R13*2), X1, X1; \
	VPINSRW   $3, (SI)(BX*1), X1, X1; \
	VPINSRW   $4, (SI)(R13*4), X1, X1; \
	VPINSRW   $5, (SI)(DX*1), X1, X1; \
	VPINSRW   $6, (SI)(BX*2), X1, X1; \
	VPINSRW   $7, (SI)(R10*1), X1, X1; \
	VCVTPH2PS X1, Y1

// XHALF broadcasts the activation block's fp16 at off(DI) into Y.
#define XHALF(off, Y) \
	MOVWLZX      off(DI), AX; \
	VBROADCASTSS (R9)(AX*4), Y

// FLOATDM is, per lane, sumf += float32(d_w*d_x)*float32(s) +
// float32(m_w*s_x), s the int32 in Y0 (dotQ4_1's order).
#define FLOATDM \
	SCALESDM; \
	VCVTDQ2PS Y0, Y0; \
	XHALF(0, Y3); \
	VMULPS    Y3, Y1, Y1; \
	VMULPS    Y0, Y1, Y1; \
	XHALF(2, Y3); \
	VMULPS    Y3, Y2, Y2; \
	VADDPS    Y2, Y1, Y1; \
	VADDPS    Y1, Y11, Y11

// FLOATD is, per lane, sumf += float32(d_w*d_x) * float32(s) (dotQ8_0's
// and dotQ5_0's order; the product commutes).
#define FLOATD \
	SCALESD; \
	VCVTDQ2PS Y0, Y0; \
	XHALF(0, Y3); \
	VMULPS    Y3, Y1, Y1; \
	VMULPS    Y0, Y1, Y1; \
	VADDPS    Y1, Y11, Y11

// NIBBLES loads the 16 packed bytes at qs as 32 codes in element order
// into Y8 (low nibbles, then high nibbles). Y15 holds 0x0f bytes.
#define NIBBLES(qs) \
	VMOVDQU     qs, X8; \
	VPSRLW      $4, X8, X9; \
	VINSERTI128 $1, X9, Y8, Y8; \
	VPAND       Y15, Y8, Y8

// R41V sets acc to the eight int32 lane sums of a Q4_1 row's codes at qs
// times the activations in Y10 (VNNI).
#define R41V(qs, acc) \
	NIBBLES(qs); \
	VPXOR    acc, acc, acc; \
	VPDPBUSD Y10, Y8, acc

// R41A is R41V in AVX2: codes < 16, so VPMADDUBSW cannot saturate. Y14
// holds int16 ones.
#define R41A(qs, acc) \
	NIBBLES(qs); \
	VPMADDUBSW Y10, Y8, Y8; \
	VPMADDWD   Y14, Y8, acc

#define ROWS41V \
	R41V(4(SI), Y0); \
	R41V(4(SI)(R13*1), Y1); \
	R41V(4(SI)(R13*2), Y2); \
	R41V(4(SI)(BX*1), Y3); \
	R41V(4(SI)(R13*4), Y4); \
	R41V(4(SI)(DX*1), Y5); \
	R41V(4(SI)(BX*2), Y6); \
	R41V(4(SI)(R10*1), Y7)

#define ROWS41A \
	R41A(4(SI), Y0); \
	R41A(4(SI)(R13*1), Y1); \
	R41A(4(SI)(R13*2), Y2); \
	R41A(4(SI)(BX*1), Y3); \
	R41A(4(SI)(R13*4), Y4); \
	R41A(4(SI)(DX*1), Y5); \
	R41A(4(SI)(BX*2), Y6); \
	R41A(4(SI)(R10*1), Y7)

// func many8Q4_1V(nb, groups int, w *byte, wstride int, x *byte, tab *[65536]float32, out *float32)
TEXT ·many8Q4_1V(SB), NOSPLIT, $0-56
	SETUP8
	M8BCAST(0x0f, X15, Y15)

m41vgroup:
	GROUP8

m41vloop:
	PF3(20)
	VMOVDQU 4(DI), Y10
	ROWS41V
	RED8
	FLOATDM
	ADDQ $20, SI
	ADDQ $36, DI
	DECQ CX
	JNZ  m41vloop
	NEXT8(m41vgroup)

// func many8Q4_1A(nb, groups int, w *byte, wstride int, x *byte, tab *[65536]float32, out *float32)
TEXT ·many8Q4_1A(SB), NOSPLIT, $0-56
	SETUP8
	M8BCAST(0x0f, X15, Y15)
	MOVL         $0x00010001, AX
	VMOVD        AX, X14
	VPBROADCASTD X14, Y14

m41agroup:
	GROUP8

m41aloop:
	PF3(20)
	VMOVDQU 4(DI), Y10
	ROWS41A
	RED8
	FLOATDM
	ADDQ $20, SI
	ADDQ $36, DI
	DECQ CX
	JNZ  m41aloop
	NEXT8(m41agroup)

// OFFSET sets Y12 to minus the offset (bytes of Y13) times the
// activations in Y10, as eight int32 lane sums: a row's accumulator starts
// there, so that VPDPBUSD of its unsigned codes leaves the lane sums of
// (code - offset) times activation, exactly.
#define OFFSET \
	VPXOR    Y12, Y12, Y12; \
	VPDPBUSD Y10, Y13, Y12; \
	VPXOR    Y9, Y9, Y9; \
	VPSUBD   Y12, Y9, Y12

// R80V: a Q8_0 row's int8 weights at qs made unsigned (w + 128, by
// flipping the sign bit; Y13 holds 0x80 bytes) and offset by 128.
#define R80V(qs, acc) \
	VPXOR    qs, Y13, Y8; \
	VMOVDQA  Y12, acc; \
	VPDPBUSD Y10, Y8, acc

#define ROWS80V \
	R80V(2(SI), Y0); \
	R80V(2(SI)(R13*1), Y1); \
	R80V(2(SI)(R13*2), Y2); \
	R80V(2(SI)(BX*1), Y3); \
	R80V(2(SI)(R13*4), Y4); \
	R80V(2(SI)(DX*1), Y5); \
	R80V(2(SI)(BX*2), Y6); \
	R80V(2(SI)(R10*1), Y7)

// func many8Q8_0V(nb, groups int, w *byte, wstride int, x *byte, tab *[65536]float32, out *float32)
TEXT ·many8Q8_0V(SB), NOSPLIT, $0-56
	SETUP8
	M8BCAST(0x80, X13, Y13)

m80vgroup:
	GROUP8

m80vloop:
	PF5(34)
	VMOVDQU 2(DI), Y10
	OFFSET
	ROWS80V
	RED8
	FLOATD
	ADDQ $34, SI
	ADDQ $34, DI
	DECQ CX
	JNZ  m80vloop
	NEXT8(m80vgroup)

// R80A: a Q8_0 row through int16 (exact for all bytes); Y10 and Y12 hold
// the activations' two halves as int16.
#define R80A(lo, hi, acc) \
	VPMOVSXBW lo, Y8; \
	VPMOVSXBW hi, Y9; \
	VPMADDWD  Y10, Y8, Y8; \
	VPMADDWD  Y12, Y9, Y9; \
	VPADDD    Y9, Y8, acc

// func many8Q8_0A(nb, groups int, w *byte, wstride int, x *byte, tab *[65536]float32, out *float32)
TEXT ·many8Q8_0A(SB), NOSPLIT, $0-56
	SETUP8

m80agroup:
	GROUP8

m80aloop:
	PF5(34)
	VPMOVSXBW 2(DI), Y10
	VPMOVSXBW 18(DI), Y12
	R80A(2(SI), 18(SI), Y0)
	R80A(2(SI)(R13*1), 18(SI)(R13*1), Y1)
	R80A(2(SI)(R13*2), 18(SI)(R13*2), Y2)
	R80A(2(SI)(BX*1), 18(SI)(BX*1), Y3)
	R80A(2(SI)(R13*4), 18(SI)(R13*4), Y4)
	R80A(2(SI)(DX*1), 18(SI)(DX*1), Y5)
	R80A(2(SI)(BX*2), 18(SI)(BX*2), Y6)
	R80A(2(SI)(R10*1), 18(SI)(R10*1), Y7)
	RED8
	FLOATD
	ADDQ $34, SI
	ADDQ $34, DI
	DECQ CX
	JNZ  m80aloop
	NEXT8(m80agroup)

// R50V: a Q5_0 row, the low four bits from qs, the fifth (bit j of the
// qh word for element j) added as 0x10 (Y13) under a byte mask; offset 16.
#define R50V(qs, qh, acc) \
	NIBBLES(qs); \
	KMOVD    qh, K1; \
	VPADDB   Y13, Y8, K1, Y8; \
	VMOVDQA  Y12, acc; \
	VPDPBUSD Y10, Y8, acc

// func many8Q5_0V(nb, groups int, w *byte, wstride int, x *byte, tab *[65536]float32, out *float32)
TEXT ·many8Q5_0V(SB), NOSPLIT, $0-56
	SETUP8
	M8BCAST(0x0f, X15, Y15)
	M8BCAST(0x10, X13, Y13)

m50vgroup:
	GROUP8

m50vloop:
	PF3(22)
	VMOVDQU 2(DI), Y10
	OFFSET
	R50V(6(SI), 2(SI), Y0)
	R50V(6(SI)(R13*1), 2(SI)(R13*1), Y1)
	R50V(6(SI)(R13*2), 2(SI)(R13*2), Y2)
	R50V(6(SI)(BX*1), 2(SI)(BX*1), Y3)
	R50V(6(SI)(R13*4), 2(SI)(R13*4), Y4)
	R50V(6(SI)(DX*1), 2(SI)(DX*1), Y5)
	R50V(6(SI)(BX*2), 2(SI)(BX*2), Y6)
	R50V(6(SI)(R10*1), 2(SI)(R10*1), Y7)
	RED8
	FLOATD
	ADDQ $22, SI
	ADDQ $34, DI
	DECQ CX
	JNZ  m50vloop
	NEXT8(m50vgroup)

// m8qhShuf and m8qhBits spread a Q5 qh word over the bytes (qhShuf and
// qhBits of dot_amd64.s): byte k of qh to bytes 8k..8k+7, then bit j mod 8
// selected in byte j.
DATA m8qhShuf<>+0(SB)/8, $0x0000000000000000
DATA m8qhShuf<>+8(SB)/8, $0x0101010101010101
DATA m8qhShuf<>+16(SB)/8, $0x0202020202020202
DATA m8qhShuf<>+24(SB)/8, $0x0303030303030303
GLOBL m8qhShuf<>(SB), RODATA|NOPTR, $32

DATA m8qhBits<>+0(SB)/8, $0x8040201008040201
DATA m8qhBits<>+8(SB)/8, $0x8040201008040201
DATA m8qhBits<>+16(SB)/8, $0x8040201008040201
DATA m8qhBits<>+24(SB)/8, $0x8040201008040201
GLOBL m8qhBits<>(SB), RODATA|NOPTR, $32

// R50A is R50V in AVX2: codes < 32, so VPMADDUBSW cannot saturate, and the
// offset comes off the int16 pair sums (Y12: 16 times the activation
// pairs; the difference fits int16) before VPMADDWD. Y13 holds 0x10
// bytes, Y14 int16 ones.
#define R50A(qs, qh, acc) \
	NIBBLES(qs); \
	VPBROADCASTD qh, Y9; \
	VPSHUFB      m8qhShuf<>(SB), Y9, Y9; \
	VPAND        m8qhBits<>(SB), Y9, Y9; \
	VPCMPEQB     m8qhBits<>(SB), Y9, Y9; \
	VPAND        Y13, Y9, Y9; \
	VPOR         Y9, Y8, Y8; \
	VPMADDUBSW   Y10, Y8, Y8; \
	VPSUBW       Y12, Y8, Y8; \
	VPMADDWD     Y14, Y8, acc

// func many8Q5_0A(nb, groups int, w *byte, wstride int, x *byte, tab *[65536]float32, out *float32)
TEXT ·many8Q5_0A(SB), NOSPLIT, $0-56
	SETUP8
	M8BCAST(0x0f, X15, Y15)
	M8BCAST(0x10, X13, Y13)
	MOVL         $0x00010001, AX
	VMOVD        AX, X14
	VPBROADCASTD X14, Y14

m50agroup:
	GROUP8

m50aloop:
	PF3(22)
	VMOVDQU    2(DI), Y10
	VPMADDUBSW Y10, Y13, Y12
	R50A(6(SI), 2(SI), Y0)
	R50A(6(SI)(R13*1), 2(SI)(R13*1), Y1)
	R50A(6(SI)(R13*2), 2(SI)(R13*2), Y2)
	R50A(6(SI)(BX*1), 2(SI)(BX*1), Y3)
	R50A(6(SI)(R13*4), 2(SI)(R13*4), Y4)
	R50A(6(SI)(DX*1), 2(SI)(DX*1), Y5)
	R50A(6(SI)(BX*2), 2(SI)(BX*2), Y6)
	R50A(6(SI)(R10*1), 2(SI)(R10*1), Y7)
	RED8
	FLOATD
	ADDQ $22, SI
	ADDQ $34, DI
	DECQ CX
	JNZ  m50aloop
	NEXT8(m50agroup)

// FLOATD3 is, per lane, sumf += float32(float32(s) * d_w * d_x) (dotQ4_0's
// order: s times d_w first).
#define FLOATD3 \
	SCALESD; \
	VCVTDQ2PS Y0, Y0; \
	VMULPS    Y1, Y0, Y0; \
	XHALF(0, Y3); \
	VMULPS    Y3, Y0, Y0; \
	VADDPS    Y0, Y11, Y11

// R40V: a Q4_0 row, codes offset by 8 (Y12 from OFFSET with 0x08 bytes).
#define R40V(qs, acc) \
	NIBBLES(qs); \
	VMOVDQA  Y12, acc; \
	VPDPBUSD Y10, Y8, acc

// func many8Q4_0V(nb, groups int, w *byte, wstride int, x *byte, tab *[65536]float32, out *float32)
TEXT ·many8Q4_0V(SB), NOSPLIT, $0-56
	SETUP8
	M8BCAST(0x0f, X15, Y15)
	M8BCAST(0x08, X13, Y13)

m40vgroup:
	GROUP8

m40vloop:
	PF3(18)
	VMOVDQU 2(DI), Y10
	OFFSET
	R40V(2(SI), Y0)
	R40V(2(SI)(R13*1), Y1)
	R40V(2(SI)(R13*2), Y2)
	R40V(2(SI)(BX*1), Y3)
	R40V(2(SI)(R13*4), Y4)
	R40V(2(SI)(DX*1), Y5)
	R40V(2(SI)(BX*2), Y6)
	R40V(2(SI)(R10*1), Y7)
	RED8
	FLOATD3
	ADDQ $18, SI
	ADDQ $34, DI
	DECQ CX
	JNZ  m40vloop
	NEXT8(m40vgroup)

// R40A is R40V in AVX2, the offset taken off the int16 pair sums (Y12: 8
// times the activation pairs) as in R50A.
#define R40A(qs, acc) \
	NIBBLES(qs); \
	VPMADDUBSW Y10, Y8, Y8; \
	VPSUBW     Y12, Y8, Y8; \
	VPMADDWD   Y14, Y8, acc

// func many8Q4_0A(nb, groups int, w *byte, wstride int, x *byte, tab *[65536]float32, out *float32)
TEXT ·many8Q4_0A(SB), NOSPLIT, $0-56
	SETUP8
	M8BCAST(0x0f, X15, Y15)
	M8BCAST(0x08, X13, Y13)
	MOVL         $0x00010001, AX
	VMOVD        AX, X14
	VPBROADCASTD X14, Y14

m40agroup:
	GROUP8

m40aloop:
	PF3(18)
	VMOVDQU    2(DI), Y10
	VPMADDUBSW Y10, Y13, Y12
	R40A(2(SI), Y0)
	R40A(2(SI)(R13*1), Y1)
	R40A(2(SI)(R13*2), Y2)
	R40A(2(SI)(BX*1), Y3)
	R40A(2(SI)(R13*4), Y4)
	R40A(2(SI)(DX*1), Y5)
	R40A(2(SI)(BX*2), Y6)
	R40A(2(SI)(R10*1), Y7)
	RED8
	FLOATD3
	ADDQ $18, SI
	ADDQ $34, DI
	DECQ CX
	JNZ  m40aloop
	NEXT8(m40agroup)

// R51V: a Q5_1 row (no offset), the fifth bits added as in R50V.
#define R51V(qs, qh, acc) \
	NIBBLES(qs); \
	KMOVD    qh, K1; \
	VPADDB   Y13, Y8, K1, Y8; \
	VPXOR    acc, acc, acc; \
	VPDPBUSD Y10, Y8, acc

// func many8Q5_1V(nb, groups int, w *byte, wstride int, x *byte, tab *[65536]float32, out *float32)
TEXT ·many8Q5_1V(SB), NOSPLIT, $0-56
	SETUP8
	M8BCAST(0x0f, X15, Y15)
	M8BCAST(0x10, X13, Y13)

m51vgroup:
	GROUP8

m51vloop:
	PF3(24)
	VMOVDQU 4(DI), Y10
	R51V(8(SI), 4(SI), Y0)
	R51V(8(SI)(R13*1), 4(SI)(R13*1), Y1)
	R51V(8(SI)(R13*2), 4(SI)(R13*2), Y2)
	R51V(8(SI)(BX*1), 4(SI)(BX*1), Y3)
	R51V(8(SI)(R13*4), 4(SI)(R13*4), Y4)
	R51V(8(SI)(DX*1), 4(SI)(DX*1), Y5)
	R51V(8(SI)(BX*2), 4(SI)(BX*2), Y6)
	R51V(8(SI)(R10*1), 4(SI)(R10*1), Y7)
	RED8
	FLOATDM
	ADDQ $24, SI
	ADDQ $36, DI
	DECQ CX
	JNZ  m51vloop
	NEXT8(m51vgroup)

// R51A is R51V in AVX2 (the fifth bits as in R50A; codes < 32).
#define R51A(qs, qh, acc) \
	NIBBLES(qs); \
	VPBROADCASTD qh, Y9; \
	VPSHUFB      m8qhShuf<>(SB), Y9, Y9; \
	VPAND        m8qhBits<>(SB), Y9, Y9; \
	VPCMPEQB     m8qhBits<>(SB), Y9, Y9; \
	VPAND        Y13, Y9, Y9; \
	VPOR         Y9, Y8, Y8; \
	VPMADDUBSW   Y10, Y8, Y8; \
	VPMADDWD     Y14, Y8, acc

// func many8Q5_1A(nb, groups int, w *byte, wstride int, x *byte, tab *[65536]float32, out *float32)
TEXT ·many8Q5_1A(SB), NOSPLIT, $0-56
	SETUP8
	M8BCAST(0x0f, X15, Y15)
	M8BCAST(0x10, X13, Y13)
	MOVL         $0x00010001, AX
	VMOVD        AX, X14
	VPBROADCASTD X14, Y14

m51agroup:
	GROUP8

m51aloop:
	PF3(24)
	VMOVDQU 4(DI), Y10
	R51A(8(SI), 4(SI), Y0)
	R51A(8(SI)(R13*1), 4(SI)(R13*1), Y1)
	R51A(8(SI)(R13*2), 4(SI)(R13*2), Y2)
	R51A(8(SI)(BX*1), 4(SI)(BX*1), Y3)
	R51A(8(SI)(R13*4), 4(SI)(R13*4), Y4)
	R51A(8(SI)(DX*1), 4(SI)(DX*1), Y5)
	R51A(8(SI)(BX*2), 4(SI)(BX*2), Y6)
	R51A(8(SI)(R10*1), 4(SI)(R10*1), Y7)
	RED8
	FLOATDM
	ADDQ $24, SI
	ADDQ $36, DI
	DECQ CX
	JNZ  m51aloop
	NEXT8(m51agroup)

// func lanesAddRow(nb int, d *float32, acc *int32, sums *[8]float32)
// For k < nb: sums[l] += float32(d[k] * float32(acc[8k+l])), l < 8 (one
// row's kLanes.add calls in their order).
TEXT ·lanesAddRow(SB), NOSPLIT, $0-32
	MOVQ    nb+0(FP), CX
	MOVQ    d+8(FP), SI
	MOVQ    acc+16(FP), DI
	MOVQ    sums+24(FP), DX
	VMOVUPS (DX), Y0
	TESTQ   CX, CX
	JLE     larstore

larloop:
	VCVTDQ2PS    (DI), Y1
	VBROADCASTSS (SI), Y2
	VMULPS       Y1, Y2, Y1
	VADDPS       Y1, Y0, Y0
	ADDQ         $4, SI
	ADDQ         $32, DI
	DECQ         CX
	JNZ          larloop

larstore:
	VMOVUPS Y0, (DX)
	VZEROUPPER
	RET
