/*
 * reduce.h - warp and block reductions shared by the kernels.
 * Block reductions need blockDim.x a multiple of 32 (at most 1024), a 1-D
 * block, and every thread of the block calling them (they hold barriers).
 */
#ifndef ENGINE_REDUCE_H
#define ENGINE_REDUCE_H

#include "device.h"

template <class T>
__device__ __forceinline__ T warp_sum(T v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

// The sum of v over the block, returned to every thread. scratch holds 32 T.
template <class T>
__device__ __forceinline__ T block_sum(T v, T *scratch) {
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    v = warp_sum(v);
    if (lane == 0)
        scratch[warp] = v;
    __syncthreads();
    v = lane < warps ? scratch[lane] : T(0);
    v = warp_sum(v);
    __syncthreads(); // scratch may be reused right after
    return v;
}

#endif /* ENGINE_REDUCE_H */
