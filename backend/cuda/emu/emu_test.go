//go:build cudaemu

package emu

import (
	"math"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// dev copies x to new device memory, freed at the end of the test.
func dev[T any](t testing.TB, x []T) DevPtr {
	t.Helper()
	var z T
	p, err := Malloc(len(x) * int(sizeofT(z)))
	require.NoError(t, err)
	t.Cleanup(func() { Free(p) })
	HtoD(p, x)
	return p
}

func sizeofT[T any](z T) uintptr {
	switch any(z).(type) {
	case float32, int32, uint32:
		return 4
	case uint16:
		return 2
	default:
		return 8
	}
}

func back[T any](p DevPtr, n int) []T {
	out := make([]T, n)
	DtoH(out, p)
	return out
}

func TestKernelList(t *testing.T) {
	cc, err := os.ReadFile("kernels.cc")
	require.NoError(t, err)
	var cus []string
	err = filepath.WalkDir("../../../kernels", func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".cu") {
			cus = append(cus, p)
		}
		return err
	})
	require.NoError(t, err)
	require.NotEmpty(t, cus)
	var names []string
	for _, p := range cus {
		require.Contains(t, string(cc), `#include "`+filepath.ToSlash(p)+`"`, "kernels.cc must include every kernel source")
		src, err := os.ReadFile(p)
		require.NoError(t, err)
		require.NotRegexp(t, regexp.MustCompile(`extern\s+__shared__`), string(src), "%s: use SHARED_DYNAMIC(T, name)", p)
		for _, m := range regexp.MustCompile(`(?m)^extern "C" __global__ void (\w+)\(`).FindAllSubmatch(src, -1) {
			names = append(names, string(m[1]))
			require.Contains(t, string(src), "\nREGISTER_KERNEL("+string(m[1])+")", "%s: every kernel is registered", p)
		}
	}
	sort.Strings(names)
	require.Equal(t, names, Kernels(), "the emulator's registry holds every kernel of the sources")
}

func TestBlockSum(t *testing.T) {
	for _, bs := range []int{32, 96, 256, 1024} {
		const blocks = 7
		in := make([]float32, blocks*bs)
		want := make([]float32, blocks)
		for i := range in {
			in[i] = float32(i%13) - 6 // small integers: every order of sums is exact
			want[i/bs] += in[i]
		}
		out := dev(t, make([]float32, blocks))
		require.NoError(t, Launch("emu_block_sum", Dim3{blocks, 1, 1}, Dim3{uint32(bs), 1, 1}, 0, Ptr(out), Ptr(dev(t, in))))
		require.Equal(t, want, back[float32](out, blocks), "block size %d", bs)
	}
}

// Launches from several OS threads at once: the emulator's state is per
// thread (what a pool of block workers will rely on).
func TestConcurrentLaunches(t *testing.T) {
	const workers, bs, blocks = 4, 128, 16
	in := make([]float32, bs*blocks)
	want := make([]float32, blocks)
	for i := range in {
		in[i] = float32(i % 5)
		want[i/bs] += in[i]
	}
	pin := dev(t, in)
	outs := make([]DevPtr, workers)
	for w := range outs {
		outs[w] = dev(t, make([]float32, blocks))
	}
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		go func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			var err error
			for i := 0; i < 10 && err == nil; i++ {
				err = Launch("emu_block_sum", Dim3{blocks, 1, 1}, Dim3{bs, 1, 1}, 0, Ptr(outs[w]), Ptr(pin))
			}
			errs <- err
		}()
	}
	for w := 0; w < workers; w++ {
		require.NoError(t, <-errs)
	}
	for w := range outs {
		require.Equal(t, want, back[float32](outs[w], blocks), "worker %d", w)
	}
}

func TestTranspose(t *testing.T) {
	for _, n := range []int{32, 70} {
		in := make([]float32, n*n)
		for i := range in {
			in[i] = float32(i)
		}
		out := dev(t, make([]float32, n*n))
		g := uint32((n + 31) / 32)
		require.NoError(t, Launch("emu_transpose", Dim3{g, g, 1}, Dim3{32, 8, 1}, 0, Ptr(out), Ptr(dev(t, in)), I64(int64(n))))
		got := back[float32](out, n*n)
		for i := 0; i < n; i++ {
			for j := 0; j < n; j++ {
				require.Equal(t, in[j*n+i], got[i*n+j], "n %d (%d,%d)", n, i, j)
			}
		}
	}
}

