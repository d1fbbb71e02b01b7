// Package cpu is the pure-Go backend: ops run eagerly on the calling
// goroutine, with matrix products spread over worker goroutines. Numerics
// follow ggml's CPU backend (activation quantization before quantized dot
// products, double-precision sums in norms and softmax, an F16 KV cache) so
// that greedy decoding agrees with llama.cpp.
package cpu

import (
	"encoding/binary"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"
	"unsafe"

	"github.com/tscale/engine/backend"
	"github.com/tscale/engine/quant"
)

// Backend is the CPU backend. The zero value is not usable; call New.
type Backend struct {
	threads int
	ropes   struct { // recent RoPE angle tables (see ropeAngles)
		sync.Mutex
		t    [4]*ropeTable
		next int
	}
}

// New returns a CPU backend using threads workers (0 = GOMAXPROCS).
func New(threads int) *Backend {
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	return &Backend{threads: threads}
}

// Name implements backend.Backend.
func (b *Backend) Name() string { return fmt.Sprintf("cpu (%d threads)", b.threads) }

// Threads is the number of worker goroutines used for matrix products.
func (b *Backend) Threads() int { return b.threads }

type tensor struct {
	rows, cols int
	d          []float32
}

func (t *tensor) Rows() int { return t.rows }
func (t *tensor) Cols() int { return t.cols }

func (t *tensor) row(r int) []float32 { return t.d[r*t.cols : (r+1)*t.cols] }

type weight struct {
	name     string
	typ      quant.Type
	shape    []int64
	data     []byte    // stored bytes (a slice of the mapped file: no copy)
	rowBytes int       // bytes per row of shape[0] elements
	f32      []float32 // dequantized copy for small 1-D weights (norms, biases)

	once sync.Once
	all  []float32 // the whole tensor dequantized, on first use of floats
}

// floats returns the whole tensor as float32 (for small 2-D weights such
// as expert biases), decoded once.
func (w *weight) floats() []float32 {
	w.once.Do(func() {
		w.all = make([]float32, len(w.data)/w.rowBytes*int(w.shape[0]))
		if err := quant.Dequantize(w.typ, w.data, w.all); err != nil {
			panic(fmt.Sprintf("cpu: tensor %s: %v", w.name, err))
		}
	})
	return w.all
}

func (w *weight) Name() string     { return w.name }
func (w *weight) Type() quant.Type { return w.typ }
func (w *weight) Shape() []int64   { return w.shape }

func (w *weight) rows() int {
	n := 1
	for _, d := range w.shape[1:] {
		n *= int(d)
	}
	return n
}

// Upload implements backend.Backend. On the CPU the stored bytes are used in
// place; 1-D tensors are dequantized once since every op reads them whole.
func (b *Backend) Upload(name string, t quant.Type, shape []int64, data []byte) (backend.Weight, error) {
	if len(shape) == 0 {
		return nil, fmt.Errorf("cpu: tensor %s has no dimensions", name)
	}
	rb, err := quant.RowBytes(t, shape[0])
	if err != nil {
		return nil, fmt.Errorf("cpu: tensor %s: %w", name, err)
	}
	w := &weight{name: name, typ: t, shape: append([]int64(nil), shape...), data: data, rowBytes: int(rb)}
	if int64(len(data)) != rb*int64(w.rows()) {
		return nil, fmt.Errorf("cpu: tensor %s: %d bytes, want %d", name, len(data), rb*int64(w.rows()))
	}
	if len(shape) == 1 {
		w.f32 = make([]float32, shape[0])
		if err := quant.Dequantize(t, data, w.f32); err != nil {
			return nil, fmt.Errorf("cpu: tensor %s: %w", name, err)
		}
	}
	return w, nil
}

// Alloc implements backend.Backend.
func (b *Backend) Alloc(rows, cols int) backend.Tensor {
	return &tensor{rows: rows, cols: cols, d: make([]float32, rows*cols)}
}

// Reset implements backend.Backend: CPU tensors are garbage-collected, so
// there is nothing to reuse.
func (b *Backend) Reset() {}

func ten(t backend.Tensor) *tensor { return t.(*tensor) }
func wgt(w backend.Weight) *weight { return w.(*weight) }

