/*
 * vecdot.h - the dot products of matmul.cu: a weight row of type T with an
 * activation row, chunk by chunk, with the numerics of the CPU backend
 * (quant.DotFunc).
 *
 * A row is cut into chunks: 32 elements for the quantized types (a Q4_0 ..
 * Q8_0 / MXFP4 block, or an eighth of a k-quant super-block), one element for
 * F32 / F16 / BF16. wchunk<T>::load reads chunk c of a weight row into
 * registers; dot(x, c) returns its term against chunk c of an activation row
 * x in the type the CPU quantizes activations to (quant.VecDotType: Q8_0 for
 * Q4_0 / Q5_0 / Q8_0 / MXFP4, Q8_1 for Q4_1 / Q5_1, Q8_K for the k-quants,
 * float rounded to F16 / BF16 for those weights, float for F32).
 *
 * Quantized terms are the exact integer sum of the chunk (dp4a) times the
 * block's float scales, in the CPU's order of float operations, with
 * __fmul_rn & co so that nothing is fused into an FMA; terms are added in
 * float. (The CPU sums the same block terms in another order, and a k-quant
 * super-block as eight lane sums: results agree to float rounding.) Float
 * terms are the float product, summed in double, as quant's dotF32 / dotF16 /
 * dotBF16 (products exact for F16 / BF16), so the result is the CPU's to the
 * last bit but in rare ties.
 *
 * Loads assume every row base 4-byte aligned (true for buffers from
 * cuMemAlloc holding whole rows); blocks whose size is not a multiple of 4
 * are read in 2-byte (or byte) units.
 */
#ifndef ENGINE_VECDOT_H
#define ENGINE_VECDOT_H

#include "dequant.h"

#if !defined(__CUDACC__)
#include <string.h>
#endif

// ld<U>(p) reads a U at p (aligned for U). memcpy in emulation keeps g++'s
// aliasing rules out of the way.
template <class U>
__device__ __forceinline__ U ld(const uint8_t *p) {
#if defined(__CUDACC__)
    return *reinterpret_cast<const U *>(p);
#else
    U v;
    memcpy(&v, p, sizeof v);
    return v;
#endif
}

// ld_i2 reads 4 bytes at a 2-byte aligned p as an int.
__device__ __forceinline__ int ld_i2(const uint8_t *p) {
    return int(uint32_t(ld<uint16_t>(p)) | uint32_t(ld<uint16_t>(p + 2)) << 16);
}

// dot4: c + the dot product of the four signed bytes of a and b (dp4a).
__device__ __forceinline__ int dot4(int a, int b, int c) {
#if defined(__CUDACC__)
    return __dp4a(a, b, c);
#else
    for (int i = 0; i < 32; i += 8)
        c += int(int8_t(uint32_t(a) >> i)) * int(int8_t(uint32_t(b) >> i));
    return c;
#endif
}

// sum4: c + the sum of the four signed bytes of b.
__device__ __forceinline__ int sum4(int b, int c) { return dot4(0x01010101, b, c); }

// spread4 puts bits 0-3 of b at bit 4 of bytes 0-3 (the fifth bit of four Q5 quants).
__device__ __forceinline__ int spread4(uint32_t b) {
    return int((b & 1) << 4 | (b & 2) << 11 | (b & 4) << 18 | (b & 8) << 25);
}

// nib_sel packs bytes' low 3 bits as __byte_perm selector nibbles.
__device__ __forceinline__ uint32_t nib_sel(uint32_t v) {
    v &= 0x07070707u;
    v |= v >> 4;
    return (v & 0xffu) | ((v >> 8) & 0xff00u);
}

// mxfp4_int maps the four 4-bit codes in the bytes of q (each < 16) to their
// kvalues_mxfp4 bytes.
__device__ __forceinline__ int mxfp4_int(uint32_t q) {
    uint32_t s = nib_sel(q);
    uint32_t p = __byte_perm(0x03020100u, 0x0c080604u, s); // codes 0-7
    uint32_t n = __byte_perm(0xfdfeff00u, 0xf4f8fafcu, s); // codes 8-15
    return int(__byte_perm(p, n, 0x3210u | nib_sel((q >> 1) & 0x04040404u)));
}

