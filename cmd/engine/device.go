package main

import (
	"github.com/spf13/cobra"

	"github.com/tscale/engine/backend/cuda"
	"github.com/tscale/engine/engine"
)

// device is --device of run and serve.
var device string

// deviceFlag adds --device to c: auto in a CUDA build, cpu otherwise.
func deviceFlag(c *cobra.Command) {
	def := "cpu"
	if cuda.Built {
		def = "auto"
	}
	c.Flags().StringVar(&device, "device", def, "backend: auto (the GPU if usable, else the CPU), cpu or cuda")
}

func withDevice() engine.Option { return engine.WithDevice(device) }
