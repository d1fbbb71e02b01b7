/*
 * ptx.h - inline-PTX instructions as functions: under nvcc the real PTX,
 * in emulation a body that follows the PTX ISA's fragment layouts, so the
 * kernels that use tensor cores run (slowly) on the CPU too.
 *
 * mma m16n8k16, A row-major 16×16, B column-major 16×8, C and D 16×8 float.
 * With g = lane/4 and t = lane%4, a lane holds (PTX ISA, "Matrix Fragments
 * for mma.m16n8k16 with floating point type"):
 *   a[r] (two 16-bit values, the lower half first), r = 0..3:
 *        row g + 8·(r&1), columns 2t, 2t+1 (+8 for r >= 2)
 *   b[r], r = 0..1: rows (k) 2t, 2t+1 (+8 for r = 1), column (n) g
 *   c[i], d[i], i = 0..3: row g + 8·(i>=2), column 2t + (i&1)
 * (the PTX ISA numbers the 16-bit elements a0..a7 and b0..b3; these are
 * their pairs). d may be c (accumulate in place).
 */
#ifndef ENGINE_PTX_H
#define ENGINE_PTX_H

#include "device.h"

#if defined(__CUDACC__)

__device__ __forceinline__ void mma_m16n8k16_f16_f32(float d[4], const uint32_t a[4], const uint32_t b[2], const float c[4]) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%10,%11,%12,%13};\n"
                 : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]), "f"(c[0]), "f"(c[1]), "f"(c[2]), "f"(c[3]));
}

__device__ __forceinline__ void mma_m16n8k16_bf16_f32(float d[4], const uint32_t a[4], const uint32_t b[2], const float c[4]) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%10,%11,%12,%13};\n"
                 : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]), "f"(c[0]), "f"(c[1]), "f"(c[2]), "f"(c[3]));
}

#else

namespace emu {

struct MmaLane {
    float *d;
    const uint32_t *a, *b;
    const float *c;
};

/* The whole tile from the 32 lanes' fragments, D = A·B + C with exact
 * products summed in double (the tensor core's order and rounding differ:
 * tests allow float rounding). */
template <float (*TOF)(uint16_t)>
inline void mma_m16n8k16(void *const *lanes) {
    float A[16][16], B[16][8], C[16][8];
    for (int l = 0; l < 32; l++) {
        const MmaLane *p = static_cast<const MmaLane *>(lanes[l]);
        int g = l / 4, t = l % 4;
        for (int r = 0; r < 4; r++)
            for (int h = 0; h < 2; h++)
                A[g + 8 * (r & 1)][2 * t + h + 8 * (r >= 2)] = TOF(uint16_t(p->a[r] >> (16 * h)));
        for (int r = 0; r < 2; r++)
            for (int h = 0; h < 2; h++)
                B[2 * t + h + 8 * r][g] = TOF(uint16_t(p->b[r] >> (16 * h)));
        for (int i = 0; i < 4; i++)
            C[g + 8 * (i >= 2)][2 * t + (i & 1)] = p->c[i];
    }
    for (int l = 0; l < 32; l++) {
        const MmaLane *p = static_cast<const MmaLane *>(lanes[l]);
        int g = l / 4, t = l % 4;
        for (int i = 0; i < 4; i++) {
            int m = g + 8 * (i >= 2), n = 2 * t + (i & 1);
            double s = C[m][n];
            for (int k = 0; k < 16; k++)
                s += double(A[m][k]) * double(B[k][n]);
            p->d[i] = float(s);
        }
    }
}

} // namespace emu

inline void mma_m16n8k16_f16_f32(float d[4], const uint32_t a[4], const uint32_t b[2], const float c[4],
                                 const char *file = __builtin_FILE(), int line = __builtin_LINE()) {
    emu::MmaLane me{d, a, b, c};
    emu::warp_collective(&me, emu::mma_m16n8k16<emu::h2f>, "mma.sync.m16n8k16.f16", file, line);
}

inline void mma_m16n8k16_bf16_f32(float d[4], const uint32_t a[4], const uint32_t b[2], const float c[4],
                                  const char *file = __builtin_FILE(), int line = __builtin_LINE()) {
    emu::MmaLane me{d, a, b, c};
    emu::warp_collective(&me, emu::mma_m16n8k16<emu::bf2f>, "mma.sync.m16n8k16.bf16", file, line);
}

#endif

#endif /* ENGINE_PTX_H */
