// rmsnorm.cu - RMSNorm (backend.Backend.RMSNorm): each group of n values of x
// (a row, or a head when n is the head size) is scaled by 1/sqrt(mean(x²)+eps)
// and multiplied by w. One block per group. As the CPU backend: the squares
// are float, summed in double; the mean is rounded to float before eps is
// added in float; the scale is 1/sqrtf (both correctly rounded); the output
// is (x·scale)·w.
#include "device.h"
#include "reduce.h"

// eps is the float32 eps widened to double (8-byte parameters only).
extern "C" __global__ void rmsnorm_f32(float *dst, const float *x, const float *w, int64_t n, double eps) {
    __shared__ double scratch[32];
    const float *in = x + int64_t(blockIdx.x) * n;
    float *out = dst + int64_t(blockIdx.x) * n;
    double sum = 0;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
        float v = in[i];
        sum += double(v * v);
    }
    sum = block_sum(sum, scratch);
    float scale = 1.0f / sqrtf(float(sum / double(n)) + float(eps));
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x)
        out[i] = in[i] * scale * w[i];
}
REGISTER_KERNEL(rmsnorm_f32)
