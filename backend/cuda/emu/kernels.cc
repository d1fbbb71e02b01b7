//go:build cudaemu

// The emulator's runtime and every kernel source, as one translation unit.
// TestKernelList checks that each kernels/**/*.cu is listed here.
#include "../../../kernels/emu/cudaemu.cc"

#include "../../../kernels/add.cu"
#include "../../../kernels/argmax.cu"
#include "../../../kernels/attention.cu"
#include "../../../kernels/embed.cu"
#include "../../../kernels/gather.cu"
#include "../../../kernels/glu.cu"
#include "../../../kernels/kv.cu"
#include "../../../kernels/matmul.cu"
#include "../../../kernels/moe.cu"
#include "../../../kernels/moe_matmul.cu"
#include "../../../kernels/quantize.cu"
#include "../../../kernels/rmsnorm.cu"
#include "../../../kernels/rope.cu"
#include "../../../kernels/sigmoid_gate.cu"
#include "../../../kernels/softcap.cu"
#include "../../../kernels/test/emu_selftest.cu"

// The host compiler's _Float16, the reference for the emulated __half.
extern "C" void emu_host_f2h(const float *in, uint16_t *out, size_t n) {
    for (size_t i = 0; i < n; i++) {
        _Float16 h = (_Float16)in[i];
        memcpy(&out[i], &h, 2);
    }
}

extern "C" void emu_host_h2f(const uint16_t *in, float *out, size_t n) {
    for (size_t i = 0; i < n; i++) {
        _Float16 h;
        memcpy(&h, &in[i], 2);
        out[i] = (float)h;
    }
}

// Half arithmetic in _Float16 (each op rounds once, like the GPU's).
extern "C" void emu_host_half_ops(uint16_t *out, const uint16_t *a, const uint16_t *b, size_t n) {
    for (size_t i = 0; i < n; i++) {
        _Float16 x, y, r[4];
        memcpy(&x, &a[i], 2);
        memcpy(&y, &b[i], 2);
        r[0] = x + y;
        r[1] = x - y;
        r[2] = x * y;
        r[3] = x / y;
        memcpy(&out[4 * i], r, 8);
    }
}
