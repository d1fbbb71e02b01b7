// matmul.cu - quantized matrix products (backend.Backend.MatMul): dst = x·wᵀ
// (+ bias), dst rows × out, x rows × in, w out rows of in elements of type T.
//
// x is what the CPU backend dots weights of type T with: for F32 / F16 / BF16
// weights the float rows themselves (rounded to F16 / BF16 here), for the
// quantized types the rows quantized by quantize.cu (Q8_0 for Q4_0 / Q5_0 /
// Q8_0 / MXFP4, Q8_1 for Q4_1 / Q5_1, Q8_K for the k-quants).
//
// Two kernels per type, both with lane l of a warp taking chunks l, l+32,
// l+64, ... of its weight row (vecdot.h) and summing their terms in that
// order, then a butterfly warp sum: they compute every output in exactly the
// same order, so a row's result depends neither on the kernel nor on the
// other rows of the batch (as on the CPU).
//   matvec_<t>: decode (a few rows). A warp per weight row and per 8 rows of
//     x, read straight from global memory (cached: all warps read the same x).
//   matmul_<t>: batches. A block takes 16 weight rows (2 per warp) × 16 rows
//     of x; the x rows go through shared memory a step of chunks at a time,
//     each weight chunk is loaded once into registers for the 16 rows.
#include "device.h"
#include "reduce.h"
#include "vecdot.h"

#define MV_WARPS 4 // matvec: warps (weight rows) per block
#define MV_ROWS 8  // matvec: rows of x per block (grid.y)
#define MM_WARPS 8 // matmul: warps per block
#define MM_WROWS 2 // matmul: weight rows per warp
#define MM_TN (MM_WARPS * MM_WROWS)
#define MM_TM 16 // matmul: rows of x per block (grid.y)

template <int T>
__device__ __forceinline__ void matvec(float *dst, const uint8_t *w, const uint8_t *x, const float *bias, int64_t in,
                                       int64_t out, int64_t rows) {
    using W = wchunk<T>;
    using acc_t = typename W::acc_t;
    const int lane = threadIdx.x & 31;
    const int64_t j = int64_t(blockIdx.x) * MV_WARPS + (threadIdx.x >> 5);
    if (j >= out)
        return; // the whole warp: matvec has no block barrier
    const int64_t r0 = int64_t(blockIdx.y) * MV_ROWS;
    const int nr = int(min(int64_t(MV_ROWS), rows - r0));
    const int64_t nc = in / W::elems, xrb = W::act_bytes(nc);
    const uint8_t *wr = w + j * qt_row_bytes<T>(in), *xr = x + r0 * xrb;
    acc_t acc[MV_ROWS];
#pragma unroll
    for (int m = 0; m < MV_ROWS; m++)
        acc[m] = 0;
    for (int64_t c = lane; c < nc; c += 32) {
        W wc;
        wc.load(wr, c);
#pragma unroll
        for (int m = 0; m < MV_ROWS; m++)
            if (m < nr)
                acc[m] = W::add(acc[m], wc.dot(xr + m * xrb, c));
    }
    acc_t mine = 0;
#pragma unroll
    for (int m = 0; m < MV_ROWS; m++)
        if (m < nr) {
            acc_t s = warp_sum(acc[m]);
            if (lane == m)
                mine = s;
        }
    if (lane < nr)
        dst[(r0 + lane) * out + j] = float(mine) + (bias ? bias[j] : 0.0f);
}

// round16 rounds n up to a multiple of 16.
__host__ __device__ constexpr int64_t round16(int64_t n) { return (n + 15) / 16 * 16; }

