package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/tscale/engine/backend/cuda"
	"github.com/tscale/engine/engine"
)

// device is --device of speed and parallel.
var device string

func deviceFlag(c *cobra.Command) {
	c.Flags().StringVar(&device, "device", engine.DefaultDevice(), engine.DeviceUsage)
}

func withDevice() engine.Option { return engine.WithDevice(device) }

// gpuStats reads the CUDA backend's counters (false on another backend).
func gpuStats(e *engine.Engine) (cuda.Stats, bool) {
	if b, ok := e.Backend().(*cuda.Backend); ok {
		return b.Stats(), true
	}
	return cuda.Stats{}, false
}

// printGPU writes the work per forward between two counter readings: kernel
// launches and the weight and KV bytes the kernels read (from shapes).
func printGPU(w io.Writer, name string, a, b cuda.Stats) {
	n := float64(b.Forwards - a.Forwards)
	if n == 0 {
		return
	}
	fmt.Fprintf(w, "%s: %d forwards: %.1f launches, %.0f weight bytes, %.0f KV bytes read per forward\n",
		name, b.Forwards-a.Forwards, float64(b.Launches-a.Launches)/n, float64(b.WeightBytes-a.WeightBytes)/n,
		float64(b.KVBytes-a.KVBytes)/n)
}
