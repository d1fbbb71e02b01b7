// Package cuda is the CUDA backend: backend.Backend over a small Driver
// layer. The driver is chosen by build tag: `cuda` links the real one
// (gorgonia.org/cu, cu_driver.go), `cudaemu` the emulator (the same kernels
// compiled as host C++, emudriver.go); neither gives a build without CUDA
// whose Open returns ErrNotCompiled. The backend's logic has no tag.
//
// Design:
//   - One goroutine, locked to its OS thread, makes the driver and makes
//     every driver call (thread.go): a CUDA context is current per thread.
//     Backend methods hand their calls to it, so callers need no locking.
//   - Upload copies a weight's stored bytes to the device once (plus a 1-D
//     weight decoded to F32 for the kernels of norms and biases); NewKV puts
//     the F16 pool on the device (kernels/kv.cu's layout).
//   - Alloc takes activations from an arena that Reset (called by the
//     engine before each forward) rewinds: after the first steps of a batch
//     size the decode loop allocates no device memory.
//   - Per step, the host sends ids, positions, sequence ids and block tables
//     (each slice once per forward) and gets back the rows it Reads or
//     Argmax's ids; a MoE layer of more than 32 tokens also reads its E+1
//     group sizes (fewer: one grouped launch per product reads them on
//     the device).
//   - Stats counts forwards, launches, and the weight and KV bytes the
//     kernels read (from shapes), which bench prints per forward.
package cuda

import "unsafe"

// DevPtr is a device address (cu.DevicePtr / the emulator's address).
type DevPtr uint64

// Dim3 is a grid or block size.
type Dim3 struct{ X, Y, Z uint32 }

// Driver is the little of CUDA the backend needs. Every method is called
// from the one goroutine that owns the driver (CUDA contexts are current
// per OS thread: the real driver locks it with runtime.LockOSThread).
type Driver interface {
	Name() string                       // "cuda: NVIDIA H200 (sm_90)" or "cudaemu"
	Malloc(bytes int64) (DevPtr, error) // 256-byte aligned
	Free(p DevPtr)
	HtoD(dst DevPtr, src unsafe.Pointer, bytes int64) error
	DtoH(dst unsafe.Pointer, src DevPtr, bytes int64) error
	DtoD(dst, src DevPtr, bytes int64) error
	Memset(p DevPtr, b byte, bytes int64) error
	// Launch runs kernel name (as registered / in the fatbin) with 8-byte
	// parameters (pointers, int64, float64 bits, or float32 bits in the
	// low half), cuLaunchKernel's convention.
	Launch(name string, grid, block Dim3, shared uint32, args ...uint64) error
	Sync() error // wait for all queued work; returns the first async error
	MemInfo() (free, total int64)
	Close() error
}
