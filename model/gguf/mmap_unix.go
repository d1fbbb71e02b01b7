//go:build linux || darwin || freebsd || netbsd || openbsd

package gguf

import (
	"os"
	"syscall"
)

// mapFile maps size bytes of fh read-only; the mapping outlives fh.
func mapFile(fh *os.File, size int) ([]byte, func() error, error) {
	data, err := syscall.Mmap(int(fh.Fd()), 0, size, syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, nil, err
	}
	return data, func() error { return syscall.Munmap(data) }, nil
}
