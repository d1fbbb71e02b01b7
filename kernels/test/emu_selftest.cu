// emu_selftest.cu - kernels that test the CUDA emulation itself
// (backend/cuda/emu's tests launch them). They are valid CUDA and compile
// for every target, but the emu_deadlock_* ones hang on a real GPU: they
// exist to check that the emulator reports the deadlock.
#include "device.h"
#include "ptx.h"
#include "reduce.h"

// out[blockIdx.x] = sum of the block's blockDim.x values of in.
extern "C" __global__ void emu_block_sum(float *out, const float *in) {
    __shared__ float scratch[32];
    float v = in[int64_t(blockIdx.x) * blockDim.x + threadIdx.x];
    v = block_sum(v, scratch);
    if (threadIdx.x == 0)
        out[blockIdx.x] = v;
}
REGISTER_KERNEL(emu_block_sum)

// out = inᵀ for an n×n matrix, 32×32 tiles through shared memory, blocks of 32×8.
extern "C" __global__ void emu_transpose(float *out, const float *in, int64_t n) {
    __shared__ float tile[32][33];
    int64_t x = int64_t(blockIdx.x) * 32 + threadIdx.x, y0 = int64_t(blockIdx.y) * 32;
    for (int j = threadIdx.y; j < 32; j += blockDim.y)
        if (x < n && y0 + j < n)
            tile[j][threadIdx.x] = in[(y0 + j) * n + x];
    __syncthreads();
    x = y0 + threadIdx.x;
    int64_t yt = int64_t(blockIdx.x) * 32;
    for (int j = threadIdx.y; j < 32; j += blockDim.y)
        if (x < n && yt + j < n)
            out[(yt + j) * n + x] = tile[threadIdx.x][j];
}
REGISTER_KERNEL(emu_transpose)

// Per thread, 8 results: half-warp groups with their own masks take
// different shuffles at the same time, then full-warp shuffles of 64-bit values.
extern "C" __global__ void emu_shuffles(int64_t *out) {
    int t = threadIdx.x, lane = t & 31;
    int64_t *o = out + int64_t(t) * 8;
    int v = 100 * t;
    if (lane < 16) {
        o[0] = __shfl_down_sync(0x0000ffffu, v, 3, 16);
        o[1] = __shfl_sync(0x0000ffffu, v, 5, 16);
    } else {
        o[0] = __shfl_xor_sync(0xffff0000u, v, 6, 16);
        o[1] = __shfl_up_sync(0xffff0000u, v, 2, 16);
    }
    int64_t big = (int64_t(t) << 40) + t;
    o[2] = __shfl_xor_sync(0xffffffffu, big, 1);
    o[3] = __shfl_up_sync(0xffffffffu, big, 4);
    o[4] = __shfl_down_sync(0xffffffffu, big, 4, 8);
    double d = t + 0.5;
    o[5] = int64_t(__shfl_sync(0xffffffffu, d, 31 - lane) * 2);
    o[6] = __shfl_xor_sync(0xffffffffu, v, 16, 32);
    __syncwarp();
    o[7] = __shfl_sync(0xffffffffu, v, lane + 40); // src lane taken modulo the width
}
REGISTER_KERNEL(emu_shuffles)

// Per thread, 6 results of votes.
extern "C" __global__ void emu_votes(int64_t *out) {
    int t = threadIdx.x, lane = t & 31;
    int64_t *o = out + int64_t(t) * 6;
    o[0] = __ballot_sync(0xffffffffu, lane % 3 == 0);
    o[1] = __any_sync(0xffffffffu, t == 37);
    o[2] = __all_sync(0xffffffffu, lane < 31);
    o[3] = lane < 16 ? __ballot_sync(0x0000ffffu, lane & 1) : __ballot_sync(0xffff0000u, lane > 20);
    o[4] = __syncthreads_count(t % 5 == 0);
    o[5] = __syncthreads_or(t == 70) + 2 * __syncthreads_and(t < 1000);
}
REGISTER_KERNEL(emu_votes)

// Each block reverses its blockDim.x values through dynamic shared memory of
// blockDim.x + 1 floats; out[n + block] gets the bits of the last, unwritten float.
extern "C" __global__ void emu_dynamic_shared(float *out, const float *in, int64_t n) {
    SHARED_DYNAMIC(float, buf);
    int64_t base = int64_t(blockIdx.x) * blockDim.x;
    buf[threadIdx.x] = in[base + threadIdx.x];
    __syncthreads();
    out[base + threadIdx.x] = buf[blockDim.x - 1 - threadIdx.x];
    if (threadIdx.x == 0)
        out[n + blockIdx.x] = buf[blockDim.x];
}
REGISTER_KERNEL(emu_dynamic_shared)

// Every thread: counter += 1, fsum += 0.5, max of (global id * 7919) % 10007.
extern "C" __global__ void emu_atomics(int *counter, float *fsum, unsigned *mx, unsigned long long *cas) {
    unsigned id = blockIdx.x * blockDim.x + threadIdx.x;
    atomicAdd(counter, 1);
    atomicAdd(fsum, 0.5f);
    atomicMax(mx, (id * 7919u) % 10007u);
    unsigned long long o = *cas, seen;
    while ((seen = atomicCAS(cas, o, o + id)) != o)
        o = seen;
}
REGISTER_KERNEL(emu_atomics)

// Conversions, one value per thread of a grid-stride loop.
extern "C" __global__ void emu_f2h(uint16_t *out, const float *in, int64_t n) {
    for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
        out[i] = __half_as_ushort(__float2half(in[i]));
}
REGISTER_KERNEL(emu_f2h)

extern "C" __global__ void emu_h2f(float *out, const uint16_t *in, int64_t n) {
    for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
        out[i] = __half2float(__ushort_as_half(in[i]));
}
REGISTER_KERNEL(emu_h2f)

