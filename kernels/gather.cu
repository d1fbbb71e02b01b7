// gather.cu - Gather (backend.Backend.Gather): dst row i = x row rows[i].
// One block per output row.
#include "device.h"

extern "C" __global__ void gather_f32(float *dst, const float *x, const int32_t *rows, int64_t cols) {
    const float *in = x + int64_t(rows[blockIdx.x]) * cols;
    float *out = dst + int64_t(blockIdx.x) * cols;
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x)
        out[j] = in[j];
}
REGISTER_KERNEL(gather_f32)
