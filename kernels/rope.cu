// rope.cu - RoPE (backend.Backend.RoPE): rotates each head of each row of x
// in place by its token's position. One block per row: the block first
// computes the row's cos/sin per pair into shared memory, then rotates every
// head's pairs.
//
// The arithmetic is the CPU backend's (ggml's) in the same float order, so
// that results agree to the last bit where the libm's agree: the angle of
// pair k is float(pos) times thetaScale k times by repeated float
// multiplication, divided by Factors[k]; YaRN blends it in float; cos and sin
// are double, rounded to float, then scaled by mscale. The __f*_rn
// intrinsics keep nvcc from contracting into FMAs that the CPU does not do.
#include "device.h"

// The most pairs a row's cos/sin table holds: Dims <= 1024.
#define ROPE_MAX_PAIRS 512

static __device__ __forceinline__ float rope_log(float x) { return float(log(double(x))); }

// ggml_rope_yarn_corr_dim for beta, in float as the CPU backend.
static __device__ __forceinline__ float rope_corr(float beta, float dims, float origCtx, float base) {
    float turns = __fdiv_rn(origCtx, __fmul_rn(__fmul_rn(beta, 2.0f), 3.14159265358979323846f));
    return __fdiv_rn(__fmul_rn(dims, rope_log(turns)), __fmul_rn(2.0f, rope_log(base)));
}

// x: rows × cols floats, heads of headDim from the row's start (cols/headDim
// of them, a partial tail untouched); pos: int32 per row; factors: dims/2
// floats or null. Float scalars are the float32 values widened to double.
// Without YaRN pass extFactor 0 and attnFactor 1 (betas and origCtx unused).
extern "C" __global__ void rope_f32(float *x, const int32_t *pos, const float *factors, int64_t cols,
                                    int64_t headDim, int64_t dims, int64_t neox, double base, double freqScale,
                                    double extFactor, double attnFactor, double betaFast, double betaSlow,
                                    int64_t origCtx) {
    __shared__ float cs[2 * ROPE_MAX_PAIRS]; // cos, sin of pair k at 2k, 2k+1
    int half = int(dims / 2);
    if (half > ROPE_MAX_PAIRS)
        __trap();
    float fs = float(freqScale), ext = float(extFactor), mscale = float(attnFactor), lo = 0, hi = 0;
    if (ext != 0.0f) {
        float fd = float(dims), fb = float(base);
        lo = fmaxf(0.0f, floorf(rope_corr(float(betaFast), fd, float(origCtx), fb)));
        hi = fminf(float(dims - 1), ceilf(rope_corr(float(betaSlow), fd, float(origCtx), fb)));
        mscale = __fmul_rn(mscale, __fadd_rn(1.0f, __fmul_rn(0.1f, rope_log(__fdiv_rn(1.0f, fs)))));
    }
    float thetaScale = float(pow(double(float(base)), -2.0 / double(dims)));
    int64_t row = blockIdx.x;
    for (int k = threadIdx.x; k < half; k += blockDim.x) {
        float th = float(pos[row]);
        for (int j = 0; j < k; j++)
            th = __fmul_rn(th, thetaScale);
        if (factors)
            th = __fdiv_rn(th, factors[k]);
        float a = __fmul_rn(fs, th);
        if (ext != 0.0f) {
            float ramp = __fdiv_rn(__fsub_rn(float(k), lo), fmaxf(0.001f, __fsub_rn(hi, lo)));
            float mix = __fmul_rn(__fsub_rn(1.0f, fminf(1.0f, fmaxf(0.0f, ramp))), ext);
            a = __fadd_rn(__fmul_rn(a, __fsub_rn(1.0f, mix)), __fmul_rn(th, mix));
        }
        float c = float(cos(double(a))), s = float(sin(double(a)));
        if (mscale != 1.0f) {
            c = __fmul_rn(c, mscale);
            s = __fmul_rn(s, mscale);
        }
        cs[2 * k] = c;
        cs[2 * k + 1] = s;
    }
    __syncthreads();
    float *r = x + row * cols;
    int64_t n = (cols / headDim) * half;
    for (int64_t t = threadIdx.x; t < n; t += blockDim.x) {
        int64_t h = t / half;
        int k = int(t % half);
        float *v = r + h * headDim;
        int i0 = neox ? k : 2 * k, i1 = neox ? k + half : 2 * k + 1;
        float x0 = v[i0], x1 = v[i1], c = cs[2 * k], s = cs[2 * k + 1];
        v[i0] = __fsub_rn(__fmul_rn(x0, c), __fmul_rn(x1, s));
        v[i1] = __fadd_rn(__fmul_rn(x0, s), __fmul_rn(x1, c));
    }
}
REGISTER_KERNEL(rope_f32)
