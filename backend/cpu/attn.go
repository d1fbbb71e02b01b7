package cpu

import (
	"fmt"
	"math"
	"sync"

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
// their dot products with keys and values. The arithmetic of every output
// is fixed (refAttention in the tests is the plain form); the work is split
// so that no result depends on how tokens or heads are grouped.
func (b *Backend) Attention(dst, q, k, v backend.Tensor, kvc backend.KVCache, bt *backend.Batch, a backend.Attn) {
	c := kvc.(*kvCache)
	d, qt, kt, vt := ten(dst), ten(q), ten(k), ten(v)
	bs, kvDim, hd := c.spec.BlockSize, c.spec.KVDim, a.HeadDim
	l := a.Layer
	parallel(b.threads, bt.Len(), 8, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			p := int(bt.Pos[i])
			o := int(bt.Blocks[bt.Seq[i]][p/bs])*c.stride + (p%bs)*kvDim
			if c.k16 != nil {
				encodeF16(c.k16[l][o:o+kvDim], kt.row(i))
				encodeF16(c.v16[l][o:o+kvDim], vt.row(i))
			} else {
				copy(c.k32[l][o:o+kvDim], kt.row(i))
				copy(c.v32[l][o:o+kvDim], vt.row(i))
			}
		}
	})
	group := a.Heads / a.KVHeads
	var sinks []float32
	if a.Sinks != nil {
		if sinks = wgt(a.Sinks).f32; len(sinks) != a.Heads {
			panic(fmt.Sprintf("cpu: attention sinks %s: %d values for %d heads", a.Sinks.Name(), len(sinks), a.Heads))
		}
	}
	// A job is one token and a run of query heads sharing a KV head: each
	// cached row is decoded once for all of them. With fewer jobs than
	// threads (decoding few sequences) every query head is its own job.
	per := group
	if bt.Len()*a.KVHeads < 2*b.threads {
		per = 1
	}
	kT, groups := b.sharedKeys(c, l, bt, a)
	defer func() {
		if kT != nil {
			keyPool.Put(&kT)
		}
	}()
	parts := group / per
	jobs := bt.Len() * a.KVHeads * parts
	// Later positions attend over more rows: jobs are taken from a shared
	// counter, last token first, so the threads finish together.
	dynamic(b.threads, jobs, func() func(job int) {
		w := attnWork{hd: hd, per: per}
		return func(job int) {
			job = jobs - 1 - job
			i, h := job/(a.KVHeads*parts), job%(a.KVHeads*parts)
			kh, h0 := h/parts, (h/parts)*group+(h%parts)*per
			p := int(bt.Pos[i])
			first := 0
			if a.Window > 0 {
				first = max(0, p-a.Window+1)
			}
			var hs []float32
			if sinks != nil {
				hs = sinks[h0 : h0+per]
			}
			var kh8 []float32
			if kT != nil {
				kh8 = kT[kh*groups*8*hd : (kh+1)*groups*8*hd]
			}
			w.run(c, l, bt.Blocks[bt.Seq[i]], first, p, kh*hd, qt.row(i)[h0*hd:(h0+per)*hd], d.row(i)[h0*hd:(h0+per)*hd], a, hs, kh8)
		}
	})
}

// keyPool holds sharedKeys buffers.
var keyPool = sync.Pool{New: func() any { return new([]float32) }}

// sharedKeys returns, for a prefill (many tokens of one sequence) over an
// F16 cache without a window, the keys of positions 0 .. the batch's last,
// per KV head in groups of eight positions converted and transposed as
// scoresF16x8 does it: [kv head][group][8*hd] (a last group padded with
// its last row), and the number of groups per head. Every token's job
// would otherwise convert the same rows again. nil where it does not pay
// or the kernels cannot run.
func (b *Backend) sharedKeys(c *kvCache, l int, bt *backend.Batch, a backend.Attn) ([]float32, int) {
	hd := a.HeadDim
	if c.k16 == nil || a.Window > 0 || bt.Len() < 16 || !hasTranspose(hd) {
		return nil, 0
	}
	last := 0
	for i, s := range bt.Seq {
		if s != bt.Seq[0] {
			return nil, 0
		}
		last = max(last, int(bt.Pos[i]))
	}
	groups := last/8 + 1
	buf := keyPool.Get().(*[]float32)
	need := a.KVHeads * groups * 8 * hd
	if cap(*buf) < need {
		*buf = make([]float32, need)
	}
	kT := (*buf)[:need]
	table, k16 := bt.Blocks[bt.Seq[0]], c.k16[l]
	bs, kvDim := c.spec.BlockSize, c.spec.KVDim
	parallel(b.threads, a.KVHeads*groups, 8, func(lo, hi int) {
		var rows [8]*uint16
		for x := lo; x < hi; x++ {
			kh, g := x/groups, x%groups
			for r := range rows {
				p := min(8*g+r, last)
				rows[r] = &k16[int(table[p/bs])*c.stride+(p%bs)*kvDim+kh*hd]
			}
			transposeF16x8(&rows, hd, kT[x*8*hd:(x+1)*8*hd])
		}
	})
	return kT, groups
}