// An activation chunk: eight ints of four int8 quants each, and the scales.
struct achunk {
    int v[8];
    float d, s; // s: Q8_1's d * sum(qs)
    int bs0, bs1; // Q8_K's two 16-element sums
};

template <int A>
__device__ __forceinline__ achunk load_act(const uint8_t *x, int64_t c);

template <>
__device__ __forceinline__ achunk load_act<QT_Q8_0>(const uint8_t *x, int64_t c) {
    const uint8_t *p = x + c * sizeof(block_q8_0);
    achunk a;
    a.d = fp16_to_f32(ld<uint16_t>(p));
#pragma unroll
    for (int i = 0; i < 8; i++)
        a.v[i] = ld_i2(p + 2 + 4 * i);
    return a;
}
template <>
__device__ __forceinline__ achunk load_act<QT_Q8_1>(const uint8_t *x, int64_t c) {
    const uint8_t *p = x + c * sizeof(block_q8_1);
    achunk a;
    a.d = fp16_to_f32(ld<uint16_t>(p));
    a.s = fp16_to_f32(ld<uint16_t>(p + 2));
#pragma unroll
    for (int i = 0; i < 8; i++)
        a.v[i] = ld<int>(p + 4 + 4 * i);
    return a;
}
template <>
__device__ __forceinline__ achunk load_act<QT_Q8_K>(const uint8_t *x, int64_t c) {
    const uint8_t *p = x + (c / 8) * sizeof(block_q8_K);
    int sub = int(c % 8);
    achunk a;
    a.d = ld<float>(p);
#pragma unroll
    for (int i = 0; i < 8; i++)
        a.v[i] = ld<int>(p + 4 + 32 * sub + 4 * i);
    a.bs0 = ld<int16_t>(p + 260 + 4 * sub);
    a.bs1 = ld<int16_t>(p + 262 + 4 * sub);
    return a;
}

// The chunk traits shared by the quantized types: 32 elements, float sums.
template <int A>
struct qchunk {
    static constexpr int elems = 32;
    static constexpr int act = A;
    using acc_t = float;
    __device__ static float add(float acc, float t) { return __fadd_rn(acc, t); }
    // Bytes of an activation row of c chunks (c a whole number of activation blocks).
    __host__ __device__ static constexpr int64_t act_bytes(int64_t c) {
        return A == QT_Q8_K ? c / 8 * int64_t(sizeof(block_q8_K))
                            : c * int64_t(A == QT_Q8_0 ? sizeof(block_q8_0) : sizeof(block_q8_1));
    }
};

template <int T>
struct wchunk;

template <>
struct wchunk<QT_Q4_0> : qchunk<QT_Q8_0> {
    int q[4];
    float d;
    __device__ void load(const uint8_t *row, int64_t c) {
        const uint8_t *b = row + c * sizeof(block_q4_0);
        d = fp16_to_f32(ld<uint16_t>(b));
#pragma unroll
        for (int i = 0; i < 4; i++)
            q[i] = ld_i2(b + 2 + 4 * i);
    }
    __device__ float dot(const uint8_t *x, int64_t c) const {
        achunk a = load_act<act>(x, c);
        int s = 0, sx = 0;
#pragma unroll
        for (int i = 0; i < 4; i++) {
            s = dot4(q[i] & 0x0f0f0f0f, a.v[i], s);
            s = dot4((q[i] >> 4) & 0x0f0f0f0f, a.v[i + 4], s);
            sx = sum4(a.v[i + 4], sum4(a.v[i], sx));
        }
        return __fmul_rn(__fmul_rn(float(s - 8 * sx), d), a.d); // (sum·d)·d8, as dotQ4_0
    }
};

template <>
struct wchunk<QT_Q4_1> : qchunk<QT_Q8_1> {
    int q[4];
    float d, m;
    __device__ void load(const uint8_t *row, int64_t c) {
        const uint8_t *b = row + c * sizeof(block_q4_1);
        d = fp16_to_f32(ld<uint16_t>(b));
        m = fp16_to_f32(ld<uint16_t>(b + 2));
#pragma unroll
        for (int i = 0; i < 4; i++)
            q[i] = ld<int>(b + 4 + 4 * i);
    }
    __device__ float dot(const uint8_t *x, int64_t c) const {
        achunk a = load_act<act>(x, c);
        int s = 0;
#pragma unroll
        for (int i = 0; i < 4; i++) {
            s = dot4(q[i] & 0x0f0f0f0f, a.v[i], s);
            s = dot4((q[i] >> 4) & 0x0f0f0f0f, a.v[i + 4], s);
        }
        return __fadd_rn(__fmul_rn(__fmul_rn(d, a.d), float(s)), __fmul_rn(m, a.s));
    }
};

