// moe_matmul.cu - every expert's product of a MoE layer in one launch
// (backend.Backend.MoEExperts' gate, up and down products), reading the
// expert groups' offsets on the device: no copy of the group sizes to the
// host and no launch per expert.
//
// moe_matvec_<t>: dst = the sorted rows' products with their experts'
// matrices. x is the m sorted rows (moe_group's order) as activations
// (quantize.cu's bytes, or floats for F32 / F16 / BF16), expert e owns rows
// offsets[e] .. offsets[e+1]-1; w is the 3-D weight: expert e's matrix (out
// rows of in values of type t) starts at byte e·out·rowBytes. grid =
// (⌈out/4⌉, ⌈m/8⌉ + E), block 128: block y is the y-th (expert, run of 8
// rows) pair in expert order (blocks past the last pair return); each warp
// is one weight row of that expert over the run's rows. The arithmetic is
// matmul.cu's matvec_<t> step for step (lane l takes chunks l, l+32, ...;
// a butterfly warp sum), so a row's result is the bits of the per-expert
// matvec_<t> / matmul_<t> launch it replaces.
#include "device.h"
#include "reduce.h"
#include "vecdot.h"

#define MOE_MV_WARPS 4 // weight rows per block
#define MOE_MV_ROWS 8  // sorted rows per block

template <int T>
__device__ __forceinline__ void moe_matvec(float *dst, const uint8_t *w, const uint8_t *x, const int32_t *offsets,
                                           int64_t in, int64_t out, int64_t experts) {
    using W = wchunk<T>;
    using acc_t = typename W::acc_t;
    const int lane = threadIdx.x & 31;
    const int64_t j = int64_t(blockIdx.x) * MOE_MV_WARPS + (threadIdx.x >> 5);
    if (j >= out)
        return; // the whole warp: no block barrier here
    // Block y's expert and run: runs counted in expert order.
    int64_t y = blockIdx.y, e = 0, r0 = -1, nr = 0;
    for (; e < experts; e++) {
        int64_t a = offsets[e], c = offsets[e + 1] - a, runs = (c + MOE_MV_ROWS - 1) / MOE_MV_ROWS;
        if (y < runs) {
            r0 = a + y * MOE_MV_ROWS;
            nr = min(int64_t(MOE_MV_ROWS), a + c - r0);
            break;
        }
        y -= runs;
    }
    if (r0 < 0)
        return; // past the last run
    const int64_t nc = in / W::elems, xrb = W::act_bytes(nc), rb = qt_row_bytes<T>(in);
    const uint8_t *wr = w + (e * out + j) * rb, *xr = x + r0 * xrb;
    acc_t acc[MOE_MV_ROWS];
#pragma unroll
    for (int m = 0; m < MOE_MV_ROWS; m++)
        acc[m] = 0;
    for (int64_t c = lane; c < nc; c += 32) {
        W wc;
        wc.load(wr, c);
#pragma unroll
        for (int m = 0; m < MOE_MV_ROWS; m++)
            if (m < nr)
                acc[m] = W::add(acc[m], wc.dot(xr + m * xrb, c));
    }
    acc_t mine = 0;
#pragma unroll
    for (int m = 0; m < MOE_MV_ROWS; m++)
        if (m < nr) {
            acc_t s = warp_sum(acc[m]);
            if (lane == m)
                mine = s;
        }
    if (lane < nr)
        dst[(r0 + lane) * out + j] = float(mine);
}