extern "C" __global__ void emu_f2bf(uint16_t *out, const float *in, int64_t n) {
    for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
        out[i] = __bfloat16_as_ushort(__float2bfloat16(in[i]));
}
REGISTER_KERNEL(emu_f2bf)

extern "C" __global__ void emu_bf2f(float *out, const uint16_t *in, int64_t n) {
    for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
        out[i] = __bfloat162float(__ushort_as_bfloat16(in[i]));
}
REGISTER_KERNEL(emu_bf2f)

// Half arithmetic: out[i] = bits of a[i] op b[i] in half for op = + - * /.
extern "C" __global__ void emu_half_ops(uint16_t *out, const uint16_t *a, const uint16_t *b, int64_t n) {
    for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
        __half x = __ushort_as_half(a[i]), y = __ushort_as_half(b[i]);
        out[4 * i + 0] = __half_as_ushort(__hadd(x, y));
        out[4 * i + 1] = __half_as_ushort(__hsub(x, y));
        out[4 * i + 2] = __half_as_ushort(__hmul(x, y));
        out[4 * i + 3] = __half_as_ushort(__hdiv(x, y));
    }
}
REGISTER_KERNEL(emu_half_ops)

// A race on purpose: each thread reads its neighbour's shared value with no
// barrier in between, so the result depends on the order threads run in.
extern "C" __global__ void emu_race(float *out) {
    __shared__ float s[1024];
    s[threadIdx.x] = float(threadIdx.x) + 1;
    out[threadIdx.x] = s[(threadIdx.x + 1) % blockDim.x];
    __syncthreads();
    s[threadIdx.x] = 0; // what the next launch's early readers see
}
REGISTER_KERNEL(emu_race)

// Broken on purpose, by mode: 0 __syncthreads that half the block skips;
// 1 a full-mask shuffle that lane 5 never reaches; 2 a lane outside its own
// mask; 3 two different __syncthreads; 4 __trap; 5 a shuffle whose masks
// differ between the lanes.
extern "C" __global__ void emu_deadlock(int64_t mode) {
    int t = threadIdx.x;
    if (mode == 0) {
        if (t < 64)
            __syncthreads();
    } else if (mode == 1) {
        if ((t & 31) == 5 && t < 32)
            return;
        (void)__shfl_sync(0xffffffffu, t, 0);
    } else if (mode == 2) {
        (void)__shfl_sync(0x0000ffffu, t, 0);
    } else if (mode == 3) {
        if (t & 1)
            __syncthreads();
        else
            __syncthreads();
    } else if (mode == 4 && t == 3) {
        __trap();
    } else if (mode == 5 && t < 32) {
        // The upper half-warp names the whole warp, the lower half only itself.
        (void)__shfl_xor_sync(t < 16 ? 0x0000ffffu : 0xffffffffu, t, 1);
    }
}
REGISTER_KERNEL(emu_deadlock)

// One m16n8k16 tile per warp-sized block: A (16×16 row-major), B (16×8,
// k-major: B[k][n] at k·8+n) as 16-bit bits, C, D (16×8 row-major) float;
// bf16 != 0 for bfloat16 inputs. Loads and stores follow ptx.h's layout, so
// on a GPU this checks the emulator's layout against the tensor cores.
extern "C" __global__ void emu_mma_m16n8k16(float *d, const uint16_t *a, const uint16_t *b, const float *c, int64_t bf16) {
    int l = threadIdx.x, g = l / 4, t = l % 4;
    uint32_t fa[4], fb[2];
    float fc[4], fd[4];
    for (int r = 0; r < 4; r++) {
        const uint16_t *p = a + (g + 8 * (r & 1)) * 16 + 2 * t + 8 * (r >= 2);
        fa[r] = uint32_t(p[0]) | uint32_t(p[1]) << 16;
    }
    for (int r = 0; r < 2; r++) {
        int k = 2 * t + 8 * r;
        fb[r] = uint32_t(b[k * 8 + g]) | uint32_t(b[(k + 1) * 8 + g]) << 16;
    }
    for (int i = 0; i < 4; i++)
        fc[i] = c[(g + 8 * (i >= 2)) * 8 + 2 * t + (i & 1)];
    if (bf16)
        mma_m16n8k16_bf16_f32(fd, fa, fb, fc);
    else
        mma_m16n8k16_f16_f32(fd, fa, fb, fc);
    for (int i = 0; i < 4; i++)
        d[(g + 8 * (i >= 2)) * 8 + 2 * t + (i & 1)] = fd[i];
}
REGISTER_KERNEL(emu_mma_m16n8k16)

// Per thread, 6 results of sm_80's warp reductions and the match votes.
extern "C" __global__ void emu_warp_reduce(int64_t *out) {
    int t = threadIdx.x, lane = t & 31;
    int64_t *o = out + int64_t(t) * 6;
    o[0] = __reduce_add_sync(0xffffffffu, unsigned(lane));
    o[1] = __reduce_min_sync(0xffffffffu, lane - 7);
    o[2] = __reduce_max_sync(0xffffffffu, unsigned(lane * 3 % 29));
    o[3] = lane < 16 ? __reduce_or_sync(0x0000ffffu, 1u << lane) : __reduce_xor_sync(0xffff0000u, unsigned(lane));
    o[4] = __match_any_sync(0xffffffffu, lane % 3);
    int pred;
    unsigned m = lane < 16 ? __match_all_sync(0x0000ffffu, 5, &pred) : __match_all_sync(0xffff0000u, lane, &pred);
    o[5] = int64_t(m) + (int64_t(pred) << 32);
}
REGISTER_KERNEL(emu_warp_reduce)
