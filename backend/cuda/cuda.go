package cuda

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"unsafe"

	"github.com/tscale/engine/backend"
	"github.com/tscale/engine/quant"
)

// ErrNotCompiled is Open's error in a build without the cuda (or cudaemu) tag.
var ErrNotCompiled = errors.New("CUDA not compiled in: build with make cuda")

// Backend is the CUDA backend: weights, the KV pool and activations live on
// the device; ops launch the kernels of kernels/. All driver calls run on
// one goroutine locked to its OS thread (see thread); the methods may be
// called from any goroutine, one at a time (the engine's step loop).
type Backend struct {
	t    *thread
	d    Driver
	name string
	ar   arena
	st   Stats

	poison    bool // fill each Alloc with NaN (tests)
	closeOnce sync.Once

	// This forward's uploads, by slice identity: RoPE gets the same
	// positions 2× per layer, Attention the same batch once per layer.
	up32 map[*int32]upload
	// Model constants uploaded once (RoPE factors), by slice identity.
	consts map[*float32]DevPtr
	counts []layerCounts // MoERoute's per layer
	batch  *backend.Batch
	tabs   batchDev

	noCascade  bool                 // WithCascade(false)
	perExpert  bool                 // MoE products one launch per expert (tests)
	cascSplit  int                  // positions per split of a cascade set
	cascStates int                  // shared bytes for a cascade set's query states
	plans      map[cascKey]*cascade // this forward's cascade plans
}

type upload struct {
	n int
	p DevPtr
}

// Stats counts the backend's work since Open. Bytes are computed from
// shapes: what the kernels must read, not what a profiler measured.
type Stats struct {
	Forwards    int64 // Reset calls
	Launches    int64 // kernel launches
	WeightBytes int64 // weight bytes read (matrices whole, embedding rows, experts routed to)
	KVBytes     int64 // KV cache bytes read by attention
	Mallocs     int64 // device allocations (weights, KV, arena growth)
	HtoD, DtoH  int64 // bytes copied
}

// Open returns the backend over the driver of this build: the GPU (cuda
// tag), the emulator (cudaemu tag), or ErrNotCompiled.
func Open(opts ...Option) (*Backend, error) { return New(openDriver, append(envOptions(), opts...)...) }

// New returns a backend over the driver that open makes; open runs on the
// backend's locked thread, where the driver stays.
func New(open func() (Driver, error), opts ...Option) (*Backend, error) {
	t := newThread()
	var d Driver
	var name string
	var err error
	t.do(func() {
		if d, err = open(); err == nil {
			name = d.Name()
		}
	})
	if err != nil {
		t.stop()
		return nil, err
	}
	b := &Backend{t: t, d: d, name: name, up32: map[*int32]upload{}, consts: map[*float32]DevPtr{},
		cascSplit: cascSplitAt, cascStates: cascStates, plans: map[cascKey]*cascade{}}
	b.ar.d = d
	for _, o := range opts {
		o(b)
	}
	return b, nil
}

// Name implements backend.Backend.
func (b *Backend) Name() string { return b.name }

// Stats returns the counters.
func (b *Backend) Stats() Stats {
	var s Stats
	b.t.do(func() {
		s = b.st
		s.Mallocs += b.ar.mallocs
	})
	return s
}

// Close frees the device memory of the arena and closes the driver. Weights
// and KV caches are freed with the driver's context.
// A second Close does nothing.
func (b *Backend) Close() error {
	var err error
	b.closeOnce.Do(func() {
		b.t.do(func() {
			b.ar.free()
			err = b.d.Close()
		})
		b.t.stop()
	})
	return err
}

// MemInfo is the device's free and total memory.
func (b *Backend) MemInfo() (free, total int64) {
	b.t.do(func() { free, total = b.d.MemInfo() })
	return
}

// Parameters, 8 bytes each (kernels/README.md).
func ptr(p DevPtr) uint64      { return uint64(p) }
func i64(v int) uint64         { return uint64(int64(v)) }
func f64(v float32) uint64     { return math.Float64bits(float64(v)) }
func dim(x int) Dim3           { return Dim3{uint32(x), 1, 1} }
func grid1D(n, block int) Dim3 { return dim(max(1, min((n+block-1)/block, 1024))) }

// block1D is a block for a row of n values: a multiple of 32, at most m.
func block1D(n, m int) Dim3 { return dim(min(m, max(32, (n+31)/32*32))) }

func (b *Backend) launch(name string, grid, block Dim3, shared uint32, args ...uint64) {
	b.st.Launches++
	check("launch "+name, b.d.Launch(name, grid, block, shared, args...))
}

