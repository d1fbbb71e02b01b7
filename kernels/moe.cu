// moe.cu - mixture of experts (backend.Backend.MoERoute, MoEExperts), with the
// CPU backend's arithmetic (backend/cpu/moe.go):
//   moe_route_f32          router logits → each token's K experts (descending
//                          score, ties to the lower id) and weights; per-expert
//                          token counts for the engine's statistics
//   moe_group              the (token, slot) pairs sorted by expert, stable
//                          (by token, then slot), as a counting sort
//   moe_bias_glu_*_f32     act(gate + bias_e) · (up + bias_e) over sorted rows
//   moe_combine_f32        dst row t = Σ over t's slots in order of
//                          w · (down output + bias_e), unfused as the CPU does
// The products in between are the matmul kernels', per expert, over the rows
// of its group (kernels/README.md, "Mixture of experts", gives the order).
#include "device.h"
#include "glu.h"

namespace moe {

enum { Softmax = 0, Sigmoid = 1, SoftmaxWeight = 2 }; // backend.Gating

// Go's max of two float32s: NaN when either is.
__device__ __forceinline__ float gomax(float a, float b) {
    if (a != a)
        return a;
    if (b != b)
        return b;
    return a > b ? a : b;
}

// better reports whether candidate (v2, i2) beats (v1, i1): a higher value,
// or an equal one at a lower id; i < 0 is no candidate.
__device__ __forceinline__ bool better(float v2, int i2, float v1, int i1) {
    if (i2 < 0)
        return false;
    if (i1 < 0)
        return true;
    return v2 > v1 || (v2 == v1 && i2 < i1);
}

template <class A>
__device__ __forceinline__ void bias_glu(float *dst, const float *gate, const float *up, const float *gb,
                                         const float *ub, const int32_t *row_exp, int64_t rows, int64_t ff) {
    int64_t j = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (j >= ff)
        return;
    for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
        int64_t i = r * ff + j;
        float g = gate[i], u = up[i];
        if (gb)
            g = __fadd_rn(g, gb[int64_t(row_exp[r]) * ff + j]);
        if (ub)
            u = __fadd_rn(u, ub[int64_t(row_exp[r]) * ff + j]);
        dst[i] = A::f(g, u);
    }
}

} // namespace moe

