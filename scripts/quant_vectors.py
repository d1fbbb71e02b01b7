#!/usr/bin/env python3
"""Generate the reference vectors in quant/testdata/ for package quant.

Two independent references are used:
  * the `gguf` package (gguf-py, llama.cpp's Python side): dequantize for every
    type, and its quantizers where it has one (BF16, Q4_0, Q4_1, Q5_0, Q5_1,
    Q8_0, MXFP4);
  * the real ggml C library from `libggml-python` (prebuilt libggml-base.so /
    libggml-cpu.so), called with ctypes: the reference quantizers
    quantize_row_*_ref and the generic (non-SIMD) ggml_vec_dot_*_generic
    kernels that the Go dot products must match.

Setup:  python3 -m venv /tmp/qv && /tmp/qv/bin/pip install gguf numpy libggml-python
        (made with gguf 0.19.0, numpy 2.4.6, libggml-python 0.20.2.post1; the
        output is deterministic: fixed seeds)
Note:   that libggml-cpu build contracts a*b+c into FMA in some generic dot
        kernels (q4_1, q5_1, q2_K, q4_K, q5_K); quant_test.go allows float
        rounding there and demands bit equality elsewhere.
Run:    /tmp/qv/bin/python scripts/quant_vectors.py   (from the repository root)

Each output file quant/testdata/<TYPE>.qv is a list of records
  u8 key length, key (ASCII), u32 LE byte length, bytes
with keys:
  rows, n       u32: number of rows and elements per row
  src           float32[rows*n]: input rows (Gaussian, small, heavy-tailed, partly zero)
  q             ggml reference quantization of src (quantize_row_<t>_ref)
  pyq           gguf.quants.quantize of src, where gguf has a quantizer
  deq           gguf.quants.dequantize(q) as float32 (ggml to_float for Q8_1/Q8_K)
  rq            random-but-valid blocks (random bytes, sane scale fields)
  rdeq          gguf.quants.dequantize(rq)
  act           float32[rows*n]: activation rows
  actq          act quantized to the vec-dot type by ggml's reference quantizer
  dot           float32[rows]: ggml_vec_dot_<t>_<vt>_generic(q[r], actq[r])
  rdot          float32[rows]: the same for rq[r]
For F32/F16/BF16 `dot` is the generic C formula: float products summed in double.
"""

import ctypes
import os
import struct
import sys

import numpy as np
import gguf
from gguf import GGMLQuantizationType as T
import libggml

ROWS, N = 4, 512
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "quant", "testdata")

LIBDIR = os.path.join(os.path.dirname(libggml.__file__), "lib64")
base = ctypes.CDLL(os.path.join(LIBDIR, "libggml-base.so"), mode=ctypes.RTLD_GLOBAL)
cpu = ctypes.CDLL(os.path.join(LIBDIR, "libggml-cpu.so"), mode=ctypes.RTLD_GLOBAL)
cpu.ggml_cpu_init()  # fills the fp16 table the CPU kernels read scales through

VP = ctypes.c_void_p
I64 = ctypes.c_int64

# weight type -> (vec dot type, ggml ref quantizer name, generic dot name)
TYPES = {
    T.F32: (T.F32, None, None),
    T.F16: (T.F16, "ggml_fp32_to_fp16_row", None),
    T.BF16: (T.BF16, "ggml_fp32_to_bf16_row_ref", None),
    T.Q4_0: (T.Q8_0, "quantize_row_q4_0_ref", "ggml_vec_dot_q4_0_q8_0_generic"),
    T.Q4_1: (T.Q8_1, "quantize_row_q4_1_ref", "ggml_vec_dot_q4_1_q8_1_generic"),
    T.Q5_0: (T.Q8_0, "quantize_row_q5_0_ref", "ggml_vec_dot_q5_0_q8_0_generic"),
    T.Q5_1: (T.Q8_1, "quantize_row_q5_1_ref", "ggml_vec_dot_q5_1_q8_1_generic"),
    T.Q8_0: (T.Q8_0, "quantize_row_q8_0_ref", "ggml_vec_dot_q8_0_q8_0_generic"),
    T.Q8_1: (None, "quantize_row_q8_1_ref", None),
    T.Q2_K: (T.Q8_K, "quantize_row_q2_K_ref", "ggml_vec_dot_q2_K_q8_K_generic"),
    T.Q3_K: (T.Q8_K, "quantize_row_q3_K_ref", "ggml_vec_dot_q3_K_q8_K_generic"),
    T.Q4_K: (T.Q8_K, "quantize_row_q4_K_ref", "ggml_vec_dot_q4_K_q8_K_generic"),
    T.Q5_K: (T.Q8_K, "quantize_row_q5_K_ref", "ggml_vec_dot_q5_K_q8_K_generic"),
    T.Q6_K: (T.Q8_K, "quantize_row_q6_K_ref", "ggml_vec_dot_q6_K_q8_K_generic"),
    T.Q8_K: (None, "quantize_row_q8_K_ref", None),
    T.MXFP4: (T.Q8_0, "quantize_row_mxfp4_ref", "ggml_vec_dot_mxfp4_q8_0_generic"),
}

