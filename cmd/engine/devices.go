package main

import (
	"io"

	"github.com/tscale/engine/internal/gpuinfo"
)

// printDevices is info --devices: the NVML table, or one line saying why
// there is none (no driver, or a build without NVML).
func printDevices(w io.Writer) error {
	s, err := gpuinfo.Query()
	if err != nil {
		return err
	}
	gpuinfo.Print(w, s)
	return nil
}
