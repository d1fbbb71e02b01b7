/*
 * device.h - what every kernel source includes first: the CUDA headers under
 * nvcc, the host emulation (cudaemu.h) under g++, and two macros that read
 * the same in both:
 *
 *   REGISTER_KERNEL(name)    after an `extern "C" __global__` kernel: checks
 *                            that every parameter is 8 bytes (gorgonia.org/cu
 *                            copies each one as 8 bytes) and, in emulation,
 *                            registers the kernel for emu_launch by name.
 *   SHARED_DYNAMIC(T, name)  declares `T* name` pointing at the block's
 *                            dynamic shared memory (instead of
 *                            `extern __shared__ T name[]`, which host C++
 *                            cannot give per-block storage).
 */
#ifndef ENGINE_DEVICE_H
#define ENGINE_DEVICE_H

#include <stdint.h>

template <class... A>
constexpr bool emu_params_ok(void (*)(A...)) {
    return ((sizeof(A) == 8) && ... && true);
}

#if defined(__CUDACC__)
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#define REGISTER_KERNEL(name)                                                                         \
    static_assert(emu_params_ok(&name), #name ": kernel parameters must be 8 bytes each (pointers, " \
                                              "int64_t, uint64_t, double): see kernels/README.md");
// Declared once at file scope: nvcc rejects block-scope declarations of one
// extern __shared__ name that differ between a template and a plain function
// when all kernels are compiled as one unit (engine_kernels.fatbin).
extern __shared__ __align__(16) unsigned char engine_dyn_smem[];
#define SHARED_DYNAMIC(T, name) T *name = reinterpret_cast<T *>(engine_dyn_smem)
#else
#include "cudaemu.h"
#endif

#endif /* ENGINE_DEVICE_H */
