// softcap.cu - Softcap (backend.Backend.Softcap): x = c·tanh(x/c), in place.
#include "device.h"

// c is the float32 cap widened to double (8-byte parameters only).
extern "C" __global__ void softcap_f32(float *x, int64_t n, double c) {
    float cf = float(c);
    int64_t step = int64_t(gridDim.x) * blockDim.x;
    for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step)
        x[i] = cf * tanhf(x[i] / cf);
}
REGISTER_KERNEL(softcap_f32)