func TestShuffles(t *testing.T) {
	const threads = 64
	out := dev(t, make([]int64, threads*8))
	require.NoError(t, Launch("emu_shuffles", Dim3{1, 1, 1}, Dim3{threads, 1, 1}, 0, Ptr(out)))
	got := back[int64](out, threads*8)
	for tid := 0; tid < threads; tid++ {
		lane, w := tid&31, tid&^31
		v := func(l int) int64 { return int64(100 * (w + l)) }
		big := func(l int) int64 { return int64(w+l)<<40 + int64(w+l) }
		want := make([]int64, 8)
		if lane < 16 {
			want[0] = v(lane) // down 3 in a segment of 16, from the lane 3 above unless past it
			if lane+3 < 16 {
				want[0] = v(lane + 3)
			}
			want[1] = v(5)
		} else {
			want[0] = v(lane ^ 6) // stays in the upper segment
			want[1] = v(lane)
			if lane-2 >= 16 {
				want[1] = v(lane - 2)
			}
		}
		want[2] = big(lane ^ 1)
		want[3] = big(lane)
		if lane >= 4 {
			want[3] = big(lane - 4)
		}
		want[4] = big(lane)
		if lane%8+4 < 8 {
			want[4] = big(lane + 4)
		}
		want[5] = int64(2*(w+31-lane) + 1)
		want[6] = v(lane ^ 16)
		want[7] = v((lane + 40) % 32)
		require.Equal(t, want, got[tid*8:tid*8+8], "thread %d", tid)
	}
}

func TestVotes(t *testing.T) {
	const threads = 96
	out := dev(t, make([]int64, threads*6))
	require.NoError(t, Launch("emu_votes", Dim3{1, 1, 1}, Dim3{threads, 1, 1}, 0, Ptr(out)))
	got := back[int64](out, threads*6)
	var every3 int64
	for l := 0; l < 32; l += 3 {
		every3 |= 1 << l
	}
	for tid := 0; tid < threads; tid++ {
		lane := tid & 31
		want := []int64{every3, 0, 0, 0, 20, 3}
		if tid/32 == 1 {
			want[1] = 1 // thread 37 is in the second warp
		}
		if lane < 16 {
			want[3] = 0xaaaa
		} else {
			want[3] = 0xffe00000
		}
		require.Equal(t, want, got[tid*6:tid*6+6], "thread %d", tid)
	}
}

func TestWarpReduce(t *testing.T) {
	const threads = 64
	out := dev(t, make([]int64, threads*6))
	require.NoError(t, Launch("emu_warp_reduce", Dim3{1, 1, 1}, Dim3{threads, 1, 1}, 0, Ptr(out)))
	got := back[int64](out, threads*6)
	var mod3 [3]int64
	for l := 0; l < 32; l++ {
		mod3[l%3] |= 1 << l
	}
	xorHigh := int64(0)
	for l := 16; l < 32; l++ {
		xorHigh ^= int64(l)
	}
	for tid := 0; tid < threads; tid++ {
		lane := tid & 31
		want := []int64{31 * 32 / 2, -7, 28, 0xffff, mod3[lane%3], 0xffff + 1<<32}
		if lane >= 16 {
			want[3], want[5] = xorHigh, 0 // distinct values: no match
		}
		require.Equal(t, want, got[tid*6:tid*6+6], "thread %d", tid)
	}
}