// One warp per token: block (32, W), grid ceil(n/W), W·experts·4 bytes of
// dynamic shared memory (each warp's scores). 1 <= k <= experts <= 2048 (a
// lane's 64-bit mask of taken experts), else it traps. ids and w are [n, k];
// counts, when not null, is this layer's row of int64 per-expert totals
// (atomically added to). The scores: softmax with a double sum in expert
// order scaled by a float reciprocal; sigmoid 1/(1+e^-x); exponentials in
// double rounded to float, as Go's math.Exp. Top K as the CPU's scan, NaN
// included: a NaN score is never chosen over a number, except as the first
// expert not yet taken.
extern "C" __global__ void moe_route_f32(int32_t *ids, float *w, unsigned long long *counts, const float *logits,
                                         int64_t n, int64_t experts, int64_t k, int64_t gating, int64_t norm,
                                         double scale) {
    using namespace moe;
    SHARED_DYNAMIC(float, sh);
    const unsigned all = 0xffffffffu;
    const int lane = threadIdx.x, E = int(experts);
    const int64_t t = int64_t(blockIdx.x) * blockDim.y + threadIdx.y;
    if (experts < 1 || experts > 2048 || k < 1 || k > experts || blockDim.x != 32)
        __trap();
    if (t >= n)
        return; // the whole warp
    float *p = sh + int64_t(threadIdx.y) * experts;
    const float *x = logits + t * experts;

    if (gating == SoftmaxWeight) { // choose by raw logit
        for (int j = lane; j < E; j += 32)
            p[j] = x[j];
    } else if (gating == Sigmoid) {
        for (int j = lane; j < E; j += 32)
            p[j] = __fdiv_rn(1.0f, __fadd_rn(1.0f, float(exp(-double(x[j])))));
    } else if (gating == Softmax) {
        float mx = -INFINITY;
        for (int j = lane; j < E; j += 32)
            mx = gomax(mx, x[j]);
        for (int o = 16; o > 0; o >>= 1)
            mx = gomax(mx, __shfl_xor_sync(all, mx, o));
        for (int j = lane; j < E; j += 32)
            p[j] = float(exp(double(x[j] - mx)));
        __syncwarp();
        float inv = 0;
        if (lane == 0) { // the CPU's order: the sum does not depend on the launch
            double sum = 0;
            for (int j = 0; j < E; j++)
                sum += double(p[j]);
            inv = float(1.0 / sum);
        }
        inv = __shfl_sync(all, inv, 0);
        __syncwarp();
        for (int j = lane; j < E; j += 32)
            p[j] = __fmul_rn(p[j], inv);
    } else {
        __trap();
    }
    __syncwarp();

    int32_t *tid = ids + t * k;
    float *tw = w + t * k;
    uint64_t taken = 0; // bit q: expert lane + 32q
    for (int s = 0; s < int(k); s++) {
        // This lane's first expert not taken, and its best number.
        int first = 0x7fffffff, bi = -1;
        float bv = 0;
        for (int j = lane, q = 0; j < E; j += 32, q++) {
            if (taken >> q & 1)
                continue;
            float v = p[j];
            if (first == 0x7fffffff)
                first = j;
            if (v == v && (bi < 0 || v > bv)) {
                bv = v;
                bi = j;
            }
        }
        for (int o = 16; o > 0; o >>= 1) {
            int f2 = __shfl_xor_sync(all, first, o), i2 = __shfl_xor_sync(all, bi, o);
            float v2 = __shfl_xor_sync(all, bv, o);
            first = min(first, f2);
            if (better(v2, i2, bv, bi)) {
                bv = v2;
                bi = i2;
            }
        }
        // The scan starts at the first expert left and moves only to a
        // greater score: stuck there if it is NaN, else the best number.
        int e = p[first] != p[first] ? first : bi;
        if ((e & 31) == lane)
            taken |= uint64_t(1) << (e >> 5);
        if (lane == 0) {
            tid[s] = e;
            if (counts)
                atomicAdd(&counts[e], 1ull);
        }
    }
    if (lane != 0)
        return;
    if (gating == SoftmaxWeight) { // softmax over the K chosen, in slot order
        float mx = -INFINITY;
        for (int s = 0; s < int(k); s++)
            mx = gomax(mx, p[tid[s]]);
        double sum = 0;
        for (int s = 0; s < int(k); s++) {
            float v = float(exp(double(p[tid[s]] - mx)));
            tw[s] = v;
            sum += double(v);
        }
        float inv = float(1.0 / sum);
        for (int s = 0; s < int(k); s++)
            tw[s] = __fmul_rn(tw[s], inv);
    } else {
        for (int s = 0; s < int(k); s++)
            tw[s] = p[tid[s]];
    }
    if (norm) {
        double sum = 0;
        for (int s = 0; s < int(k); s++)
            sum += double(tw[s]);
        float d = gomax(float(sum), 6.103515625e-5f); // F16's smallest normal
        for (int s = 0; s < int(k); s++)
            tw[s] = __fdiv_rn(tw[s], d);
    }
    float sc = float(scale);
    if (sc != 0.0f && sc != 1.0f)
        for (int s = 0; s < int(k); s++)
            tw[s] = __fmul_rn(tw[s], sc);
}
REGISTER_KERNEL(moe_route_f32)

