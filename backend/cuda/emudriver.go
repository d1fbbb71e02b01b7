//go:build cudaemu

package cuda

import (
	"unsafe"

	"github.com/tscale/engine/backend/cuda/emu"
)

// emuDriver runs the kernels in the emulator (backend/cuda/emu): device
// memory is C memory, launches are synchronous.
type emuDriver struct{}

func newEmuDriver() Driver { return emuDriver{} }

func (emuDriver) Name() string { return "cudaemu" }

func (emuDriver) Malloc(n int64) (DevPtr, error) {
	p, err := emu.Malloc(int(n))
	return DevPtr(p), err
}

func (emuDriver) Free(p DevPtr) { emu.Free(emu.DevPtr(p)) }

func (emuDriver) HtoD(dst DevPtr, src unsafe.Pointer, n int64) error {
	emu.HtoD(emu.DevPtr(dst), unsafe.Slice((*byte)(src), n))
	return nil
}

func (emuDriver) DtoH(dst unsafe.Pointer, src DevPtr, n int64) error {
	emu.DtoH(unsafe.Slice((*byte)(dst), n), emu.DevPtr(src))
	return nil
}

func (emuDriver) DtoD(dst, src DevPtr, n int64) error {
	buf := make([]byte, n)
	emu.DtoH(buf, emu.DevPtr(src))
	emu.HtoD(emu.DevPtr(dst), buf)
	return nil
}

func (emuDriver) Memset(p DevPtr, b byte, n int64) error {
	buf := make([]byte, n)
	if b != 0 {
		for i := range buf {
			buf[i] = b
		}
	}
	emu.HtoD(emu.DevPtr(p), buf)
	return nil
}

func (emuDriver) Launch(name string, grid, block Dim3, shared uint32, args ...uint64) error {
	if shared > 48<<10 { // as the real driver's cuFuncSetAttribute
		if err := emu.SetMaxDynamicShared(name, shared); err != nil {
			return err
		}
	}
	return emu.Launch(name, emu.Dim3(grid), emu.Dim3(block), shared, args...)
}

func (emuDriver) Sync() error { return nil }

// MemInfo reports no limit: emulated memory is the host's.
func (emuDriver) MemInfo() (free, total int64) { return 1 << 40, 1 << 40 }

func (emuDriver) Close() error { return nil }
