//go:build cuda

package cuda

import (
	"math"
	"math/rand"
	"runtime"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// The real driver's own checks. These run only on a machine with an NVIDIA
// GPU (gpu/run.sh): elsewhere a cuda-tagged binary stops in cuprobe's init.
// The ops against the CPU backend are ops_test.go's, on this driver too.

// onDriver runs f with a fresh real driver on one locked OS thread, as the
// backend's thread does.
func onDriver(t *testing.T, f func(d Driver)) {
	t.Helper()
	done := make(chan struct{})
	var err error
	go func() {
		defer close(done)
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		var d Driver
		if d, err = newCUDriver(); err != nil {
			return
		}
		defer func() { require.NoError(t, d.Close()) }()
		f(d)
	}()
	<-done
	require.NoError(t, err)
}

func TestCUDriverMemory(t *testing.T) {
	onDriver(t, func(d Driver) {
		require.Contains(t, d.Name(), "cuda: ")
		const n = 1<<20 + 3
		src := make([]byte, n)
		rand.New(rand.NewSource(1)).Read(src)
		a, err := d.Malloc(n)
		require.NoError(t, err)
		b, err := d.Malloc(n)
		require.NoError(t, err)
		require.Zero(t, a%256, "alignment")
		require.Zero(t, b%256, "alignment")
		require.NoError(t, d.HtoD(a, unsafe.Pointer(&src[0]), n))
		require.NoError(t, d.Memset(b, 0xab, n))
		require.NoError(t, d.DtoD(b+100, a+7, 1000))
		got := make([]byte, n)
		require.NoError(t, d.DtoH(unsafe.Pointer(&got[0]), b, n))
		for i := range got {
			want := byte(0xab)
			if i >= 100 && i < 1100 {
				want = src[i-100+7]
			}
			if got[i] != want {
				t.Fatalf("byte %d: got %#x, want %#x", i, got[i], want)
			}
		}
		d.Free(a)
		d.Free(b)
		free, total := d.MemInfo()
		require.Positive(t, total)
		require.Positive(t, free)
		require.LessOrEqual(t, free, total)
	})
}

// TestCUDriverLaunch: add_f32 over an odd length into a NaN-poisoned
// output equals Go's float32 sums exactly; every parameter is 8 bytes.
func TestCUDriverLaunch(t *testing.T) {
	onDriver(t, func(d Driver) {
		const n = 100_003
		r := rand.New(rand.NewSource(2))
		x, y := make([]float32, n), make([]float32, n)
		for i := range x {
			x[i], y[i] = float32(r.NormFloat64()), float32(r.NormFloat64())
		}
		pa, err := d.Malloc(4 * n)
		require.NoError(t, err)
		pb, err := d.Malloc(4 * n)
		require.NoError(t, err)
		pd, err := d.Malloc(4 * n)
		require.NoError(t, err)
		require.NoError(t, d.HtoD(pa, unsafe.Pointer(&x[0]), 4*n))
		require.NoError(t, d.HtoD(pb, unsafe.Pointer(&y[0]), 4*n))
		require.NoError(t, d.Memset(pd, 0xff, 4*n))
		require.NoError(t, d.Launch("add_f32", Dim3{(n + 255) / 256, 1, 1}, Dim3{256, 1, 1}, 0,
			uint64(pd), uint64(pa), uint64(pb), uint64(n)))
		require.NoError(t, d.Sync())
		got := make([]float32, n)
		require.NoError(t, d.DtoH(unsafe.Pointer(&got[0]), pd, 4*n))
		for i := range got {
			if math.IsNaN(float64(got[i])) || got[i] != x[i]+y[i] {
				t.Fatalf("element %d: got %v, want %v", i, got[i], x[i]+y[i])
			}
		}
		// The function cache: a second launch of the same kernel.
		require.NoError(t, d.Launch("add_f32", Dim3{1, 1, 1}, Dim3{32, 1, 1}, 0, uint64(pd), uint64(pa), uint64(pb), 1))
		require.NoError(t, d.Sync())
		for _, p := range []DevPtr{pa, pb, pd} {
			d.Free(p)
		}
	})
}

func TestCUDriverUnknownKernel(t *testing.T) {
	onDriver(t, func(d Driver) {
		err := d.Launch("no_such_kernel", Dim3{1, 1, 1}, Dim3{1, 1, 1}, 0)
		require.ErrorContains(t, err, "no_such_kernel")
		require.NoError(t, d.Sync(), "a failed lookup leaves the context usable")
	})
}