template <int T>
__device__ __forceinline__ void matmul(float *dst, const uint8_t *w, const uint8_t *x, const float *bias, int64_t in,
                                       int64_t out, int64_t rows) {
    using W = wchunk<T>;
    using acc_t = typename W::acc_t;
    constexpr int CPL = W::elems == 1 ? 8 : 1; // chunks per lane per step
    constexpr int SC = 32 * CPL;               // chunks per step
    constexpr int64_t STRIDE = round16(W::act_bytes(SC));
    __shared__ __align__(16) uint8_t tile[MM_TM * STRIDE];

    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int64_t r0 = int64_t(blockIdx.y) * MM_TM, n0 = int64_t(blockIdx.x) * MM_TN + warp * MM_WROWS;
    const int nr = int(min(int64_t(MM_TM), rows - r0));
    const int64_t nc = in / W::elems, xrb = W::act_bytes(nc), wrb = qt_row_bytes<T>(in);
    acc_t acc[MM_WROWS][MM_TM];
#pragma unroll
    for (int t = 0; t < MM_WROWS; t++)
#pragma unroll
        for (int m = 0; m < MM_TM; m++)
            acc[t][m] = 0;

    for (int64_t c0 = 0; c0 < nc; c0 += SC) {
        const int cs = int(min(int64_t(SC), nc - c0));
        if constexpr (W::elems == 1) { // float rows, rounded to the weight's type
            float *tf = reinterpret_cast<float *>(tile);
            const float *xf = reinterpret_cast<const float *>(x);
            for (int i = threadIdx.x; i < nr * cs; i += blockDim.x) {
                int m = i / cs, e = i % cs;
                tf[m * (STRIDE / 4) + e] = W::round(xf[(r0 + m) * in + c0 + e]);
            }
        } else if constexpr (W::act == QT_Q8_0) { // 34-byte blocks: 2-byte units
            const int64_t off = W::act_bytes(c0);
            const int nu = int(W::act_bytes(cs) / 2);
            for (int i = threadIdx.x; i < nr * nu; i += blockDim.x) {
                int m = i / nu, u = i % nu;
                reinterpret_cast<uint16_t *>(tile + m * STRIDE)[u] = ld<uint16_t>(x + (r0 + m) * xrb + off + 2 * u);
            }
        } else {
            const int64_t off = W::act_bytes(c0);
            const int nu = int(W::act_bytes(cs) / 4);
            for (int i = threadIdx.x; i < nr * nu; i += blockDim.x) {
                int m = i / nu, u = i % nu;
                reinterpret_cast<uint32_t *>(tile + m * STRIDE)[u] = ld<uint32_t>(x + (r0 + m) * xrb + off + 4 * u);
            }
        }
        __syncthreads();
#pragma unroll
        for (int t = 0; t < MM_WROWS; t++) {
            if (n0 + t >= out)
                continue;
            const uint8_t *wr = w + (n0 + t) * wrb;
#pragma unroll
            for (int i = 0; i < CPL; i++) {
                const int lc = lane + 32 * i;
                if (lc >= cs)
                    break;
                W wc;
                wc.load(wr, c0 + lc);
#pragma unroll
                for (int m = 0; m < MM_TM; m++)
                    if (m < nr)
                        acc[t][m] = W::add(acc[t][m], wc.dot(tile + m * STRIDE, lc));
            }
        }
        __syncthreads();
    }

    acc_t mine = 0;
#pragma unroll
    for (int t = 0; t < MM_WROWS; t++)
#pragma unroll
        for (int m = 0; m < MM_TM; m++)
            if (n0 + t < out && m < nr) {
                acc_t s = warp_sum(acc[t][m]);
                if (lane == t * MM_TM + m)
                    mine = s;
            }
    const int t = lane / MM_TM, m = lane % MM_TM;
    if (n0 + t < out && m < nr)
        dst[(r0 + m) * out + n0 + t] = float(mine) + (bias ? bias[n0 + t] : 0.0f);
}
static_assert(MM_WROWS * MM_TM == 32, "matmul: a lane per output of its warp");

// One matvec_<t> and one matmul_<t> per type (written out: the registry test reads them).

extern "C" __global__ void matvec_f32(float *dst, const uint8_t *w, const uint8_t *x, const float *bias, int64_t in,
                                      int64_t out, int64_t rows) {
    matvec<QT_F32>(dst, w, x, bias, in, out, rows);
}
REGISTER_KERNEL(matvec_f32)

extern "C" __global__ void matmul_f32(float *dst, const uint8_t *w, const uint8_t *x, const float *bias, int64_t in,
                                      int64_t out, int64_t rows) {
    matmul<QT_F32>(dst, w, x, bias, in, out, rows);
}
REGISTER_KERNEL(matmul_f32)

