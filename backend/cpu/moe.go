package cpu

import (
	"fmt"
	"math"
	"runtime"
	"sync"
	"weak"

	"github.com/tscale/engine/backend"
	"github.com/tscale/engine/quant"
)

// routing is the CPU's backend.Routing: token t's experts are
// ids[t*k : (t+1)*k], with weights w at the same places.
type routing struct {
	n, k int
	ids  []int32
	w    []float32
}

func (r *routing) Tokens() int { return r.n }
func (r *routing) K() int      { return r.k }

// Experts returns the expert ids and weights of rt, token by token
// (K per token), as host slices owned by rt.
func Experts(rt backend.Routing) ([]int32, []float32) {
	r := rt.(*routing)
	return r.ids, r.w
}

// MoERoute implements backend.Backend with ggml's arithmetic: softmax with a
// float64 sum scaled by a float32 reciprocal, sigmoid as 1/(1+e^-x), the
// renormalising sum in float64 and clamped to F16's smallest normal.
func (b *Backend) MoERoute(logits backend.Tensor, r backend.Route) backend.Routing {
	t := ten(logits)
	if r.Experts != t.cols || r.K < 1 || r.K > r.Experts {
		panic(fmt.Sprintf("cpu: moe route: logits %dx%d, %d experts, k %d", t.rows, t.cols, r.Experts, r.K))
	}
	rt := &routing{n: t.rows, k: r.K, ids: make([]int32, t.rows*r.K), w: make([]float32, t.rows*r.K)}
	p := make([]float32, t.cols)
	for i := 0; i < t.rows; i++ {
		ids, w := rt.ids[i*r.K:(i+1)*r.K], rt.w[i*r.K:(i+1)*r.K]
		if r.Gating == backend.SoftmaxWeight {
			// Choose by raw logit, then softmax the K chosen.
			topK(ids, t.row(i))
			for s, e := range ids {
				p[s] = t.row(i)[e]
			}
			scores(w, p[:r.K], backend.Softmax)
		} else {
			scores(p, t.row(i), r.Gating)
			topK(ids, p)
			for s, e := range ids {
				w[s] = p[e]
			}
		}
		if r.Norm {
			var sum float64
			for _, v := range w {
				sum += float64(v)
			}
			d := max(float32(sum), 6.103515625e-5)
			for s := range w {
				w[s] /= d
			}
		}
		if r.Scale != 0 && r.Scale != 1 {
			for s := range w {
				w[s] *= r.Scale
			}
		}
	}
	b.stats().add(r.Layer, r.Experts, rt.ids)
	return rt
}

// scores sets p to the gating function of logits x.
func scores(p, x []float32, g backend.Gating) {
	switch g {
	case backend.Softmax:
		mx := float32(math.Inf(-1))
		for _, v := range x {
			mx = max(mx, v)
		}
		var sum float64
		for j, v := range x {
			e := float32(math.Exp(float64(v - mx)))
			p[j] = e
			sum += float64(e)
		}
		inv := float32(1 / sum)
		for j := range p {
			p[j] *= inv
		}
	case backend.Sigmoid:
		for j, v := range x {
			p[j] = 1 / (1 + float32(math.Exp(float64(-v))))
		}
	default:
		panic(fmt.Sprintf("cpu: unknown gating %d", g))
	}
}

// topK sets ids to the indices of the len(ids) largest values of p, in
// descending order; equal values go to the lower index.
func topK(ids []int32, p []float32) {
	for s := range ids {
		best := -1
		for j, v := range p {
			if taken(ids[:s], j) {
				continue
			}
			if best < 0 || v > p[best] {
				best = j
			}
		}
		ids[s] = int32(best)
	}
}

func taken(ids []int32, j int) bool {
	for _, id := range ids {
		if int(id) == j {
			return true
		}
	}
	return false
}