// The n·k routed slots (slot t·k+i: token t's i-th expert) sorted by expert,
// stable: expert e's rows are offsets[e] .. offsets[e+1]-1, in slot order.
// row_tok[r] and row_exp[r] are the token and expert of sorted row r,
// slot_row[sl] the sorted row of slot sl. One block (blockDim.x a multiple
// of 32), 2·experts·4 bytes of dynamic shared memory. An id outside
// [0, experts) traps.
extern "C" __global__ void moe_group(int32_t *offsets, int32_t *row_tok, int32_t *row_exp, int32_t *slot_row,
                                     const int32_t *ids, int64_t n, int64_t k, int64_t experts) {
    SHARED_DYNAMIC(int32_t, cnt); // per expert: count, then first row
    int32_t *placed = cnt + experts;
    const unsigned all = 0xffffffffu;
    const int E = int(experts), lane = threadIdx.x & 31;
    const int64_t m = n * k;
    for (int j = threadIdx.x; j < E; j += blockDim.x) {
        cnt[j] = 0;
        placed[j] = 0;
    }
    __syncthreads();
    for (int64_t sl = threadIdx.x; sl < m; sl += blockDim.x) {
        int e = ids[sl];
        if (e < 0 || e >= E)
            __trap();
        atomicAdd(&cnt[e], 1);
    }
    __syncthreads();
    if (threadIdx.x >= 32)
        return;
    int carry = 0; // exclusive scan, 32 experts at a time
    for (int base = 0; base < E; base += 32) {
        int j = base + lane, c = j < E ? cnt[j] : 0, v = c;
        for (int o = 1; o < 32; o <<= 1) {
            int u = __shfl_up_sync(all, v, o);
            if (lane >= o)
                v += u;
        }
        if (j < E) {
            cnt[j] = carry + v - c;
            offsets[j] = carry + v - c;
        }
        carry += __shfl_sync(all, v, 31);
    }
    if (lane == 0)
        offsets[E] = carry;
    __syncwarp();
    // Scatter 32 slots at a time: a slot's place among its expert's rows is
    // the rows placed before plus its lower lanes with the same expert.
    for (int64_t base = 0; base < m; base += 32) {
        int64_t sl = base + lane;
        bool ok = sl < m;
        int e = ok ? ids[sl] : -1;
        unsigned peers = __match_any_sync(all, e);
        if (ok) {
            int r = cnt[e] + placed[e] + __popc(peers & ((1u << lane) - 1));
            row_tok[r] = int32_t(sl / k);
            row_exp[r] = e;
            slot_row[sl] = r;
        }
        __syncwarp();
        if (ok && lane == 31 - __clz(int(peers)))
            placed[e] += __popc(peers);
        __syncwarp();
    }
}
REGISTER_KERNEL(moe_group)

// dst[r] = act(gate[r] + gate_bias[e]) · (up[r] + up_bias[e]) for the rows r
// of [rows, ff] buffers sorted by expert, e = row_exp[r]; a null bias is none
// (row_exp may be null when both are). dst may be gate or up. Grid
// (ceil(ff/blockDim.x), any Y <= 65535: rows are strided by gridDim.y).
extern "C" __global__ void moe_bias_glu_silu_f32(float *dst, const float *gate, const float *up,
                                                 const float *gate_bias, const float *up_bias,
                                                 const int32_t *row_exp, int64_t rows, int64_t ff) {
    moe::bias_glu<glu::SiLU>(dst, gate, up, gate_bias, up_bias, row_exp, rows, ff);
}
REGISTER_KERNEL(moe_bias_glu_silu_f32)

extern "C" __global__ void moe_bias_glu_gelu_tanh_f32(float *dst, const float *gate, const float *up,
                                                      const float *gate_bias, const float *up_bias,
                                                      const int32_t *row_exp, int64_t rows, int64_t ff) {
    moe::bias_glu<glu::GELUTanh>(dst, gate, up, gate_bias, up_bias, row_exp, rows, ff);
}
REGISTER_KERNEL(moe_bias_glu_gelu_tanh_f32)

extern "C" __global__ void moe_bias_glu_swiglu_oai_f32(float *dst, const float *gate, const float *up,
                                                       const float *gate_bias, const float *up_bias,
                                                       const int32_t *row_exp, int64_t rows, int64_t ff) {
    moe::bias_glu<glu::SwiGLUOAI>(dst, gate, up, gate_bias, up_bias, row_exp, rows, ff);
}
REGISTER_KERNEL(moe_bias_glu_swiglu_oai_f32)

// dst row t ([n, dim]) = Σ_i w[t·k+i] · (out[slot_row[t·k+i]] + down_bias[ids[t·k+i]])
// in slot order, each product rounded before the add (no FMA), as the CPU.
// out is the down products' [n·k, dim] sorted rows; a null down_bias is none.
// Grid (ceil(dim/blockDim.x), any Y <= 65535: tokens are strided by gridDim.y).
extern "C" __global__ void moe_combine_f32(float *dst, const float *out, const float *w, const int32_t *ids,
                                           const int32_t *slot_row, const float *down_bias, int64_t n, int64_t k,
                                           int64_t dim) {
    int64_t j = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (j >= dim)
        return;
    for (int64_t t = blockIdx.y; t < n; t += gridDim.y) {
        float acc = 0;
        for (int64_t i = 0; i < k; i++) {
            int64_t sl = t * k + i;
            float o = out[int64_t(slot_row[sl]) * dim + j];
            if (down_bias)
                o = __fadd_rn(o, down_bias[int64_t(ids[sl]) * dim + j]);
            float v = __fmul_rn(o, w[sl]);
            acc = i == 0 ? v : __fadd_rn(acc, v);
        }
        dst[t * dim + j] = acc;
    }
}
REGISTER_KERNEL(moe_combine_f32)