// Q5_0 and Q5_1: the fifth bits become bit 4 of each byte.
template <>
struct wchunk<QT_Q5_0> : qchunk<QT_Q8_0> {
    int lo[4], hi[4];
    float d;
    __device__ void load(const uint8_t *row, int64_t c) {
        const uint8_t *b = row + c * sizeof(block_q5_0);
        d = fp16_to_f32(ld<uint16_t>(b));
        uint32_t qh = uint32_t(ld_i2(b + 2));
#pragma unroll
        for (int i = 0; i < 4; i++) {
            int q = ld_i2(b + 6 + 4 * i);
            lo[i] = (q & 0x0f0f0f0f) | spread4(qh >> (4 * i));
            hi[i] = ((q >> 4) & 0x0f0f0f0f) | spread4(qh >> (16 + 4 * i));
        }
    }
    __device__ float dot(const uint8_t *x, int64_t c) const {
        achunk a = load_act<act>(x, c);
        int s = 0, sx = 0;
#pragma unroll
        for (int i = 0; i < 4; i++) {
            s = dot4(hi[i], a.v[i + 4], dot4(lo[i], a.v[i], s));
            sx = sum4(a.v[i + 4], sum4(a.v[i], sx));
        }
        return __fmul_rn(__fmul_rn(d, a.d), float(s - 16 * sx));
    }
};

template <>
struct wchunk<QT_Q5_1> : qchunk<QT_Q8_1> {
    int lo[4], hi[4];
    float d, m;
    __device__ void load(const uint8_t *row, int64_t c) {
        const uint8_t *b = row + c * sizeof(block_q5_1);
        d = fp16_to_f32(ld<uint16_t>(b));
        m = fp16_to_f32(ld<uint16_t>(b + 2));
        uint32_t qh = uint32_t(ld<int>(b + 4));
#pragma unroll
        for (int i = 0; i < 4; i++) {
            int q = ld<int>(b + 8 + 4 * i);
            lo[i] = (q & 0x0f0f0f0f) | spread4(qh >> (4 * i));
            hi[i] = ((q >> 4) & 0x0f0f0f0f) | spread4(qh >> (16 + 4 * i));
        }
    }
    __device__ float dot(const uint8_t *x, int64_t c) const {
        achunk a = load_act<act>(x, c);
        int s = 0;
#pragma unroll
        for (int i = 0; i < 4; i++)
            s = dot4(hi[i], a.v[i + 4], dot4(lo[i], a.v[i], s));
        return __fadd_rn(__fmul_rn(__fmul_rn(d, a.d), float(s)), __fmul_rn(m, a.s));
    }
};

template <>
struct wchunk<QT_Q8_0> : qchunk<QT_Q8_0> {
    int q[8];
    float d;
    __device__ void load(const uint8_t *row, int64_t c) {
        const uint8_t *b = row + c * sizeof(block_q8_0);
        d = fp16_to_f32(ld<uint16_t>(b));
#pragma unroll
        for (int i = 0; i < 8; i++)
            q[i] = ld_i2(b + 2 + 4 * i);
    }
    __device__ float dot(const uint8_t *x, int64_t c) const {
        achunk a = load_act<act>(x, c);
        int s = 0;
#pragma unroll
        for (int i = 0; i < 8; i++)
            s = dot4(q[i], a.v[i], s);
        return __fmul_rn(float(s), __fmul_rn(d, a.d));
    }
};

