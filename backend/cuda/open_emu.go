//go:build cudaemu && !cuda

package cuda

func openDriver() (Driver, error) { return newEmuDriver(), nil }

// Built says whether this build drives a real GPU (the cuda tag).
const Built = false
