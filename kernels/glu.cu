// glu.cu - GLU (backend.Backend.GLU): dst = act(gate) · up over n floats, one
// kernel per activation (backend.Act), as the CPU backend computes them:
//   glu_silu_f32        gate/(1+e^-gate) · up
//   glu_gelu_tanh_f32   GELU-tanh of gate rounded to F16, evaluated there and
//                       rounded to F16 again (ggml's table), 0 below -10, gate above 10
//   glu_swiglu_oai_f32  gpt-oss: g = min(gate, 7), u = clamp(up, ±7), g/(1+e^-1.702g) · (u+1)
// The GPU's expf/tanhf are within 2 ulp of the CPU's double-precision ones.
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

template <class A>
__device__ __forceinline__ void run(float *dst, const float *gate, const float *up, int64_t n) {
    int64_t step = int64_t(gridDim.x) * blockDim.x;
    for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step)
        dst[i] = A::f(gate[i], up[i]);
}

} // namespace glu

extern "C" __global__ void glu_silu_f32(float *dst, const float *gate, const float *up, int64_t n) {
    glu::run<glu::SiLU>(dst, gate, up, n);
}
REGISTER_KERNEL(glu_silu_f32)

extern "C" __global__ void glu_gelu_tanh_f32(float *dst, const float *gate, const float *up, int64_t n) {
    glu::run<glu::GELUTanh>(dst, gate, up, n);
}
REGISTER_KERNEL(glu_gelu_tanh_f32)

extern "C" __global__ void glu_swiglu_oai_f32(float *dst, const float *gate, const float *up, int64_t n) {
    glu::run<glu::SwiGLUOAI>(dst, gate, up, n);
}
REGISTER_KERNEL(glu_swiglu_oai_f32)
