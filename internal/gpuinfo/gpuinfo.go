// Package gpuinfo reads the NVIDIA GPUs' state through NVML (go-nvml, which
// dlopens libnvidia-ml at run time): `engine info --devices` and the GPU
// gauges of /metrics. NVML needs cgo, so only the cuda and cudaemu builds
// have it; the default pure-Go build says so.
package gpuinfo

import (
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
)

// ErrNoDriver is Query's error where libnvidia-ml cannot be loaded.
var ErrNoDriver = errors.New("no NVIDIA driver found (libnvidia-ml.so.1 could not be loaded)")

// ErrNotBuilt is Query's error in a build without NVML (no cgo).
var ErrNotBuilt = errors.New("GPU queries need the CUDA build (make cuda): this build has no NVML")

// System is the driver and its devices.
type System struct {
	Driver  string // "580.65.06"
	CUDA    string // the driver's CUDA version, "13.0"
	Devices []Device
}

// Device is one GPU's state at the time of the query.
type Device struct {
	Index    int
	Name     string
	MemTotal uint64 // bytes
	MemUsed  uint64 // bytes
	Util     int    // % of the last sample period with a kernel running
	MemUtil  int    // % of that period with device memory read or written
	Temp     int    // °C
}

// Print writes s as the table of engine info --devices.
func Print(w io.Writer, s System) {
	fmt.Fprintf(w, "NVIDIA driver %s, CUDA %s, %d device(s)\n", s.Driver, s.CUDA, len(s.Devices))
	if len(s.Devices) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "index\tname\tmemory used / total\tutilisation\tmemory util\ttemperature")
	for _, d := range s.Devices {
		fmt.Fprintf(tw, "%d\t%s\t%s / %s\t%d%%\t%d%%\t%d °C\n", d.Index, d.Name, gib(d.MemUsed), gib(d.MemTotal), d.Util, d.MemUtil, d.Temp)
	}
	tw.Flush()
}

func gib(b uint64) string { return fmt.Sprintf("%.1f GiB", float64(b)/(1<<30)) }

// cudaVersion formats NVML's CUDA driver version (13000 is "13.0").
func cudaVersion(v int) string { return fmt.Sprintf("%d.%d", v/1000, v%1000/10) }
