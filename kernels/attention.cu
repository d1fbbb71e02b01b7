// attention.cu - paged attention over the F16 KV cache (the second half of
// backend.Backend.Attention; kv.cu stores the batch's keys and values first),
// for prefill and decode alike: each query token attends causally over its
// sequence's positions first..pos (first = pos-window+1 with a sliding
// window, else 0) through its block table (kv.cu has the cache layout).
//
// attention_f16_g<G>: a block per (query token, run of G query heads sharing a
// KV head, split of the positions): grid = (kvHeads·(group/G), tokens, splits),
// block = 32·W threads (W warps, 1..32), dynamic shared memory
// W·G·(headDim+2)·4 bytes. Each K and V row is read once for the G heads. The
// warps take the split's positions in turn; in a warp, each lane holds up to
// 4 pairs of the head (headDim even, at most 256) and the dot product is a
// warp sum; the warps' states merge through shared memory at the end.
//
// Two modes (the exact parameter):
// - exact = 1 (one split only): the CPU backend's numerics, ggml's non-flash
//   path: a first pass finds each head's softmax max and sum, the second
//   weighs V by exp(s-max)/sum rounded to F16, as the CPU does. K is read
//   twice. Agrees with the CPU to float rounding (~1e-6 relative) except
//   where a weight lands the other side of an F16 rounding boundary.
// - exact = 0: one pass, an online softmax per warp (running max, sum and
//   weighted V). With one split the block writes dst; with several (decode of
//   few sequences: flash-decoding) it writes its unnormalised state to part
//   and attention_combine_f32 merges the splits. Without the F16 rounding of
//   the weights it differs from the CPU by ~1e-3 of the output's scale.
//
// Both: q is rounded to F16 (as the CPU), scores are float sums (in another
// order), scaled, then soft-capped (c·tanh(s/c), tanh in double as the
// CPU's); a sink is one more logit with no value.
#include "device.h"
#include "reduce.h"

// Pairs of head values per lane: headDim <= 2·32·ATTN_PAIRS.
#define ATTN_PAIRS 4

// One position's row offsets (halves) in the layer's K and V.
static __device__ __forceinline__ int64_t attn_row(const int32_t *table, int j, int bs, int64_t kvDim, int64_t off) {
    return (int64_t(table[j / bs]) * bs + j % bs) * kvDim + off;
}

// Pairs r of this lane of an F16 row (zero past the head).
template <int E>
static __device__ __forceinline__ void attn_load(float2 *x, const __half *row, int lane, int hd2) {
    const __half2 *r2 = reinterpret_cast<const __half2 *>(row);
#pragma unroll
    for (int r = 0; r < E; r++) {
        int e2 = lane + 32 * r;
        x[r] = e2 < hd2 ? __half22float2(r2[e2]) : make_float2(0.0f, 0.0f);
    }
}

// The scaled, soft-capped score of q and k, the same in every lane of the
// warp (an xor butterfly sums in the same order everywhere).
template <int E>
static __device__ __forceinline__ float attn_score(const float2 *q, const float2 *k, float scale, float cap) {
    float d = 0.0f;
#pragma unroll
    for (int r = 0; r < E; r++)
        d += q[r].x * k[r].x + q[r].y * k[r].y;
    float s = warp_sum(d) * scale;
    return cap > 0.0f ? cap * float(tanh(double(s / cap))) : s; // the CPU's double tanh
}

// The max over the block's warps' states in sm ([warp][G] of stride
// floats: max, sum, …) and sink (-inf: none), and the sum scaled to it.
static __device__ __forceinline__ float2 attn_merge_ml(const float *sm, int warps, int G, int g, int64_t stride,
                                                       float sink) {
    float mx = sink;
    for (int w = 0; w < warps; w++) {
        const float *st = sm + (w * G + g) * stride;
        if (st[1] > 0.0f) // a warp with no positions has sum 0
            mx = fmaxf(mx, st[0]);
    }
    float sum = sink > -INFINITY ? expf(sink - mx) : 0.0f;
    for (int w = 0; w < warps; w++) {
        const float *st = sm + (w * G + g) * stride;
        if (st[1] > 0.0f)
            sum += st[1] * expf(st[0] - mx);
    }
    return make_float2(mx, sum);
}