// MoEExperts implements backend.Backend. The batch's (token, slot) pairs
// are grouped by expert and each chosen expert's matrices are read once
// for its group; every output value is still one dot of a weight row with
// one activation row (quantized as MatMul does), so results do not depend
// on what else is in the batch. Biases are added to the products as
// llama.cpp's add_id does, and the weighted outputs are summed in slot
// order, as its build_moe_ffn adds its expert views.
func (b *Backend) MoEExperts(dst, x backend.Tensor, rt backend.Routing, ex backend.Experts, act backend.Act) {
	d, s, r := ten(dst), ten(x), rt.(*routing)
	gw, uw, dw := wgt(ex.Gate), wgt(ex.Up), wgt(ex.Down)
	if len(gw.shape) != 3 || len(dw.shape) != 3 || len(uw.shape) != 3 {
		panic(fmt.Sprintf("cpu: moe experts: gate %v, up %v, down %v are not 3-D", gw.shape, uw.shape, dw.shape))
	}
	dim, ff, ne := int(gw.shape[0]), int(gw.shape[1]), int(gw.shape[2])
	if s.cols != dim || uw.shape[0] != gw.shape[0] || uw.shape[1] != gw.shape[1] || uw.shape[2] != gw.shape[2] ||
		dw.shape[0] != int64(ff) || dw.shape[1] != int64(dim) || dw.shape[2] != int64(ne) ||
		d.rows != s.rows || d.cols != dim || r.n != s.rows {
		panic(fmt.Sprintf("cpu: moe experts %s: x %dx%d, %d routed tokens, gate %v, up %v, down %v, dst %dx%d",
			gw.name, s.rows, s.cols, r.n, gw.shape, uw.shape, dw.shape, d.rows, d.cols))
	}
	gb, ub, db := expertBias(ex.GateBias, ff, ne), expertBias(ex.UpBias, ff, ne), expertBias(ex.DownBias, dim, ne)
	n, k := s.rows, r.k
	// Slots t*k+i of the batch, grouped by expert.
	groups := make([][]int, ne)
	for sl, e := range r.ids {
		if e < 0 || int(e) >= ne {
			panic(fmt.Sprintf("cpu: moe experts %s: expert %d of %d", gw.name, e, ne))
		}
		groups[e] = append(groups[e], sl)
	}
	var active []int
	for e, g := range groups {
		if len(g) > 0 {
			active = append(active, e)
		}
	}

	xg, xgb := b.quantizeRows(s.d, n, dim, gw)
	xu, xub := xg, xgb
	if quant.VecDotType(uw.typ) != quant.VecDotType(gw.typ) {
		xu, xub = b.quantizeRows(s.d, n, dim, uw)
	}
	// Each expert's activation rows, in group order.
	xsg, xsu := make([][][]byte, ne), make([][][]byte, ne)
	for _, e := range active {
		for _, sl := range groups[e] {
			t := sl / k
			xsg[e] = append(xsg[e], xg[t*xgb:(t+1)*xgb])
			xsu[e] = append(xsu[e], xu[t*xub:(t+1)*xub])
		}
	}
	hg, hu := make([]float32, n*k*ff), make([]float32, n*k*ff)
	b.expertRows(hg, gw, dim, active, groups, xsg)
	b.expertRows(hu, uw, dim, active, groups, xsu)

	// act(gate + bias) × (up + bias), quantized for the down projection.
	for sl, e := range r.ids {
		g, u := hg[sl*ff:(sl+1)*ff], hu[sl*ff:(sl+1)*ff]
		addBias(g, gb, int(e))
		addBias(u, ub, int(e))
		for i := range g {
			g[i] = glu(g[i], u[i], act)
		}
	}
	hq, hb := b.quantizeRows(hg, n*k, ff, dw)
	hs := make([][][]byte, ne)
	for _, e := range active {
		for _, sl := range groups[e] {
			hs[e] = append(hs[e], hq[sl*hb:(sl+1)*hb])
		}
	}
	out := make([]float32, n*k*dim)
	b.expertRows(out, dw, ff, active, groups, hs)
	for sl, e := range r.ids {
		addBias(out[sl*dim:(sl+1)*dim], db, int(e))
	}

	for t := 0; t < n; t++ {
		dr := d.row(t)
		for j := range dr {
			acc := out[t*k*dim+j] * r.w[t*k]
			for i := 1; i < k; i++ {
				// The conversion rounds the product: no fused multiply-add.
				acc += float32(out[(t*k+i)*dim+j] * r.w[t*k+i])
			}
			dr[j] = acc
		}
	}
}