template <>
struct wchunk<QT_MXFP4> : qchunk<QT_Q8_0> {
    int lo[4], hi[4];
    float d;
    __device__ void load(const uint8_t *row, int64_t c) {
        const uint8_t *b = row + c * sizeof(block_mxfp4);
        d = e8m0_half(b[0]);
#pragma unroll
        for (int i = 0; i < 4; i++) {
            const uint8_t *p = b + 1 + 4 * i;
            uint32_t q = uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
            lo[i] = mxfp4_int(q & 0x0f0f0f0fu);
            hi[i] = mxfp4_int((q >> 4) & 0x0f0f0f0fu);
        }
    }
    __device__ float dot(const uint8_t *x, int64_t c) const {
        achunk a = load_act<act>(x, c);
        int s = 0;
#pragma unroll
        for (int i = 0; i < 4; i++)
            s = dot4(hi[i], a.v[i + 4], dot4(lo[i], a.v[i], s));
        return __fmul_rn(__fmul_rn(a.d, d), float(s));
    }
};

// The k-quants: chunk c is sub-block c % 8 (elements 32·(c%8) ...) of super-block c / 8.

template <>
struct wchunk<QT_Q2_K> : qchunk<QT_Q8_K> {
    int q[8], sc0, sc1;
    float d, dmin;
    __device__ void load(const uint8_t *row, int64_t c) {
        const uint8_t *b = row + (c / 8) * sizeof(block_q2_K);
        int sub = int(c % 8), sh = 2 * (sub % 4);
        sc0 = b[2 * sub];
        sc1 = b[2 * sub + 1];
        d = fp16_to_f32(ld<uint16_t>(b + 80));
        dmin = fp16_to_f32(ld<uint16_t>(b + 82));
#pragma unroll
        for (int i = 0; i < 8; i++)
            q[i] = (ld<int>(b + 16 + 32 * (sub / 4) + 4 * i) >> sh) & 0x03030303;
    }
    __device__ float dot(const uint8_t *x, int64_t c) const {
        achunk a = load_act<act>(x, c);
        int s0 = 0, s1 = 0;
#pragma unroll
        for (int i = 0; i < 4; i++) {
            s0 = dot4(q[i], a.v[i], s0);
            s1 = dot4(q[i + 4], a.v[i + 4], s1);
        }
        int isum = (sc0 & 0xF) * s0 + (sc1 & 0xF) * s1;
        int summs = a.bs0 * (sc0 >> 4) + a.bs1 * (sc1 >> 4);
        return __fsub_rn(__fmul_rn(__fmul_rn(a.d, d), float(isum)), __fmul_rn(__fmul_rn(a.d, dmin), float(summs)));
    }
};

// halves_isum is the integer sum of a 32-value chunk stored as two 16-value
// halves with scales sc0 and sc1, each value kept as q + off (Q3_K: 4, Q6_K: 32).
__device__ __forceinline__ int halves_isum(const int q[8], const achunk &a, int sc0, int sc1, int off) {
    int s0 = 0, s1 = 0, x0 = 0, x1 = 0;
#pragma unroll
    for (int i = 0; i < 4; i++) {
        s0 = dot4(q[i], a.v[i], s0);
        s1 = dot4(q[i + 4], a.v[i + 4], s1);
        x0 = sum4(a.v[i], x0);
        x1 = sum4(a.v[i + 4], x1);
    }
    return sc0 * (s0 - off * x0) + sc1 * (s1 - off * x1);
}

template <>
struct wchunk<QT_Q3_K> : qchunk<QT_Q8_K> {
    int q[8], sc0, sc1;
    float d;
    __device__ void load(const uint8_t *row, int64_t c) {
        const uint8_t *b = row + (c / 8) * sizeof(block_q3_K);
        int sub = int(c % 8), sh = 2 * (sub % 4);
        sc0 = q3_scale(b + 96, 2 * sub);
        sc1 = q3_scale(b + 96, 2 * sub + 1);
        d = fp16_to_f32(ld<uint16_t>(b + 108));
#pragma unroll
        for (int i = 0; i < 8; i++) {
            int lo = (ld_i2(b + 32 + 32 * (sub / 4) + 4 * i) >> sh) & 0x03030303;
            int hb = (ld_i2(b + 4 * i) >> sub) & 0x01010101;
            q[i] = lo | hb << 2; // q + 4·hbit; the -4 is taken out below
        }
    }
    __device__ float dot(const uint8_t *x, int64_t c) const {
        achunk a = load_act<act>(x, c);
        return __fmul_rn(__fmul_rn(d, a.d), float(halves_isum(q, a, sc0, sc1, 4)));
    }
};

