package engine

import (
	"fmt"
	"log"

	"github.com/tscale/engine/backend"
	"github.com/tscale/engine/backend/cpu"
	"github.com/tscale/engine/backend/cuda"
)

// Devices are WithDevice's choices.
var Devices = []string{"auto", "cpu", "cuda"}

// newBackend opens the backend of device ("" is cpu).
func newBackend(device string, threads int) (backend.Backend, error) {
	switch device {
	case "", "cpu":
		return cpu.New(threads), nil
	case "cuda":
		return cuda.Open()
	case "auto":
		// Only a real GPU: the emulator of a cudaemu build is for tests
		// (--device cuda there).
		if !cuda.Built {
			log.Printf("device auto: %v; using the CPU", cuda.ErrNotCompiled)
			return cpu.New(threads), nil
		}
		be, err := cuda.Open()
		if err != nil {
			log.Printf("device auto: %v; using the CPU", err)
			return cpu.New(threads), nil
		}
		log.Printf("device auto: %s", be.Name())
		return be, nil
	}
	return nil, fmt.Errorf("unknown device %q (auto, cpu or cuda)", device)
}

// closeBackend releases a backend's device memory, if it holds any.
func closeBackend(be backend.Backend) {
	if c, ok := be.(interface{ Close() error }); ok {
		c.Close()
	}
}

// DefaultDevice is the device a command-line flag should default to: "auto"
// in a build with the CUDA backend, else "cpu".
func DefaultDevice() string {
	if cuda.Built {
		return "auto"
	}
	return "cpu"
}

// DeviceUsage describes WithDevice's names, for a --device flag's help.
const DeviceUsage = "backend: auto (the GPU if usable, else the CPU), cpu or cuda"
