package cuda

import (
	"fmt"
	"unsafe"

	"github.com/tscale/engine/backend"
	"github.com/tscale/engine/quant"
)

// Embed implements backend.Backend.
func (b *Backend) Embed(dst backend.Tensor, table backend.Weight, ids []int32, scale float32) {
	d, w := ten(dst), wgt(table)
	b.t.do(func() {
		b.st.WeightBytes += int64(len(ids)) * w.rowBytes
		b.hostEmbed(d, w, ids, scale)
	})
}

// MatMul implements backend.Backend.
func (b *Backend) MatMul(dst, x backend.Tensor, w, bias backend.Weight) {
	d, s, ww := ten(dst), ten(x), wgt(w)
	if int64(s.cols) != ww.shape[0] || d.cols != ww.rows || d.rows != s.rows {
		panic(fmt.Sprintf("cuda: matmul %s: x %dx%d, w %v, dst %dx%d", ww.name, s.rows, s.cols, ww.shape, d.rows, d.cols))
	}
	b.t.do(func() {
		b.st.WeightBytes += ww.bytes
		if bias != nil {
			b.st.WeightBytes += wgt(bias).bytes
		}
		b.hostMatMul(d, s, w, bias)
	})
}

// RoPE implements backend.Backend.
func (b *Backend) RoPE(x backend.Tensor, headDim int, pos []int32, r backend.RoPE) {
	t := ten(x)
	if r.Dims%2 != 0 || r.Dims > headDim || r.Dims > 1024 || t.rows != len(pos) || (r.Factors != nil && len(r.Factors) < r.Dims/2) {
		panic(fmt.Sprintf("cuda: rope: x %dx%d, head %d, %d dims, %d positions, %d factors", t.rows, t.cols, headDim, r.Dims, len(pos), len(r.Factors)))
	}
	if t.rows == 0 {
		return
	}
	y := backend.YaRN{AttnFactor: 1}
	if r.YaRN != nil {
		y = *r.YaRN
	}
	b.t.do(func() {
		b.launch("rope_f32", dim(t.rows), block1D(r.Dims/2*(t.cols/headDim), 256), 0, ptr(t.p), ptr(b.ints(pos)),
			ptr(b.floats(r.Factors)), i64(t.cols), i64(headDim), i64(r.Dims), i64(map[bool]int{true: 1}[r.NeoX]),
			f64(r.Base), f64(r.FreqScale), f64(y.ExtFactor), f64(y.AttnFactor), f64(y.BetaFast), f64(y.BetaSlow), i64(y.OrigCtx))
	})
}

// floats uploads a model constant (RoPE factors) once for the backend's life.
func (b *Backend) floats(s []float32) DevPtr {
	if len(s) == 0 {
		return 0
	}
	if p, ok := b.consts[&s[0]]; ok {
		return p
	}
	p := b.malloc(int64(4 * len(s)))
	b.htod(p, unsafe.Pointer(&s[0]), int64(4*len(s)))
	b.consts[&s[0]] = p
	return p
}

// kvCache is the KV pool on the device (kernels/kv.cu's layout, the CPU
// backend's): a K and a V pool of Layers × Blocks × BlockSize × KVDim halves.
type kvCache struct {
	b     *Backend
	spec  backend.KVSpec
	k, v  DevPtr
	block int64 // halves per block of one layer
}

func (c *kvCache) Spec() backend.KVSpec { return c.spec }

// layer is the byte offset of layer l in a pool.
func (c *kvCache) layer(l int) DevPtr { return DevPtr(2 * int64(l) * int64(c.spec.Blocks) * c.block) }

// CopyBlock implements backend.KVCache: one launch for every layer of both pools.
func (c *kvCache) CopyBlock(dst, src int) {
	if dst < 0 || src < 0 || dst >= c.spec.Blocks || src >= c.spec.Blocks {
		panic(fmt.Sprintf("cuda: copy block %d to %d of %d", src, dst, c.spec.Blocks))
	}
	c.b.t.do(func() {
		c.b.launch("copy_block_f16", Dim3{uint32(max(1, min(64, (c.block/8+255)/256))), uint32(c.spec.Layers), 2}, dim(256), 0,
			ptr(c.k), ptr(c.v), i64(dst), i64(src), i64(c.spec.Blocks), uint64(c.block))
	})
}