extern "C" __global__ void matvec_f16(float *dst, const uint8_t *w, const uint8_t *x, const float *bias, int64_t in,
                                      int64_t out, int64_t rows) {
    matvec<QT_F16>(dst, w, x, bias, in, out, rows);
}
REGISTER_KERNEL(matvec_f16)

extern "C" __global__ void matmul_f16(float *dst, const uint8_t *w, const uint8_t *x, const float *bias, int64_t in,
                                      int64_t out, int64_t rows) {
    matmul<QT_F16>(dst, w, x, bias, in, out, rows);
}
REGISTER_KERNEL(matmul_f16)

extern "C" __global__ void matvec_bf16(float *dst, const uint8_t *w, const uint8_t *x, const float *bias, int64_t in,
                                       int64_t out, int64_t rows) {
    matvec<QT_BF16>(dst, w, x, bias, in, out, rows);
}
REGISTER_KERNEL(matvec_bf16)

extern "C" __global__ void matmul_bf16(float *dst, const uint8_t *w, const uint8_t *x, const float *bias, int64_t in,
                                       int64_t out, int64_t rows) {
    matmul<QT_BF16>(dst, w, x, bias, in, out, rows);
}
REGISTER_KERNEL(matmul_bf16)

extern "C" __global__ void matvec_q4_0(float *dst, const uint8_t *w, const uint8_t *x, const float *bias, int64_t in,
                                       int64_t out, int64_t rows) {
    matvec<QT_Q4_0>(dst, w, x, bias, in, out, rows);
}
REGISTER_KERNEL(matvec_q4_0)

extern "C" __global__ void matmul_q4_0(float *dst, const uint8_t *w, const uint8_t *x, const float *bias, int64_t in,
                                       int64_t out, int64_t rows) {
    matmul<QT_Q4_0>(dst, w, x, bias, in, out, rows);
}
REGISTER_KERNEL(matmul_q4_0)

extern "C" __global__ void matvec_q4_1(float *dst, const uint8_t *w, const uint8_t *x, const float *bias, int64_t in,
                                       int64_t out, int64_t rows) {
    matvec<QT_Q4_1>(dst, w, x, bias, in, out, rows);
}
REGISTER_KERNEL(matvec_q4_1)

extern "C" __global__ void matmul_q4_1(float *dst, const uint8_t *w, const uint8_t *x, const float *bias, int64_t in,
                                       int64_t out, int64_t rows) {
    matmul<QT_Q4_1>(dst, w, x, bias, in, out, rows);
}
REGISTER_KERNEL(matmul_q4_1)

extern "C" __global__ void matvec_q5_0(float *dst, const uint8_t *w, const uint8_t *x, const float *bias, int64_t in,
                                       int64_t out, int64_t rows) {
    matvec<QT_Q5_0>(dst, w, x, bias, in, out, rows);
}
REGISTER_KERNEL(matvec_q5_0)

extern "C" __global__ void matmul_q5_0(float *dst, const uint8_t *w, const uint8_t *x, const float *bias, int64_t in,
                                       int64_t out, int64_t rows) {
    matmul<QT_Q5_0>(dst, w, x, bias, in, out, rows);
}
REGISTER_KERNEL(matmul_q5_0)

extern "C" __global__ void matvec_q5_1(float *dst, const uint8_t *w, const uint8_t *x, const float *bias, int64_t in,
                                       int64_t out, int64_t rows) {
    matvec<QT_Q5_1>(dst, w, x, bias, in, out, rows);
}
REGISTER_KERNEL(matvec_q5_1)

extern "C" __global__ void matmul_q5_1(float *dst, const uint8_t *w, const uint8_t *x, const float *bias, int64_t in,
                                       int64_t out, int64_t rows) {
    matmul<QT_Q5_1>(dst, w, x, bias, in, out, rows);
}
REGISTER_KERNEL(matmul_q5_1)

extern "C" __global__ void matvec_q8_0(float *dst, const uint8_t *w, const uint8_t *x, const float *bias, int64_t in,
                                       int64_t out, int64_t rows) {
    matvec<QT_Q8_0>(dst, w, x, bias, in, out, rows);
}
REGISTER_KERNEL(matvec_q8_0)