// scaleMaxGo multiplies s by scale in place and returns the largest value.
func scaleMaxGo(s []float32, scale float32) float32 {
	m := float32(math.Inf(-1))
	for j, sc := range s {
		sc *= scale
		s[j] = sc
		m = max(m, sc)
	}
	return m
}

// attnWork is one worker's scratch for attention jobs.
type attnWork struct {
	hd, per int
	qh      []float32 // [head][hd], F16-rounded for an F16 cache
	rows    []float32 // up to 4 decoded rows
	kT      []float32 // 8 key rows, transposed
	scores  []float32 // [head][position]: scores, then softmax weights
	acc     []float64 // [head][hd]
	h16     []uint16  // F16 bits of q or of one head's weights
	ws      []float32 // one position's weight per head
	sum     []float64 // per head: the sum of its exps
	max     []float32 // per head: its largest score (or sink)
	tail    []float32 // [head][8]: scores of a last group of positions
}

// row returns cached row pp (keys or values per c16/c32) from kvOff on,
// decoding F16 into buf.
func (w *attnWork) row(c *kvCache, c16 []uint16, c32 []float32, table []int32, pp, kvOff int, buf []float32) []float32 {
	bs := c.spec.BlockSize
	o := int(table[pp/bs])*c.stride + (pp%bs)*c.spec.KVDim + kvOff
	if c16 == nil {
		return c32[o : o+w.hd]
	}
	buf = buf[:w.hd]
	decodeF16(buf, c16[o:o+w.hd])
	return buf
}