// Embed implements backend.Backend.
func (b *Backend) Embed(dst backend.Tensor, table backend.Weight, ids []int32, scale float32) {
	d, w := ten(dst), wgt(table)
	for i, id := range ids {
		row := d.row(i)
		src := w.data[int(id)*w.rowBytes : (int(id)+1)*w.rowBytes]
		if err := quant.Dequantize(w.typ, src, row); err != nil {
			panic(fmt.Sprintf("cpu: embed %s: %v", w.name, err)) // sizes were checked at upload
		}
		if scale != 1 {
			for j := range row {
				row[j] *= scale
			}
		}
	}
}

// RMSNorm implements backend.Backend, as ggml_rms_norm followed by ggml_mul.
func (b *Backend) RMSNorm(dst, x backend.Tensor, w backend.Weight, eps float32) {
	d, s, ww := ten(dst), ten(x), wgt(w).f32
	g := len(ww)
	n := len(s.d) / g
	parallel(b.threads, n, 16, func(lo, hi int) {
		r := lo
		// Four rows at a time: four independent float64 chains, each
		// still summed in element order.
		for ; r+4 <= hi; r += 4 {
			x0, x1, x2, x3 := s.d[r*g:(r+1)*g], s.d[(r+1)*g:(r+2)*g], s.d[(r+2)*g:(r+3)*g], s.d[(r+3)*g:(r+4)*g]
			x1, x2, x3 = x1[:len(x0)], x2[:len(x0)], x3[:len(x0)]
			var s0, s1, s2, s3 float64
			for i, v := range x0 {
				s0 += float64(v * v)
				s1 += float64(x1[i] * x1[i])
				s2 += float64(x2[i] * x2[i])
				s3 += float64(x3[i] * x3[i])
			}
			for k, sum := range [4]float64{s0, s1, s2, s3} {
				rmsScale(d.d[(r+k)*g:(r+k+1)*g], s.d[(r+k)*g:(r+k+1)*g], ww, sum, eps)
			}
		}
		for ; r < hi; r++ {
			in := s.d[r*g : (r+1)*g]
			var sum float64
			for _, v := range in {
				sum += float64(v * v)
			}
			rmsScale(d.d[r*g:(r+1)*g], in, ww, sum, eps)
		}
	})
}

// rmsScale writes in scaled by its RMS (from sum, the float64 sum of its
// squares) times w into out.
func rmsScale(out, in, w []float32, sum float64, eps float32) {
	scale := 1 / float32(math.Sqrt(float64(float32(sum/float64(len(in)))+eps)))
	out, w = out[:len(in)], w[:len(in)]
	for i, v := range in {
		out[i] = v * scale * w[i]
	}
}

