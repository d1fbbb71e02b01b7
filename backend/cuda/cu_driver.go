//go:build cuda

package cuda

// #include <cuda.h>
import "C"

import (
	"embed"
	"errors"
	"fmt"
	"runtime"
	"unsafe"

	"gorgonia.org/cu"

	"github.com/tscale/engine/backend/cuda/cuprobe"
)

// The kernels: make cuda copies CMake's build/cuda/engine_kernels.fatbin
// (every kernel of kernels/, sm_80, sm_90, sm_90a and compute_90 PTX) to
// fatbin/. The directory holds a committed README so that the package
// builds (and vets) before the kernels are compiled; newCUDriver then says
// what is missing.
//
//go:embed fatbin
var fatbinFS embed.FS

const fatbinPath = "fatbin/engine_kernels.fatbin"

// Kernels above 48 KiB of dynamic shared memory must opt in per function.
const defaultShared = 48 << 10

// cuDriver is the real driver: a context on device 0, one non-blocking
// stream for all work (so copies and launches run in issue order), the
// embedded module, and a cache of its functions by name.
//
// CUDA contexts are current per OS thread: newCUDriver must be called on
// the goroutine that makes every later call, and that goroutine must stay
// on its OS thread (the backend's thread type locks it for its life).
// newCUDriver locks it once more and Close unlocks that, so the thread
// stays bound to the context between them whatever the caller does.
type cuDriver struct {
	dev    cu.Device
	ctx    cu.CUContext
	stream cu.Stream
	mod    cu.Module
	fns    map[string]cu.Function
	shared map[string]uint32 // the dynamic shared memory a function is allowed
	name   string
	closed bool
}

func newCUDriver() (Driver, error) {
	image, err := fatbinFS.ReadFile(fatbinPath)
	if err != nil {
		return nil, errors.New("cuda: no kernels in this build (backend/cuda/" + fatbinPath + "): build with make cuda")
	}
	n, err := cu.NumDevices()
	if err != nil {
		return nil, fmt.Errorf("cuda: %w", err)
	}
	if n == 0 {
		return nil, errors.New("cuda: no CUDA device")
	}
	runtime.LockOSThread()
	d := &cuDriver{fns: map[string]cu.Function{}, shared: map[string]uint32{}}
	if err := d.open(image); err != nil {
		d.release()
		runtime.UnlockOSThread()
		return nil, err
	}
	return d, nil
}

func (d *cuDriver) open(image []byte) (err error) {
	if d.dev, err = cu.GetDevice(0); err != nil {
		return fmt.Errorf("cuda: device 0: %w", err)
	}
	name, err := d.dev.Name()
	if err != nil {
		return fmt.Errorf("cuda: device 0 name: %w", err)
	}
	major, minor, err := d.dev.ComputeCapability()
	if err != nil {
		return fmt.Errorf("cuda: device 0 compute capability: %w", err)
	}
	d.name = fmt.Sprintf("cuda: %s (sm_%d%d)", name, major, minor)
	if major < 8 {
		return fmt.Errorf("cuda: %s is sm_%d%d; the kernels are built for sm_80 and newer", name, major, minor)
	}
	if d.ctx, err = d.dev.MakeContext(cu.SchedAuto); err != nil {
		return fmt.Errorf("cuda: context on %s: %w", name, err)
	}
	// cuCtxCreate makes the context current on this thread; say so again
	// in case a caller's earlier context was current here.
	if err = cu.SetCurrentContext(d.ctx); err != nil {
		return fmt.Errorf("cuda: context: %w", err)
	}
	if d.stream, err = cu.MakeStream(cu.NonBlocking); err != nil {
		return fmt.Errorf("cuda: stream: %w", err)
	}
	// cuModuleLoadData takes a fatbin as it does a cubin: the driver picks
	// the SASS of this GPU or JIT-compiles the PTX.
	if d.mod, err = cu.LoadData(string(image)); err != nil {
		return fmt.Errorf("cuda: loading the kernels (%d-byte fatbin) on sm_%d%d: %w", len(image), major, minor, err)
	}
	return nil
}

// release frees what open made, in reverse (safe on a partial open).
func (d *cuDriver) release() error {
	var first error
	keep := func(err error) {
		if first == nil && err != nil {
			first = err
		}
	}
	if d.mod != (cu.Module{}) {
		keep(cuError(C.cuModuleUnload(*(*C.CUmodule)(unsafe.Pointer(&d.mod)))))
		d.mod = cu.Module{}
	}
	if d.stream != (cu.Stream{}) {
		keep(d.stream.Destroy())
	}
	if d.ctx != (cu.CUContext{}) {
		keep(d.ctx.Destroy())
	}
	return first
}

