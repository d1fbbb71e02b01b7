package cpu

import (
	"fmt"
	"math"

	"github.com/x448/float16"

	"github.com/tscale/engine/backend"
	"github.com/tscale/engine/quant"
)

// kvCache stores keys and values per layer in a pool of blocks. With an F16
// cache the values are kept as IEEE half bits, as llama.cpp's default cache.
type kvCache struct {
	spec   backend.KVSpec
	k16    [][]uint16 // [layer][block*BlockSize*KVDim]
	v16    [][]uint16
	k32    [][]float32
	v32    [][]float32
	stride int // elements per block
}

// NewKV implements backend.Backend.
func (b *Backend) NewKV(spec backend.KVSpec) (backend.KVCache, error) {
	if spec.Layers <= 0 || spec.KVDim <= 0 || spec.Blocks <= 0 || spec.BlockSize <= 0 {
		return nil, fmt.Errorf("cpu: invalid KV cache spec %+v", spec)
	}
	c := &kvCache{spec: spec, stride: spec.BlockSize * spec.KVDim}
	n := spec.Blocks * c.stride
	switch spec.Type {
	case quant.F16:
		for l := 0; l < spec.Layers; l++ {
			c.k16 = append(c.k16, make([]uint16, n))
			c.v16 = append(c.v16, make([]uint16, n))
		}
	case quant.F32:
		for l := 0; l < spec.Layers; l++ {
			c.k32 = append(c.k32, make([]float32, n))
			c.v32 = append(c.v32, make([]float32, n))
		}
	default:
		return nil, fmt.Errorf("cpu: KV cache type %s not supported (F16, F32)", spec.Type)
	}
	return c, nil
}

func (c *kvCache) Spec() backend.KVSpec { return c.spec }

func (c *kvCache) CopyBlock(dst, src int) {
	d, s := dst*c.stride, src*c.stride
	for l := 0; l < c.spec.Layers; l++ {
		if c.k16 != nil {
			copy(c.k16[l][d:d+c.stride], c.k16[l][s:s+c.stride])
			copy(c.v16[l][d:d+c.stride], c.v16[l][s:s+c.stride])
		} else {
			copy(c.k32[l][d:d+c.stride], c.k32[l][s:s+c.stride])
			copy(c.v32[l][d:d+c.stride], c.v32[l][s:s+c.stride])
		}
	}
}

// half holds float32 values of every F16 bit pattern.
var half = func() []float32 {
	t := make([]float32, 1<<16)
	for i := range t {
		t[i] = float16.Frombits(uint16(i)).Float32()
	}
	return t
}()

func toHalf(x float32) uint16 { return uint16(float16.Fromfloat32(x)) }

