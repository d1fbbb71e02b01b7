/*
 * glu.h - the GLU activations act(gate, up) as the CPU backend computes them
 * (backend/cpu glu), shared by glu.cu and moe.cu:
 *   glu::SiLU       gate/(1+e^-gate) · up
 *   glu::GELUTanh   GELU-tanh of gate rounded to F16, evaluated there and
 *                   rounded to F16 again (ggml's table), 0 below -10, gate above 10
 *   glu::SwiGLUOAI  gpt-oss: g = min(gate, 7), u = clamp(up, ±7), g/(1+e^-1.702g) · (u+1)
 * The GPU's expf/tanhf are within 2 ulp of the CPU's double-precision ones.
 */
#ifndef ENGINE_GLU_H
#define ENGINE_GLU_H

#include "device.h"

namespace glu {

struct SiLU {
    static __device__ __forceinline__ float f(float g, float u) { return g / (1.0f + expf(-g)) * u; }
};

struct GELUTanh {
    static __device__ __forceinline__ float f(float g, float u) {
        float y = g;
        if (g <= -10.0f) {
            y = 0.0f;
        } else if (g < 10.0f) {
            // _rn ops: no contraction into FMAs, the CPU's float32 order.
            float h = __half2float(__float2half(g));
            float in = __fmul_rn(__fmul_rn(0.7978845608028654f, h), __fadd_rn(1.0f, __fmul_rn(__fmul_rn(0.044715f, h), h)));
            y = __half2float(__float2half(__fmul_rn(__fmul_rn(0.5f, h), __fadd_rn(1.0f, tanhf(in)))));
        }
        return y * u;
    }
};

struct SwiGLUOAI {
    static __device__ __forceinline__ float f(float g, float u) {
        // Comparisons that keep NaN, as Go's min and max.
        g = g > 7.0f ? 7.0f : g;
        u = u > 7.0f ? 7.0f : u < -7.0f ? -7.0f : u;
        return g / (1.0f + expf(-1.702f * g)) * (u + 1.0f);
    }
};

} // namespace glu

#endif /* ENGINE_GLU_H */
