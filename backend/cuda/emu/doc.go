// Package emu runs the CUDA kernels of kernels/ on the CPU: the same .cu
// sources, compiled as host C++ against kernels/include/cudaemu.h, launched
// by name with cuLaunchKernel's convention. It is the device layer of the
// CUDA backend in emulation, and it holds the emulator's own tests.
//
// Everything is behind the cudaemu build tag (it needs cgo and g++ >= 12):
//
//	go test -tags cudaemu ./backend/cuda/...
//
// Device memory is C memory (Malloc), so that device pointers may be passed
// to kernels without breaking cgo's pointer rules.
package emu
