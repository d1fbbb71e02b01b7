//go:build !cuda && !cudaemu

package cuda

func openDriver() (Driver, error) { return nil, ErrNotCompiled }

// Built says whether this build drives a real GPU (the cuda tag).
const Built = false