# Byte offsets of fp16 scale fields inside one block; random bytes there are
# replaced by sane scales so dequantized values stay finite.
F16_FIELDS = {
    T.Q4_0: [0], T.Q4_1: [0, 2], T.Q5_0: [0], T.Q5_1: [0, 2], T.Q8_0: [0], T.Q8_1: [0, 2],
    T.Q2_K: [80, 82], T.Q3_K: [108], T.Q4_K: [0, 2], T.Q5_K: [0, 2], T.Q6_K: [208],
}


base.ggml_type_size.argtypes = [ctypes.c_int]
base.ggml_type_size.restype = ctypes.c_size_t
base.ggml_blck_size.argtypes = [ctypes.c_int]
base.ggml_blck_size.restype = ctypes.c_int64


def sizes(t):
    """Block size and bytes per block as ggml has them (gguf-py's table says 40 for Q8_1, ggml uses 36)."""
    return int(base.ggml_blck_size(int(t))), int(base.ggml_type_size(int(t)))


def fn(name):
    lib = base if hasattr(base, name) else cpu
    f = getattr(lib, name)
    return f


def ggml_quantize(t, x):
    """Quantize float32 rows with ggml's reference quantizer for type t."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    if t == T.F32:
        return x.view(np.uint8).reshape(x.shape[0], -1).copy()
    bs, ts = sizes(t)
    out = np.zeros((x.shape[0], x.shape[1] // bs * ts), dtype=np.uint8)
    f = fn(TYPES[t][1])
    f.argtypes = [VP, VP, I64]
    f.restype = None
    for r in range(x.shape[0]):
        f(x[r].ctypes.data, out[r].ctypes.data, x.shape[1])
    return out


def dequantize(t, q):
    """Dequantize with gguf-py; for Q8_1/Q8_K (not in gguf-py) use ggml / the obvious formula."""
    if t == T.Q8_K:
        f = base.dequantize_row_q8_K
        f.argtypes = [VP, VP, I64]
        out = np.zeros((q.shape[0], q.shape[1] // 292 * 256), dtype=np.float32)
        for r in range(q.shape[0]):
            f(np.ascontiguousarray(q[r]).ctypes.data, out[r].ctypes.data, out.shape[1])
        return out
    if t == T.Q8_1:
        b = q.reshape(-1, 36)
        d = b[:, 0:2].copy().view(np.float16).astype(np.float32)
        qs = b[:, 4:].copy().view(np.int8).astype(np.float32)
        return (qs * d).reshape(q.shape[0], -1)
    return gguf.quants.dequantize(q, t).astype(np.float32)


def ggml_dequantize(t, q):
    """ggml's own to_float, used only to cross-check gguf-py."""
    names = {T.Q4_0: "dequantize_row_q4_0", T.Q4_1: "dequantize_row_q4_1", T.Q5_0: "dequantize_row_q5_0",
             T.Q5_1: "dequantize_row_q5_1", T.Q8_0: "dequantize_row_q8_0", T.Q2_K: "dequantize_row_q2_K",
             T.Q3_K: "dequantize_row_q3_K", T.Q4_K: "dequantize_row_q4_K", T.Q5_K: "dequantize_row_q5_K",
             T.Q6_K: "dequantize_row_q6_K", T.MXFP4: "dequantize_row_mxfp4", T.F16: "ggml_fp16_to_fp32_row",
             T.BF16: "ggml_bf16_to_fp32_row"}
    if t not in names:
        return None
    bs, ts = sizes(t)
    f = fn(names[t])
    f.argtypes = [VP, VP, I64]
    n = q.shape[1] // ts * bs
    out = np.zeros((q.shape[0], n), dtype=np.float32)
    for r in range(q.shape[0]):
        f(np.ascontiguousarray(q[r]).ctypes.data, out[r].ctypes.data, n)
    return out


def float_dot(t, w, x):
    """ggml_vec_dot_{f32,f16,bf16} generic: float product, summed in double, sequentially."""
    a = dequantize(t, w[None, :])[0] if t != T.F32 else w.view(np.float32)
    b = dequantize(t, x[None, :])[0] if t != T.F32 else x.view(np.float32)
    s = 0.0
    for p in (a * b).astype(np.float32):
        s += float(p)
    return np.float32(s)


