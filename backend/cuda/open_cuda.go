//go:build cuda

package cuda

// newCUDriver is the real driver (cu_driver.go, over gorgonia.org/cu).
func openDriver() (Driver, error) { return newCUDriver() }

// Built says whether this build drives a real GPU (the cuda tag).
const Built = true
