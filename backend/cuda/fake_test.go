package cuda

import (
	"errors"
	"sync"
	"syscall"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"

	"github.com/tscale/engine/backend"
	"github.com/tscale/engine/quant"
)

// fakeDriver is a Driver with no device: memory is accounted, not backed;
// launches are recorded. It checks that every call comes from one OS thread.
type fakeDriver struct {
	mu       sync.Mutex
	next     DevPtr
	live     map[DevPtr]int64
	launches []string
	tids     map[int]bool
	fail     string // a kernel whose launch fails
}

func newFake() *fakeDriver {
	return &fakeDriver{next: 1 << 20, live: map[DevPtr]int64{}, tids: map[int]bool{}}
}

func (f *fakeDriver) call() {
	f.mu.Lock()
	f.tids[syscall.Gettid()] = true
	f.mu.Unlock()
}

func (f *fakeDriver) Name() string { f.call(); return "fake" }
func (f *fakeDriver) Malloc(n int64) (DevPtr, error) {
	f.call()
	p := f.next
	f.next += DevPtr((n + 255) / 256 * 256)
	f.live[p] = n
	return p, nil
}
func (f *fakeDriver) Free(p DevPtr)                            { f.call(); delete(f.live, p) }
func (f *fakeDriver) HtoD(DevPtr, unsafe.Pointer, int64) error { f.call(); return nil }
func (f *fakeDriver) DtoH(unsafe.Pointer, DevPtr, int64) error { f.call(); return nil }
func (f *fakeDriver) DtoD(DevPtr, DevPtr, int64) error         { f.call(); return nil }
func (f *fakeDriver) Memset(DevPtr, byte, int64) error         { f.call(); return nil }
func (f *fakeDriver) Sync() error                              { f.call(); return nil }
func (f *fakeDriver) MemInfo() (int64, int64)                  { f.call(); return 1 << 30, 1 << 30 }
func (f *fakeDriver) Close() error                             { f.call(); return nil }
func (f *fakeDriver) Launch(name string, _, _ Dim3, _ uint32, _ ...uint64) error {
	f.call()
	f.launches = append(f.launches, name)
	if name == f.fail {
		return errors.New("CUDA_ERROR_LAUNCH_FAILED (719)")
	}
	return nil
}

// rows1 is the first row of t.
func (t *tensor) rows1() *tensor { return &tensor{rows: 1, cols: t.cols, p: t.p} }

func fakeBackend(t *testing.T) (*Backend, *fakeDriver) {
	t.Helper()
	f := newFake()
	b, err := New(func() (Driver, error) { return f, nil })
	require.NoError(t, err)
	t.Cleanup(func() { b.Close() })
	return b, f
}