func (b *Backend) htod(dst DevPtr, src unsafe.Pointer, n int64) {
	if n > 0 {
		b.st.HtoD += n
		check("copy to device", b.d.HtoD(dst, src, n))
	}
}

func (b *Backend) dtoh(dst unsafe.Pointer, src DevPtr, n int64) {
	if n > 0 {
		b.st.DtoH += n
		check("copy from device", b.d.DtoH(dst, src, n))
	}
}

func (b *Backend) malloc(n int64) DevPtr {
	p, err := b.d.Malloc(max(n, 1))
	check(fmt.Sprintf("malloc %d bytes", n), err)
	b.st.Mallocs++
	return p
}

// ints uploads s into the arena, once per forward for the same slice.
func (b *Backend) ints(s []int32) DevPtr {
	if len(s) == 0 {
		return 0
	}
	if u, ok := b.up32[&s[0]]; ok && u.n == len(s) {
		return u.p
	}
	p := b.ar.alloc(int64(4 * len(s)))
	b.htod(p, unsafe.Pointer(&s[0]), int64(4*len(s)))
	b.up32[&s[0]] = upload{len(s), p}
	return p
}

// rowIDs uploads row indexes as int32.
func (b *Backend) rowIDs(rows []int) DevPtr {
	s := make([]int32, len(rows))
	for i, r := range rows {
		s[i] = int32(r)
	}
	p := b.ar.alloc(int64(4 * len(s)))
	b.htod(p, unsafe.Pointer(&s[0]), int64(4*len(s)))
	return p
}

type tensor struct {
	rows, cols int
	p          DevPtr
}

func (t *tensor) Rows() int { return t.rows }
func (t *tensor) Cols() int { return t.cols }
func (t *tensor) n() int    { return t.rows * t.cols }

// row is the address of row r.
func (t *tensor) row(r int) DevPtr { return t.p + DevPtr(4*r*t.cols) }

func ten(t backend.Tensor) *tensor { return t.(*tensor) }

type weight struct {
	name     string
	typ      quant.Type
	shape    []int64
	p        DevPtr // the stored bytes
	bytes    int64
	rowBytes int64
	rows     int
	f32      DevPtr // F32 values: an F32 tensor's p, or a 1-D weight decoded (norms, biases)
}

func (w *weight) Name() string     { return w.name }
func (w *weight) Type() quant.Type { return w.typ }
func (w *weight) Shape() []int64   { return w.shape }

func wgt(w backend.Weight) *weight {
	if w == nil {
		return nil
	}
	return w.(*weight)
}

// Upload implements backend.Backend: the stored bytes go to the device once;
// a 1-D weight also as F32 (the kernels of norms and biases read floats).
func (b *Backend) Upload(name string, t quant.Type, shape []int64, data []byte) (backend.Weight, error) {
	if len(shape) == 0 {
		return nil, fmt.Errorf("cuda: tensor %s has no dimensions", name)
	}
	rb, err := quant.RowBytes(t, shape[0])
	if err != nil {
		return nil, fmt.Errorf("cuda: tensor %s: %w", name, err)
	}
	rows := int64(1)
	for _, d := range shape[1:] {
		rows *= d
	}
	if int64(len(data)) != rb*rows || len(data) == 0 {
		return nil, fmt.Errorf("cuda: tensor %s: %d bytes, want %d", name, len(data), rb*rows)
	}
	w := &weight{name: name, typ: t, shape: append([]int64(nil), shape...), bytes: int64(len(data)), rowBytes: rb, rows: int(rows)}
	var f []float32
	if t != quant.F32 && len(shape) == 1 {
		f = make([]float32, shape[0])
		if err := quant.Dequantize(t, data, f); err != nil {
			return nil, fmt.Errorf("cuda: tensor %s: %w", name, err)
		}
	}
	b.t.do(func() {
		if w.p, err = b.d.Malloc(w.bytes); err != nil {
			return
		}
		b.st.Mallocs++
		b.htod(w.p, unsafe.Pointer(&data[0]), w.bytes)
		switch {
		case t == quant.F32:
			w.f32 = w.p
		case f != nil:
			if w.f32, err = b.d.Malloc(4 * shape[0]); err != nil {
				b.d.Free(w.p)
				return
			}
			b.st.Mallocs++
			b.htod(w.f32, unsafe.Pointer(&f[0]), 4*shape[0])
		}
	})
	if err != nil {
		return nil, fmt.Errorf("cuda: tensor %s: %w", name, err)
	}
	return w, nil
}

// Reset implements backend.Backend: the arena rewinds.
func (b *Backend) Reset() {
	b.t.do(func() {
		b.st.Forwards++
		b.ar.reset()
		clear(b.up32)
		clear(b.plans)
		b.batch = nil
	})
}