// NewKV implements backend.Backend (F16 only: the attention kernels read halves).
func (b *Backend) NewKV(spec backend.KVSpec) (backend.KVCache, error) {
	if spec.Layers <= 0 || spec.KVDim <= 0 || spec.Blocks <= 0 || spec.BlockSize <= 0 {
		return nil, fmt.Errorf("cuda: invalid KV cache spec %+v", spec)
	}
	if spec.Type != quant.F16 {
		return nil, fmt.Errorf("cuda: KV cache type %s not supported (F16)", spec.Type)
	}
	c := &kvCache{b: b, spec: spec, block: int64(spec.BlockSize * spec.KVDim)}
	n := 2 * c.block * int64(spec.Blocks) * int64(spec.Layers)
	var err error
	b.t.do(func() {
		if c.k, err = b.d.Malloc(n); err != nil {
			return
		}
		if c.v, err = b.d.Malloc(n); err != nil {
			b.d.Free(c.k)
			return
		}
		b.st.Mallocs += 2
		// Zeros, as the CPU backend's pool (poison: NaN, so that a read
		// of a position never written fails a test).
		fill := byte(0)
		if b.poison {
			fill = 0xff
		}
		check("KV cache", b.d.Memset(c.k, fill, n))
		check("KV cache", b.d.Memset(c.v, fill, n))
	})
	if err != nil {
		return nil, fmt.Errorf("cuda: KV cache of 2×%d bytes: %w", n, err)
	}
	return c, nil
}

// kvRead is the KV bytes attention reads for batch bt: each token's keys
// and values over its window, F16.
func kvRead(bt *backend.Batch, a backend.Attn, kvDim int) int64 {
	var n int64
	for _, p := range bt.Pos {
		first := 0
		if a.Window > 0 {
			first = max(0, int(p)-a.Window+1)
		}
		n += int64(int(p)-first+1) * int64(kvDim) * 2 * 2
	}
	return n
}

// tables uploads the batch's block tables as one [seqs][width] int32
// matrix, once per forward for the same batch.
func (b *Backend) tables(bt *backend.Batch) (DevPtr, int) {
	if b.batch == bt {
		return b.tabs.p, b.tabs.width
	}
	w := 1
	for _, t := range bt.Blocks {
		w = max(w, len(t))
	}
	flat := make([]int32, w*len(bt.Blocks))
	for s, t := range bt.Blocks {
		copy(flat[s*w:], t)
	}
	p := b.ar.alloc(int64(4 * len(flat)))
	b.htod(p, unsafe.Pointer(&flat[0]), int64(4*len(flat)))
	b.batch, b.tabs = bt, batchDev{p, w}
	return p, w
}

// batchDev is a batch's block tables on the device.
type batchDev struct {
	p     DevPtr
	width int // entries per table row
}

// attnWarps is the warps per attention block.
const attnWarps = 4

// Attention implements backend.Backend: kv_write_f16 stores the batch's
// keys and values, then one attention_f16_g* block per (token, run of G
// query heads sharing a KV head) reads each K and V row once for the G
// heads, in the exact two-pass mode (softmax weights rounded to F16 as the
// CPU's).
func (b *Backend) Attention(dst, q, k, v backend.Tensor, kv backend.KVCache, bt *backend.Batch, a backend.Attn) {
	d, qt, kt, vt, c := ten(dst), ten(q), ten(k), ten(v), kv.(*kvCache)
	n, qd, kvd := bt.Len(), a.Heads*a.HeadDim, a.KVHeads*a.HeadDim
	if a.KVHeads <= 0 || a.Heads%a.KVHeads != 0 || a.HeadDim%2 != 0 || a.HeadDim > 256 || kvd != c.spec.KVDim ||
		qt.cols != qd || d.cols != qd || kt.cols != kvd || vt.cols != kvd || qt.rows != n || kt.rows != n || d.rows != n ||
		len(bt.Pos) != n || len(bt.Seq) != n || a.Layer < 0 || a.Layer >= c.spec.Layers {
		panic(fmt.Sprintf("cuda: attention: %+v, q %dx%d, k %dx%d, dst %dx%d, %d tokens, KV %+v",
			a, qt.rows, qt.cols, kt.rows, kt.cols, d.rows, d.cols, n, c.spec))
	}
	if n == 0 {
		return
	}
	var sinks DevPtr
	if a.Sinks != nil {
		sw := wgt(a.Sinks)
		if sw.f32 == 0 || sw.shape[0] != int64(a.Heads) {
			panic(fmt.Sprintf("cuda: attention sinks %s: %v %s for %d heads", sw.name, sw.shape, sw.typ, a.Heads))
		}
		sinks = sw.f32
	}
	group := a.Heads / a.KVHeads
	g := 8
	for group%g != 0 {
		g /= 2
	}
	b.t.do(func() {
		b.st.KVBytes += kvRead(bt, a, kvd)
		pos, seq := b.ints(bt.Pos), b.ints(bt.Seq)
		tab, w := b.tables(bt)
		off := c.layer(a.Layer)
		kc, vc := c.k+off, c.v+off
		b.launch("kv_write_f16", dim(n), block1D(kvd, 256), 0, ptr(kc), ptr(vc), ptr(kt.p), ptr(vt.p), ptr(pos), ptr(seq),
			ptr(tab), i64(kvd), i64(c.spec.BlockSize), i64(w))
		shared := uint32(attnWarps * g * (a.HeadDim + 2) * 4)
		b.launch(fmt.Sprintf("attention_f16_g%d", g), Dim3{uint32(a.KVHeads * group / g), uint32(n), 1}, dim(32*attnWarps), shared,
			ptr(d.p), ptr(qt.p), ptr(kc), ptr(vc), ptr(pos), ptr(seq), ptr(tab), ptr(sinks), 0,
			i64(a.Heads), i64(a.KVHeads), i64(a.HeadDim), i64(c.spec.BlockSize), i64(w), i64(a.Window),
			f64(a.Scale), f64(a.Softcap), 1)
	})
}