func TestDynamicShared(t *testing.T) {
	const bs, blocks = 128, 3
	in := make([]float32, bs*blocks)
	for i := range in {
		in[i] = float32(i)
	}
	out := dev(t, make([]float32, bs*blocks+blocks))
	require.NoError(t, Launch("emu_dynamic_shared", Dim3{blocks, 1, 1}, Dim3{bs, 1, 1}, (bs+1)*4, Ptr(out), Ptr(dev(t, in)), I64(bs*blocks)))
	got := back[float32](out, bs*blocks+blocks)
	for i := 0; i < bs*blocks; i++ {
		require.Equal(t, in[i/bs*bs+bs-1-i%bs], got[i], "element %d", i)
	}
	for b := 0; b < blocks; b++ {
		require.Equal(t, uint32(0xffffffff), math.Float32bits(got[bs*blocks+b]), "unwritten shared memory is poisoned")
	}

	// Over 48 KiB needs the attribute, as on the GPU.
	err := Launch("emu_dynamic_shared", Dim3{1, 1, 1}, Dim3{bs, 1, 1}, 64<<10, Ptr(out), Ptr(dev(t, in)), I64(bs))
	var e *Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, 701, e.Code)
	require.Contains(t, e.Msg, "limit is 49152")
	require.NoError(t, SetMaxDynamicShared("emu_dynamic_shared", 64<<10))
	require.NoError(t, Launch("emu_dynamic_shared", Dim3{1, 1, 1}, Dim3{bs, 1, 1}, 64<<10, Ptr(out), Ptr(dev(t, in)), I64(bs)))
	require.Error(t, SetMaxDynamicShared("emu_dynamic_shared", 300<<10))
	require.Error(t, SetMaxDynamicShared("no_such_kernel", 1024))
}

func TestAtomics(t *testing.T) {
	const bs, blocks = 64, 5
	counter, fsum, mx, cas := dev(t, []int32{0}), dev(t, []float32{0}), dev(t, []uint32{0}), dev(t, []uint64{0})
	require.NoError(t, Launch("emu_atomics", Dim3{blocks, 1, 1}, Dim3{bs, 1, 1}, 0, Ptr(counter), Ptr(fsum), Ptr(mx), Ptr(cas)))
	var wantMax uint32
	var wantSum uint64
	for id := uint32(0); id < bs*blocks; id++ {
		wantMax = max(wantMax, id*7919%10007)
		wantSum += uint64(id)
	}
	require.Equal(t, []int32{bs * blocks}, back[int32](counter, 1))
	require.Equal(t, []float32{bs * blocks / 2}, back[float32](fsum, 1))
	require.Equal(t, []uint32{wantMax}, back[uint32](mx, 1))
	require.Equal(t, []uint64{wantSum}, back[uint64](cas, 1))
}

func TestLaunchErrors(t *testing.T) {
	for _, c := range []struct {
		name        string
		grid, block Dim3
		code        int
		msg         string
	}{
		{"no_such_kernel", Dim3{1, 1, 1}, Dim3{32, 1, 1}, 500, "no kernel named no_such_kernel"},
		{"emu_votes", Dim3{1, 1, 1}, Dim3{2048, 1, 1}, 1, "invalid launch grid (1,1,1) block (2048,1,1)"},
		{"emu_votes", Dim3{0, 1, 1}, Dim3{32, 1, 1}, 1, "invalid launch grid"},
		{"emu_votes", Dim3{1, 1, 1}, Dim3{1, 1, 65}, 1, "invalid launch grid"},
	} {
		out := dev(t, make([]int64, 2048*6))
		err := Launch(c.name, c.grid, c.block, 0, Ptr(out))
		var e *Error
		require.ErrorAs(t, err, &e, c.name)
		require.Equal(t, c.code, e.Code)
		require.Contains(t, e.Msg, c.msg)
	}
}

func TestDeadlock(t *testing.T) {
	for mode, want := range [][]string{
		{"deadlock in kernel emu_deadlock, block (0,0,0) of grid (2,1,1), 128 threads",
			"64 wait at __syncthreads at kernels/test/emu_selftest.cu:", ": threads 0-63, the first thread (0,0,0)",
			"64 exited: threads 64-127"},
		{"deadlock in kernel emu_deadlock, block (0,0,0)",
			"31 wait at __shfl_sync (mask 0xffffffff) at kernels/test/emu_selftest.cu:", "threads 0-4,6-31",
			"97 exited: threads 5,32-127"},
		{"block (0,0,0) of grid (2,1,1), 128 threads, thread (16,0,0): __shfl_sync at kernels/test/emu_selftest.cu:",
			"lane 16 is not in its own mask 0x0000ffff"},
		{"divergent barriers: thread 0 waits at __syncthreads at kernels/test/emu_selftest.cu:"},
		{"thread (3,0,0): __trap() called"},
		{"16 wait at __shfl_xor_sync (mask 0xffffffff) at kernels/test/emu_selftest.cu:", "threads 16-31, the first thread (16,0,0)",
			"112 exited: threads 0-15,32-127"},
	} {
		err := Launch("emu_deadlock", Dim3{2, 1, 1}, Dim3{128, 1, 1}, 0, I64(int64(mode)))
		var e *Error
		require.ErrorAs(t, err, &e, "mode %d", mode)
		require.Equal(t, 719, e.Code)
		for _, w := range want {
			require.Contains(t, e.Msg, w, "mode %d", mode)
		}
		// The next launch on the same thread works again.
		out := dev(t, make([]float32, 1))
		require.NoError(t, Launch("emu_block_sum", Dim3{1, 1, 1}, Dim3{32, 1, 1}, 0, Ptr(out), Ptr(dev(t, make([]float32, 32)))))
	}
	require.NoError(t, Launch("emu_deadlock", Dim3{2, 1, 1}, Dim3{128, 1, 1}, 0, I64(9)))
}

