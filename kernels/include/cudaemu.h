/*
 * cudaemu.h - the CUDA device language as host C++, so the kernels' .cu
 * sources run on the CPU (g++ >= 12, C++17). Kernels include device.h,
 * which includes this header when not compiling with nvcc.
 *
 * Model: a launch runs its blocks one after another; each CUDA thread of a
 * block is a fiber on one OS thread, switched cooperatively. A fiber runs
 * until it reaches a barrier (__syncthreads*, a warp shuffle / vote /
 * __syncwarp), which records what it waits for and yields; the last
 * participant to arrive releases the others. When no fiber can run and some
 * have not exited, the launch fails with a deadlock report naming each
 * barrier, its call site and the threads waiting there. The rules are
 * strict on purpose: every thread of the block (exited ones included) must
 * reach the same __syncthreads, and every lane named in a warp op's mask
 * must reach a warp op of the same kind with the same mask and width.
 *
 * Memory: "device" memory is host memory. Static __shared__ variables are
 * thread_local (one block at a time per OS thread, so per block; not
 * cleared between blocks). Dynamic shared memory is declared with
 * SHARED_DYNAMIC(T, name) (see device.h) and is filled with 0xff bytes
 * (NaN as float) at each block start. The runtime is kernels/emu/cudaemu.cc.
 */
#ifndef ENGINE_CUDAEMU_H
#define ENGINE_CUDAEMU_H

#if defined(__CUDACC__)
#error "cudaemu.h is the host emulation of CUDA; nvcc builds include the CUDA headers (device.h)"
#endif

#include <cfloat>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <type_traits>
#include <utility>

/* ---- qualifiers ---- */
#define __global__
#define __device__
#define __host__
#define __constant__
#define __grid_constant__
#define __forceinline__ inline __attribute__((always_inline))
#define __noinline__ __attribute__((noinline))
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))
/* Block scope: thread_local implies static, so one instance per OS thread,
 * which runs one block at a time. `extern __shared__` cannot work this way:
 * use SHARED_DYNAMIC. */
#define __shared__ thread_local

