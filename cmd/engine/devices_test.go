package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tscale/engine/internal/gpuinfo"
)

// TestInfoDevices: on a machine without an NVIDIA driver (or in a build
// without NVML) info --devices is one clear line and exit status 1; with
// a driver, the table.
func TestInfoDevices(t *testing.T) {
	code, out, errOut := cli("info", "--devices")
	if _, err := gpuinfo.Query(); err == nil {
		require.Equal(t, 0, code, errOut)
		require.Contains(t, out, "NVIDIA driver")
		return
	}
	require.Equal(t, 1, code)
	require.Equal(t, 1, strings.Count(errOut, "\n"), "one line: %q", errOut)
	require.Regexp(t, `^engine: (no NVIDIA driver found|GPU queries need the CUDA build)`, errOut)

	code, _, errOut = cli("info", "--devices", "model.gguf")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "unknown command \"model.gguf\"")
}