func TestReverseOrder(t *testing.T) {
	const n = 64
	want := make([]float32, n) // what a barrier between the write and the read would give
	for i := range want {
		want[i] = float32((i+1)%n) + 1
	}
	got := map[bool][]float32{}
	for _, rev := range []bool{false, true} {
		SetReverseOrder(rev)
		out := dev(t, make([]float32, n))
		require.NoError(t, Launch("emu_race", Dim3{1, 1, 1}, Dim3{n, 1, 1}, 0, Ptr(out)))
		got[rev] = back[float32](out, n)
	}
	SetReverseOrder(false)
	// In thread order each thread reads before its neighbour wrote, but the last;
	// reversed, only the last one does.
	require.Equal(t, want[n-1], got[false][n-1])
	require.Equal(t, make([]float32, n-1), got[false][:n-1])
	require.Equal(t, want[:n-1], got[true][:n-1])
	require.Equal(t, float32(0), got[true][n-1])
}

// With CUDAEMU_ABORT=1 a failed launch prints its report and aborts the
// process (for a debugger): run this test binary again in that mode.
func TestAbortMode(t *testing.T) {
	if os.Getenv("EMU_ABORT_CHILD") == "1" {
		_ = Launch("emu_deadlock", Dim3{1, 1, 1}, Dim3{128, 1, 1}, 0, I64(0))
		t.Fatal("the launch returned")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestAbortMode$", "-test.count=1")
	cmd.Env = append(os.Environ(), "EMU_ABORT_CHILD=1", "CUDAEMU_ABORT=1")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, "%s", out)
	require.Contains(t, string(out), "cudaemu: deadlock in kernel emu_deadlock, block (0,0,0) of grid (1,1,1), 128 threads")
	require.Contains(t, string(out), "64 wait at __syncthreads at kernels/test/emu_selftest.cu:")
	require.NotContains(t, string(out), "the launch returned")
}

// convert runs a conversion kernel over in.
func convert[I, O any](t *testing.T, kernel string, in []I) []O {
	t.Helper()
	out := dev(t, make([]O, len(in)))
	require.NoError(t, Launch(kernel, Dim3{16, 1, 1}, Dim3{256, 1, 1}, 0, Ptr(out), Ptr(dev(t, in)), I64(int64(len(in)))))
	return back[O](out, len(in))
}

// halfValue is the exact value of half bits h (an independent decoding).
func halfValue(h uint16) float64 {
	e, m := int(h>>10&31), float64(h&1023)
	v := math.Ldexp(m, -24)
	if e > 0 {
		v = math.Ldexp(1024+m, e-25)
	}
	if h&0x8000 != 0 {
		v = -v
	}
	return v
}

