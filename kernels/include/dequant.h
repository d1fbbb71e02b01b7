/*
 * dequant.h - device-side decoding of the GGML block formats (layouts from
 * quant_blocks.h), element by element, bit for bit as quant.Dequantize (and
 * ggml's dequantize_row_*): every product and sum is an explicit __fmul_rn /
 * __fsub_rn / __fadd_rn so that nvcc cannot fuse them into an FMA.
 *
 * qtype is ggml's type id (quant.Type): QT_* below.
 */
#ifndef ENGINE_DEQUANT_H
#define ENGINE_DEQUANT_H

#include "device.h"
#include "quant_blocks.h"

enum qtype : int {
    QT_F32 = 0,
    QT_F16 = 1,
    QT_Q4_0 = 2,
    QT_Q4_1 = 3,
    QT_Q5_0 = 6,
    QT_Q5_1 = 7,
    QT_Q8_0 = 8,
    QT_Q8_1 = 9,
    QT_Q2_K = 10,
    QT_Q3_K = 11,
    QT_Q4_K = 12,
    QT_Q5_K = 13,
    QT_Q6_K = 14,
    QT_Q8_K = 15,
    QT_BF16 = 30,
    QT_MXFP4 = 39,
};

// Elements per block and bytes per block of each type.
template <int T> struct qt_info;
#define QT_INFO(T, QK, BYTES)                      \
    template <> struct qt_info<T> {                \
        static constexpr int qk = QK;              \
        static constexpr int bytes = BYTES;        \
    };
QT_INFO(QT_F32, 1, 4)
QT_INFO(QT_F16, 1, 2)
QT_INFO(QT_BF16, 1, 2)
QT_INFO(QT_Q4_0, QK4_0, sizeof(block_q4_0))
QT_INFO(QT_Q4_1, QK4_1, sizeof(block_q4_1))
QT_INFO(QT_Q5_0, QK5_0, sizeof(block_q5_0))
QT_INFO(QT_Q5_1, QK5_1, sizeof(block_q5_1))
QT_INFO(QT_Q8_0, QK8_0, sizeof(block_q8_0))
QT_INFO(QT_Q8_1, QK8_1, sizeof(block_q8_1))
QT_INFO(QT_Q2_K, QK_K, sizeof(block_q2_K))
QT_INFO(QT_Q3_K, QK_K, sizeof(block_q3_K))
QT_INFO(QT_Q4_K, QK_K, sizeof(block_q4_K))
QT_INFO(QT_Q5_K, QK_K, sizeof(block_q5_K))
QT_INFO(QT_Q6_K, QK_K, sizeof(block_q6_K))
QT_INFO(QT_Q8_K, QK_K, sizeof(block_q8_K))
QT_INFO(QT_MXFP4, QK_MXFP4, sizeof(block_mxfp4))
#undef QT_INFO

// Bytes of a row of n elements (n a multiple of the block size).
template <int T>
__device__ __forceinline__ int64_t qt_row_bytes(int64_t n) {
    return n / qt_info<T>::qk * qt_info<T>::bytes;
}

__device__ __forceinline__ float fp16_to_f32(qb_half h) { return __half2float(__ushort_as_half(h)); }
__device__ __forceinline__ float bf16_to_f32(uint16_t h) { return __uint_as_float(uint32_t(h) << 16); }

// ggml_e8m0_to_fp32_half: 2^(e-128), MXFP4's scale with the 1/2 of the doubled values folded in.
__device__ __forceinline__ float e8m0_half(uint8_t e) {
    return __uint_as_float(e < 2 ? 0x00200000u << e : uint32_t(e - 1) << 23);
}

// kvalues_mxfp4[q] (the e2m1 values doubled) without a table.
__device__ __forceinline__ int mxfp4_value(int q) {
    int m = q & 7, v = m <= 4 ? m : (m == 5 ? 6 : (m == 6 ? 8 : 12));
    return q & 8 ? -v : v;
}

// q3_scale is the j-th 6-bit Q3_K scale minus 32 (quant.q3Scales).
__device__ __forceinline__ int q3_scale(const uint8_t *s, int j) {
    int lo = j < 8 ? s[j] & 0xF : s[j - 8] >> 4;
    int hi = (s[8 + (j & 3)] >> (2 * (j >> 2))) & 3;
    return (lo | hi << 4) - 32;
}