// MatMul implements backend.Backend: activations are first converted to the
// weight's dot-product type (e.g. Q8_0 for Q4_0 weights), as ggml does.
// Every output is one dot of a weight row with an activation row, so a
// row's result never depends on the rest of the batch.
func (b *Backend) MatMul(dst, x backend.Tensor, w, bias backend.Weight) {
	d, s, ww := ten(dst), ten(x), wgt(w)
	in, out := s.cols, ww.rows()
	if int64(in) != ww.shape[0] || d.cols != out || d.rows != s.rows {
		panic(fmt.Sprintf("cpu: matmul %s: x %dx%d, w %v, dst %dx%d", ww.name, s.rows, s.cols, ww.shape, d.rows, d.cols))
	}
	vt := quant.VecDotType(ww.typ)
	xb64, _ := quant.RowBytes(vt, int64(in))
	xb, rows := int(xb64), s.rows
	buf := scratch.Get().(*[]byte)
	var xq []byte
	if vt == quant.F32 && littleEndian && len(s.d) > 0 {
		// F32 activations in their stored form are the rows' own bytes:
		// no copy (a tiny F32 model's products spent a fifth of their
		// time copying).
		xq = unsafe.Slice((*byte)(unsafe.Pointer(&s.d[0])), 4*len(s.d))
	} else {
		if cap(*buf) < xb*rows {
			*buf = make([]byte, xb*rows)
		}
		xq = (*buf)[:xb*rows]
		parallel(b.threads, rows, 4, func(lo, hi int) {
			for r := lo; r < hi; r++ {
				if err := quant.QuantizeActivation(vt, s.row(r), xq[r*xb:(r+1)*xb]); err != nil {
					panic(fmt.Sprintf("cpu: matmul %s: %v", ww.name, err))
				}
			}
		})
	}
	dot, dotRows := quant.DotFunc(ww.typ), quant.DotRowsFunc(ww.typ)
	xr := make([][]byte, rows)
	for r := range xr {
		xr[r] = xq[r*xb : (r+1)*xb]
	}
	if rows == 1 {
		// A decode step: each thread streams its weight rows through one
		// kernel call.
		parallel(b.threads, out, 16, func(lo, hi int) {
			quant.DotMany(ww.typ, in, ww.data[lo*ww.rowBytes:hi*ww.rowBytes], ww.rowBytes, xq, d.d[lo:hi])
		})
	} else if usePanels && rows >= panelMin(ww.typ) && quant.PanelOK(ww.typ, in) {
		// AVX-512 VNNI: all rows at once, 16 per kernel pass; every
		// result still equals the single-row dot.
		p := panels.Get().(*quant.Panel)
		p.Set(ww.typ, in, xr)
		parallel(b.threads, out, 16, func(lo, hi int) {
			p.Mul(ww.data[lo*ww.rowBytes:hi*ww.rowBytes], ww.rowBytes, hi-lo, d.d[lo:], out)
		})
		panels.Put(p)
	} else if tileTypes[ww.typ] {
		// Tiles of rows with their scales decoded once for all weight
		// rows; every result still equals the single-row dot.
		tr := quant.TileRows(ww.typ)
		tiles := make([]quant.Tile, (rows+tr-1)/tr)
		for i := range tiles {
			tiles[i].Set(ww.typ, in, xr[tr*i:min(tr*i+tr, rows)])
		}
		parallel(b.threads, out, 16, func(lo, hi int) {
			var res [8]float32
			for j := lo; j < hi; j++ {
				wr := ww.data[j*ww.rowBytes : (j+1)*ww.rowBytes]
				for i := range tiles {
					r, n := tr*i, min(tr, rows-tr*i)
					tiles[i].Dot(wr, res[:n])
					for k, v := range res[:n] {
						d.d[(r+k)*out+j] = v
					}
				}
			}
		})
	} else {
		parallel(b.threads, out, 16, func(lo, hi int) {
			var res [tile]float32
			for j := lo; j < hi; j++ {
				wr := ww.data[j*ww.rowBytes : (j+1)*ww.rowBytes]
				// Tiles of rows share each unpacked weight block; every result
				// equals the single-row dot, so tiling never changes outputs.
				r := 0
				for ; rows-r >= 2; r += tile {
					n := min(tile, rows-r)
					dotRows(in, wr, xr[r:r+n], res[:n])
					for k, v := range res[:n] {
						d.d[(r+k)*out+j] = v
					}
				}
				for ; r < rows; r++ {
					d.d[r*out+j] = dot(in, wr, xr[r])
				}
			}
		})
	}
	scratch.Put(buf)
	if bias != nil {
		bv := wgt(bias).f32
		for r := 0; r < rows; r++ {
			row := d.row(r)
			for j := range row {
				row[j] += bv[j]
			}
		}
	}
}

// littleEndian: a float32's stored bytes (quant.F32) are its memory.
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// tileTypes have quant.Tile kernels (rows with pre-decoded scales and
// sums).
var tileTypes = map[quant.Type]bool{quant.Q8_0: true, quant.Q4_0: true, quant.Q4_1: true, quant.Q5_0: true, quant.Q5_1: true, quant.Q4_K: true, quant.Q6_K: true, quant.MXFP4: true}

// panelMin is the fewest activation rows that go through a quant.Panel (a
// pass runs 16; below this the tiles cost less: a K-quant weight row's
// decode is dearer, BenchmarkMatMulRows).
func panelMin(t quant.Type) int {
	if t == quant.Q4_K || t == quant.Q6_K {
		return 12
	}
	return 6
}

// usePanels is false only in benchmarks of the tile path.
var usePanels = true

// panels holds quant.Panel buffers reused across MatMul calls.
var panels = sync.Pool{New: func() any { return new(quant.Panel) }}