def ggml_dot(t, w, x):
    vt, _, name = TYPES[t]
    if name is None:
        return float_dot(t, w, x)
    f = fn(name)
    f.argtypes = [ctypes.c_int, VP, ctypes.c_size_t, VP, ctypes.c_size_t, VP, ctypes.c_size_t, ctypes.c_int]
    f.restype = None
    bs, ts = sizes(t)
    n = w.shape[0] // ts * bs
    s = np.zeros(1, dtype=np.float32)
    w = np.ascontiguousarray(w)
    x = np.ascontiguousarray(x)
    f(n, s.ctypes.data, 0, w.ctypes.data, 0, x.ctypes.data, 0, 1)
    return s[0]


def source_rows(rng, t):
    x = np.empty((ROWS, N), dtype=np.float32)
    x[0] = rng.standard_normal(N)
    x[1] = rng.standard_normal(N) * 0.02
    x[2] = rng.standard_normal(N) * np.exp(rng.standard_normal(N))  # heavy tails
    x[3] = rng.uniform(-1, 1, N)
    x[3, 256:] = 0  # a whole zero super-block
    if t in (T.F16, T.BF16):
        # exercise rounding at the edges: subnormal halves, large values
        x[2, :64] *= 1e-6
        x[2, 64:96] *= 3e4
    return x


def random_blocks(rng, t):
    bs, ts = sizes(t)
    nb = N // bs
    if t == T.F32:
        return rng.standard_normal((ROWS, N)).astype(np.float32).view(np.uint8).reshape(ROWS, -1)
    b = rng.integers(0, 256, size=(ROWS * nb, ts), dtype=np.uint8)
    if t in (T.F16, T.BF16):
        return b.reshape(ROWS, -1)  # every bit pattern, NaN and Inf included
    for off in F16_FIELDS.get(t, []):
        v = (rng.uniform(1e-3, 0.5, ROWS * nb) * rng.choice([-1, 1], ROWS * nb)).astype(np.float16)
        b[:, off:off + 2] = v.view(np.uint8).reshape(-1, 2)
    if t == T.Q8_K:
        b[:, 0:4] = rng.uniform(1e-3, 0.5, ROWS * nb).astype(np.float32).view(np.uint8).reshape(-1, 4)
    if t == T.MXFP4:
        b[:, 0] = rng.integers(110, 135, ROWS * nb)
    return b.reshape(ROWS, -1)


def write(path, recs):
    with open(path, "wb") as f:
        for k, v in recs:
            if isinstance(v, int):
                v = struct.pack("<I", v)
            elif isinstance(v, np.ndarray):
                v = np.ascontiguousarray(v).tobytes()
            kb = k.encode()
            f.write(struct.pack("<B", len(kb)) + kb + struct.pack("<I", len(v)) + v)


def nan_equal(a, b):
    return bool(np.all((a == b) | (np.isnan(a) & np.isnan(b))))


def main():
    os.makedirs(OUT, exist_ok=True)
    for t, (vt, _, _) in TYPES.items():
        rng = np.random.default_rng(1000 + int(t))
        src = source_rows(rng, t)
        q = ggml_quantize(t, src)
        recs = [("rows", ROWS), ("n", N), ("src", src), ("q", q)]
        try:
            pyq = gguf.quants.quantize(src, t)
            pyq = np.ascontiguousarray(pyq).view(np.uint8).reshape(ROWS, -1)
            diff = int(np.count_nonzero(pyq != q))
            print(f"{t.name}: gguf-py quantizer vs ggml ref: {diff} of {q.size} bytes differ")
            recs.append(("pyq", pyq))
        except (NotImplementedError, KeyError):
            pass
        deq = dequantize(t, q) if t != T.F32 else src
        recs.append(("deq", deq))
        rq = random_blocks(rng, t)
        rdeq = dequantize(t, rq) if t != T.F32 else rq.view(np.float32)
        recs += [("rq", rq), ("rdeq", rdeq)]
        gd = ggml_dequantize(t, np.concatenate([q, rq]))
        if gd is not None and not nan_equal(gd, np.concatenate([deq, rdeq])):
            sys.exit(f"{t.name}: gguf-py and ggml dequantize disagree")
        if vt is not None:
            act = rng.standard_normal((ROWS, N)).astype(np.float32)
            actq = ggml_quantize(vt, act)
            dot = np.array([ggml_dot(t, q[r], actq[r]) for r in range(ROWS)], dtype=np.float32)
            rdot = np.array([ggml_dot(t, rq[r], actq[r]) for r in range(ROWS)], dtype=np.float32)
            recs += [("act", act), ("actq", actq), ("dot", dot), ("rdot", rdot)]
        path = os.path.join(OUT, f"{t.name}.qv")
        write(path, recs)
        print(f"wrote {os.path.relpath(path)}")


if __name__ == "__main__":
    main()
