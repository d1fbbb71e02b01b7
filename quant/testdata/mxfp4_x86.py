#!/usr/bin/env python3
"""Generate quant/testdata/MXFP4_x86.qv: MXFP4 x Q8_0 dot products as the
llama.cpp binary that node-llama-cpp ships computes them on x86 with AVX2.

ggml_vec_dot_mxfp4_q8_0 in libggml-cpu-<variant>.so (x86 AVX2 branch) sums in
a different float order from the generic C code that testdata/MXFP4.qv pins:
two blocks per step, each block's eight int32 lane sums fused-multiply-added
into one of two __m256 accumulators, a horizontal sum at the end, then an
odd last block added with a scalar FMA. The Go AVX2 kernel reproduces that.

The libraries are the prebuilt ones under scripts/ref/node_modules (the
reference binary, node-llama-cpp 3.21.1); they are called with ctypes. Every
variant this CPU can run that has AVX2 is called, and all must agree.

Run (from the repository root, needs numpy):
    python3 quant/testdata/mxfp4_x86.py
Deterministic: fixed seed.

Output: records as in the other .qv files (u8 key length, key, u32 LE byte
length, bytes):
  cases         u32: number of cases
  n             u32[cases]: elements per case
  w<i>, x<i>    MXFP4 weight row and Q8_0 activation row of case i
  dot           float32[cases]: ggml_vec_dot_mxfp4_q8_0 (AVX2 branch)
The script also reports in how many cases the AVX2 result differs from the
same library's ggml_vec_dot_mxfp4_q8_0_generic (compiled there with FMA
contraction, so not quite testdata/MXFP4.qv's generic order either).
"""

import ctypes
import os
import struct
import sys

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
LIBDIR = os.path.join(ROOT, "scripts", "ref", "node_modules", "@node-llama-cpp", "linux-x64", "bins", "linux-x64")
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "MXFP4_x86.qv")

# Variants whose ggml_vec_dot_mxfp4_q8_0 takes the __AVX2__ branch, with the
# /proc/cpuinfo flags they need to run.
VARIANTS = {
    "haswell": {"avx2", "fma", "f16c", "bmi2"},
    "skylakex": {"avx2", "fma", "avx512f", "avx512bw", "avx512vl"},
    "icelake": {"avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512vbmi"},
    "alderlake": {"avx2", "fma", "avx_vnni"},
    "sapphirerapids": {"avx2", "fma", "avx512f", "avx512_bf16", "amx_tile"},
    "zen4": {"avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni"},
}

VP = ctypes.c_void_p


def cpu_flags():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    return set()


def load(variant):
    ctypes.CDLL(os.path.join(LIBDIR, "libggml-base.so"), mode=ctypes.RTLD_GLOBAL)
    lib = ctypes.CDLL(os.path.join(LIBDIR, f"libggml-cpu-{variant}.so"), mode=ctypes.RTLD_LOCAL)
    lib.ggml_cpu_init()  # fills the fp16 and e8m0 tables the kernel reads
    for name in ("ggml_vec_dot_mxfp4_q8_0", "ggml_vec_dot_mxfp4_q8_0_generic"):
        f = getattr(lib, name)
        f.argtypes = [ctypes.c_int, VP, ctypes.c_size_t, VP, ctypes.c_size_t, VP, ctypes.c_size_t, ctypes.c_int]
        f.restype = None
    lib.quantize_row_q8_0.argtypes = [VP, VP, ctypes.c_int64]
    lib.quantize_row_q8_0.restype = None
    return lib


def dot(f, n, w, x):
    s = np.zeros(1, dtype=np.float32)
    f(n, s.ctypes.data, 0, w.ctypes.data, 0, x.ctypes.data, 0, 1)
    return s[0]


def fp16_bytes(v):
    return np.asarray(v, dtype=np.float16).view(np.uint8).reshape(-1, 2)


