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

#define EMBED_KERNEL(name, T)                                                                                 \
    extern "C" __global__ void embed_##name(float *dst, const uint8_t *table, const int32_t *ids, int64_t n, \
                                            int64_t vocab, double scale) {                                    \
        embed<T>(dst, table, ids, n, vocab, scale);                                                           \
    }                                                                                                         \
    REGISTER_KERNEL(embed_##name)

EMBED_KERNEL(f32, QT_F32)
EMBED_KERNEL(f16, QT_F16)
EMBED_KERNEL(bf16, QT_BF16)
EMBED_KERNEL(q4_0, QT_Q4_0)
EMBED_KERNEL(q4_1, QT_Q4_1)
EMBED_KERNEL(q5_0, QT_Q5_0)
EMBED_KERNEL(q5_1, QT_Q5_1)
EMBED_KERNEL(q8_0, QT_Q8_0)
EMBED_KERNEL(q8_1, QT_Q8_1)
EMBED_KERNEL(q2_k, QT_Q2_K)
EMBED_KERNEL(q3_k, QT_Q3_K)
EMBED_KERNEL(q4_k, QT_Q4_K)
EMBED_KERNEL(q5_k, QT_Q5_K)
EMBED_KERNEL(q6_k, QT_Q6_K)
EMBED_KERNEL(q8_k, QT_Q8_K)
EMBED_KERNEL(mxfp4, QT_MXFP4)