// run computes heads q (per × hd) of one token at position p over cached
// positions first..p into out.
// kT, where not nil, holds the keys of positions from 0 on as sharedKeys
// lays them out for this KV head (first is then 0).
func (w *attnWork) run(c *kvCache, l int, table []int32, first, p, kvOff int, q, out []float32, a backend.Attn, sinks, kT []float32) {
	hd, per := w.hd, w.per
	f16 := c.k16 != nil
	var k16, v16 []uint16
	var k32, v32 []float32
	if f16 {
		k16, v16 = c.k16[l], c.v16[l]
	} else {
		k32, v32 = c.k32[l], c.v32[l]
	}
	if w.qh == nil {
		w.qh = make([]float32, per*hd)
		w.rows = make([]float32, 4*hd)
		w.kT = make([]float32, 8*hd)
		w.ws = make([]float32, per)
		w.acc = make([]float64, per*hd)
		w.sum = make([]float64, per)
		w.tail = make([]float32, 8*per)
		w.max = make([]float32, per)
	}
	n := p - first + 1
	if cap(w.scores) < per*n {
		w.scores = make([]float32, per*n)
		w.h16 = make([]uint16, max(per*n, per*hd))
	}
	if f16 {
		encodeF16(w.h16[:per*hd], q)
		decodeF16(w.qh, w.h16[:per*hd])
	} else {
		copy(w.qh, q)
	}
	scores := w.scores[:per*n]
	// Scores eight positions at a time with AVX2 (an F16 cache), else
	// four: independent sums in flight, each still in element order.
	j := 0
	if kT != nil {
		for ; j < n; j += 8 {
			grp := kT[j*hd : (j+8)*hd] // group j/8
			if cnt := n - j; cnt < 8 {
				scoresKT(w.qh, hd, grp, w.tail, 8)
				for g := range per {
					copy(scores[g*n+j:g*n+j+cnt], w.tail[g*8:g*8+cnt])
				}
				break
			}
			scoresKT(w.qh, hd, grp, scores[j:], n)
		}
		j = n
	}
	if f16 && j < n {
		var rows [8]*uint16
		bs, kvDim := c.spec.BlockSize, c.spec.KVDim
		blk, in := first/bs, first%bs // position first+j's block and row in it
		for j < n {
			cnt := min(8, n-j)
			if cnt == 8 && in+8 <= bs { // eight rows of one block: one bounds check
				o := int(table[blk])*c.stride + in*kvDim + kvOff
				run := k16[o : o+7*kvDim+hd]
				for r := range rows {
					rows[r] = &run[r*kvDim]
				}
				if in += 8; in == bs {
					blk, in = blk+1, 0
				}
			} else {
				for r := range cnt {
					rows[r] = &k16[int(table[blk])*c.stride+in*kvDim+kvOff]
					if in++; in == bs {
						blk, in = blk+1, 0
					}
				}
				for r := cnt; r < 8; r++ {
					rows[r] = rows[cnt-1] // the last group: repeat a row
				}
			}
			if cnt == 8 {
				if !scoresF16x8(w.qh, hd, &rows, w.kT, scores[j:], n) {
					break
				}
			} else {
				// The last few positions: eight scores per head into
				// scratch, the first cnt kept.
				if !scoresF16x8(w.qh, hd, &rows, w.kT, w.tail, 8) {
					break
				}
				for g := range per {
					copy(scores[g*n+j:g*n+j+cnt], w.tail[g*8:g*8+cnt])
				}
			}
			j += cnt
		}
	}
	for ; j+4 <= n; j += 4 {
		k0 := w.row(c, k16, k32, table, first+j, kvOff, w.rows[0:hd])
		k1 := w.row(c, k16, k32, table, first+j+1, kvOff, w.rows[hd:2*hd])
		k2 := w.row(c, k16, k32, table, first+j+2, kvOff, w.rows[2*hd:3*hd])
		k3 := w.row(c, k16, k32, table, first+j+3, kvOff, w.rows[3*hd:4*hd])
		for g := 0; g < per; g++ {
			qg := w.qh[g*hd : (g+1)*hd]
			k0, k1, k2, k3 := k0[:len(qg)], k1[:len(qg)], k2[:len(qg)], k3[:len(qg)]
			var s0, s1, s2, s3 float32
			for e, x := range qg {
				s0 += x * k0[e]
				s1 += x * k1[e]
				s2 += x * k2[e]
				s3 += x * k3[e]
			}
			sg := scores[g*n+j : g*n+j+4]
			sg[0], sg[1], sg[2], sg[3] = s0, s1, s2, s3
		}
	}
	for ; j < n; j++ {
		kr := w.row(c, k16, k32, table, first+j, kvOff, w.rows[0:hd])
		for g := 0; g < per; g++ {
			var sc float32
			for e, x := range w.qh[g*hd : (g+1)*hd] {
				sc += x * kr[e]
			}
			scores[g*n+j] = sc
		}
	}
	for g := 0; g < per; g++ {
		sg := scores[g*n : (g+1)*n]
		m := float32(math.Inf(-1))
		if a.Softcap > 0 {
			for j, sc := range sg {
				sc *= a.Scale
				sc = a.Softcap * float32(math.Tanh(float64(sc/a.Softcap)))
				sg[j] = sc
				m = max(m, sc)
			}
		} else {
			m = scaleMax(sg, a.Scale)
		}
		if sinks != nil {
			// ggml_soft_max_add_sinks: the sink is one more score.
			m = max(m, sinks[g])
		}
		expShift(sg, sg, m)
		w.max[g] = m
	}
	// The sums of the exps, each in position order in float64; two
	// heads' chains at a time so that their additions overlap.
	g := 0
	for ; g+2 <= per; g += 2 {
		s0, s1 := scores[g*n:(g+1)*n], scores[(g+1)*n:(g+2)*n]
		var a, b float64
		for j, ex := range s0 {
			a += float64(ex)
			b += float64(s1[j])
		}
		w.sum[g], w.sum[g+1] = a, b
	}
	for ; g < per; g++ {
		var a float64
		for _, ex := range scores[g*n : (g+1)*n] {
			a += float64(ex)
		}
		w.sum[g] = a
	}
	for g := 0; g < per; g++ {
		sg, sum := scores[g*n:(g+1)*n], w.sum[g]
		if sinks != nil {
			sum += float64(float32(math.Exp(float64(sinks[g] - w.max[g]))))
		}
		inv := float32(1 / sum)
		if f16 {
			scaleF16(sg, inv)
			continue
		}
		for j := range sg {
			sg[j] *= inv
		}
	}
	clear(w.acc)
	bs := c.spec.BlockSize
	for j := 0; j < n; {
		// The positions left in this cache block are consecutive rows.
		pp := first + j
		cnt := min(bs-pp%bs, n-j)
		o := int(table[pp/bs])*c.stride + (pp%bs)*c.spec.KVDim + kvOff
		if f16 && addScaledF16Run(w.acc, scores[j:], n, per, v16[o:], c.spec.KVDim, hd, cnt) {
			j += cnt
			continue
		}
		if f16 {
			ws := w.ws[:per]
			for g := range ws {
				ws[g] = scores[g*n+j]
			}
			addScaledF16Heads(w.acc, ws, v16[o:o+hd], hd)
		} else {
			for g := 0; g < per; g++ {
				addScaled(w.acc[g*hd:(g+1)*hd], scores[g*n+j], v32[o:o+hd])
			}
		}
		j++
	}
	for e, x := range w.acc {
		out[e] = float32(x)
	}
}