// Q4_K and Q5_K: sub-block c % 8 is nibble (c % 2) of qs[32·((c%8)/2) ...], scale and min j = c % 8.
template <bool Q5>
struct wchunk_k45 : qchunk<QT_Q8_K> {
    int q[8], sc, mn;
    float d, dmin;
    __device__ void load(const uint8_t *row, int64_t c) {
        constexpr int size = Q5 ? sizeof(block_q5_K) : sizeof(block_q4_K), qs = Q5 ? 48 : 16;
        const uint8_t *b = row + (c / 8) * size;
        int sub = int(c % 8), sh = 4 * (sub % 2);
        scale_min_k4(b + 4, sub, sc, mn);
        d = fp16_to_f32(ld<uint16_t>(b));
        dmin = fp16_to_f32(ld<uint16_t>(b + 2));
#pragma unroll
        for (int i = 0; i < 8; i++) {
            q[i] = (ld<int>(b + qs + 32 * (sub / 2) + 4 * i) >> sh) & 0x0f0f0f0f;
            if (Q5)
                q[i] |= ((ld<int>(b + 16 + 4 * i) >> sub) & 0x01010101) << 4;
        }
    }
    __device__ float dot(const uint8_t *x, int64_t c) const {
        achunk a = load_act<act>(x, c);
        int s = 0;
#pragma unroll
        for (int i = 0; i < 8; i++)
            s = dot4(q[i], a.v[i], s);
        int isum = sc * s, summs = mn * (a.bs0 + a.bs1);
        return __fsub_rn(__fmul_rn(__fmul_rn(d, a.d), float(isum)), __fmul_rn(__fmul_rn(dmin, a.d), float(summs)));
    }
};
template <>
struct wchunk<QT_Q4_K> : wchunk_k45<false> {};
template <>
struct wchunk<QT_Q5_K> : wchunk_k45<true> {};

template <>
struct wchunk<QT_Q6_K> : qchunk<QT_Q8_K> {
    int q[8], sc0, sc1;
    float d;
    __device__ void load(const uint8_t *row, int64_t c) {
        const uint8_t *b = row + (c / 8) * sizeof(block_q6_K);
        int sub = int(c % 8), n = sub / 4, k = sub % 4;
        sc0 = int8_t(b[192 + 2 * sub]);
        sc1 = int8_t(b[193 + 2 * sub]);
        d = fp16_to_f32(ld<uint16_t>(b + 208));
#pragma unroll
        for (int i = 0; i < 8; i++) {
            int lo = (ld_i2(b + 64 * n + 32 * (k & 1) + 4 * i) >> (4 * (k >> 1))) & 0x0f0f0f0f;
            int hi = (ld_i2(b + 128 + 32 * n + 4 * i) >> (2 * k)) & 0x03030303;
            q[i] = lo | hi << 4; // q + 32; the -32 is taken out below
        }
    }
    __device__ float dot(const uint8_t *x, int64_t c) const {
        achunk a = load_act<act>(x, c);
        return __fmul_rn(__fmul_rn(d, a.d), float(halves_isum(q, a, sc0, sc1, 32)));
    }
};

// The float types: one element per chunk; x is float, rounded to the weight's
// type first (as the CPU quantizes activations to F16 / BF16); double sums.
template <int T>
struct fchunk {
    static constexpr int elems = 1;
    static constexpr int act = QT_F32;
    using acc_t = double;
    float w;
    __device__ static double add(double acc, double t) { return acc + t; }
    __host__ __device__ static constexpr int64_t act_bytes(int64_t c) { return c * 4; }
    __device__ static float round(float x) {
        if (T == QT_F16)
            return __half2float(__float2half_rn(x));
        if (T == QT_BF16)
            return __bfloat162float(__float2bfloat16_rn(x));
        return x;
    }
    __device__ void load(const uint8_t *row, int64_t c) { w = dequant<T>(row, c); }
    __device__ double dot(const uint8_t *x, int64_t c) const {
        return double(__fmul_rn(w, round(ld<float>(x + 4 * c))));
    }
};
template <>
struct wchunk<QT_F32> : fchunk<QT_F32> {};
template <>
struct wchunk<QT_F16> : fchunk<QT_F16> {};
template <>
struct wchunk<QT_BF16> : fchunk<QT_BF16> {};

#endif /* ENGINE_VECDOT_H */
