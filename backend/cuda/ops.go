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

// kvCache is the KV pool on the device: per layer, keys then values, each
// Blocks × BlockSize × KVDim elements of Type (as the CPU backend's).
type kvCache struct {
	b      *Backend
	spec   backend.KVSpec
	k, v   []DevPtr // per layer
	stride int64    // bytes per block of one layer's keys
	host   backend.KVCache
}

func (c *kvCache) Spec() backend.KVSpec { return c.spec }

// CopyBlock implements backend.KVCache: device-to-device copies.
func (c *kvCache) CopyBlock(dst, src int) {
	if c.host != nil {
		c.host.CopyBlock(dst, src)
	}
	c.b.t.do(func() {
		d, s := DevPtr(int64(dst)*c.stride), DevPtr(int64(src)*c.stride)
		for l := range c.k {
			check("copy block", c.b.d.DtoD(c.k[l]+d, c.k[l]+s, c.stride))
			check("copy block", c.b.d.DtoD(c.v[l]+d, c.v[l]+s, c.stride))
		}
	})
}

// NewKV implements backend.Backend.
func (b *Backend) NewKV(spec backend.KVSpec) (backend.KVCache, error) {
	h, err := b.host.NewKV(spec) // checks the spec
	if err != nil {
		return nil, fmt.Errorf("cuda: %w", err)
	}
	es := int64(2)
	if spec.Type == quant.F32 {
		es = 4
	}
	c := &kvCache{b: b, spec: spec, stride: int64(spec.BlockSize*spec.KVDim) * es, host: h}
	b.t.do(func() {
		for l := 0; l < spec.Layers; l++ {
			n := c.stride * int64(spec.Blocks)
			c.k = append(c.k, b.malloc(n))
			c.v = append(c.v, b.malloc(n))
		}
	})
	return c, nil
}

// kvRead is the KV bytes attention reads for batch bt: each token's keys
// and values over its window.
func kvRead(bt *backend.Batch, a backend.Attn, kvDim int, es int64) int64 {
	var n int64
	for _, p := range bt.Pos {
		first := 0
		if a.Window > 0 {
			first = max(0, int(p)-a.Window+1)
		}
		n += int64(int(p)-first+1) * int64(kvDim) * 2 * es
	}
	return n
}

// batchDev is a batch's positions, sequence ids and block tables on the device.
type batchDev struct {
	pos, seq, tables DevPtr
	width            int // entries per table row
}

// Attention implements backend.Backend.
func (b *Backend) Attention(dst, q, k, v backend.Tensor, kv backend.KVCache, bt *backend.Batch, a backend.Attn) {
	d, qt, kt, vt, c := ten(dst), ten(q), ten(k), ten(v), kv.(*kvCache)
	b.t.do(func() {
		b.st.KVBytes += kvRead(bt, a, c.spec.KVDim, c.stride/int64(c.spec.BlockSize*c.spec.KVDim))
		b.hostAttention(d, qt, kt, vt, c, bt, a)
	})
}

// routing is MoERoute's result.
type routing struct {
	n, k int
	ids  DevPtr // n × k int32
	w    DevPtr // n × k float32
	host backend.Routing
}

func (r *routing) Tokens() int { return r.n }
func (r *routing) K() int      { return r.k }

// MoERoute implements backend.Backend.
func (b *Backend) MoERoute(logits backend.Tensor, r backend.Route) backend.Routing {
	t := ten(logits)
	if r.Experts != t.cols || r.K < 1 || r.K > r.Experts {
		panic(fmt.Sprintf("cuda: moe route: logits %dx%d, %d experts, k %d", t.rows, t.cols, r.Experts, r.K))
	}
	var rt *routing
	b.t.do(func() { rt = b.hostRoute(t, r) })
	return rt
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

// ExpertCounts implements backend.ExpertCounter.
func (b *Backend) ExpertCounts() [][]int64 { return b.host.ExpertCounts() }