// tile is the most activation rows dotted with one weight row per DotRows
// call (the kernels take four at a time; larger calls save call overhead).
const tile = 16

// scratch holds quantized-activation buffers reused across MatMul calls
// (a prefill batch needs hundreds of KiB per product).
var scratch = sync.Pool{New: func() any { return new([]byte) }}

// RoPE implements backend.Backend, computing angles as ggml does: the
// per-pair angle is built by repeated float32 multiplication.
func (b *Backend) RoPE(x backend.Tensor, headDim int, pos []int32, r backend.RoPE) {
	t := ten(x)
	half := r.Dims / 2
	cos, sin := b.ropeAngles(pos[:t.rows], r)
	for i := 0; i < t.rows; i++ {
		c, s := cos[i*half:(i+1)*half], sin[i*half:(i+1)*half]
		row := t.row(i)
		for h := 0; h+headDim <= len(row); h += headDim {
			v := row[h : h+headDim]
			for k := 0; k < half; k++ {
				i0, i1 := 2*k, 2*k+1
				if r.NeoX {
					i0, i1 = k, k+half
				}
				x0, x1 := v[i0], v[i1]
				v[i0] = x0*c[k] - x1*s[k]
				v[i1] = x0*s[k] + x1*c[k]
			}
		}
	}
}

// ropeAngles returns the cos and sin of every rotated pair of every
// position (position i's at [i*Dims/2, (i+1)*Dims/2)). A forward pass
// ropes q and k of every layer at the same positions, under one or two
// configurations (Gemma's local and global layers), so the last few
// tables are kept; a table is never changed once returned.
func (b *Backend) ropeAngles(pos []int32, r backend.RoPE) (cos, sin []float32) {
	key := ropeKey{dims: r.Dims, base: r.Base, freqScale: r.FreqScale, nf: len(r.Factors)}
	if len(r.Factors) > 0 {
		key.factors = &r.Factors[0]
	}
	if r.YaRN != nil {
		key.yarn, key.hasYaRN = *r.YaRN, true
	}
	b.ropes.Lock()
	defer b.ropes.Unlock()
	for _, e := range b.ropes.t {
		if e != nil && e.key == key && slices.Equal(e.pos, pos) {
			return e.cos, e.sin
		}
	}
	thetaScale := float32(math.Pow(float64(r.Base), -2.0/float64(r.Dims)))
	half := r.Dims / 2
	e := &ropeTable{key: key, pos: slices.Clone(pos), cos: make([]float32, len(pos)*half), sin: make([]float32, len(pos)*half)}
	y := newYarn(r)
	for i, p := range pos {
		theta := float32(p)
		for k := 0; k < half; k++ {
			th := theta
			if r.Factors != nil {
				th /= r.Factors[k]
			}
			e.cos[i*half+k], e.sin[i*half+k] = y.cosSin(th, k)
			theta *= thetaScale
		}
	}
	b.ropes.t[b.ropes.next] = e
	b.ropes.next = (b.ropes.next + 1) % len(b.ropes.t)
	return e.cos, e.sin
}

// ropeKey identifies a RoPE configuration (Factors by identity: a model's
// tensor).
type ropeKey struct {
	dims            int
	base, freqScale float32
	factors         *float32
	nf              int
	yarn            backend.YaRN
	hasYaRN         bool
}

type ropeTable struct {
	key      ropeKey
	pos      []int32
	cos, sin []float32
}

// yarn is ggml's rope_yarn for one RoPE: the angle of pair k blends the
// interpolated (freqScale·θ) and extrapolated (θ) angles by a ramp over the
// correction dimensions, and cos/sin are scaled by mscale.
type yarn struct {
	freqScale, ext, mscale float32
	lo, hi                 float32 // correction dimensions
}

func newYarn(r backend.RoPE) yarn {
	y := yarn{freqScale: r.FreqScale, mscale: 1}
	if r.YaRN == nil {
		return y
	}
	p := r.YaRN
	y.ext, y.mscale = p.ExtFactor, p.AttnFactor
	// ggml_rope_yarn_corr_dims, in float32 as ggml computes it.
	corr := func(beta float32) float32 {
		turns := float32(p.OrigCtx) / (beta * 2 * float32(math.Pi))
		return float32(r.Dims) * log32(turns) / (2 * log32(r.Base))
	}
	y.lo = max(0, float32(math.Floor(float64(corr(p.BetaFast)))))
	y.hi = min(float32(r.Dims-1), float32(math.Ceil(float64(corr(p.BetaSlow)))))
	if y.ext != 0 {
		y.mscale *= 1 + 0.1*log32(1/y.freqScale)
	}
	return y
}

