//go:build !cuda && !cudaemu

package cuda

func openDriver() (Driver, error) { return nil, ErrNotCompiled }