// floatsNearHalves are the float32 values where rounding to half is hard:
// every finite half, the midpoints between neighbours (ties), one float ulp
// either side of them, the overflow boundary, specials and random bits.
func floatsNearHalves() []float32 {
	var fs []float32
	add := func(v float64) {
		f := float32(v)
		fs = append(fs, f, -f, math.Nextafter32(f, 0), math.Nextafter32(f, float32(math.Inf(1))))
	}
	for h := uint16(0); h < 0x7c00; h++ {
		lo, hi := halfValue(h), math.Ldexp(1, 16) // past 65504 the next step is 65536
		if h+1 < 0x7c00 {
			hi = halfValue(h + 1)
		}
		add(lo)
		add((lo + hi) / 2) // exact in float32: 12 significant bits
	}
	fs = append(fs, float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), math.Float32frombits(0x7f800001),
		math.Float32frombits(0xffc00123), math.MaxFloat32, -math.MaxFloat32, math.SmallestNonzeroFloat32, 65520, 65519.996)
	r := rand.New(rand.NewSource(1))
	for i := 0; i < 100000; i++ {
		fs = append(fs, math.Float32frombits(r.Uint32()))
	}
	return fs
}

func isNaN16(h uint16) bool { return h&0x7c00 == 0x7c00 && h&0x3ff != 0 }

func TestHalfConversions(t *testing.T) {
	fs := floatsNearHalves()
	got, want := convert[float32, uint16](t, "emu_f2h", fs), HostFloat16(fs)
	for i, f := range fs {
		if f != f {
			require.True(t, isNaN16(got[i]), "NaN %#x -> %#04x", math.Float32bits(f), got[i])
			continue
		}
		require.Equal(t, want[i], got[i], "float %g (%#08x)", f, math.Float32bits(f))
	}
	all := make([]uint16, 1<<16)
	for i := range all {
		all[i] = uint16(i)
	}
	gotF, wantF := convert[uint16, float32](t, "emu_h2f", all), HostFloat16ToFloat32(all)
	for i := range all {
		require.Equal(t, math.Float32bits(wantF[i]), math.Float32bits(gotF[i]), "half %#04x", i)
		if all[i]&0x7c00 != 0x7c00 {
			require.Equal(t, halfValue(all[i]), float64(gotF[i]), "half %#04x", i)
		}
	}
}

func TestHalfArithmetic(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	const n = 50000
	a, b := make([]uint16, n), make([]uint16, n)
	for i := range a {
		a[i], b[i] = uint16(r.Uint32()), uint16(r.Uint32())
		if i%4 == 0 { // nearby magnitudes: cancellation and exact ties in + and -
			b[i] = a[i] ^ uint16(r.Intn(8))
		}
	}
	out := dev(t, make([]uint16, 4*n))
	require.NoError(t, Launch("emu_half_ops", Dim3{8, 1, 1}, Dim3{256, 1, 1}, 0, Ptr(out), Ptr(dev(t, a)), Ptr(dev(t, b)), I64(n)))
	got, want := back[uint16](out, 4*n), HostHalfOps(a, b)
	for i := range got {
		if isNaN16(want[i]) {
			require.True(t, isNaN16(got[i]), "op %d of %#04x, %#04x", i%4, a[i/4], b[i/4])
			continue
		}
		require.Equal(t, want[i], got[i], "op %d of %#04x, %#04x", i%4, a[i/4], b[i/4])
	}
}

// bf16Ref rounds f to bfloat16 by distance to the two neighbours (not by bit tricks).
func bf16Ref(f float32) uint16 {
	if f != f {
		return 0x7fff
	}
	lo := uint16(math.Float32bits(f) >> 16)
	hi := lo + 1
	if lo&0x7fff == 0x7f80 { // infinity
		return lo
	}
	v := float64(f)
	dl := math.Abs(v - float64(math.Float32frombits(uint32(lo)<<16)))
	dh := math.Abs(float64(math.Float32frombits(uint32(hi)<<16)) - v)
	if hi&0x7fff == 0x7f80 { // the step to infinity: infinity when at or past the midpoint to 2^128
		dh = math.Abs(math.Ldexp(math.Copysign(1, v), 128) - v)
	}
	if dh < dl || (dh == dl && lo&1 == 1) {
		return hi
	}
	return lo
}