/* ---- vector and index types ---- */
struct uint3 {
    unsigned x, y, z;
};
struct dim3 {
    unsigned x, y, z;
    constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
#define EMU_VEC2(T, N, A) \
    struct __attribute__((aligned(A))) N { T x, y; }; \
    inline N make_##N(T x, T y) { return N{x, y}; }
#define EMU_VEC4(T, N, A) \
    struct __attribute__((aligned(A))) N { T x, y, z, w; }; \
    inline N make_##N(T x, T y, T z, T w) { return N{x, y, z, w}; }
EMU_VEC2(float, float2, 8)
EMU_VEC4(float, float4, 16)
EMU_VEC2(int, int2, 8)
EMU_VEC4(int, int4, 16)
EMU_VEC2(unsigned, uint2, 8)
EMU_VEC4(unsigned, uint4, 16)
EMU_VEC2(double, double2, 16)
#undef EMU_VEC2
#undef EMU_VEC4

namespace emu {

enum : uint8_t { RUNNABLE, WAIT_BLOCK, WAIT_WARP, DONE };
enum : uint8_t { W_SYNC, W_IDX, W_UP, W_DOWN, W_XOR, W_BALLOT, W_ANY, W_ALL, W_COLLECTIVE,
                 W_ADD, W_MINU, W_MAXU, W_MINI, W_MAXI, W_AND, W_OR, W_XORR, W_MATCH_ANY, W_MATCH_ALL };
enum : uint8_t { B_SYNC, B_COUNT, B_AND, B_OR };

/* One CUDA thread. The wait fields describe the barrier it is blocked in. */
struct Fiber {
    void *sp;       /* saved stack pointer (x86-64 switch) */
    void *uctx;     /* ucontext_t* (fallback switch) */
    uint3 tid;      /* threadIdx */
    unsigned lin;   /* linear thread index in the block */
    uint8_t state;
    uint8_t op;     /* W_* or B_* */
    int pred;
    unsigned mask;
    int width, arg;
    uint64_t val, out;
    const char *what, *file;
    int line;
    void (*collective)(void *const *lanes); /* W_COLLECTIVE: run once over the lanes' data */
};

/* What the running fiber sees: set by the scheduler, one per OS thread. */
struct Ctx {
    Fiber *cur;
    uint3 bidx;
    dim3 bdim, gdim;
    unsigned char *dyn; /* dynamic shared memory of the block */
};
inline thread_local Ctx ctx{};

uint64_t warp_op(uint8_t op, unsigned mask, uint64_t val, int arg, int width, int pred,
                 const char *what, const char *file, int line);
int block_op(uint8_t op, int pred, const char *what, const char *file, int line);
/* A warp-wide instruction (mma.sync, ldmatrix, ...): every lane of the full
 * warp passes a pointer to its operands; once all are there, fn runs once with
 * the 32 pointers in lane order (it reads every input before writing any output). */
void warp_collective(void *lane_data, void (*fn)(void *const *lanes), const char *what, const char *file, int line);
unsigned active_mask();
[[noreturn]] void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- registry: kernels by name, launched with cuLaunchKernel's void** params ---- */
using Invoker = void (*)(void *fn, void **params);
void register_kernel(const char *name, void *fn, Invoker inv, int nparams);

template <class... A, size_t... I>
inline void invoke_seq(void *fn, void **p, std::index_sequence<I...>) {
    reinterpret_cast<void (*)(A...)>(fn)(*static_cast<std::remove_cv_t<std::remove_reference_t<A>> *>(p[I])...);
}
template <class... A>
inline void invoke(void *fn, void **p) {
    invoke_seq<A...>(fn, p, std::index_sequence_for<A...>{});
}
template <class... A>
struct Reg {
    explicit Reg(const char *name, void (*f)(A...)) {
        register_kernel(name, reinterpret_cast<void *>(f), &invoke<A...>, int(sizeof...(A)));
    }
};

template <class T>
inline uint64_t to_bits(T v) {
    static_assert(sizeof(T) <= 8 && std::is_trivially_copyable<T>::value, "warp ops move values of at most 8 bytes");
    uint64_t b = 0;
    std::memcpy(&b, &v, sizeof v);
    return b;
}
template <class T>
inline T from_bits(uint64_t b) {
    T v;
    std::memcpy(&v, &b, sizeof v);
    return v;
}

} // namespace emu

#define threadIdx (::emu::ctx.cur->tid)
#define blockIdx (::emu::ctx.bidx)
#define blockDim (::emu::ctx.bdim)
#define gridDim (::emu::ctx.gdim)
constexpr int warpSize = 32;

/* ---- block barriers ---- */
inline void __syncthreads(const char *file = __builtin_FILE(), int line = __builtin_LINE()) {
    emu::block_op(emu::B_SYNC, 0, "__syncthreads", file, line);
}
inline int __syncthreads_count(int p, const char *file = __builtin_FILE(), int line = __builtin_LINE()) {
    return emu::block_op(emu::B_COUNT, p != 0, "__syncthreads_count", file, line);
}
inline int __syncthreads_and(int p, const char *file = __builtin_FILE(), int line = __builtin_LINE()) {
    return emu::block_op(emu::B_AND, p != 0, "__syncthreads_and", file, line);
}
inline int __syncthreads_or(int p, const char *file = __builtin_FILE(), int line = __builtin_LINE()) {
    return emu::block_op(emu::B_OR, p != 0, "__syncthreads_or", file, line);
}

/* ---- warp barriers, shuffles and votes ---- */
inline void __syncwarp(unsigned mask = 0xffffffffu, const char *file = __builtin_FILE(), int line = __builtin_LINE()) {
    emu::warp_op(emu::W_SYNC, mask, 0, 0, 32, 0, "__syncwarp", file, line);
}
#define EMU_SHFL(NAME, OP, ARG)                                                                         \
    template <class T>                                                                                  \
    inline T NAME(unsigned mask, T v, ARG a, int width = 32, const char *file = __builtin_FILE(),       \
                  int line = __builtin_LINE()) {                                                        \
        return emu::from_bits<T>(emu::warp_op(OP, mask, emu::to_bits(v), int(a), width, 0, #NAME, file, line)); \
    }
EMU_SHFL(__shfl_sync, emu::W_IDX, int)
EMU_SHFL(__shfl_up_sync, emu::W_UP, unsigned)
EMU_SHFL(__shfl_down_sync, emu::W_DOWN, unsigned)
EMU_SHFL(__shfl_xor_sync, emu::W_XOR, int)
#undef EMU_SHFL
inline unsigned __ballot_sync(unsigned mask, int p, const char *file = __builtin_FILE(), int line = __builtin_LINE()) {
    return unsigned(emu::warp_op(emu::W_BALLOT, mask, 0, 0, 32, p != 0, "__ballot_sync", file, line));
}
inline int __any_sync(unsigned mask, int p, const char *file = __builtin_FILE(), int line = __builtin_LINE()) {
    return int(emu::warp_op(emu::W_ANY, mask, 0, 0, 32, p != 0, "__any_sync", file, line));
}
inline int __all_sync(unsigned mask, int p, const char *file = __builtin_FILE(), int line = __builtin_LINE()) {
    return int(emu::warp_op(emu::W_ALL, mask, 0, 0, 32, p != 0, "__all_sync", file, line));
}
/* sm_80's warp reductions and the match votes (values compared bitwise). */
#define EMU_WREDUCE(NAME, OP, T)                                                                        \
    inline T NAME(unsigned mask, T v, const char *file = __builtin_FILE(), int line = __builtin_LINE()) { \
        return T(emu::warp_op(OP, mask, uint64_t(uint32_t(v)), 0, 32, 0, #NAME, file, line));          \
    }
EMU_WREDUCE(__reduce_add_sync, emu::W_ADD, unsigned)
EMU_WREDUCE(__reduce_add_sync, emu::W_ADD, int)
EMU_WREDUCE(__reduce_min_sync, emu::W_MINU, unsigned)
EMU_WREDUCE(__reduce_min_sync, emu::W_MINI, int)
EMU_WREDUCE(__reduce_max_sync, emu::W_MAXU, unsigned)
EMU_WREDUCE(__reduce_max_sync, emu::W_MAXI, int)
EMU_WREDUCE(__reduce_and_sync, emu::W_AND, unsigned)
EMU_WREDUCE(__reduce_or_sync, emu::W_OR, unsigned)
EMU_WREDUCE(__reduce_xor_sync, emu::W_XORR, unsigned)
#undef EMU_WREDUCE
template <class T>
inline unsigned __match_any_sync(unsigned mask, T v, const char *file = __builtin_FILE(), int line = __builtin_LINE()) {
    return unsigned(emu::warp_op(emu::W_MATCH_ANY, mask, emu::to_bits(v), 0, 32, 0, "__match_any_sync", file, line));
}
template <class T>
inline unsigned __match_all_sync(unsigned mask, T v, int *pred, const char *file = __builtin_FILE(),
                                 int line = __builtin_LINE()) {
    unsigned m = unsigned(emu::warp_op(emu::W_MATCH_ALL, mask, emu::to_bits(v), 0, 32, 0, "__match_all_sync", file, line));
    *pred = m != 0;
    return m;
}

/* The lanes of the warp that have not exited (no divergence is tracked). */
inline unsigned __activemask() { return emu::active_mask(); }

/* ---- memory fences, traps ---- */
inline void __threadfence() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
inline void __threadfence_block() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
[[noreturn]] inline void __trap() { emu::fail("__trap() called"); }
/* Loads and stores with cache hints: plain accesses here. */
template <class T>
inline T __ldg(const T *p) { return *p; }
template <class T>
inline T __ldcs(const T *p) { return *p; }
template <class T>
inline T __ldcg(const T *p) { return *p; }
template <class T>
inline T __ldca(const T *p) { return *p; }
template <class T>
inline T __ldlu(const T *p) { return *p; }
template <class T>
inline void __stcs(T *p, T v) { *p = v; }
template <class T>
inline void __stcg(T *p, T v) { *p = v; }
template <class T>
inline void __stwt(T *p, T v) { *p = v; }
/* clock64: nanoseconds of the host's monotonic clock (clock() is libc's). */
inline long long clock64() {
    timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000LL + t.tv_nsec;
}
inline void __nanosleep(unsigned) {}

/* ---- atomics (real atomics: blocks may later run on several OS threads) ---- */
#define EMU_ATOMIC_INT(T)                                                                     \
    inline T atomicAdd(T *p, T v) { return __atomic_fetch_add(p, v, __ATOMIC_RELAXED); }      \
    inline T atomicSub(T *p, T v) { return __atomic_fetch_sub(p, v, __ATOMIC_RELAXED); }      \
    inline T atomicExch(T *p, T v) { return __atomic_exchange_n(p, v, __ATOMIC_RELAXED); }    \
    inline T atomicAnd(T *p, T v) { return __atomic_fetch_and(p, v, __ATOMIC_RELAXED); }      \
    inline T atomicOr(T *p, T v) { return __atomic_fetch_or(p, v, __ATOMIC_RELAXED); }        \
    inline T atomicXor(T *p, T v) { return __atomic_fetch_xor(p, v, __ATOMIC_RELAXED); }      \
    inline T atomicCAS(T *p, T cmp, T v) {                                                    \
        __atomic_compare_exchange_n(p, &cmp, v, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);   \
        return cmp;                                                                           \
    }                                                                                         \
    inline T atomicMax(T *p, T v) {                                                           \
        T o = __atomic_load_n(p, __ATOMIC_RELAXED);                                           \
        while (o < v && !__atomic_compare_exchange_n(p, &o, v, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) { \
        }                                                                                     \
        return o;                                                                             \
    }                                                                                         \
    inline T atomicMin(T *p, T v) {                                                           \
        T o = __atomic_load_n(p, __ATOMIC_RELAXED);                                           \
        while (o > v && !__atomic_compare_exchange_n(p, &o, v, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) { \
        }                                                                                     \
        return o;                                                                             \
    }
EMU_ATOMIC_INT(int)
EMU_ATOMIC_INT(unsigned)
EMU_ATOMIC_INT(unsigned long long)
EMU_ATOMIC_INT(long long)
#undef EMU_ATOMIC_INT
inline unsigned short atomicCAS(unsigned short *p, unsigned short cmp, unsigned short v) {
    __atomic_compare_exchange_n(p, &cmp, v, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
    return cmp;
}
#define EMU_ATOMIC_FP(T, U)                                                                    \
    inline T atomicAdd(T *p, T v) {                                                            \
        U *q = reinterpret_cast<U *>(p);                                                       \
        U o = __atomic_load_n(q, __ATOMIC_RELAXED), n;                                         \
        do {                                                                                   \
            n = emu::to_bits(emu::from_bits<T>(o) + v);                                        \
        } while (!__atomic_compare_exchange_n(q, &o, n, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)); \
        return emu::from_bits<T>(o);                                                           \
    }                                                                                          \
    inline T atomicExch(T *p, T v) {                                                           \
        return emu::from_bits<T>(__atomic_exchange_n(reinterpret_cast<U *>(p), U(emu::to_bits(v)), __ATOMIC_RELAXED)); \
    }
EMU_ATOMIC_FP(float, uint32_t)
EMU_ATOMIC_FP(double, uint64_t)
#undef EMU_ATOMIC_FP
inline unsigned atomicInc(unsigned *p, unsigned lim) {
    unsigned o = __atomic_load_n(p, __ATOMIC_RELAXED);
    while (!__atomic_compare_exchange_n(p, &o, o >= lim ? 0 : o + 1, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
    }
    return o;
}
inline unsigned atomicDec(unsigned *p, unsigned lim) {
    unsigned o = __atomic_load_n(p, __ATOMIC_RELAXED);
    while (!__atomic_compare_exchange_n(p, &o, (o == 0 || o > lim) ? lim : o - 1, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
    }
    return o;
}

/* ---- integer and bit intrinsics ---- */
inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz(unsigned(x)); }
inline int __clzll(long long x) { return x == 0 ? 64 : __builtin_clzll((unsigned long long)x); }
inline int __ffs(int x) { return __builtin_ffs(x); }
inline int __ffsll(long long x) { return __builtin_ffsll(x); }
inline unsigned __brev(unsigned x) {
    x = ((x >> 1) & 0x55555555u) | ((x & 0x55555555u) << 1);
    x = ((x >> 2) & 0x33333333u) | ((x & 0x33333333u) << 2);
    x = ((x >> 4) & 0x0f0f0f0fu) | ((x & 0x0f0f0f0fu) << 4);
    return __builtin_bswap32(x);
}
inline unsigned __umulhi(unsigned a, unsigned b) { return unsigned((uint64_t(a) * b) >> 32); }
inline int __mulhi(int a, int b) { return int((int64_t(a) * b) >> 32); }
inline unsigned __byte_perm(unsigned x, unsigned y, unsigned s) {
    uint64_t v = (uint64_t(y) << 32) | x;
    unsigned r = 0;
    for (int i = 0; i < 4; i++)
        r |= unsigned((v >> (((s >> (4 * i)) & 7) * 8)) & 0xff) << (8 * i);
    return r;
}
#define EMU_MINMAX(T)                                  \
    inline T min(T a, T b) { return b < a ? b : a; }   \
    inline T max(T a, T b) { return a < b ? b : a; }
EMU_MINMAX(int)
EMU_MINMAX(unsigned)
EMU_MINMAX(long long)
EMU_MINMAX(unsigned long long)
EMU_MINMAX(long)
EMU_MINMAX(unsigned long)
#undef EMU_MINMAX
inline float min(float a, float b) { return fminf(a, b); }
inline float max(float a, float b) { return fmaxf(a, b); }
inline double min(double a, double b) { return fmin(a, b); }
inline double max(double a, double b) { return fmax(a, b); }

using std::isfinite;
using std::isinf;
using std::isnan;
using std::signbit;

/* ---- float intrinsics (the fast ones are exact here: tolerances must allow the GPU's ulps) ---- */
inline int __float_as_int(float x) { return emu::from_bits<int>(emu::to_bits(x)); }
inline unsigned __float_as_uint(float x) { return emu::from_bits<unsigned>(emu::to_bits(x)); }
inline float __int_as_float(int x) { return emu::from_bits<float>(emu::to_bits(x)); }
inline float __uint_as_float(unsigned x) { return emu::from_bits<float>(emu::to_bits(x)); }
inline long long __double_as_longlong(double x) { return emu::from_bits<long long>(emu::to_bits(x)); }
inline double __longlong_as_double(long long x) { return emu::from_bits<double>(emu::to_bits(x)); }
inline float __expf(float x) { return expf(x); }
inline float __exp10f(float x) { return exp10f(x); }
inline float __logf(float x) { return logf(x); }
inline float __log2f(float x) { return log2f(x); }
inline float __log10f(float x) { return log10f(x); }
inline float __sinf(float x) { return sinf(x); }
inline float __cosf(float x) { return cosf(x); }
inline float __tanf(float x) { return tanf(x); }
inline void __sincosf(float x, float *s, float *c) { sincosf(x, s, c); }
inline float __powf(float x, float y) { return powf(x, y); }
inline float __fdividef(float a, float b) { return a / b; }
inline float __frcp_rn(float x) { return 1.0f / x; }
inline float __fsqrt_rn(float x) { return sqrtf(x); }
inline float __frsqrt_rn(float x) { return 1.0f / sqrtf(x); }
inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
inline double rsqrt(double x) { return 1.0 / sqrt(x); }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline float __fmaf_rn(float a, float b, float c) { return fmaf(a, b, c); }
inline float __saturatef(float x) { return x > 0.0f ? (x < 1.0f ? x : 1.0f) : 0.0f; } /* NaN -> 0 */
inline int __float2int_rn(float x) { return int(nearbyintf(x)); }
inline int __float2int_rz(float x) { return int(x); }
inline int __float2int_rd(float x) { return int(floorf(x)); }
inline int __float2int_ru(float x) { return int(ceilf(x)); }
inline unsigned __float2uint_rn(float x) { return unsigned(nearbyintf(x)); }
inline float __int2float_rn(int x) { return float(x); }
inline float __uint2float_rn(unsigned x) { return float(x); }

/* ---- __half and __nv_bfloat16: IEEE binary16 / bfloat16, round to nearest even ---- */
namespace emu {
inline uint16_t f2h(float f) {
    uint32_t x = to_bits(f);
    uint16_t s = uint16_t((x >> 16) & 0x8000);
    x &= 0x7fffffffu;
    if (x > 0x7f800000u)
        return 0x7fff; /* NaN: the canonical NaN, as cvt.rn.f16.f32 gives */
    if (x >= 0x477ff000u)
        return s | 0x7c00; /* >= 65520 rounds to infinity */
    if (x >= 0x38800000u) { /* normal half: round at bit 13, rebias 127 -> 15 */
        x += 0xfffu + ((x >> 13) & 1);
        return s | uint16_t((x - 0x38000000u) >> 13);
    }
    if (x <= 0x33000000u)
        return s; /* <= 2^-25 (a tie with zero) rounds to zero */
    int sh = 126 - int(x >> 23); /* subnormal: units of 2^-24; sh in 14..24 */
    uint32_t m = (x & 0x7fffffu) | 0x800000u, q = m >> sh, rem = m & ((1u << sh) - 1), half = 1u << (sh - 1);
    q += rem > half || (rem == half && (q & 1));
    return s | uint16_t(q);
}
inline float h2f(uint16_t h) {
    uint32_t s = uint32_t(h & 0x8000) << 16, e = (h >> 10) & 0x1f, m = h & 0x3ff;
    if (e == 31) /* infinity; NaN keeps its payload and is made quiet */
        return from_bits<float>(s | 0x7f800000u | (m << 13) | (m ? 0x400000u : 0));
    if (e == 0) {
        if (m == 0)
            return from_bits<float>(s);
        e = 1;
        while (!(m & 0x400)) {
            m <<= 1;
            e--;
        }
        m &= 0x3ff;
    }
    return from_bits<float>(s | ((e + 112) << 23) | (m << 13));
}
inline uint16_t f2bf(float f) {
    uint32_t x = to_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u)
        return 0x7fff; /* canonical NaN */
    x += 0x7fffu + ((x >> 16) & 1);
    return uint16_t(x >> 16);
}
inline float bf2f(uint16_t b) { return from_bits<float>(uint32_t(b) << 16); }
} // namespace emu

struct __half_raw {
    unsigned short x;
};
struct __nv_bfloat16_raw {
    unsigned short x;
};
/* Arithmetic goes through float and rounds once: for + - * / the float result
 * rounded to half (bf16) is the correctly rounded half (bf16) result. */
#define EMU_HALF_TYPE(H, TOF, FROMF)                                                               \
    struct H {                                                                                     \
        unsigned short __x;                                                                        \
        H() = default;                                                                             \
        H(float f) : __x(FROMF(f)) {}                                                              \
        H(double f) : __x(FROMF(float(f))) {}                                                      \
        H(int i) : __x(FROMF(float(i))) {}                                                         \
        H(H##_raw r) : __x(r.x) {}                                                                 \
        operator float() const { return TOF(__x); }                                                \
        operator H##_raw() const { return H##_raw{__x}; }                                          \
        H &operator+=(H o) { return *this = H(float(*this) + float(o)); }                          \
        H &operator-=(H o) { return *this = H(float(*this) - float(o)); }                          \
        H &operator*=(H o) { return *this = H(float(*this) * float(o)); }                          \
        H &operator/=(H o) { return *this = H(float(*this) / float(o)); }                          \
    };                                                                                             \
    inline H operator+(H a, H b) { return H(float(a) + float(b)); }                                \
    inline H operator-(H a, H b) { return H(float(a) - float(b)); }                                \
    inline H operator*(H a, H b) { return H(float(a) * float(b)); }                                \
    inline H operator/(H a, H b) { return H(float(a) / float(b)); }                                \
    inline H operator-(H a) { return H(H##_raw{(unsigned short)(a.__x ^ 0x8000)}); }               \
    inline bool operator==(H a, H b) { return float(a) == float(b); }                              \
    inline bool operator!=(H a, H b) { return float(a) != float(b); }                              \
    inline bool operator<(H a, H b) { return float(a) < float(b); }                                \
    inline bool operator>(H a, H b) { return float(a) > float(b); }                                \
    inline bool operator<=(H a, H b) { return float(a) <= float(b); }                              \
    inline bool operator>=(H a, H b) { return float(a) >= float(b); }
EMU_HALF_TYPE(__half, emu::h2f, emu::f2h)
EMU_HALF_TYPE(__nv_bfloat16, emu::bf2f, emu::f2bf)
#undef EMU_HALF_TYPE
typedef __half half;
typedef __nv_bfloat16 nv_bfloat16;
struct __align__(4) __half2 {
    __half x, y;
};
struct __align__(4) __nv_bfloat162 {
    __nv_bfloat16 x, y;
};
typedef __half2 half2;
typedef __nv_bfloat162 nv_bfloat162;

inline __half __float2half(float f) { return __half(f); }
inline __half __float2half_rn(float f) { return __half(f); }
inline float __half2float(__half h) { return float(h); }
inline unsigned short __half_as_ushort(__half h) { return h.__x; }
inline __half __ushort_as_half(unsigned short x) { return __half(__half_raw{x}); }
inline __half __hadd(__half a, __half b) { return a + b; }
inline __half __hsub(__half a, __half b) { return a - b; }
inline __half __hmul(__half a, __half b) { return a * b; }
inline __half __hdiv(__half a, __half b) { return a / b; }
inline __half __hneg(__half a) { return -a; }
inline __half __habs(__half a) { return __ushort_as_half(a.__x & 0x7fff); }
/* a*b is exact in double and the sum rounds once to double; for results in
 * half's range that double rounding cannot move a half tie. */
inline __half __hfma(__half a, __half b, __half c) { return __half(float(fma(double(float(a)), double(float(b)), double(float(c))))); }
inline __half __hmax(__half a, __half b) { return __half(fmaxf(float(a), float(b))); }
inline __half __hmin(__half a, __half b) { return __half(fminf(float(a), float(b))); }
inline bool __hisnan(__half a) { return std::isnan(float(a)); }
inline __half2 __halves2half2(__half a, __half b) { return __half2{a, b}; }
inline __half2 __floats2half2_rn(float a, float b) { return __half2{__half(a), __half(b)}; }
inline __half2 __float2half2_rn(float a) { return __half2{__half(a), __half(a)}; }
inline float2 __half22float2(__half2 h) { return float2{float(h.x), float(h.y)}; }
inline __half2 __float22half2_rn(float2 f) { return __half2{__half(f.x), __half(f.y)}; }
inline float __low2float(__half2 h) { return float(h.x); }
inline float __high2float(__half2 h) { return float(h.y); }
inline __half __low2half(__half2 h) { return h.x; }
inline __half __high2half(__half2 h) { return h.y; }
inline __half2 __hadd2(__half2 a, __half2 b) { return __half2{a.x + b.x, a.y + b.y}; }
inline __half2 __hmul2(__half2 a, __half2 b) { return __half2{a.x * b.x, a.y * b.y}; }
inline __half2 __hfma2(__half2 a, __half2 b, __half2 c) { return __half2{__hfma(a.x, b.x, c.x), __hfma(a.y, b.y, c.y)}; }

inline __nv_bfloat16 __float2bfloat16(float f) { return __nv_bfloat16(f); }
inline __nv_bfloat16 __float2bfloat16_rn(float f) { return __nv_bfloat16(f); }
inline float __bfloat162float(__nv_bfloat16 h) { return float(h); }
inline unsigned short __bfloat16_as_ushort(__nv_bfloat16 h) { return h.__x; }
inline __nv_bfloat16 __ushort_as_bfloat16(unsigned short x) { return __nv_bfloat16(__nv_bfloat16_raw{x}); }
inline __nv_bfloat162 __floats2bfloat162_rn(float a, float b) { return __nv_bfloat162{__nv_bfloat16(a), __nv_bfloat16(b)}; }
inline float2 __bfloat1622float2(__nv_bfloat162 h) { return float2{float(h.x), float(h.y)}; }

/* ---- kernel registration and dynamic shared memory (device.h documents them) ---- */
#define REGISTER_KERNEL(name)                                                                          \
    static_assert(::emu_params_ok(&name), #name ": kernel parameters must be 8 bytes each (pointers, " \
                                                "int64_t, uint64_t, double): see kernels/README.md"); \
    static ::emu::Reg emu_reg_##name(#name, &name);
#define SHARED_DYNAMIC(T, name) T *name = reinterpret_cast<T *>(::emu::ctx.dyn)

#endif /* ENGINE_CUDAEMU_H */
