// sigmoid_gate.cu - SigmoidGate (backend.Backend.SigmoidGate): row i of x
// (cols values) times sigmoid(g[i·gcols]), a shared expert's gate. One block
// per row. The gate is the CPU backend's v/(1+e^-v)/v (0.5 at v = 0).
#include "device.h"

extern "C" __global__ void sigmoid_gate_f32(float *x, const float *g, int64_t cols, int64_t gcols) {
    float v = g[int64_t(blockIdx.x) * gcols];
    float gate = v != 0.0f ? v / (1.0f + expf(-v)) / v : 0.5f;
    float *row = x + int64_t(blockIdx.x) * cols;
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x)
        row[j] *= gate;
}
REGISTER_KERNEL(sigmoid_gate_f32)