extern "C" __global__ void matmul_q8_0(float *dst, const uint8_t *w, const uint8_t *x, const float *bias, int64_t in,
                                       int64_t out, int64_t rows) {
    matmul<QT_Q8_0>(dst, w, x, bias, in, out, rows);
}
REGISTER_KERNEL(matmul_q8_0)

extern "C" __global__ void matvec_q2_k(float *dst, const uint8_t *w, const uint8_t *x, const float *bias, int64_t in,
                                       int64_t out, int64_t rows) {
    matvec<QT_Q2_K>(dst, w, x, bias, in, out, rows);
}
REGISTER_KERNEL(matvec_q2_k)

extern "C" __global__ void matmul_q2_k(float *dst, const uint8_t *w, const uint8_t *x, const float *bias, int64_t in,
                                       int64_t out, int64_t rows) {
    matmul<QT_Q2_K>(dst, w, x, bias, in, out, rows);
}
REGISTER_KERNEL(matmul_q2_k)

extern "C" __global__ void matvec_q3_k(float *dst, const uint8_t *w, const uint8_t *x, const float *bias, int64_t in,
                                       int64_t out, int64_t rows) {
    matvec<QT_Q3_K>(dst, w, x, bias, in, out, rows);
}
REGISTER_KERNEL(matvec_q3_k)

extern "C" __global__ void matmul_q3_k(float *dst, const uint8_t *w, const uint8_t *x, const float *bias, int64_t in,
                                       int64_t out, int64_t rows) {
    matmul<QT_Q3_K>(dst, w, x, bias, in, out, rows);
}
REGISTER_KERNEL(matmul_q3_k)

extern "C" __global__ void matvec_q4_k(float *dst, const uint8_t *w, const uint8_t *x, const float *bias, int64_t in,
                                       int64_t out, int64_t rows) {
    matvec<QT_Q4_K>(dst, w, x, bias, in, out, rows);
}
REGISTER_KERNEL(matvec_q4_k)

extern "C" __global__ void matmul_q4_k(float *dst, const uint8_t *w, const uint8_t *x, const float *bias, int64_t in,
                                       int64_t out, int64_t rows) {
    matmul<QT_Q4_K>(dst, w, x, bias, in, out, rows);
}
REGISTER_KERNEL(matmul_q4_k)

extern "C" __global__ void matvec_q5_k(float *dst, const uint8_t *w, const uint8_t *x, const float *bias, int64_t in,
                                       int64_t out, int64_t rows) {
    matvec<QT_Q5_K>(dst, w, x, bias, in, out, rows);
}
REGISTER_KERNEL(matvec_q5_k)

extern "C" __global__ void matmul_q5_k(float *dst, const uint8_t *w, const uint8_t *x, const float *bias, int64_t in,
                                       int64_t out, int64_t rows) {
    matmul<QT_Q5_K>(dst, w, x, bias, in, out, rows);
}
REGISTER_KERNEL(matmul_q5_k)

extern "C" __global__ void matvec_q6_k(float *dst, const uint8_t *w, const uint8_t *x, const float *bias, int64_t in,
                                       int64_t out, int64_t rows) {
    matvec<QT_Q6_K>(dst, w, x, bias, in, out, rows);
}
REGISTER_KERNEL(matvec_q6_k)

extern "C" __global__ void matmul_q6_k(float *dst, const uint8_t *w, const uint8_t *x, const float *bias, int64_t in,
                                       int64_t out, int64_t rows) {
    matmul<QT_Q6_K>(dst, w, x, bias, in, out, rows);
}
REGISTER_KERNEL(matmul_q6_k)

extern "C" __global__ void matvec_mxfp4(float *dst, const uint8_t *w, const uint8_t *x, const float *bias, int64_t in,
                                        int64_t out, int64_t rows) {
    matvec<QT_MXFP4>(dst, w, x, bias, in, out, rows);
}
REGISTER_KERNEL(matvec_mxfp4)

extern "C" __global__ void matmul_mxfp4(float *dst, const uint8_t *w, const uint8_t *x, const float *bias, int64_t in,
                                        int64_t out, int64_t rows) {
    matmul<QT_MXFP4>(dst, w, x, bias, in, out, rows);
}
REGISTER_KERNEL(matmul_mxfp4)
