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

// Cascade (shared-prefix) attention, exact mode only: the CPU's numerics as
// attention_f16_g* with exact = 1, but the queries of every sequence whose
// block table starts with the same blocks read those blocks once.
//
// The work is a list of query sets, CASC_SET int32 each: {lo, hi, seq,
// tok0, ntok, kind}: the queries of tokens toks[tok0 .. tok0+ntok) (every
// head of KV head blockIdx.x: ntok·group query vectors) over positions
// lo..hi-1 of sequence seq's block table. A prefix set (kind 1) holds the
// tokens of sequences sharing positions 0..hi-1; an own set (kind 0) one
// token over its remaining positions (its window's first..pos). Every token
// is in one set of each kind (a token with no shared prefix in a prefix set
// with lo = hi). grid = (kvHeads, sets, Z): Z splits of each set's range, so
// each (token, head) has 2Z slots of hd+2 floats in part: kind·Z + z.
//
// Two launches, as the exact kernel's two passes: values = 0 writes each
// slot's softmax max and sum (slot floats 0, 1); values = 1 merges a
// query's 2Z stats with its sink into the softmax's max and 1/sum (the
// exact kernel's attn_merge_ml), then writes Σ F16(exp(s-max)/sum)·V over
// the slot's positions (floats 2..). attention_sum_f32 adds the slots.
//
// A block copies TILE positions' K (and V) rows into shared memory, then
// each warp takes its queries in turn over the tile, its state (m, l or
// max, 1/sum; weighted V) kept in shared memory between tiles: each K and
// V row is read from global memory once per block whatever the number of
// queries. Each query takes only the positions of its own causal (window)
// range: a set may also be a prefill chunk's tokens of one sequence over
// the chunk's whole range (flash-style prefill: the tiles read once for
// the chunk, each query masked to its past). Dynamic shared memory: Q·(hd+2)·4 + 2·tile·hd·2 bytes, Q the
// largest ntok·group. Per query, positions are taken in order, so the sums
// are in another order than the exact kernel's (per warp, then merged):
// float rounding only, and now and then a weight on the other side of an
// F16 rounding boundary.
#define CASC_SET 6

