//go:build !cuda && !cudaemu

package gpuinfo

// Query needs NVML, which needs cgo: not in this build.
func Query() (System, error) { return System{}, ErrNotBuilt }
