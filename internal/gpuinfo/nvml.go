//go:build cuda || cudaemu

package gpuinfo

import (
	"fmt"
	"sync"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// NVML is initialised once and kept: /metrics queries it every scrape.
var (
	initOnce sync.Once
	initErr  error
)

func start() error {
	initOnce.Do(func() {
		switch r := nvml.Init(); r {
		case nvml.SUCCESS:
		case nvml.ERROR_LIBRARY_NOT_FOUND:
			initErr = ErrNoDriver
		default:
			initErr = fmt.Errorf("NVML: %v", r)
		}
	})
	return initErr
}

// Query returns the driver's versions and every device's state.
func Query() (System, error) {
	var s System
	if err := start(); err != nil {
		return s, err
	}
	var r nvml.Return
	if s.Driver, r = nvml.SystemGetDriverVersion(); r != nvml.SUCCESS {
		return s, fmt.Errorf("NVML driver version: %v", r)
	}
	v, r := nvml.SystemGetCudaDriverVersion()
	if r != nvml.SUCCESS {
		return s, fmt.Errorf("NVML CUDA version: %v", r)
	}
	s.CUDA = cudaVersion(v)
	n, r := nvml.DeviceGetCount()
	if r != nvml.SUCCESS {
		return s, fmt.Errorf("NVML device count: %v", r)
	}
	for i := range n {
		h, r := nvml.DeviceGetHandleByIndex(i)
		if r != nvml.SUCCESS {
			return s, fmt.Errorf("NVML device %d: %v", i, r)
		}
		d := Device{Index: i}
		d.Name, _ = h.GetName()
		if m, r := h.GetMemoryInfo(); r == nvml.SUCCESS {
			d.MemTotal, d.MemUsed = m.Total, m.Used
		}
		if u, r := h.GetUtilizationRates(); r == nvml.SUCCESS {
			d.Util, d.MemUtil = int(u.Gpu), int(u.Memory)
		}
		if t, r := h.GetTemperature(nvml.TEMPERATURE_GPU); r == nvml.SUCCESS {
			d.Temp = int(t)
		}
		s.Devices = append(s.Devices, d)
	}
	return s, nil
}