// routing is MoERoute's result, on the device.
type routing struct {
	n, k int
	ids  DevPtr // n × k int32, descending score
	w    DevPtr // n × k float32
}

func (r *routing) Tokens() int { return r.n }
func (r *routing) K() int      { return r.k }

// routeWarps is moe_route_f32's tokens (warps) per block.
const routeWarps = 4

// MoERoute implements backend.Backend: moe_route_f32, one warp per token,
// adding to this layer's per-expert counts on the device.
func (b *Backend) MoERoute(logits backend.Tensor, r backend.Route) backend.Routing {
	t := ten(logits)
	if r.Experts != t.cols || r.K < 1 || r.K > r.Experts || r.Experts > 2048 || r.Layer < 0 {
		panic(fmt.Sprintf("cuda: moe route: logits %dx%d, %d experts, k %d, layer %d", t.rows, t.cols, r.Experts, r.K, r.Layer))
	}
	rt := &routing{n: t.rows, k: r.K}
	if rt.n == 0 {
		return rt
	}
	b.t.do(func() {
		m := int64(4 * rt.n * rt.k)
		rt.ids, rt.w = b.ar.alloc(m), b.ar.alloc(m)
		norm := 0
		if r.Norm {
			norm = 1
		}
		b.launch("moe_route_f32", dim((rt.n+routeWarps-1)/routeWarps), Dim3{32, routeWarps, 1}, uint32(routeWarps*r.Experts*4),
			ptr(rt.ids), ptr(rt.w), ptr(b.expertCounts(r.Layer, r.Experts)), ptr(t.p), i64(rt.n), i64(r.Experts), i64(r.K),
			i64(int(r.Gating)), i64(norm), f64(r.Scale))
	})
	return rt
}

// layerCounts is one layer's routed tokens per expert (uint64 on the device).
type layerCounts struct {
	p       DevPtr
	experts int
}

// expertCounts is layer's counts buffer, made and zeroed on first use.
func (b *Backend) expertCounts(layer, experts int) DevPtr {
	for len(b.counts) <= layer {
		b.counts = append(b.counts, layerCounts{})
	}
	c := &b.counts[layer]
	if c.p == 0 {
		c.p, c.experts = b.malloc(int64(8*experts)), experts
		check("expert counts", b.d.Memset(c.p, 0, int64(8*experts)))
	}
	if c.experts != experts {
		panic(fmt.Sprintf("cuda: moe route: layer %d has %d experts, was %d", layer, experts, c.experts))
	}
	return c.p
}

// ExpertCounts implements backend.ExpertCounter: the device's counts.
func (b *Backend) ExpertCounts() [][]int64 {
	var out [][]int64
	b.t.do(func() {
		for _, c := range b.counts {
			var row []int64
			if c.p != 0 {
				row = make([]int64, c.experts)
				b.dtoh(unsafe.Pointer(&row[0]), c.p, int64(8*c.experts))
			}
			out = append(out, row)
		}
	})
	return out
}

// MoEExperts implements backend.Backend.
func (b *Backend) MoEExperts(dst, x backend.Tensor, rt backend.Routing, e backend.Experts, act backend.Act) {
	d, s, r := ten(dst), ten(x), rt.(*routing)
	b.t.do(func() {
		b.st.WeightBytes += expertBytes(e, r.n*r.k)
		b.hostExperts(d, s, r, e, act)
	})
}

// expertBytes is the weight bytes of at most used experts' matrices and biases.
func expertBytes(e backend.Experts, used int) int64 {
	var n int64
	for _, w := range []backend.Weight{e.Gate, e.Up, e.Down, e.GateBias, e.UpBias, e.DownBias} {
		if w != nil {
			ww := wgt(w)
			ex := ww.shape[len(ww.shape)-1]
			n += ww.bytes / ex * min(ex, int64(used))
		}
	}
	return n
}
