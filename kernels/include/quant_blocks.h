/*
 * quant_blocks.h - GGML tensor block layouts, byte for byte as in llama.cpp's
 * ggml-common.h, for the engine's C and CUDA kernels. The Go package quant
 * reads the same bytes; quant/header_test.go parses the size assertions
 * below so the two cannot drift.
 *
 * Half-precision fields are stored as raw IEEE fp16 bits (uint16_t).
 * All multi-byte fields are little-endian.
 */
#ifndef ENGINE_QUANT_BLOCKS_H
#define ENGINE_QUANT_BLOCKS_H

#include <stddef.h>
#include <stdint.h>

#if defined(__cplusplus)
#define QB_STATIC_ASSERT(cond, msg) static_assert(cond, msg)
#else
#define QB_STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)
#endif

#define QK_K 256 /* super-block size of the k-quants */
#define K_SCALE_SIZE 12
#define QK4_0 32
#define QK4_1 32
#define QK5_0 32
#define QK5_1 32
#define QK8_0 32
#define QK8_1 32
#define QK_MXFP4 32

typedef uint16_t qb_half; /* IEEE fp16 bits */

/* x = d * (q - 8); element j in the low nibble of qs[j], j+16 in the high. */
typedef struct {
    qb_half d;
    uint8_t qs[QK4_0 / 2];
} block_q4_0;

/* x = d * q + m */
typedef struct {
    qb_half d;
    qb_half m;
    uint8_t qs[QK4_1 / 2];
} block_q4_1;

/* x = d * (q - 16); qh bit j is the fifth bit of element j. */
typedef struct {
    qb_half d;
    uint8_t qh[4];
    uint8_t qs[QK5_0 / 2];
} block_q5_0;

/* x = d * q + m */
typedef struct {
    qb_half d;
    qb_half m;
    uint8_t qh[4];
    uint8_t qs[QK5_1 / 2];
} block_q5_1;

/* x = d * q */
typedef struct {
    qb_half d;
    int8_t qs[QK8_0];
} block_q8_0;

/* activations for Q4_1/Q5_1: s = d * sum(qs) */
typedef struct {
    qb_half d;
    qb_half s;
    int8_t qs[QK8_1];
} block_q8_1;

/* x = d * (scale & 0xF) * q - dmin * (scale >> 4), 16 sub-blocks of 16 */
typedef struct {
    uint8_t scales[QK_K / 16];
    uint8_t qs[QK_K / 4];
    qb_half d;
    qb_half dmin;
} block_q2_K;

/* x = d * (scale - 32) * (q - 4 * !hbit); 6-bit scales packed in 12 bytes */
typedef struct {
    uint8_t hmask[QK_K / 8];
    uint8_t qs[QK_K / 4];
    uint8_t scales[12];
    qb_half d;
} block_q3_K;

/* x = d * sc * q - dmin * m; 8 sub-blocks of 32, 6-bit sc/m (get_scale_min_k4) */
typedef struct {
    qb_half d;
    qb_half dmin;
    uint8_t scales[K_SCALE_SIZE];
    uint8_t qs[QK_K / 2];
} block_q4_K;

/* as Q4_K with a fifth bit per element in qh */
typedef struct {
    qb_half d;
    qb_half dmin;
    uint8_t scales[K_SCALE_SIZE];
    uint8_t qh[QK_K / 8];
    uint8_t qs[QK_K / 2];
} block_q5_K;

/* x = d * scale * (q - 32); low 4 bits in ql, high 2 bits in qh */
typedef struct {
    uint8_t ql[QK_K / 2];
    uint8_t qh[QK_K / 4];
    int8_t scales[QK_K / 16];
    qb_half d;
} block_q6_K;

/* activations for the k-quants: float scale, sums of 16 quants */
typedef struct {
    float d;
    int8_t qs[QK_K];
    int16_t bsums[QK_K / 16];
} block_q8_K;

/* x = 2^(e-128) * kvalues_mxfp4[q] (e8m0 scale, doubled e2m1 values) */
typedef struct {
    uint8_t e;
    uint8_t qs[QK_MXFP4 / 2];
} block_mxfp4;

QB_STATIC_ASSERT(sizeof(block_q4_0) == 18, "block_q4_0 size");
QB_STATIC_ASSERT(sizeof(block_q4_1) == 20, "block_q4_1 size");
QB_STATIC_ASSERT(sizeof(block_q5_0) == 22, "block_q5_0 size");
QB_STATIC_ASSERT(sizeof(block_q5_1) == 24, "block_q5_1 size");
QB_STATIC_ASSERT(sizeof(block_q8_0) == 34, "block_q8_0 size");
QB_STATIC_ASSERT(sizeof(block_q8_1) == 36, "block_q8_1 size");
QB_STATIC_ASSERT(sizeof(block_q2_K) == 84, "block_q2_K size");
QB_STATIC_ASSERT(sizeof(block_q3_K) == 110, "block_q3_K size");
QB_STATIC_ASSERT(sizeof(block_q4_K) == 144, "block_q4_K size");
QB_STATIC_ASSERT(sizeof(block_q5_K) == 176, "block_q5_K size");
QB_STATIC_ASSERT(sizeof(block_q6_K) == 210, "block_q6_K size");
QB_STATIC_ASSERT(sizeof(block_q8_K) == 292, "block_q8_K size");
QB_STATIC_ASSERT(sizeof(block_mxfp4) == 17, "block_mxfp4 size");

/* field offsets the Go code hard-codes */
QB_STATIC_ASSERT(offsetof(block_q5_0, qs) == 6, "block_q5_0 qs offset");
QB_STATIC_ASSERT(offsetof(block_q5_1, qh) == 4, "block_q5_1 qh offset");
QB_STATIC_ASSERT(offsetof(block_q2_K, d) == 80, "block_q2_K d offset");
QB_STATIC_ASSERT(offsetof(block_q3_K, scales) == 96, "block_q3_K scales offset");
QB_STATIC_ASSERT(offsetof(block_q3_K, d) == 108, "block_q3_K d offset");
QB_STATIC_ASSERT(offsetof(block_q4_K, qs) == 16, "block_q4_K qs offset");
QB_STATIC_ASSERT(offsetof(block_q5_K, qs) == 48, "block_q5_K qs offset");
QB_STATIC_ASSERT(offsetof(block_q6_K, scales) == 192, "block_q6_K scales offset");
QB_STATIC_ASSERT(offsetof(block_q6_K, d) == 208, "block_q6_K d offset");
QB_STATIC_ASSERT(offsetof(block_q8_K, bsums) == 260, "block_q8_K bsums offset");

#endif /* ENGINE_QUANT_BLOCKS_H */
