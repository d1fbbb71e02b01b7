// glu.cu - GLU (backend.Backend.GLU): dst = act(gate) · up over n floats, one
// kernel per activation (backend.Act; include/glu.h, shared with moe.cu), as
// the CPU backend computes them:
//   glu_silu_f32        gate/(1+e^-gate) · up
//   glu_gelu_tanh_f32   GELU-tanh of gate rounded to F16, evaluated there and
//                       rounded to F16 again (ggml's table), 0 below -10, gate above 10
//   glu_swiglu_oai_f32  gpt-oss: g = min(gate, 7), u = clamp(up, ±7), g/(1+e^-1.702g) · (u+1)
// The GPU's expf/tanhf are within 2 ulp of the CPU's double-precision ones.
#include "device.h"
#include "glu.h"

namespace glu {

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