// expertRows sets dst[sl*rows+j], for every slot sl of each active expert
// e's group, to the dot of row j of expert e of w ([n, rows, experts])
// with the slot's activation row xs[e][i] (already in w's dot type). A
// group of one token streams the expert's rows through one kernel call;
// larger groups go through groupDots.
func (b *Backend) expertRows(dst []float32, w *weight, n int, active []int, groups [][]int, xs [][][]byte) {
	rows := int(w.shape[1])
	gd := make([]*groupDots, len(groups))
	most := 0
	for _, e := range active {
		gd[e] = newGroupDots(w.typ, n, xs[e])
		most = max(most, len(groups[e]))
	}
	parallel(b.threads, len(active)*rows, 4, func(lo, hi int) {
		res := make([]float32, most)
		for it := lo; it < hi; {
			e, j := active[it/rows], it%rows
			end := min(hi, it-j+rows) // this expert's rows in the chunk
			if g := groups[e]; len(g) == 1 {
				off := g[0]*rows + j
				quant.DotMany(w.typ, n, w.data[(e*rows+j)*w.rowBytes:], w.rowBytes, xs[e][0], dst[off:off+end-it])
				it = end
				continue
			}
			for ; it < end; it, j = it+1, j+1 {
				row := e*rows + j
				gd[e].run(w.data[row*w.rowBytes:(row+1)*w.rowBytes], res)
				for i, sl := range groups[e] {
					dst[sl*rows+j] = res[i]
				}
			}
		}
	})
}

// groupDots dots weight rows with one expert's group of activation rows,
// as MatMul does a batch: in quant.Tiles (scales decoded once per group)
// where the type has tile kernels, else through the multi-row kernels; a
// single row takes the single-row kernel. Every result equals the
// single-row dot.
type groupDots struct {
	n     int
	xs    [][]byte
	tiles []quant.Tile
	tr    int // rows per tile
	dot   quant.DotFn
	rows  quant.DotRowsFn
}

func newGroupDots(t quant.Type, n int, xs [][]byte) *groupDots {
	g := &groupDots{n: n, xs: xs, dot: quant.DotFunc(t), rows: quant.DotRowsFunc(t)}
	if tileTypes[t] && len(xs) >= 2 {
		g.tr = quant.TileRows(t)
		g.tiles = make([]quant.Tile, (len(xs)+g.tr-1)/g.tr)
		for i := range g.tiles {
			g.tiles[i].Set(t, n, xs[g.tr*i:min(g.tr*i+g.tr, len(xs))])
		}
	}
	return g
}

// run sets out[r] to the dot of weight row w with activation row r.
func (g *groupDots) run(w []byte, out []float32) {
	switch {
	case g.tiles != nil:
		for i := range g.tiles {
			g.tiles[i].Dot(w, out[g.tr*i:])
		}
	case len(g.xs) == 1:
		out[0] = g.dot(g.n, w, g.xs[0])
	default:
		for r := 0; r < len(g.xs); r += tile {
			m := min(tile, len(g.xs)-r)
			g.rows(g.n, w, g.xs[r:r+m], out[r:r+m])
		}
	}
}

// expertBias returns the values of an optional [n, experts] bias, or nil.
func expertBias(w backend.Weight, n, experts int) []float32 {
	if w == nil {
		return nil
	}
	bw := wgt(w)
	if len(bw.shape) != 2 || bw.shape[0] != int64(n) || bw.shape[1] != int64(experts) {
		panic(fmt.Sprintf("cpu: moe expert bias %s has shape %v, want [%d %d]", bw.name, bw.shape, n, experts))
	}
	return bw.floats()
}

