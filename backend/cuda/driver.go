// Package cuda is the CUDA backend: backend.Backend over a small Driver
// layer. The driver is chosen by build tag: `cuda` links the real one
// (gorgonia.org/cu), `cudaemu` the emulator (kernels compiled as host C++),
// neither gives a build without CUDA whose Open says so.
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
