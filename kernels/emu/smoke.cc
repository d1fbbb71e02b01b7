// smoke.cc - a CMake/ctest check of the emulated kernels linked as separate
// translation units (the Go tests in backend/cuda/emu are the full suite).
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

extern "C" int emu_launch(const char *name, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                          unsigned bz, unsigned shared, void **params, char *err, size_t errlen);

int main() {
    char err[4096] = "";
    std::vector<float> in(64 * 256), out(64);
    for (size_t i = 0; i < in.size(); i++)
        in[i] = float(i % 7);
    float *po = out.data();
    const float *pi = in.data();
    void *p[] = {&po, &pi};
    if (int rc = emu_launch("emu_block_sum", 64, 1, 1, 256, 1, 1, 0, p, err, sizeof err)) {
        fprintf(stderr, "emu_block_sum: %d %s\n", rc, err);
        return 1;
    }
    for (int b = 0; b < 64; b++) {
        float want = 0;
        for (int i = 0; i < 256; i++)
            want += in[b * 256 + i];
        if (out[b] != want) {
            fprintf(stderr, "block %d: sum %g, want %g\n", b, out[b], want);
            return 1;
        }
    }
    int64_t mode = 0;
    void *q[] = {&mode};
    int rc = emu_launch("emu_deadlock", 1, 1, 1, 128, 1, 1, 0, q, err, sizeof err);
    if (rc != 719 || !strstr(err, "64 wait at __syncthreads at kernels/test/emu_selftest.cu:")) {
        fprintf(stderr, "deadlock not reported: %d %s\n", rc, err);
        return 1;
    }
    puts("emu_smoke: ok");
    return 0;
}