def cases(rng, lib):
    """Yield (n, w, x): random blocks of every kind, odd and even block counts."""
    for nb in [1, 2, 3, 4, 5, 7, 8, 15, 16, 17, 31, 64, 90, 91]:
        for kind in range(5):
            w = rng.integers(0, 256, size=(nb, 17), dtype=np.uint8)
            x = rng.integers(0, 256, size=(nb, 34), dtype=np.uint8)
            if kind == 0:
                # raw bytes everywhere but a sane exponent and scale
                w[:, 0] = rng.integers(110, 135, nb)
                x[:, 0:2] = fp16_bytes(rng.uniform(-0.5, 0.5, nb))
            elif kind == 1:
                # activations from ggml's own Q8_0 quantizer (no -128)
                w[:, 0] = rng.integers(118, 130, nb)
                a = (rng.standard_normal(nb * 32) * 3).astype(np.float32)
                xq = np.zeros(nb * 34, dtype=np.uint8)
                lib.quantize_row_q8_0(a.ctypes.data, xq.ctypes.data, nb * 32)
                x = xq.reshape(nb, 34)
            elif kind == 2:
                # -128 activations against every code, where the AVX2 sign
                # trick wraps
                x[:, 2:] = np.where(rng.random((nb, 32)) < 0.5, 0x80, x[:, 2:])
                w[:, 0] = rng.integers(120, 136, nb)
                x[:, 0:2] = fp16_bytes(rng.uniform(-2, 2, nb))
            elif kind == 3:
                # every exponent, subnormal and overflowing scales included
                w[:, 0] = rng.integers(0, 256, nb)
                x[:, 0:2] = fp16_bytes(rng.uniform(-65504, 65504, nb) * rng.choice([1e-7, 1e-3, 1], nb))
            else:
                # fully random bytes: NaN and Inf scales too
                pass
            yield nb * 32, np.ascontiguousarray(w.reshape(-1)), np.ascontiguousarray(x.reshape(-1))


def write(path, recs):
    with open(path, "wb") as f:
        for k, v in recs:
            if isinstance(v, int):
                v = struct.pack("<I", v)
            elif isinstance(v, np.ndarray):
                v = np.ascontiguousarray(v).tobytes()
            kb = k.encode()
            f.write(struct.pack("<B", len(kb)) + kb + struct.pack("<I", len(v)) + v)


def same(a, b):
    return a.tobytes() == b.tobytes() or bool(np.all((a == b) | (np.isnan(a) & np.isnan(b))))


def main():
    flags = cpu_flags()
    usable = [v for v, need in VARIANTS.items() if need <= flags]
    if "haswell" not in usable:
        sys.exit("this CPU cannot run the haswell (AVX2) variant")
    libs = {v: load(v) for v in usable}
    rng = np.random.default_rng(4242)
    all_cases = list(cases(rng, libs["haswell"]))
    results = {}
    for v, lib in libs.items():
        results[v] = np.array([dot(lib.ggml_vec_dot_mxfp4_q8_0, n, w, x) for n, w, x in all_cases], dtype=np.float32)
    for v in usable:
        if not same(results[v], results["haswell"]):
            sys.exit(f"variant {v} disagrees with haswell")
    gen = libs["haswell"].ggml_vec_dot_mxfp4_q8_0_generic
    generic = np.array([dot(gen, n, w, x) for n, w, x in all_cases], dtype=np.float32)
    differ = int(np.count_nonzero((results["haswell"] != generic) & ~np.isnan(generic)))
    print(f"variants {', '.join(usable)} agree; AVX2 and generic differ in {differ} of {len(all_cases)} cases")
    recs = [("cases", len(all_cases)), ("n", np.array([n for n, _, _ in all_cases], dtype=np.uint32))]
    for i, (_, w, x) in enumerate(all_cases):
        recs += [(f"w{i}", w), (f"x{i}", x)]
    recs.append(("dot", results["haswell"]))
    write(OUT, recs)
    print(f"wrote {os.path.relpath(OUT)}")


if __name__ == "__main__":
    main()
