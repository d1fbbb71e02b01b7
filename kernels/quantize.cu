// quantize.cu - activation quantization before a quantized product
// (matmul.cu), byte for byte as the CPU backend's quant.QuantizeActivation:
//   quantize_q8_0 / quantize_q8_1: 32-value blocks, d = amax/127, q = x·(127/amax)
//     rounded half to even (ggml's AVX2 quantizer); Q8_1 adds s = d·sum(q).
//   quantize_q8_k: 256-value blocks, d = 1/iscale with iscale = -127/x[i] at the
//     first x[i] of largest magnitude, q = nearest_int(iscale·x) (at most 127),
//     and the 16 sums of 16 quants.
// x is n contiguous floats (rows × cols, cols a multiple of the block), dst
// the blocks back to back (rows × RowBytes(type, cols)). A warp per block.
#include "device.h"
#include "dequant.h"

#define QZ_WARPS 8 // blocks per CUDA block

template <bool Q8_1>
__device__ __forceinline__ void quantize_q8(uint8_t *dst, const float *x, int64_t nblocks) {
    const int lane = threadIdx.x & 31;
    const int64_t b = int64_t(blockIdx.x) * QZ_WARPS + (threadIdx.x >> 5);
    if (b >= nblocks)
        return;
    const float v = x[b * 32 + lane];
    float amax = fabsf(v);
#pragma unroll
    for (int o = 16; o > 0; o >>= 1)
        amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, o));
    const float d = __fdiv_rn(amax, 127.0f), id = amax != 0.0f ? __fdiv_rn(127.0f, amax) : 0.0f;
    const int q = int(rintf(__fmul_rn(v, id)));
    const int64_t size = Q8_1 ? sizeof(block_q8_1) : sizeof(block_q8_0);
    uint8_t *y = dst + b * size;
    y[size - 32 + lane] = uint8_t(int8_t(q));
    if (Q8_1) {
        int sum = q;
#pragma unroll
        for (int o = 16; o > 0; o >>= 1)
            sum += __shfl_xor_sync(0xffffffffu, sum, o);
        if (lane == 1)
            reinterpret_cast<uint16_t *>(y)[1] = __half_as_ushort(__float2half_rn(__fmul_rn(d, float(sum))));
    }
    if (lane == 0)
        reinterpret_cast<uint16_t *>(y)[0] = __half_as_ushort(__float2half_rn(d));
}

extern "C" __global__ void quantize_q8_0(uint8_t *dst, const float *x, int64_t nblocks) {
    quantize_q8<false>(dst, x, nblocks);
}
REGISTER_KERNEL(quantize_q8_0)

extern "C" __global__ void quantize_q8_1(uint8_t *dst, const float *x, int64_t nblocks) {
    quantize_q8<true>(dst, x, nblocks);
}
REGISTER_KERNEL(quantize_q8_1)

// Lane l takes values 8l .. 8l+7 of the super-block.
extern "C" __global__ void quantize_q8_k(uint8_t *dst, const float *x, int64_t nblocks) {
    const int lane = threadIdx.x & 31;
    const int64_t b = int64_t(blockIdx.x) * QZ_WARPS + (threadIdx.x >> 5);
    if (b >= nblocks)
        return;
    const float *xs = x + b * QK_K + 8 * lane;
    float v[8];
#pragma unroll
    for (int k = 0; k < 8; k++)
        v[k] = xs[k];
    // The first value of largest magnitude (quant.signedMax; NaN never wins).
    float amax = 0.0f, vmax = 0.0f;
    int imax = QK_K;
#pragma unroll
    for (int k = 0; k < 8; k++)
        if (amax < fabsf(v[k])) {
            amax = fabsf(v[k]);
            vmax = v[k];
            imax = 8 * lane + k;
        }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        float a = __shfl_xor_sync(0xffffffffu, amax, o), vm = __shfl_xor_sync(0xffffffffu, vmax, o);
        int i = __shfl_xor_sync(0xffffffffu, imax, o);
        if (a > amax || (a == amax && i < imax)) {
            amax = a;
            vmax = vm;
            imax = i;
        }
    }
    uint8_t *y = dst + b * int64_t(sizeof(block_q8_K));
    uint32_t w[2] = {0, 0};
    int sum = 0;
    const float iscale = amax != 0.0f ? __fdiv_rn(-127.0f, vmax) : 0.0f;
    if (amax != 0.0f) {
#pragma unroll
        for (int k = 0; k < 8; k++) {
            int q = min(127, int(rintf(__fmul_rn(iscale, v[k]))));
            sum += q;
            w[k / 4] |= uint32_t(uint8_t(int8_t(q))) << (8 * (k % 4));
        }
    }
    reinterpret_cast<uint32_t *>(y + 4 + 8 * lane)[0] = w[0];
    reinterpret_cast<uint32_t *>(y + 4 + 8 * lane)[1] = w[1];
    sum += __shfl_xor_sync(0xffffffffu, sum, 1);
    if (lane % 2 == 0)
        reinterpret_cast<int16_t *>(y + 260)[lane / 2] = int16_t(sum);
    if (lane == 0)
        reinterpret_cast<float *>(y)[0] = amax != 0.0f ? __fdiv_rn(1.0f, iscale) : 0.0f;
}
REGISTER_KERNEL(quantize_q8_k)
