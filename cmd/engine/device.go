package main

import (
	"github.com/spf13/cobra"

	"github.com/tscale/engine/engine"
)

// device is --device of run and serve.
var device string

func deviceFlag(c *cobra.Command) {
	c.Flags().StringVar(&device, "device", engine.DefaultDevice(), engine.DeviceUsage)
}

func withDevice() engine.Option { return engine.WithDevice(device) }
