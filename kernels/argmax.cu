// argmax.cu - Argmax (backend.Backend.Argmax): out[i] is the index of the
// largest value of row rows[i] of x (cols columns). One block per listed row.
// As the CPU backend's scan `if v > row[best]`: ties go to the lowest index,
// NaN never wins, and a NaN in column 0 (or a row of NaN) gives 0.
#include "device.h"

struct ArgBest {
    float v;
    int32_t i; // INT32_MAX: none yet
};

__device__ __forceinline__ ArgBest arg_better(ArgBest a, ArgBest b) {
    if (b.i == INT32_MAX)
        return a;
    if (a.i == INT32_MAX)
        return b;
    if (a.v > b.v || (a.v == b.v && a.i < b.i))
        return a;
    return b;
}

__device__ __forceinline__ ArgBest arg_warp(ArgBest a) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        ArgBest b;
        b.v = __shfl_xor_sync(0xffffffffu, a.v, o);
        b.i = __shfl_xor_sync(0xffffffffu, a.i, o);
        a = arg_better(a, b);
    }
    return a;
}

// blockDim.x: a multiple of 32, at most 1024.
extern "C" __global__ void argmax_f32(int32_t *out, const float *x, const int32_t *rows, int64_t cols) {
    __shared__ float sv[32];
    __shared__ int32_t si[32];
    const float *row = x + int64_t(rows[blockIdx.x]) * cols;
    ArgBest a = {0.0f, INT32_MAX};
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) {
        float v = row[j];
        if (!isnan(v))
            a = arg_better(a, ArgBest{v, int32_t(j)});
    }
    a = arg_warp(a);
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (lane == 0) {
        sv[warp] = a.v;
        si[warp] = a.i;
    }
    __syncthreads();
    if (warp == 0) {
        a = lane < int(blockDim.x >> 5) ? ArgBest{sv[lane], si[lane]} : ArgBest{0.0f, INT32_MAX};
        a = arg_warp(a);
        if (lane == 0)
            out[blockIdx.x] = (a.i == INT32_MAX || isnan(row[0])) ? 0 : a.i;
    }
}
REGISTER_KERNEL(argmax_f32)
