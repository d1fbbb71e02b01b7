//go:build cudaemu

package emu

/*
#cgo CXXFLAGS: -std=c++17 -O2 -Wall -Wextra -Wno-unknown-pragmas -I${SRCDIR}/../../../kernels/include
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Device addresses cross as integers (as cu.DevicePtr): Go never holds them as pointers.
// Exactly n bytes, so that an address sanitizer build catches a kernel's access one past the end.
static uintptr_t dmalloc(size_t n) {
	void *p;
	return posix_memalign(&p, 256, n) == 0 ? (uintptr_t)p : 0;
}
static void dfree(uintptr_t p) { free((void *)p); }
static void htod(uintptr_t dst, const void *src, size_t n) { memcpy((void *)dst, src, n); }
static void dtoh(void *dst, uintptr_t src, size_t n) { memcpy(dst, (const void *)src, n); }

int emu_launch(const char *name, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
               unsigned bz, unsigned shared, void **params, char *err, size_t errlen);
int emu_set_max_dynamic_shared(const char *name, unsigned bytes);
void emu_set_reverse_order(int on);
size_t emu_kernel_names(char *buf, size_t len);
void emu_host_f2h(const float *in, uint16_t *out, size_t n);
void emu_host_h2f(const uint16_t *in, float *out, size_t n);
void emu_host_half_ops(uint16_t *out, const uint16_t *a, const uint16_t *b, size_t n);

// launch: params point into args, an array of 8-byte values (the kernel
// parameter rule), so that Go passes no pointer to a pointer.
static int launch(const char *name, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                  unsigned bz, unsigned shared, uint64_t *args, int nargs, char *err, size_t errlen) {
	void *params[64];
	if (nargs > 64) {
		snprintf(err, errlen, "cudaemu: %s: %d parameters, at most 64", name, nargs);
		return 1;
	}
	for (int i = 0; i < nargs; i++)
		params[i] = &args[i];
	return emu_launch(name, gx, gy, gz, bx, by, bz, shared, params, err, errlen);
}
*/
import "C"

import (
	"fmt"
	"math"
	"strings"
	"unsafe"
)

// DevPtr is an address of emulated device memory (as cu.DevicePtr).
type DevPtr uintptr

// Dim3 is a grid or block size.
type Dim3 struct{ X, Y, Z uint32 }

// Error is a failed launch: Code is the CUresult the driver would return
// (1 invalid value, 500 not found, 701 out of resources, 719 launch failed).
type Error struct {
	Code int
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

// Malloc returns n bytes of device memory, 256-byte aligned as cuMemAlloc's.
func Malloc(n int) (DevPtr, error) {
	if n <= 0 {
		return 0, fmt.Errorf("cudaemu: malloc of %d bytes", n)
	}
	p := C.dmalloc(C.size_t(n))
	if p == 0 {
		return 0, fmt.Errorf("cudaemu: out of memory (%d bytes)", n)
	}
	return DevPtr(p), nil
}

// Free releases memory from Malloc.
func Free(p DevPtr) { C.dfree(C.uintptr_t(p)) }

// HtoD copies src to device memory at dst.
func HtoD[T any](dst DevPtr, src []T) {
	if len(src) > 0 {
		C.htod(C.uintptr_t(dst), unsafe.Pointer(&src[0]), C.size_t(len(src))*C.size_t(unsafe.Sizeof(src[0])))
	}
}

// DtoH copies len(dst) values from device memory at src.
func DtoH[T any](dst []T, src DevPtr) {
	if len(dst) > 0 {
		C.dtoh(unsafe.Pointer(&dst[0]), C.uintptr_t(src), C.size_t(len(dst))*C.size_t(unsafe.Sizeof(dst[0])))
	}
}

// Kernel parameters: every one is 8 bytes (kernels/README.md).

// Ptr is a pointer parameter.
func Ptr(p DevPtr) uint64 { return uint64(p) }

// I64 is an int64_t parameter.
func I64(v int64) uint64 { return uint64(v) }

// F64 is a double parameter.
func F64(v float64) uint64 { return math.Float64bits(v) }

// Launch runs kernel name over grid × block threads with shared bytes of
// dynamic shared memory, as cuLaunchKernel followed by a synchronize.
func Launch(name string, grid, block Dim3, shared uint32, args ...uint64) error {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	var errb [4096]C.char
	var a *C.uint64_t
	if len(args) > 0 {
		a = (*C.uint64_t)(unsafe.Pointer(&args[0]))
	}
	rc := C.launch(cname, C.uint(grid.X), C.uint(grid.Y), C.uint(grid.Z), C.uint(block.X), C.uint(block.Y),
		C.uint(block.Z), C.uint(shared), a, C.int(len(args)), &errb[0], C.size_t(len(errb)))
	if rc != 0 {
		return &Error{Code: int(rc), Msg: C.GoString(&errb[0])}
	}
	return nil
}

// SetMaxDynamicShared raises kernel name's dynamic shared memory limit from
// 48 KiB (cuFuncSetAttribute's MAX_DYNAMIC_SHARED_SIZE_BYTES).
func SetMaxDynamicShared(name string, bytes uint32) error {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	if rc := C.emu_set_max_dynamic_shared(cname, C.uint(bytes)); rc != 0 {
		return &Error{Code: int(rc), Msg: fmt.Sprintf("cudaemu: cannot set %s's dynamic shared memory to %d bytes", name, bytes)}
	}
	return nil
}

// Kernels lists the registered kernels' names, sorted.
func Kernels() []string {
	n := C.emu_kernel_names(nil, 0)
	buf := make([]byte, n+1)
	C.emu_kernel_names((*C.char)(unsafe.Pointer(&buf[0])), C.size_t(len(buf)))
	if n == 0 {
		return nil
	}
	return strings.Split(string(buf[:n]), "\n")
}

// SetReverseOrder makes the launches that follow run each block's threads in
// descending order between barriers (ascending is the default). A kernel
// that reads another thread's write without a barrier in between gives a
// different result in one of the two orders; tests run both.
func SetReverseOrder(on bool) {
	v := C.int(0)
	if on {
		v = 1
	}
	C.emu_set_reverse_order(v)
}

// HostFloat16 converts with the host compiler's _Float16 (the reference
// that the emulated __half is tested against).
func HostFloat16(in []float32) []uint16 {
	out := make([]uint16, len(in))
	if len(in) > 0 {
		C.emu_host_f2h((*C.float)(&in[0]), (*C.uint16_t)(&out[0]), C.size_t(len(in)))
	}
	return out
}

// HostFloat16ToFloat32 widens with the host compiler's _Float16.
func HostFloat16ToFloat32(in []uint16) []float32 {
	out := make([]float32, len(in))
	if len(in) > 0 {
		C.emu_host_h2f((*C.uint16_t)(&in[0]), (*C.float)(&out[0]), C.size_t(len(in)))
	}
	return out
}

// HostHalfOps gives a+b, a-b, a*b, a/b in _Float16, four results per pair.
func HostHalfOps(a, b []uint16) []uint16 {
	out := make([]uint16, 4*len(a))
	if len(a) > 0 {
		C.emu_host_half_ops((*C.uint16_t)(&out[0]), (*C.uint16_t)(&a[0]), (*C.uint16_t)(&b[0]), C.size_t(len(a)))
	}
	return out
}