template <int G>
static __device__ __forceinline__ void attn_f16(float *dst, const float *q, const __half *kc, const __half *vc,
                                                const int32_t *pos, const int32_t *seq, const int32_t *tables,
                                                const float *sinks, float *part, int64_t heads, int64_t kvHeads,
                                                int64_t hd, int64_t blockSize, int64_t tableStride, int64_t window,
                                                float scale, float cap, bool exact) {
    constexpr int E = ATTN_PAIRS;
    SHARED_DYNAMIC(float, sm);
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    const int64_t group = heads / kvHeads, runs = group / G;
    const int64_t kh = blockIdx.x / runs, h0 = kh * group + (blockIdx.x % runs) * G;
    const int64_t i = blockIdx.y, kvDim = kvHeads * hd, stride = hd + 2;
    const int hd2 = int(hd / 2), bs = int(blockSize);
    const int p = pos[i];
    const int first = window > 0 ? max(0, p - int(window) + 1) : 0;
    const int per = (p - first + 1 + int(gridDim.z) - 1) / int(gridDim.z);
    const int lo = first + int(blockIdx.z) * per, hi = min(p + 1, lo + per);
    const int32_t *table = tables + int64_t(seq[i]) * tableStride;
    const bool final = gridDim.z == 1;
    if ((exact && !final) || hd % 2 || hd > 64 * E || G * hd > 64 * 1024)
        __trap(); // unsupported: see the launch rules above

    float2 qv[G][E], acc[G][E];
    float m[G], l[G];
#pragma unroll
    for (int g = 0; g < G; g++) {
        const float *qh = q + (i * heads + h0 + g) * hd;
#pragma unroll
        for (int r = 0; r < E; r++) {
            int e2 = lane + 32 * r;
            qv[g][r] = e2 < hd2 ? make_float2(__half2float(__float2half_rn(qh[2 * e2])),
                                              __half2float(__float2half_rn(qh[2 * e2 + 1])))
                                : make_float2(0.0f, 0.0f);
            acc[g][r] = make_float2(0.0f, 0.0f);
        }
        m[g] = -INFINITY;
        l[g] = 0.0f;
    }
    float2 kf[E], vf[E];
    if (exact) {
        // Pass 1: the softmax's max and sum (online per warp, then merged).
        for (int j = lo + warp; j < hi; j += warps) {
            attn_load<E>(kf, kc + attn_row(table, j, bs, kvDim, kh * hd), lane, hd2);
#pragma unroll
            for (int g = 0; g < G; g++) {
                float s = attn_score<E>(qv[g], kf, scale, cap), mn = fmaxf(m[g], s);
                l[g] = l[g] * expf(m[g] - mn) + expf(s - mn);
                m[g] = mn;
            }
        }
        if (lane == 0) {
            for (int g = 0; g < G; g++) {
                sm[(warp * G + g) * stride] = m[g];
                sm[(warp * G + g) * stride + 1] = l[g];
            }
        }
        __syncthreads();
#pragma unroll
        for (int g = 0; g < G; g++) {
            float2 ml = attn_merge_ml(sm, warps, G, g, stride, sinks ? sinks[h0 + g] : -INFINITY);
            m[g] = ml.x;
            l[g] = 1.0f / ml.y;
        }
        __syncthreads(); // sm is reused below
        // Pass 2: the weights as the CPU's, normalised and rounded to F16.
        for (int j = lo + warp; j < hi; j += warps) {
            int64_t row = attn_row(table, j, bs, kvDim, kh * hd);
            attn_load<E>(kf, kc + row, lane, hd2);
            attn_load<E>(vf, vc + row, lane, hd2);
#pragma unroll
            for (int g = 0; g < G; g++) {
                float s = attn_score<E>(qv[g], kf, scale, cap);
                float w = __half2float(__float2half_rn(expf(s - m[g]) * l[g]));
#pragma unroll
                for (int r = 0; r < E; r++) {
                    acc[g][r].x += w * vf[r].x;
                    acc[g][r].y += w * vf[r].y;
                }
            }
        }
    } else {
        for (int j = lo + warp; j < hi; j += warps) {
            int64_t row = attn_row(table, j, bs, kvDim, kh * hd);
            attn_load<E>(kf, kc + row, lane, hd2);
            attn_load<E>(vf, vc + row, lane, hd2);
#pragma unroll
            for (int g = 0; g < G; g++) {
                float s = attn_score<E>(qv[g], kf, scale, cap);
                float mn = fmaxf(m[g], s), c = expf(m[g] - mn), w = expf(s - mn);
                l[g] = l[g] * c + w;
                m[g] = mn;
#pragma unroll
                for (int r = 0; r < E; r++) {
                    acc[g][r].x = acc[g][r].x * c + w * vf[r].x;
                    acc[g][r].y = acc[g][r].y * c + w * vf[r].y;
                }
            }
        }
    }

    // Merge the warps' states: sm[warp][g] = {max, sum, weighted V[hd]}.
#pragma unroll
    for (int g = 0; g < G; g++) {
        float *st = sm + (warp * G + g) * stride;
        if (lane == 0) {
            st[0] = m[g];
            st[1] = l[g];
        }
#pragma unroll
        for (int r = 0; r < E; r++) {
            int e2 = lane + 32 * r;
            if (e2 < hd2) {
                st[2 + 2 * e2] = acc[g][r].x;
                st[3 + 2 * e2] = acc[g][r].y;
            }
        }
    }
    __syncthreads();
    for (int64_t t = threadIdx.x; t < G * hd; t += blockDim.x) {
        int g = int(t / hd);
        int64_t e = t % hd, h = h0 + g;
        if (exact) { // the weights are final: a plain sum
            float a = 0.0f;
            for (int w = 0; w < warps; w++)
                a += sm[(w * G + g) * stride + 2 + e];
            dst[(i * heads + h) * hd + e] = a;
            continue;
        }
        float2 ml = attn_merge_ml(sm, warps, G, g, stride, final && sinks ? sinks[h] : -INFINITY);
        float a = 0.0f;
        for (int w = 0; w < warps; w++) {
            const float *st = sm + (w * G + g) * stride;
            if (st[1] > 0.0f)
                a += st[2 + e] * expf(st[0] - ml.x);
        }
        if (final) {
            dst[(i * heads + h) * hd + e] = a / ml.y;
        } else {
            float *pp = part + ((i * heads + h) * gridDim.z + blockIdx.z) * stride;
            if (e == 0) {
                pp[0] = ml.x;
                pp[1] = ml.y;
            }
            pp[2 + e] = a;
        }
    }
}

