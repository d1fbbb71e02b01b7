//go:build cuda

// Package cuprobe initialises the CUDA driver before gorgonia.org/cu does,
// so that a CUDA build on a host without a usable GPU stops with one clear
// line instead of cu's os.Exit(1) after a long message.
//
// gorgonia.org/cu calls cuInit in its package init and exits the process
// when it fails. Go (since 1.21) initialises packages in import-path order
// among those whose imports are done: this package imports only packages cu
// imports itself (fmt, os, cgo), so it is ready whenever cu is, and
// "github.com/..." sorts before "gorgonia.org/...": its init always runs
// first. backend/cuda imports it for that side effect.
//
// The binary links libcuda.so.1, so a host with no NVIDIA driver at all
// fails earlier, in the dynamic loader ("libcuda.so.1: cannot open shared
// object file"), before any Go code runs; that too is one line.
package cuprobe

// #include <cuda.h>
import "C"

import (
	"fmt"
	"os"
)

func init() {
	r := C.cuInit(0)
	if r == C.CUDA_SUCCESS {
		return
	}
	fmt.Fprintf(os.Stderr, "engine: no usable CUDA device: cuInit: %s; this is the CUDA build (make cuda), the default build (make build) runs on the CPU\n", Name(int(r)))
	os.Exit(1)
}

// Name is the driver's name of a CUresult ("CUDA_ERROR_NO_DEVICE (100)").
func Name(r int) string {
	var s *C.char
	if C.cuGetErrorName(C.CUresult(r), &s) == C.CUDA_SUCCESS && s != nil {
		return fmt.Sprintf("%s (%d)", C.GoString(s), r)
	}
	switch r { // the stub library knows no names
	case 34:
		return "CUDA_ERROR_STUB_LIBRARY (34): the link-time stub libcuda is loaded instead of the driver's"
	case 35:
		return "CUDA_ERROR_INSUFFICIENT_DRIVER (35)"
	case 100:
		return "CUDA_ERROR_NO_DEVICE (100)"
	}
	return fmt.Sprintf("CUresult %d", r)
}