// scale_min_k4 is ggml's get_scale_min_k4: the j-th 6-bit scale and min of a Q4_K / Q5_K block.
__device__ __forceinline__ void scale_min_k4(const uint8_t *q, int j, int &d, int &m) {
    if (j < 4) {
        d = q[j] & 63;
        m = q[j + 4] & 63;
    } else {
        d = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

// dequant<T>(row, j) is element j of a row of type T, as quant.Dequantize gives it.
template <int T>
__device__ __forceinline__ float dequant(const uint8_t *row, int64_t j);

template <>
__device__ __forceinline__ float dequant<QT_F32>(const uint8_t *row, int64_t j) {
    return reinterpret_cast<const float *>(row)[j];
}
template <>
__device__ __forceinline__ float dequant<QT_F16>(const uint8_t *row, int64_t j) {
    return fp16_to_f32(reinterpret_cast<const uint16_t *>(row)[j]);
}
template <>
__device__ __forceinline__ float dequant<QT_BF16>(const uint8_t *row, int64_t j) {
    return bf16_to_f32(reinterpret_cast<const uint16_t *>(row)[j]);
}
template <>
__device__ __forceinline__ float dequant<QT_Q4_0>(const uint8_t *row, int64_t j) {
    const block_q4_0 *b = reinterpret_cast<const block_q4_0 *>(row) + j / 32;
    int l = int(j % 32), q = l < 16 ? b->qs[l] & 0xF : b->qs[l - 16] >> 4;
    return __fmul_rn(float(q - 8), fp16_to_f32(b->d));
}
template <>
__device__ __forceinline__ float dequant<QT_Q4_1>(const uint8_t *row, int64_t j) {
    const block_q4_1 *b = reinterpret_cast<const block_q4_1 *>(row) + j / 32;
    int l = int(j % 32), q = l < 16 ? b->qs[l] & 0xF : b->qs[l - 16] >> 4;
    return __fadd_rn(__fmul_rn(float(q), fp16_to_f32(b->d)), fp16_to_f32(b->m));
}
template <>
__device__ __forceinline__ float dequant<QT_Q5_0>(const uint8_t *row, int64_t j) {
    const block_q5_0 *b = reinterpret_cast<const block_q5_0 *>(row) + j / 32;
    int l = int(j % 32), q = l < 16 ? b->qs[l] & 0xF : b->qs[l - 16] >> 4;
    q |= ((b->qh[l / 8] >> (l % 8)) & 1) << 4;
    return __fmul_rn(float(q - 16), fp16_to_f32(b->d));
}
template <>
__device__ __forceinline__ float dequant<QT_Q5_1>(const uint8_t *row, int64_t j) {
    const block_q5_1 *b = reinterpret_cast<const block_q5_1 *>(row) + j / 32;
    int l = int(j % 32), q = l < 16 ? b->qs[l] & 0xF : b->qs[l - 16] >> 4;
    q |= ((b->qh[l / 8] >> (l % 8)) & 1) << 4;
    return __fadd_rn(__fmul_rn(float(q), fp16_to_f32(b->d)), fp16_to_f32(b->m));
}
template <>
__device__ __forceinline__ float dequant<QT_Q8_0>(const uint8_t *row, int64_t j) {
    const block_q8_0 *b = reinterpret_cast<const block_q8_0 *>(row) + j / 32;
    return __fmul_rn(float(b->qs[j % 32]), fp16_to_f32(b->d));
}
template <>
__device__ __forceinline__ float dequant<QT_Q8_1>(const uint8_t *row, int64_t j) {
    const block_q8_1 *b = reinterpret_cast<const block_q8_1 *>(row) + j / 32;
    return __fmul_rn(float(b->qs[j % 32]), fp16_to_f32(b->d));
}
template <>
__device__ __forceinline__ float dequant<QT_Q8_K>(const uint8_t *row, int64_t j) {
    const block_q8_K *b = reinterpret_cast<const block_q8_K *>(row) + j / QK_K;
    return __fmul_rn(b->d, float(b->qs[j % QK_K]));
}
template <>
__device__ __forceinline__ float dequant<QT_MXFP4>(const uint8_t *row, int64_t j) {
    const block_mxfp4 *b = reinterpret_cast<const block_mxfp4 *>(row) + j / 32;
    int l = int(j % 32), q = l < 16 ? b->qs[l] & 0xF : b->qs[l - 16] >> 4;
    return __fmul_rn(float(mxfp4_value(q)), e8m0_half(b->e));
}
// The k-quants: element e = 128n + 32k + l of a super-block (n < 2, k < 4, l < 32)
// sits in the n-th half of qs / ql with shift 2k (Q2_K, Q3_K, Q6_K), or e = 64k + 32h + l
// in qs[32k + l]'s nibble h (Q4_K, Q5_K).
template <>
__device__ __forceinline__ float dequant<QT_Q2_K>(const uint8_t *row, int64_t j) {
    const block_q2_K *b = reinterpret_cast<const block_q2_K *>(row) + j / QK_K;
    int e = int(j % QK_K), n = e / 128, k = (e / 32) % 4, l = e % 32;
    int sc = b->scales[e / 16], q = (b->qs[32 * n + l] >> (2 * k)) & 3;
    float dl = __fmul_rn(fp16_to_f32(b->d), float(sc & 0xF)), ml = __fmul_rn(fp16_to_f32(b->dmin), float(sc >> 4));
    return __fsub_rn(__fmul_rn(dl, float(q)), ml);
}
template <>
__device__ __forceinline__ float dequant<QT_Q3_K>(const uint8_t *row, int64_t j) {
    const block_q3_K *b = reinterpret_cast<const block_q3_K *>(row) + j / QK_K;
    int e = int(j % QK_K), n = e / 128, k = (e / 32) % 4, l = e % 32;
    int q = (b->qs[32 * n + l] >> (2 * k)) & 3;
    if (!((b->hmask[l] >> (4 * n + k)) & 1))
        q -= 4;
    float dl = __fmul_rn(fp16_to_f32(b->d), float(q3_scale(b->scales, e / 16)));
    return __fmul_rn(dl, float(q));
}
template <>
__device__ __forceinline__ float dequant<QT_Q4_K>(const uint8_t *row, int64_t j) {
    const block_q4_K *b = reinterpret_cast<const block_q4_K *>(row) + j / QK_K;
    int e = int(j % QK_K), c = e / 32, l = e % 32, sc, m;
    scale_min_k4(b->scales, c, sc, m);
    int q = (b->qs[32 * (c / 2) + l] >> (4 * (c % 2))) & 0xF;
    float d1 = __fmul_rn(fp16_to_f32(b->d), float(sc)), m1 = __fmul_rn(fp16_to_f32(b->dmin), float(m));
    return __fsub_rn(__fmul_rn(d1, float(q)), m1);
}
template <>
__device__ __forceinline__ float dequant<QT_Q5_K>(const uint8_t *row, int64_t j) {
    const block_q5_K *b = reinterpret_cast<const block_q5_K *>(row) + j / QK_K;
    int e = int(j % QK_K), c = e / 32, l = e % 32, sc, m;
    scale_min_k4(b->scales, c, sc, m);
    int q = (b->qs[32 * (c / 2) + l] >> (4 * (c % 2))) & 0xF;
    q |= ((b->qh[l] >> c) & 1) << 4;
    float d1 = __fmul_rn(fp16_to_f32(b->d), float(sc)), m1 = __fmul_rn(fp16_to_f32(b->dmin), float(m));
    return __fsub_rn(__fmul_rn(d1, float(q)), m1);
}
template <>
__device__ __forceinline__ float dequant<QT_Q6_K>(const uint8_t *row, int64_t j) {
    const block_q6_K *b = reinterpret_cast<const block_q6_K *>(row) + j / QK_K;
    int e = int(j % QK_K), n = e / 128, k = (e / 32) % 4, l = e % 32;
    int lo = (b->ql[64 * n + 32 * (k & 1) + l] >> (4 * (k >> 1))) & 0xF;
    int hi = (b->qh[32 * n + l] >> (2 * k)) & 3;
    return __fmul_rn(__fmul_rn(fp16_to_f32(b->d), float(b->scales[e / 16])), float((lo | hi << 4) - 32));
}

#endif /* ENGINE_DEQUANT_H */
