// add.cu - Add: dst = a + b over n floats (backend.Backend.Add).
#include "device.h"

// Grid-stride loop: any grid covers any n.
extern "C" __global__ void add_f32(float *dst, const float *a, const float *b, int64_t n) {
    int64_t step = int64_t(gridDim.x) * blockDim.x;
    for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step)
        dst[i] = a[i] + b[i];
}
REGISTER_KERNEL(add_f32)
