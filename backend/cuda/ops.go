package cuda

import (
	"fmt"
	"slices"
	"strings"
	"unsafe"

	"github.com/tscale/engine/backend"
	"github.com/tscale/engine/quant"
)

// kname is a quant type's kernel suffix: "q4_k", "mxfp4", "f32".
func kname(t quant.Type) string { return strings.ToLower(t.String()) }

// Embed implements backend.Backend: embed_<type>, a block per id, decoding
// the stored rows on the device.
func (b *Backend) Embed(dst backend.Tensor, table backend.Weight, ids []int32, scale float32) {
	d, w := ten(dst), wgt(table)
	if int64(d.cols) != w.shape[0] || d.rows != len(ids) {
		panic(fmt.Sprintf("cuda: embed %s: %v into %dx%d for %d ids", w.name, w.shape, d.rows, d.cols, len(ids)))
	}
	if len(ids) == 0 {
		return
	}
	b.t.do(func() {
		b.st.WeightBytes += int64(len(ids)) * w.rowBytes
		b.launch("embed_"+kname(w.typ), dim(len(ids)), block1D(d.cols, 256), 0, ptr(d.p), ptr(w.p), ptr(b.ints(ids)),
			i64(d.cols), i64(w.rows), f64(scale))
	})
}

// MatMul implements backend.Backend.
func (b *Backend) MatMul(dst, x backend.Tensor, w, bias backend.Weight) {
	d, s, ww := ten(dst), ten(x), wgt(w)
	if int64(s.cols) != ww.shape[0] || d.cols != ww.rows || d.rows != s.rows {
		panic(fmt.Sprintf("cuda: matmul %s: x %dx%d, w %v, dst %dx%d", ww.name, s.rows, s.cols, ww.shape, d.rows, d.cols))
	}
	var bp DevPtr
	if bias != nil {
		bw := wgt(bias)
		if bw.f32 == 0 || len(bw.shape) != 1 || bw.shape[0] != int64(d.cols) {
			panic(fmt.Sprintf("cuda: matmul %s: bias %s %v %s", ww.name, bw.name, bw.shape, bw.typ))
		}
		bp = bw.f32
	}
	b.t.do(func() {
		b.st.WeightBytes += ww.bytes
		if bias != nil {
			b.st.WeightBytes += wgt(bias).bytes
		}
		b.product(d.p, b.activations(s.p, s.rows, s.cols, ww.typ), s.rows, s.cols, d.cols, ww.typ, ww.p, bp)
	})
}

// activations is x (rows × in floats) as the products of weight type t
// read it: quantized by quantize.cu into the arena (Q8_0, Q8_1, Q8_K), as
// the CPU's quant.QuantizeActivation, or the floats themselves.
func (b *Backend) activations(x DevPtr, rows, in int, t quant.Type) DevPtr {
	vt := quant.VecDotType(t)
	bs := map[quant.Type]int{quant.Q8_0: 32, quant.Q8_1: 32, quant.Q8_K: 256}[vt]
	if bs == 0 || rows == 0 {
		return x
	}
	rb, err := quant.RowBytes(vt, int64(in))
	check("matmul", err)
	q := b.ar.alloc(rb * int64(rows))
	nb := rows * in / bs
	b.launch("quantize_"+kname(vt), dim((nb+7)/8), dim(256), 0, ptr(q), ptr(x), i64(nb))
	return q
}

// matvecRows is the most rows that go through matvec_<type> (a warp per
// weight row); larger batches take matmul_<type>'s tiles. Both give the
// same result for every row.
const matvecRows = 8