func TestBFloat16Conversions(t *testing.T) {
	var fs []float32
	r := rand.New(rand.NewSource(3))
	for top := uint32(0); top < 1<<16; top++ {
		for _, low := range []uint32{0, 1, 0x7fff, 0x8000, 0x8001, 0xffff, r.Uint32() & 0xffff} {
			fs = append(fs, math.Float32frombits(top<<16|low))
		}
	}
	got := convert[float32, uint16](t, "emu_f2bf", fs)
	for i, f := range fs {
		if f != f {
			require.Equal(t, uint16(0x7fff), got[i], "NaN %#08x gives the canonical NaN", math.Float32bits(f))
			continue
		}
		require.Equal(t, bf16Ref(f), got[i], "float %g (%#08x)", f, math.Float32bits(f))
	}
	all := make([]uint16, 1<<16)
	for i := range all {
		all[i] = uint16(i)
	}
	gotF := convert[uint16, float32](t, "emu_bf2f", all)
	for i := range all {
		require.Equal(t, uint32(i)<<16, math.Float32bits(gotF[i]))
	}
}

// TestLaunchSpeed reports the cost of the emulation: a block reduction
// (10 shuffles and 2 block barriers per thread) over 64 blocks × 256 threads.
func TestLaunchSpeed(t *testing.T) {
	in := dev(t, make([]float32, 64*256))
	out := dev(t, make([]float32, 64))
	run := func() {
		require.NoError(t, Launch("emu_block_sum", Dim3{64, 1, 1}, Dim3{256, 1, 1}, 0, Ptr(out), Ptr(in)))
	}
	run()
	const n = 10
	start := time.Now()
	for i := 0; i < n; i++ {
		run()
	}
	t.Logf("emu_block_sum 64 blocks x 256 threads: %.2f ms per launch (wall clock)", float64(time.Since(start).Microseconds())/1e3/n)
}

func BenchmarkBlockSum64x256(b *testing.B) {
	in := dev(b, make([]float32, 64*256))
	out := dev(b, make([]float32, 64))
	for b.Loop() {
		if err := Launch("emu_block_sum", Dim3{64, 1, 1}, Dim3{256, 1, 1}, 0, Ptr(out), Ptr(in)); err != nil {
			b.Fatal(err)
		}
	}
}

// TestMMA checks the emulated mma.sync m16n8k16 (f16 and bf16 inputs,
// float accumulators) against a plain product, through the fragment layout
// of ptx.h. Quarter-integer inputs make every product and sum exact.
func TestMMA(t *testing.T) {
	r := rand.New(rand.NewSource(8))
	for _, bf := range []bool{false, true} {
		enc := func(v float32) uint16 { return HostFloat16([]float32{v})[0] }
		if bf {
			enc = func(v float32) uint16 { return uint16(math.Float32bits(v) >> 16) } // exact for these values
		}
		A, B, C := make([]float32, 16*16), make([]float32, 16*8), make([]float32, 16*8)
		a, b := make([]uint16, len(A)), make([]uint16, len(B))
		for i := range A {
			A[i] = float32(r.Intn(33)-16) / 4
			a[i] = enc(A[i])
		}
		for i := range B {
			B[i] = float32(r.Intn(33)-16) / 4
			b[i] = enc(B[i])
		}
		for i := range C {
			C[i] = float32(r.Intn(201) - 100)
		}
		want := make([]float32, 16*8)
		for m := 0; m < 16; m++ {
			for n := 0; n < 8; n++ {
				s := C[m*8+n]
				for k := 0; k < 16; k++ {
					s += A[m*16+k] * B[k*8+n]
				}
				want[m*8+n] = s
			}
		}
		out := dev(t, make([]float32, 16*8))
		bfArg := int64(0)
		if bf {
			bfArg = 1
		}
		require.NoError(t, Launch("emu_mma_m16n8k16", Dim3{1, 1, 1}, Dim3{32, 1, 1}, 0, Ptr(out), Ptr(dev(t, a)), Ptr(dev(t, b)), Ptr(dev(t, C)), I64(bfArg)))
		require.Equal(t, want, back[float32](out, 16*8), "bf16 %v", bf)
	}
	// A warp that is not whole cannot run it.
	err := Launch("emu_mma_m16n8k16", Dim3{1, 1, 1}, Dim3{16, 1, 1}, 0, Ptr(dev(t, make([]float32, 128))),
		Ptr(dev(t, make([]uint16, 256))), Ptr(dev(t, make([]uint16, 128))), Ptr(dev(t, make([]float32, 128))), I64(0))
	require.ErrorContains(t, err, "16 wait at mma.sync.m16n8k16.f16 (mask 0xffffffff) at kernels/test/emu_selftest.cu:")
}