// Alloc implements backend.Backend: from the arena.
func (b *Backend) Alloc(rows, cols int) backend.Tensor {
	t := &tensor{rows: rows, cols: cols}
	b.t.do(func() {
		t.p = b.ar.alloc(int64(4 * rows * cols))
		if b.poison {
			check("poison", b.d.Memset(t.p, 0xff, int64(4*rows*cols)))
		}
	})
	return t
}

// RMSNorm implements backend.Backend: one block per group.
func (b *Backend) RMSNorm(dst, x backend.Tensor, w backend.Weight, eps float32) {
	d, s, ww := ten(dst), ten(x), wgt(w)
	g := int(ww.shape[0])
	if len(ww.shape) != 1 || s.n()%g != 0 || d.n() != s.n() {
		panic(fmt.Sprintf("cuda: rmsnorm %s: x %dx%d, dst %dx%d", ww.name, s.rows, s.cols, d.rows, d.cols))
	}
	b.t.do(func() {
		b.st.WeightBytes += int64(4 * g) // the decoded F32 weight
		b.launch("rmsnorm_f32", dim(s.n()/g), block1D(g, 256), 0, ptr(d.p), ptr(s.p), ptr(ww.f32), i64(g), f64(eps))
	})
}

// Add implements backend.Backend.
func (b *Backend) Add(dst, x, y backend.Tensor) {
	d, p, q := ten(dst), ten(x), ten(y)
	b.t.do(func() {
		b.launch("add_f32", grid1D(d.n(), 256), dim(256), 0, ptr(d.p), ptr(p.p), ptr(q.p), i64(d.n()))
	})
}

// Softcap implements backend.Backend.
func (b *Backend) Softcap(x backend.Tensor, c float32) {
	t := ten(x)
	b.t.do(func() {
		b.launch("softcap_f32", grid1D(t.n(), 256), dim(256), 0, ptr(t.p), i64(t.n()), f64(c))
	})
}

// GLU implements backend.Backend.
func (b *Backend) GLU(dst, gate, up backend.Tensor, act backend.Act) {
	d, g, u := ten(dst), ten(gate), ten(up)
	k := map[backend.Act]string{backend.SiLU: "glu_silu_f32", backend.GELUTanh: "glu_gelu_tanh_f32", backend.SwiGLUOAI: "glu_swiglu_oai_f32"}[act]
	if k == "" {
		panic(fmt.Sprintf("cuda: unknown activation %d", act))
	}
	b.t.do(func() {
		b.launch(k, grid1D(g.n(), 256), dim(256), 0, ptr(d.p), ptr(g.p), ptr(u.p), i64(g.n()))
	})
}

// SigmoidGate implements backend.Backend: one block per row.
func (b *Backend) SigmoidGate(x, g backend.Tensor) {
	t, gt := ten(x), ten(g)
	b.t.do(func() {
		b.launch("sigmoid_gate_f32", dim(t.rows), block1D(t.cols, 256), 0, ptr(t.p), ptr(gt.p), i64(t.cols), i64(gt.cols))
	})
}

// Gather implements backend.Backend: one block per row.
func (b *Backend) Gather(dst, x backend.Tensor, rows []int) {
	d, s := ten(dst), ten(x)
	if len(rows) == 0 {
		return
	}
	b.t.do(func() {
		b.launch("gather_f32", dim(len(rows)), block1D(s.cols, 256), 0, ptr(d.p), ptr(s.p), ptr(b.rowIDs(rows)), i64(s.cols))
	})
}

// Argmax implements backend.Backend: one block per row; only the ids come back.
func (b *Backend) Argmax(x backend.Tensor, rows []int) []int32 {
	t := ten(x)
	ids := make([]int32, len(rows))
	if len(rows) == 0 {
		return ids
	}
	b.t.do(func() {
		out := b.ar.alloc(int64(4 * len(rows)))
		b.launch("argmax_f32", dim(len(rows)), block1D(t.cols, 1024), 0, ptr(out), ptr(t.p), ptr(b.rowIDs(rows)), i64(t.cols))
		b.dtoh(unsafe.Pointer(&ids[0]), out, int64(4*len(rows)))
	})
	return ids
}

// Read implements backend.Backend.
func (b *Backend) Read(x backend.Tensor, r int, dst []float32) {
	t := ten(x)
	n := min(len(dst), t.cols)
	if n == 0 {
		return
	}
	b.t.do(func() { b.dtoh(unsafe.Pointer(&dst[0]), t.row(r), int64(4*n)) })
}

var (
	_ backend.Backend       = (*Backend)(nil)
	_ backend.ExpertCounter = (*Backend)(nil)
)
