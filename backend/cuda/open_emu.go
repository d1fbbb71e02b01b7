//go:build cudaemu && !cuda

package cuda

func openDriver() (Driver, error) { return newEmuDriver(), nil }