// product sets dst (rows × out) to x · wᵀ (+ bias): x as activations made it,
// w out rows of in values of type t.
func (b *Backend) product(dst, x DevPtr, rows, in, out int, t quant.Type, w, bias DevPtr) {
	if rows == 0 {
		return
	}
	if rows <= matvecRows {
		b.launch("matvec_"+kname(t), Dim3{uint32((out + 3) / 4), uint32((rows + 7) / 8), 1}, dim(128), 0,
			ptr(dst), ptr(w), ptr(x), ptr(bias), i64(in), i64(out), i64(rows))
		return
	}
	b.launch("matmul_"+kname(t), Dim3{uint32((out + 15) / 16), uint32((rows + 15) / 16), 1}, dim(256), 0,
		ptr(dst), ptr(w), ptr(x), ptr(bias), i64(in), i64(out), i64(rows))
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
// CPU's). When sequences of the batch share leading blocks, cascade.go's
// kernels take the place of attention_f16_g*, with the same numerics.
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
		pos, seq := b.ints(bt.Pos), b.ints(bt.Seq)
		tab, w := b.tables(bt)
		off := c.layer(a.Layer)
		kc, vc := c.k+off, c.v+off
		b.launch("kv_write_f16", dim(n), block1D(kvd, 256), 0, ptr(kc), ptr(vc), ptr(kt.p), ptr(vt.p), ptr(pos), ptr(seq),
			ptr(tab), i64(kvd), i64(c.spec.BlockSize), i64(w))
		if cp := b.plan(bt, a, c.spec.BlockSize); cp != nil {
			b.attendCascade(cp, d.p, qt.p, kc, vc, pos, tab, w, n, sinks, c.spec.BlockSize, a)
			return
		}
		b.st.KVBytes += kvRead(bt, a, kvd)
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

// MoEExperts implements backend.Backend as kernels/README.md's "Mixture of
// experts" composes it: the routed slots sorted by expert (moe_group), the
// gate, up and down products of every expert over its rows, bias + GLU,
// and the weighted sum in slot order (moe_combine_f32). Up to
// moeGroupedTokens tokens, each product is one moe_matvec_<type> launch over
// all experts; larger batches copy the group sizes to the host (the one
// sync of a MoE layer) and launch each expert's products with its rows.
func (b *Backend) MoEExperts(dst, x backend.Tensor, rt backend.Routing, e backend.Experts, act backend.Act) {
	d, s, r := ten(dst), ten(x), rt.(*routing)
	gate, up, down := wgt(e.Gate), wgt(e.Up), wgt(e.Down)
	dm, ff, ne := int(gate.shape[0]), int(gate.shape[1]), int(gate.shape[len(gate.shape)-1])
	glu := map[backend.Act]string{backend.SiLU: "moe_bias_glu_silu_f32", backend.GELUTanh: "moe_bias_glu_gelu_tanh_f32",
		backend.SwiGLUOAI: "moe_bias_glu_swiglu_oai_f32"}[act]
	if len(gate.shape) != 3 || s.cols != dm || d.cols != dm || s.rows != r.n || d.rows != r.n || glu == "" ||
		!slices.Equal(up.shape, gate.shape) || !slices.Equal(down.shape, []int64{int64(ff), int64(dm), int64(ne)}) {
		panic(fmt.Sprintf("cuda: moe experts: x %dx%d, dst %dx%d, %d tokens, gate %v, up %v, down %v, act %d",
			s.rows, s.cols, d.rows, d.cols, r.n, gate.shape, up.shape, down.shape, act))
	}
	bias := func(w backend.Weight, width int) DevPtr {
		if w == nil {
			return 0
		}
		bw := wgt(w)
		if bw.typ != quant.F32 || !slices.Equal(bw.shape, []int64{int64(width), int64(ne)}) {
			panic(fmt.Sprintf("cuda: moe experts: bias %s %v %s, want F32 [%d %d]", bw.name, bw.shape, bw.typ, width, ne))
		}
		return bw.f32
	}
	gb, ub, db := bias(e.GateBias, ff), bias(e.UpBias, ff), bias(e.DownBias, dm)
	n, k, m := r.n, r.k, r.n*r.k
	if n == 0 {
		return
	}
	b.t.do(func() {
		i32 := func(c int) DevPtr { return b.ar.alloc(int64(4 * c)) }
		offsets, rowTok, rowExp, slotRow := i32(ne+1), i32(m), i32(m), i32(m)
		b.launch("moe_group", dim(1), dim(256), uint32(2*ne*4), ptr(offsets), ptr(rowTok), ptr(rowExp), ptr(slotRow),
			ptr(r.ids), i64(n), i64(k), i64(ne))
		grouped := !b.perExpert && n <= moeGroupedTokens
		var off []int32
		if !grouped {
			off = make([]int32, ne+1)
			b.dtoh(unsafe.Pointer(&off[0]), offsets, int64(4*len(off)))
		}
		xs := b.ar.alloc(int64(4 * m * dm))
		b.launch("gather_f32", dim(m), block1D(dm, 256), 0, ptr(xs), ptr(s.p), ptr(rowTok), i64(dm))
		// Activations are quantized per row, so expert e's rows a.. of
		// the sorted buffer are at a·(row bytes).
		xq, xrb := b.activations(xs, m, dm, gate.typ), actRowBytes(gate.typ, dm)
		hg, hu := b.ar.alloc(int64(4*m*ff)), b.ar.alloc(int64(4*m*ff))
		// Grouped: one launch per product over every (expert, run of rows),
		// the offsets read on the device (kernels/moe_matmul.cu); else a
		// product per expert with rows, from the offsets copied above.
		all := func(dst, x DevPtr, in, out int, w *weight) {
			b.launch("moe_matvec_"+kname(w.typ), Dim3{uint32((out + 3) / 4), uint32((m+7)/8 + ne), 1}, dim(128), 0,
				ptr(dst), ptr(w.p), ptr(x), ptr(offsets), i64(in), i64(out), i64(ne))
		}
		each := func(f func(ex, a, c int)) {
			for ex := 0; ex < ne; ex++ {
				if a, c := int(off[ex]), int(off[ex+1]-off[ex]); c > 0 {
					f(ex, a, c)
				}
			}
		}
		if grouped {
			// The experts reached are not known on the host: at most m.
			b.st.WeightBytes += int64(min(m, ne)) * (2*int64(ff)*gate.rowBytes + int64(dm)*down.rowBytes)
			all(hg, xq, dm, ff, gate)
			all(hu, xq, dm, ff, up)
		} else {
			each(func(ex, a, c int) {
				b.st.WeightBytes += 2*int64(ff)*gate.rowBytes + int64(dm)*down.rowBytes
				b.product(hg+DevPtr(4*a*ff), xq+DevPtr(int64(a)*xrb), c, dm, ff, gate.typ, gate.p+DevPtr(int64(ex*ff)*gate.rowBytes), 0)
				b.product(hu+DevPtr(4*a*ff), xq+DevPtr(int64(a)*xrb), c, dm, ff, up.typ, up.p+DevPtr(int64(ex*ff)*up.rowBytes), 0)
			})
		}
		b.launch(glu, Dim3{uint32((ff + 255) / 256), uint32(min(m, 65535)), 1}, dim(256), 0,
			ptr(hg), ptr(hg), ptr(hu), ptr(gb), ptr(ub), ptr(rowExp), i64(m), i64(ff))
		hq, hrb := b.activations(hg, m, ff, down.typ), actRowBytes(down.typ, ff)
		out := b.ar.alloc(int64(4 * m * dm))
		if grouped {
			all(out, hq, ff, dm, down)
		} else {
			each(func(ex, a, c int) {
				b.product(out+DevPtr(4*a*dm), hq+DevPtr(int64(a)*hrb), c, ff, dm, down.typ, down.p+DevPtr(int64(ex*dm)*down.rowBytes), 0)
			})
		}
		b.launch("moe_combine_f32", Dim3{uint32((dm + 255) / 256), uint32(min(n, 65535)), 1}, dim(256), 0,
			ptr(d.p), ptr(out), ptr(r.w), ptr(r.ids), ptr(slotRow), ptr(db), i64(n), i64(k), i64(dm))
	})
}

// moeGroupedTokens is the most tokens whose MoE products take the grouped
// kernels (decode and small batches); larger batches keep one launch per
// expert, whose tiled matmul_<type> reads each weight once per 16 rows.
const moeGroupedTokens = 32

// actRowBytes is the bytes of one activation row of in values as the
// products of weight type t read it.
func actRowBytes(t quant.Type, in int) int64 {
	vt := quant.VecDotType(t)
	if vt != quant.Q8_0 && vt != quant.Q8_1 && vt != quant.Q8_K {
		return int64(4 * in)
	}
	rb, err := quant.RowBytes(vt, int64(in))
	check("moe experts", err)
	return rb
}