// Attention implements backend.Backend. It follows ggml's non-flash path
// over an F16 cache: q and the softmax weights are rounded to F16 before
// their dot products with keys and values.
func (b *Backend) Attention(dst, q, k, v backend.Tensor, kvc backend.KVCache, bt *backend.Batch, a backend.Attn) {
	c := kvc.(*kvCache)
	d, qt, kt, vt := ten(dst), ten(q), ten(k), ten(v)
	bs, kvDim, hd := c.spec.BlockSize, c.spec.KVDim, a.HeadDim
	l := a.Layer
	slot := func(i int) int { // element offset of token i's cache row
		p := int(bt.Pos[i])
		blk := int(bt.Blocks[bt.Seq[i]][p/bs])
		return blk*c.stride + (p%bs)*kvDim
	}
	for i := 0; i < bt.Len(); i++ {
		o := slot(i)
		if c.k16 != nil {
			kr, vr := c.k16[l][o:o+kvDim], c.v16[l][o:o+kvDim]
			for j, x := range kt.row(i) {
				kr[j] = toHalf(x)
			}
			for j, x := range vt.row(i) {
				vr[j] = toHalf(x)
			}
		} else {
			copy(c.k32[l][o:o+kvDim], kt.row(i))
			copy(c.v32[l][o:o+kvDim], vt.row(i))
		}
	}
	// One job per (token, KV head): each cached key and value row is
	// decoded once and used by every query head of its group. Per head the
	// arithmetic is the same, in the same order, as one head alone.
	group := a.Heads / a.KVHeads
	var sinks []float32
	if a.Sinks != nil {
		if sinks = wgt(a.Sinks).f32; len(sinks) != a.Heads {
			panic(fmt.Sprintf("cpu: attention sinks %s: %d values for %d heads", a.Sinks.Name(), len(sinks), a.Heads))
		}
	}
	parallel(b.threads, bt.Len()*a.KVHeads, 2, func(lo, hi int) {
		qh := make([]float32, group*hd)
		kf := make([]float32, hd)
		acc := make([]float64, group*hd)
		mx := make([]float32, group)
		inv := make([]float32, group)
		var scores []float32 // [position][head]
		for job := lo; job < hi; job++ {
			i, kh := job/a.KVHeads, job%a.KVHeads
			p := int(bt.Pos[i])
			first := 0
			if a.Window > 0 {
				first = max(0, p-a.Window+1)
			}
			table := bt.Blocks[bt.Seq[i]]
			kvOff := kh * hd
			copy(qh, qt.row(i)[kh*group*hd:(kh+1)*group*hd])
			if c.k16 != nil {
				for e := range qh {
					qh[e] = half[toHalf(qh[e])]
				}
			}
			n := p - first + 1
			if cap(scores) < n*group {
				scores = make([]float32, n*group)
			}
			scores = scores[:n*group]
			for g := range mx {
				mx[g] = float32(math.Inf(-1))
			}
			for j := 0; j < n; j++ {
				pp := first + j
				o := int(table[pp/bs])*c.stride + (pp%bs)*kvDim + kvOff
				if c.k16 != nil {
					for e, x := range c.k16[l][o : o+hd] {
						kf[e] = half[x]
					}
				} else {
					copy(kf, c.k32[l][o:o+hd])
				}
				for g := 0; g < group; g++ {
					var sc float32
					for e, x := range qh[g*hd : (g+1)*hd] {
						sc += x * kf[e]
					}
					sc *= a.Scale
					if a.Softcap > 0 {
						sc = a.Softcap * float32(math.Tanh(float64(sc/a.Softcap)))
					}
					scores[j*group+g] = sc
					mx[g] = max(mx[g], sc)
				}
			}
			for g := 0; g < group; g++ {
				m := mx[g]
				if sinks != nil {
					// ggml_soft_max_add_sinks: the sink is one more score.
					m = max(m, sinks[kh*group+g])
				}
				var sum float64
				for j := 0; j < n; j++ {
					ex := float32(math.Exp(float64(scores[j*group+g] - m)))
					scores[j*group+g] = ex
					sum += float64(ex)
				}
				if sinks != nil {
					sum += float64(float32(math.Exp(float64(sinks[kh*group+g] - m))))
				}
				inv[g] = float32(1 / sum)
			}
			clear(acc)
			for j := 0; j < n; j++ {
				pp := first + j
				o := int(table[pp/bs])*c.stride + (pp%bs)*kvDim + kvOff
				if c.k16 != nil {
					for e, x := range c.v16[l][o : o+hd] {
						kf[e] = half[x]
					}
				} else {
					copy(kf, c.v32[l][o:o+hd])
				}
				for g := 0; g < group; g++ {
					w := scores[j*group+g] * inv[g]
					if c.k16 != nil {
						w = half[toHalf(w)]
					}
					ag := acc[g*hd : (g+1)*hd]
					for e, v := range kf {
						ag[e] += float64(w * v)
					}
				}
			}
			out := d.row(i)[kh*group*hd : (kh+1)*group*hd]
			for e, x := range acc {
				out[e] = float32(x)
			}
		}
	})
}