// TestLaunchesAndBytes: each op's kernels, in order, and the bytes read
// that bench reports, counted from shapes.
func TestLaunchesAndBytes(t *testing.T) {
	b, f := fakeBackend(t)
	w, err := b.Upload("w", quant.Q4_0, []int64{64, 10}, make([]byte, 10*2*18))
	require.NoError(t, err)
	norm, err := b.Upload("n", quant.F16, []int64{64}, make([]byte, 128))
	require.NoError(t, err)
	kv, err := b.NewKV(backend.KVSpec{Layers: 2, KVDim: 32, Blocks: 4, BlockSize: 8, Type: quant.F16})
	require.NoError(t, err)
	s0 := b.Stats()
	require.Equal(t, int64(5), s0.Mallocs, "two weights, the norm decoded, K and V")

	b.Reset()
	x, y := b.Alloc(1, 64), b.Alloc(1, 10)
	b.Embed(x, w, []int32{3}, 1)
	b.RMSNorm(x, x, norm, 1e-5)
	b.MatMul(y, x, w, nil)
	b.Argmax(y, []int{0})
	q, k := b.Alloc(2, 64), b.Alloc(2, 32)
	bt := &backend.Batch{Tokens: []int32{1, 2}, Pos: []int32{0, 9}, Seq: []int32{0, 0}, Blocks: [][]int32{{1, 2}}}
	b.RoPE(q, 16, bt.Pos, backend.RoPE{Dims: 16, Base: 1e4, FreqScale: 1})
	b.Attention(q, q, k, k, kv, bt, backend.Attn{Layer: 1, Heads: 4, KVHeads: 2, HeadDim: 16, Scale: 0.25})
	kv.CopyBlock(3, 2)
	// One token of a sequence: the plain kernel.
	one := &backend.Batch{Tokens: []int32{3}, Pos: []int32{10}, Seq: []int32{0}, Blocks: [][]int32{{1, 2}}}
	b.Attention(q.(*tensor).rows1(), q.(*tensor).rows1(), k.(*tensor).rows1(), k.(*tensor).rows1(), kv, one,
		backend.Attn{Layer: 1, Heads: 4, KVHeads: 2, HeadDim: 16, Scale: 0.25})
	require.Equal(t, []string{"embed_q4_0", "rmsnorm_f32", "quantize_q8_0", "matvec_q4_0", "argmax_f32", "rope_f32",
		"kv_write_f16", "attention_cascade_f16", "attention_cascade_f16", "attention_sum_f32", "copy_block_f16",
		"kv_write_f16", "attention_f16_g2"}, f.launches, "two tokens of a sequence: a prefill chunk (cascade.go)")
	s := b.Stats()
	require.Equal(t, int64(13), s.Launches)
	require.Equal(t, int64(1), s.Forwards)
	require.Equal(t, int64(36+4*64+360), s.WeightBytes-s0.WeightBytes, "an embedding row, the norm as F32 and the matrix")
	require.Equal(t, int64((10+11)*32*2*2), s.KVBytes, "positions 0..9 once for the chunk, then 0..10, of K and V in F16")
	require.Len(t, f.tids, 1, "OS threads that called the driver")
}

// TestLaunchFailure: a failed launch panics in the caller's goroutine with
// the kernel's name and the driver's error, and the backend stays usable.
func TestLaunchFailure(t *testing.T) {
	b, f := fakeBackend(t)
	f.fail = "add_f32"
	x := b.Alloc(2, 8)
	require.PanicsWithValue(t, "cuda: launch add_f32: CUDA_ERROR_LAUNCH_FAILED (719)", func() { b.Add(x, x, x) })
	b.Softcap(x, 2)
	require.Equal(t, []string{"add_f32", "softcap_f32"}, f.launches)
	// Callers on other goroutines (other OS threads) still reach the
	// driver from its one thread.
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Go(func() { b.Softcap(x, 2) })
	}
	wg.Wait()
	require.Len(t, f.launches, 6)
	require.Len(t, f.tids, 1, "OS threads that called the driver")
}

// TestArenaReuse: the arena grows within a forward, then keeps one chunk
// of the total: later forwards of the same size allocate nothing.
func TestArenaReuse(t *testing.T) {
	b, f := fakeBackend(t)
	for i := 0; i < 2; i++ {
		b.Reset()
		for j := 0; j < 10; j++ {
			b.Alloc(256, 1024) // 1 MiB each
		}
	}
	m := b.Stats().Mallocs
	require.Len(t, f.live, 1, "one chunk after a reset")
	for i := 0; i < 5; i++ {
		b.Reset()
		for j := 0; j < 10; j++ {
			b.Alloc(256, 1024)
		}
	}
	require.Equal(t, m, b.Stats().Mallocs)
	require.NoError(t, b.Close())
	require.Empty(t, f.live, "Close frees the arena")
	require.NoError(t, b.Close(), "a second Close")
	require.PanicsWithValue(t, "cuda: backend used after Close", func() { b.Alloc(1, 1) })
}

func TestBadShapes(t *testing.T) {
	b, _ := fakeBackend(t)
	_, err := b.Upload("w", quant.Q4_0, []int64{48, 2}, make([]byte, 36))
	require.ErrorContains(t, err, "cuda: tensor w:")
	_, err = b.NewKV(backend.KVSpec{Layers: 1, KVDim: 8, Blocks: 2, BlockSize: 4, Type: quant.F32})
	require.EqualError(t, err, "cuda: KV cache type F32 not supported (F16)")
	w, err := b.Upload("w", quant.F32, []int64{8, 3}, make([]byte, 96))
	require.NoError(t, err)
	require.Panics(t, func() { b.MatMul(b.Alloc(1, 4), b.Alloc(1, 8), w, nil) })
}