func log32(x float32) float32 { return float32(math.Log(float64(x))) }

// cosSin returns the scaled cos and sin of pair k at unscaled angle th.
func (y yarn) cosSin(th float32, k int) (float32, float32) {
	a := y.freqScale * th
	if y.ext != 0 {
		ramp := (float32(k) - y.lo) / max(0.001, y.hi-y.lo)
		mix := (1 - min(1, max(0, ramp))) * y.ext
		a = float32(a*(1-mix)) + float32(th*mix)
	}
	c, s := float32(math.Cos(float64(a))), float32(math.Sin(float64(a)))
	if y.mscale != 1 {
		c, s = c*y.mscale, s*y.mscale
	}
	return c, s
}

// GLU implements backend.Backend. Elements are independent, so large
// batches are split over the threads.
func (b *Backend) GLU(dst, gate, up backend.Tensor, act backend.Act) {
	d, g, u := ten(dst), ten(gate), ten(up)
	if act != backend.SiLU && act != backend.GELUTanh && act != backend.SwiGLUOAI {
		panic(fmt.Sprintf("cpu: unknown activation %d", act))
	}
	parallel(b.threads, len(g.d), 1024, func(lo, hi int) {
		dd, gg, uu := d.d[lo:hi], g.d[lo:hi], u.d[lo:hi]
		uu = uu[:len(gg)]
		dd = dd[:len(gg)]
		switch act {
		case backend.SiLU:
			silu(dd, gg, uu)
		case backend.GELUTanh:
			// gelu's F16 rounding, a row segment at a time.
			var h [256]uint16
			for o := 0; o < len(gg); o += len(h) {
				seg := gg[o:min(o+len(h), len(gg))]
				encodeF16(h[:len(seg)], seg)
				for i, x := range seg {
					y := x
					if x <= -10 {
						y = 0
					} else if x < 10 {
						y = half[geluHalf[h[i]]]
					}
					dd[o+i] = y * uu[o+i]
				}
			}
		case backend.SwiGLUOAI:
			for i, x := range gg {
				dd[i] = swigluOAI(x, uu[i])
			}
		}
	})
}

// swigluOAI is ggml's swiglu_oai with gpt-oss's alpha and limit.
func swigluOAI(g, u float32) float32 {
	g = min(g, backend.OAILimit)
	u = max(-backend.OAILimit, min(u, backend.OAILimit))
	return g / (1 + float32(math.Exp(float64(-backend.OAIAlpha*g)))) * (u + 1)
}

// Add implements backend.Backend.
func (b *Backend) Add(dst, x, y backend.Tensor) {
	d, p, q := ten(dst), ten(x), ten(y)
	for i := range d.d {
		d.d[i] = p.d[i] + q.d[i]
	}
}

// Softcap implements backend.Backend.
func (b *Backend) Softcap(x backend.Tensor, c float32) {
	t := ten(x)
	for i, v := range t.d {
		t.d[i] = c * float32(math.Tanh(float64(v/c)))
	}
}

// Gather implements backend.Backend.
func (b *Backend) Gather(dst, x backend.Tensor, rows []int) {
	d, s := ten(dst), ten(x)
	for i, r := range rows {
		copy(d.row(i), s.row(r))
	}
}

// Argmax implements backend.Backend. Ties go to the lowest index.
func (b *Backend) Argmax(x backend.Tensor, rows []int) []int32 {
	t := ten(x)
	ids := make([]int32, len(rows))
	for i, r := range rows {
		row := t.row(r)
		best := 0
		for j, v := range row {
			if v > row[best] {
				best = j
			}
		}
		ids[i] = int32(best)
	}
	return ids
}

// Read implements backend.Backend.
func (b *Backend) Read(x backend.Tensor, r int, dst []float32) {
	copy(dst, ten(x).row(r))
}