// dst, q: tokens × heads·hd floats; kc, vc: the layer's K and V (kv.cu); pos,
// seq: int32 per token; tables: int32 [seq][tableStride]; sinks: heads floats
// or null; part: with splits > 1, tokens·heads·splits·(hd+2) floats of
// scratch (else unused, may be null). scale, softcap: float32 values as
// double (softcap 0: none); window 0: full causal; exact: 1 or 0 (above).
#define ATTN_PARAMS                                                                                         \
    float *dst, const float *q, const __half *kc, const __half *vc, const int32_t *pos, const int32_t *seq,    \
        const int32_t *tables, const float *sinks, float *part, int64_t heads, int64_t kvHeads, int64_t hd,    \
        int64_t blockSize, int64_t tableStride, int64_t window, double scale, double softcap, int64_t exact
#define ATTN_ARGS                                                                                           \
    dst, q, kc, vc, pos, seq, tables, sinks, part, heads, kvHeads, hd, blockSize, tableStride, window,         \
        float(scale), float(softcap), exact != 0

extern "C" __global__ void attention_f16_g1(ATTN_PARAMS) { attn_f16<1>(ATTN_ARGS); }
REGISTER_KERNEL(attention_f16_g1)
extern "C" __global__ void attention_f16_g2(ATTN_PARAMS) { attn_f16<2>(ATTN_ARGS); }
REGISTER_KERNEL(attention_f16_g2)
extern "C" __global__ void attention_f16_g4(ATTN_PARAMS) { attn_f16<4>(ATTN_ARGS); }
REGISTER_KERNEL(attention_f16_g4)
extern "C" __global__ void attention_f16_g8(ATTN_PARAMS) { attn_f16<8>(ATTN_ARGS); }
REGISTER_KERNEL(attention_f16_g8)

// attention_combine_f32 merges the splits' states in part (attention_f16_g*
// with splits > 1) into dst, adding the sink: grid = (heads, tokens), any
// 1-D block size (threads over the head's values).
extern "C" __global__ void attention_combine_f32(float *dst, const float *part, const float *sinks, int64_t heads,
                                                 int64_t hd, int64_t splits) {
    int64_t h = blockIdx.x, i = blockIdx.y, stride = hd + 2;
    const float *pp = part + (i * heads + h) * splits * stride;
    for (int64_t e = threadIdx.x; e < hd; e += blockDim.x) {
        float mx = sinks ? sinks[h] : -INFINITY;
        for (int64_t z = 0; z < splits; z++)
            if (pp[z * stride + 1] > 0.0f)
                mx = fmaxf(mx, pp[z * stride]);
        float sum = sinks ? expf(sinks[h] - mx) : 0.0f, a = 0.0f;
        for (int64_t z = 0; z < splits; z++) {
            const float *st = pp + z * stride;
            if (st[1] > 0.0f) {
                float f = expf(st[0] - mx);
                sum += st[1] * f;
                a += st[2 + e] * f;
            }
        }
        dst[(i * heads + h) * hd + e] = a / sum;
    }
}
REGISTER_KERNEL(attention_combine_f32)