// dst: m × out floats; w: the 3-D weight (E matrices of out rows); x: the m
// sorted activation rows; offsets: E+1 int32 (moe_group); in, out: one
// expert's matrix; experts: E.
extern "C" __global__ void moe_matvec_f32(float *dst, const uint8_t *w, const uint8_t *x, const int32_t *offsets,
                                         int64_t in, int64_t out, int64_t experts) {
    moe_matvec<QT_F32>(dst, w, x, offsets, in, out, experts);
}
REGISTER_KERNEL(moe_matvec_f32)
extern "C" __global__ void moe_matvec_f16(float *dst, const uint8_t *w, const uint8_t *x, const int32_t *offsets,
                                         int64_t in, int64_t out, int64_t experts) {
    moe_matvec<QT_F16>(dst, w, x, offsets, in, out, experts);
}
REGISTER_KERNEL(moe_matvec_f16)
extern "C" __global__ void moe_matvec_bf16(float *dst, const uint8_t *w, const uint8_t *x, const int32_t *offsets,
                                         int64_t in, int64_t out, int64_t experts) {
    moe_matvec<QT_BF16>(dst, w, x, offsets, in, out, experts);
}
REGISTER_KERNEL(moe_matvec_bf16)
extern "C" __global__ void moe_matvec_q4_0(float *dst, const uint8_t *w, const uint8_t *x, const int32_t *offsets,
                                         int64_t in, int64_t out, int64_t experts) {
    moe_matvec<QT_Q4_0>(dst, w, x, offsets, in, out, experts);
}
REGISTER_KERNEL(moe_matvec_q4_0)
extern "C" __global__ void moe_matvec_q4_1(float *dst, const uint8_t *w, const uint8_t *x, const int32_t *offsets,
                                         int64_t in, int64_t out, int64_t experts) {
    moe_matvec<QT_Q4_1>(dst, w, x, offsets, in, out, experts);
}
REGISTER_KERNEL(moe_matvec_q4_1)
extern "C" __global__ void moe_matvec_q5_0(float *dst, const uint8_t *w, const uint8_t *x, const int32_t *offsets,
                                         int64_t in, int64_t out, int64_t experts) {
    moe_matvec<QT_Q5_0>(dst, w, x, offsets, in, out, experts);
}
REGISTER_KERNEL(moe_matvec_q5_0)
extern "C" __global__ void moe_matvec_q5_1(float *dst, const uint8_t *w, const uint8_t *x, const int32_t *offsets,
                                         int64_t in, int64_t out, int64_t experts) {
    moe_matvec<QT_Q5_1>(dst, w, x, offsets, in, out, experts);
}
REGISTER_KERNEL(moe_matvec_q5_1)
extern "C" __global__ void moe_matvec_q8_0(float *dst, const uint8_t *w, const uint8_t *x, const int32_t *offsets,
                                         int64_t in, int64_t out, int64_t experts) {
    moe_matvec<QT_Q8_0>(dst, w, x, offsets, in, out, experts);
}
REGISTER_KERNEL(moe_matvec_q8_0)
extern "C" __global__ void moe_matvec_q2_k(float *dst, const uint8_t *w, const uint8_t *x, const int32_t *offsets,
                                         int64_t in, int64_t out, int64_t experts) {
    moe_matvec<QT_Q2_K>(dst, w, x, offsets, in, out, experts);
}
REGISTER_KERNEL(moe_matvec_q2_k)
extern "C" __global__ void moe_matvec_q3_k(float *dst, const uint8_t *w, const uint8_t *x, const int32_t *offsets,
                                         int64_t in, int64_t out, int64_t experts) {
    moe_matvec<QT_Q3_K>(dst, w, x, offsets, in, out, experts);
}
REGISTER_KERNEL(moe_matvec_q3_k)
extern "C" __global__ void moe_matvec_q4_k(float *dst, const uint8_t *w, const uint8_t *x, const int32_t *offsets,
                                         int64_t in, int64_t out, int64_t experts) {
    moe_matvec<QT_Q4_K>(dst, w, x, offsets, in, out, experts);
}
REGISTER_KERNEL(moe_matvec_q4_k)
extern "C" __global__ void moe_matvec_q5_k(float *dst, const uint8_t *w, const uint8_t *x, const int32_t *offsets,
                                         int64_t in, int64_t out, int64_t experts) {
    moe_matvec<QT_Q5_K>(dst, w, x, offsets, in, out, experts);
}
REGISTER_KERNEL(moe_matvec_q5_k)
extern "C" __global__ void moe_matvec_q6_k(float *dst, const uint8_t *w, const uint8_t *x, const int32_t *offsets,
                                         int64_t in, int64_t out, int64_t experts) {
    moe_matvec<QT_Q6_K>(dst, w, x, offsets, in, out, experts);
}
REGISTER_KERNEL(moe_matvec_q6_k)
extern "C" __global__ void moe_matvec_mxfp4(float *dst, const uint8_t *w, const uint8_t *x, const int32_t *offsets,
                                         int64_t in, int64_t out, int64_t experts) {
    moe_matvec<QT_MXFP4>(dst, w, x, offsets, in, out, experts);
}
REGISTER_KERNEL(moe_matvec_mxfp4)