func (d *cuDriver) Name() string { return d.name }

func (d *cuDriver) Malloc(n int64) (DevPtr, error) {
	if n <= 0 {
		n = 1 // cuMemAlloc refuses 0 bytes; a 0-sized tensor still needs an address
	}
	p, err := cu.MemAlloc(n) // cuMemAlloc aligns to at least 256 bytes
	if err != nil {
		return 0, fmt.Errorf("cuda: allocating %d bytes: %w", n, err)
	}
	return DevPtr(p), nil
}

// Free waits for the stream first: the memory may still be in use by
// queued work (cuMemFree does not order against a non-blocking stream).
func (d *cuDriver) Free(p DevPtr) {
	if p == 0 || d.closed {
		return
	}
	_ = d.stream.Synchronize()
	_ = cu.MemFree(cu.DevicePtr(p))
}

// HtoD queues the copy; from pageable memory it returns once the source is
// staged, so the caller may reuse it.
func (d *cuDriver) HtoD(dst DevPtr, src unsafe.Pointer, n int64) error {
	if n == 0 {
		return nil
	}
	return wrap("HtoD", cu.MemcpyHtoDAsync(cu.DevicePtr(dst), src, n, d.stream))
}

// DtoH waits for the stream: the data is the caller's on return.
func (d *cuDriver) DtoH(dst unsafe.Pointer, src DevPtr, n int64) error {
	if n == 0 {
		return nil
	}
	if err := cu.MemcpyDtoHAsync(dst, cu.DevicePtr(src), n, d.stream); err != nil {
		return wrap("DtoH", err)
	}
	return wrap("DtoH", d.stream.Synchronize())
}

func (d *cuDriver) DtoD(dst, src DevPtr, n int64) error {
	if n == 0 {
		return nil
	}
	return wrap("DtoD", cu.MemcpyDtoDAsync(cu.DevicePtr(dst), cu.DevicePtr(src), n, d.stream))
}

func (d *cuDriver) Memset(p DevPtr, b byte, n int64) error {
	if n == 0 {
		return nil
	}
	return wrap("Memset", cu.MemsetD8Async(cu.DevicePtr(p), b, n, d.stream))
}

func (d *cuDriver) fn(name string) (cu.Function, error) {
	if f, ok := d.fns[name]; ok {
		return f, nil
	}
	f, err := d.mod.Function(name)
	if err != nil {
		return f, fmt.Errorf("cuda: kernel %s: %w", name, err)
	}
	d.fns[name] = f
	return f, nil
}

// Launch queues kernel name on the stream. gorgonia's Launch copies each
// parameter as 8 bytes from the pointer it is given: args' elements are
// exactly that (kernels take only 8-byte parameters, kernels/README.md).
func (d *cuDriver) Launch(name string, grid, block Dim3, shared uint32, args ...uint64) error {
	f, err := d.fn(name)
	if err != nil {
		return err
	}
	if shared > defaultShared && shared > d.shared[name] {
		h := *(*C.CUfunction)(unsafe.Pointer(&f))
		r := C.cuFuncSetAttribute(h, C.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, C.int(shared))
		if err := cuError(r); err != nil {
			return fmt.Errorf("cuda: %s: %d bytes of dynamic shared memory: %w", name, shared, err)
		}
		d.shared[name] = shared
	}
	params := make([]unsafe.Pointer, len(args))
	for i := range args {
		params[i] = unsafe.Pointer(&args[i])
	}
	err = f.Launch(int(grid.X), int(grid.Y), int(grid.Z), int(block.X), int(block.Y), int(block.Z),
		int(shared), d.stream, params)
	if err != nil {
		return fmt.Errorf("cuda: launch %s grid %v block %v shared %d: %w", name, grid, block, shared, err)
	}
	return nil
}

// Sync waits for the stream; a kernel's fault (illegal address, trap)
// surfaces here, and the context is unusable after it.
func (d *cuDriver) Sync() error { return wrap("Sync", d.stream.Synchronize()) }

func (d *cuDriver) MemInfo() (free, total int64) {
	free, total, err := cu.MemInfo()
	if err != nil {
		return 0, 0
	}
	return free, total
}

func (d *cuDriver) Close() error {
	if d.closed {
		return nil
	}
	err := d.Sync()
	if e := d.release(); err == nil {
		err = e
	}
	d.closed = true
	runtime.UnlockOSThread()
	return err
}

func wrap(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("cuda: %s: %w", what, err)
}

func cuError(r C.CUresult) error {
	if r == C.CUDA_SUCCESS {
		return nil
	}
	return errors.New(cuprobe.Name(int(r)))
}
