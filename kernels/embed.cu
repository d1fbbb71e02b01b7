// embed.cu - embedding lookup (backend.Backend.Embed): row i of dst is row
// ids[i] of the table, decoded as quant.Dequantize does (dequant.h), times
// scale when scale != 1. A block per id; an id outside [0, vocab) gives a row
// of NaN instead of a read out of bounds.
#include "device.h"
#include "dequant.h"

template <int T>
__device__ __forceinline__ void embed(float *dst, const uint8_t *table, const int32_t *ids, int64_t n, int64_t vocab,
                                      double scale) {
    const int64_t id = ids[blockIdx.x];
    float *out = dst + int64_t(blockIdx.x) * n;
    if (id < 0 || id >= vocab) {
        for (int64_t j = threadIdx.x; j < n; j += blockDim.x)
            out[j] = __int_as_float(0x7fffffff);
        return;
    }
    const uint8_t *row = table + id * qt_row_bytes<T>(n);
    const float s = float(scale);
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
        float v = dequant<T>(row, j);
        out[j] = s != 1.0f ? __fmul_rn(v, s) : v;
    }
}

// One embed_<t> per type (written out: the registry test reads them).

extern "C" __global__ void embed_f32(float *dst, const uint8_t *table, const int32_t *ids, int64_t n, int64_t vocab,
                                     double scale) {
    embed<QT_F32>(dst, table, ids, n, vocab, scale);
}
REGISTER_KERNEL(embed_f32)

extern "C" __global__ void embed_f16(float *dst, const uint8_t *table, const int32_t *ids, int64_t n, int64_t vocab,
                                     double scale) {
    embed<QT_F16>(dst, table, ids, n, vocab, scale);
}
REGISTER_KERNEL(embed_f16)

extern "C" __global__ void embed_bf16(float *dst, const uint8_t *table, const int32_t *ids, int64_t n, int64_t vocab,
                                      double scale) {
    embed<QT_BF16>(dst, table, ids, n, vocab, scale);
}
REGISTER_KERNEL(embed_bf16)

extern "C" __global__ void embed_q4_0(float *dst, const uint8_t *table, const int32_t *ids, int64_t n, int64_t vocab,
                                      double scale) {
    embed<QT_Q4_0>(dst, table, ids, n, vocab, scale);
}
REGISTER_KERNEL(embed_q4_0)

extern "C" __global__ void embed_q4_1(float *dst, const uint8_t *table, const int32_t *ids, int64_t n, int64_t vocab,
                                      double scale) {
    embed<QT_Q4_1>(dst, table, ids, n, vocab, scale);
}
REGISTER_KERNEL(embed_q4_1)

extern "C" __global__ void embed_q5_0(float *dst, const uint8_t *table, const int32_t *ids, int64_t n, int64_t vocab,
                                      double scale) {
    embed<QT_Q5_0>(dst, table, ids, n, vocab, scale);
}
REGISTER_KERNEL(embed_q5_0)

extern "C" __global__ void embed_q5_1(float *dst, const uint8_t *table, const int32_t *ids, int64_t n, int64_t vocab,
                                      double scale) {
    embed<QT_Q5_1>(dst, table, ids, n, vocab, scale);
}
REGISTER_KERNEL(embed_q5_1)

extern "C" __global__ void embed_q8_0(float *dst, const uint8_t *table, const int32_t *ids, int64_t n, int64_t vocab,
                                      double scale) {
    embed<QT_Q8_0>(dst, table, ids, n, vocab, scale);
}
REGISTER_KERNEL(embed_q8_0)

extern "C" __global__ void embed_q8_1(float *dst, const uint8_t *table, const int32_t *ids, int64_t n, int64_t vocab,
                                      double scale) {
    embed<QT_Q8_1>(dst, table, ids, n, vocab, scale);
}
REGISTER_KERNEL(embed_q8_1)

extern "C" __global__ void embed_q2_k(float *dst, const uint8_t *table, const int32_t *ids, int64_t n, int64_t vocab,
                                      double scale) {
    embed<QT_Q2_K>(dst, table, ids, n, vocab, scale);
}
REGISTER_KERNEL(embed_q2_k)

extern "C" __global__ void embed_q3_k(float *dst, const uint8_t *table, const int32_t *ids, int64_t n, int64_t vocab,
                                      double scale) {
    embed<QT_Q3_K>(dst, table, ids, n, vocab, scale);
}
REGISTER_KERNEL(embed_q3_k)

extern "C" __global__ void embed_q4_k(float *dst, const uint8_t *table, const int32_t *ids, int64_t n, int64_t vocab,
                                      double scale) {
    embed<QT_Q4_K>(dst, table, ids, n, vocab, scale);
}
REGISTER_KERNEL(embed_q4_k)

extern "C" __global__ void embed_q5_k(float *dst, const uint8_t *table, const int32_t *ids, int64_t n, int64_t vocab,
                                      double scale) {
    embed<QT_Q5_K>(dst, table, ids, n, vocab, scale);
}
REGISTER_KERNEL(embed_q5_k)

extern "C" __global__ void embed_q6_k(float *dst, const uint8_t *table, const int32_t *ids, int64_t n, int64_t vocab,
                                      double scale) {
    embed<QT_Q6_K>(dst, table, ids, n, vocab, scale);
}
REGISTER_KERNEL(embed_q6_k)

extern "C" __global__ void embed_q8_k(float *dst, const uint8_t *table, const int32_t *ids, int64_t n, int64_t vocab,
                                      double scale) {
    embed<QT_Q8_K>(dst, table, ids, n, vocab, scale);
}
REGISTER_KERNEL(embed_q8_k)

extern "C" __global__ void embed_mxfp4(float *dst, const uint8_t *table, const int32_t *ids, int64_t n, int64_t vocab,
                                       double scale) {
    embed<QT_MXFP4>(dst, table, ids, n, vocab, scale);
}
REGISTER_KERNEL(embed_mxfp4)