// addBias adds row e of the expert biases b (if any) to x.
func addBias(x, b []float32, e int) {
	if b == nil {
		return
	}
	for i, v := range b[e*len(x) : (e+1)*len(x)] {
		x[i] += v
	}
}

// quantizeRows converts rows of x (each cols long) to w's dot-product type
// and returns them with the byte length of one row.
func (b *Backend) quantizeRows(x []float32, rows, cols int, w *weight) ([]byte, int) {
	vt := quant.VecDotType(w.typ)
	rb64, err := quant.RowBytes(vt, int64(cols))
	if err != nil {
		panic(fmt.Sprintf("cpu: moe %s: %v", w.name, err))
	}
	rb := int(rb64)
	q := make([]byte, rb*rows)
	parallel(b.threads, rows, 4, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			if err := quant.QuantizeActivation(vt, x[r*cols:(r+1)*cols], q[r*rb:(r+1)*rb]); err != nil {
				panic(fmt.Sprintf("cpu: moe %s: %v", w.name, err))
			}
		}
	})
	return q, rb
}

// glu is one element of GLU, with the same float32 arithmetic.
func glu(g, u float32, act backend.Act) float32 {
	switch act {
	case backend.SiLU:
		return g / (1 + float32(math.Exp(float64(-g)))) * u
	case backend.GELUTanh:
		return gelu(g) * u
	case backend.SwiGLUOAI:
		return swigluOAI(g, u)
	}
	panic(fmt.Sprintf("cpu: unknown activation %d", act))
}

// SigmoidGate implements backend.Backend. The gate is silu(g)/g, which is
// how llama.cpp's qwen2moe computes its shared expert's sigmoid.
func (b *Backend) SigmoidGate(x, g backend.Tensor) {
	t, s := ten(x), ten(g)
	if s.rows != t.rows {
		panic(fmt.Sprintf("cpu: sigmoid gate: x has %d rows, gate %d", t.rows, s.rows))
	}
	for i := 0; i < t.rows; i++ {
		v := s.d[i*s.cols]
		gate := float32(0.5)
		if v != 0 {
			gate = v / (1 + float32(math.Exp(float64(-v)))) / v
		}
		row := t.row(i)
		for j := range row {
			row[j] *= gate
		}
	}
}

// expertStats counts routed tokens per layer and expert.
type expertStats struct {
	mu sync.Mutex
	n  [][]int64
}

func (s *expertStats) add(layer, experts int, ids []int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.n) <= layer {
		s.n = append(s.n, nil)
	}
	if len(s.n[layer]) < experts {
		s.n[layer] = append(s.n[layer], make([]int64, experts-len(s.n[layer]))...)
	}
	for _, e := range ids {
		s.n[layer][e]++
	}
}

// allStats holds each Backend's counts. Backend is declared elsewhere, so
// the counts live beside it, keyed weakly and dropped with the backend.
var allStats sync.Map // weak.Pointer[Backend] -> *expertStats

func (b *Backend) stats() *expertStats {
	key := weak.Make(b)
	if s, ok := allStats.Load(key); ok {
		return s.(*expertStats)
	}
	s, loaded := allStats.LoadOrStore(key, &expertStats{})
	if !loaded {
		runtime.AddCleanup(b, func(k weak.Pointer[Backend]) { allStats.Delete(k) }, key)
	}
	return s.(*expertStats)
}

// ExpertCounts returns how many tokens MoERoute has sent to each expert,
// indexed [layer][expert], since the backend was made or last reset.
func (b *Backend) ExpertCounts() [][]int64 {
	s := b.stats()
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([][]int64, len(s.n))
	for i, c := range s.n {
		out[i] = append([]int64(nil), c...)
	}
	return out
}

// ResetExpertCounts zeroes the counts of ExpertCounts.
func (b *Backend) ResetExpertCounts() {
	s := b.stats()
	s.mu.Lock()
	s.n = nil
	s.mu.Unlock()
}