static __device__ __forceinline__ void attn_cascade(float *part, const float *q, const __half *kc, const __half *vc,
                                                    const int32_t *pos, const int32_t *sets, const int32_t *toks,
                                                    const int32_t *tables, const float *sinks, int64_t heads,
                                                    int64_t kvHeads, int64_t hd, int64_t blockSize, int64_t tableStride,
                                                    int64_t window, int64_t tile, float scale, float cap, bool values) {
    constexpr int E = ATTN_PAIRS;
    SHARED_DYNAMIC(float, sm);
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    const int64_t group = heads / kvHeads, kh = blockIdx.x, kvDim = kvHeads * hd, stride = hd + 2;
    const int32_t *set = sets + int64_t(blockIdx.y) * CASC_SET;
    const int32_t *table = tables + int64_t(set[2]) * tableStride, *tk = toks + set[3];
    const int64_t nq = set[4] * group, slots = 2 * int64_t(gridDim.z), slot = set[5] * int64_t(gridDim.z) + blockIdx.z;
    const int per = (set[1] - set[0] + int(gridDim.z) - 1) / int(gridDim.z);
    const int lo = set[0] + int(blockIdx.z) * per, hi = min(set[1], lo + per);
    const int hd2 = int(hd / 2), bs = int(blockSize);
    if (hd % 2 || hd > 64 * E || tile < 1)
        __trap();
    __half2 *tk2 = reinterpret_cast<__half2 *>(sm + nq * stride), *tv2 = tk2 + tile * hd2;

    // The part slots of query v and its (token, head).
    auto slotsOf = [&](int64_t v) {
        return part + ((int64_t(tk[v / group]) * heads + kh * group + v % group) * slots) * stride;
    };
    for (int64_t v = warp; v < nq; v += warps) {
        float *st = sm + v * stride;
        float m = -INFINITY, l = 0.0f;
        if (values) { // the softmax's max and 1/sum, from every slot's stats
            const float *pp = slotsOf(v);
            float sink = sinks ? sinks[kh * group + v % group] : -INFINITY;
            float2 ml = attn_merge_ml(pp, int(slots), 1, 0, stride, sink);
            m = ml.x;
            l = 1.0f / ml.y;
        }
        for (int64_t e = lane; e < stride; e += 32)
            st[e] = e == 0 ? m : e == 1 ? l : 0.0f;
    }
    for (int t0 = lo; t0 < hi; t0 += int(tile)) {
        const int nt = min(int(tile), hi - t0);
        __syncthreads(); // the previous tile is done with
        for (int x = threadIdx.x; x < nt * hd2; x += blockDim.x) {
            int r = x / hd2, c = x % hd2;
            int64_t row = attn_row(table, t0 + r, bs, kvDim, kh * hd);
            tk2[r * hd2 + c] = reinterpret_cast<const __half2 *>(kc + row)[c];
            if (values)
                tv2[r * hd2 + c] = reinterpret_cast<const __half2 *>(vc + row)[c];
        }
        __syncthreads();
        for (int64_t v = warp; v < nq; v += warps) {
            float *st = sm + v * stride;
            const float *qh = q + (int64_t(tk[v / group]) * heads + kh * group + v % group) * hd;
            float2 qv[E], acc[E], kf[E], vf[E];
#pragma unroll
            for (int r = 0; r < E; r++) {
                int e2 = lane + 32 * r;
                bool in = e2 < hd2;
                qv[r] = in ? make_float2(__half2float(__float2half_rn(qh[2 * e2])),
                                         __half2float(__float2half_rn(qh[2 * e2 + 1])))
                           : make_float2(0.0f, 0.0f);
                acc[r] = in ? make_float2(st[2 + 2 * e2], st[3 + 2 * e2]) : make_float2(0.0f, 0.0f);
            }
            float m = st[0], l = st[1];
            // The query's own causal (window) range within the tile.
            const int p = pos[tk[v / group]], first = window > 0 ? max(0, p - int(window) + 1) : 0;
            const int jlo = max(0, first - t0), jhi = min(nt, p + 1 - t0);
            for (int j = jlo; j < jhi; j++) {
                attn_load<E>(kf, reinterpret_cast<const __half *>(tk2 + j * hd2), lane, hd2);
                float s = attn_score<E>(qv, kf, scale, cap);
                if (!values) {
                    float mn = fmaxf(m, s);
                    l = l * expf(m - mn) + expf(s - mn);
                    m = mn;
                    continue;
                }
                float w = __half2float(__float2half_rn(expf(s - m) * l));
                attn_load<E>(vf, reinterpret_cast<const __half *>(tv2 + j * hd2), lane, hd2);
#pragma unroll
                for (int r = 0; r < E; r++) {
                    acc[r].x += w * vf[r].x;
                    acc[r].y += w * vf[r].y;
                }
            }
            __syncwarp();
            if (lane == 0) {
                st[0] = m;
                st[1] = l;
            }
#pragma unroll
            for (int r = 0; r < E; r++) {
                int e2 = lane + 32 * r;
                if (e2 < hd2) {
                    st[2 + 2 * e2] = acc[r].x;
                    st[3 + 2 * e2] = acc[r].y;
                }
            }
        }
    }
    __syncthreads();
    for (int64_t v = warp; v < nq; v += warps) {
        const float *st = sm + v * stride;
        float *pp = slotsOf(v) + slot * stride;
        if (values) {
            for (int64_t e = lane; e < hd; e += 32)
                pp[2 + e] = st[2 + e];
        } else if (lane == 0) {
            pp[0] = st[0];
            pp[1] = st[1];
        }
    }
}

// part: tokens·heads·2Z·(hd+2) floats; q, kc, vc, pos, tables, sinks,
// window, scale and softcap as attention_f16_g*; sets: CASC_SET int32 each,
// toks: int32 token indexes; tile: positions per shared-memory tile;
// values: 0 (stats) or 1.
extern "C" __global__ void attention_cascade_f16(float *part, const float *q, const __half *kc, const __half *vc,
                                                 const int32_t *pos, const int32_t *sets, const int32_t *toks,
                                                 const int32_t *tables, const float *sinks, int64_t heads,
                                                 int64_t kvHeads, int64_t hd, int64_t blockSize, int64_t tableStride,
                                                 int64_t window, int64_t tile, double scale, double softcap,
                                                 int64_t values) {
    attn_cascade(part, q, kc, vc, pos, sets, toks, tables, sinks, heads, kvHeads, hd, blockSize, tableStride, window,
                 tile, float(scale), float(softcap), values != 0);
}
REGISTER_KERNEL(attention_cascade_f16)

// attention_sum_f32 adds the weighted V of each (token, head)'s slots of part
// (attention_cascade_f16, values = 1) into dst: grid = (heads, tokens), any
// 1-D block size.
extern "C" __global__ void attention_sum_f32(float *dst, const float *part, int64_t heads, int64_t hd, int64_t slots) {
    int64_t h = blockIdx.x, i = blockIdx.y, stride = hd + 2;
    const float *pp = part + (i * heads + h) * slots * stride;
    for (int64_t e = threadIdx.x; e < hd; e += blockDim.x) {
        float a = 0.0f;
        for (int64_t z = 0; z < slots; z++)
            a += pp[z * stride + 2 + e];
        dst[(i * heads + h) * hd + e] = a;
    }
}
REGISTER_KERNEL(attention_sum_f32)
