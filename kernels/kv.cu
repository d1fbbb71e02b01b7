// kv.cu - the paged F16 KV cache: storing a batch's keys and values
// (the first half of backend.Backend.Attention) and CopyBlock.
//
// Device layout, the CPU backend's: K and V are two separate pools of
// Layers × Blocks × BlockSize × KVDim halves (IEEE binary16), row-major. Layer
// l's block b holds position p of a sequence whose block table has b at
// p / BlockSize, in row p % BlockSize: halves
// ((l·Blocks + b)·BlockSize + p % BlockSize)·KVDim … + KVDim, KV head j at
// j·HeadDim within the row. Block tables are int32, one row of tableStride
// entries per sequence.
#include "device.h"

// kc, vc: the layer's K and V (pool + l·Blocks·BlockSize·KVDim halves); k, v:
// tokens × kvDim floats; pos, seq: int32 per token; tables: int32 [seq][tableStride].
// One block per token (grid.x = tokens), any 1-D block size.
extern "C" __global__ void kv_write_f16(__half *kc, __half *vc, const float *k, const float *v, const int32_t *pos,
                                        const int32_t *seq, const int32_t *tables, int64_t kvDim, int64_t blockSize,
                                        int64_t tableStride) {
    int64_t i = blockIdx.x;
    int64_t p = pos[i];
    int64_t b = tables[int64_t(seq[i]) * tableStride + p / blockSize];
    int64_t o = (b * blockSize + p % blockSize) * kvDim;
    const float *kr = k + i * kvDim, *vr = v + i * kvDim;
    for (int64_t e = threadIdx.x; e < kvDim; e += blockDim.x) {
        kc[o + e] = __float2half_rn(kr[e]);
        vc[o + e] = __float2half_rn(vr[e]);
    }
}
REGISTER_KERNEL(kv_write_f16)

// copy_block_f16 copies block src to dst in every layer of both pools
// (blockElems = BlockSize·KVDim halves per block, blocks per layer).
// grid = (any x, layers, 2: K then V), any 1-D block size; 16-byte copies
// when blockElems is a multiple of 8.
extern "C" __global__ void copy_block_f16(__half *kc, __half *vc, int64_t dst, int64_t src, int64_t blocks,
                                          int64_t blockElems) {
    __half *pool = blockIdx.z ? vc : kc;
    __half *layer = pool + int64_t(blockIdx.y) * blocks * blockElems;
    __half *d = layer + dst * blockElems;
    const __half *s = layer + src * blockElems;
    int64_t step = int64_t(gridDim.x) * blockDim.x, t = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (blockElems % 8 == 0) {
        uint4 *d4 = reinterpret_cast<uint4 *>(d);
        const uint4 *s4 = reinterpret_cast<const uint4 *>(s);
        for (int64_t e = t; e < blockElems / 8; e += step)
            d4[e] = s4[e];
        return;
    }
    for (int64_t e = t; e < blockElems; e += step)
        d[e] = s[e];
}
REGISTER_KERNEL(copy_block_f16)
