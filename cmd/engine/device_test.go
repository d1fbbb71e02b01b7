//go:build !cuda && !cudaemu

package main

import (
	"bytes"
	"log"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestDeviceWithoutCUDA: in the default build --device cuda fails with one
// line and exit status 1; --device auto runs on the CPU and logs why.
func TestDeviceWithoutCUDA(t *testing.T) {
	need(t, stories)
	code, out, errOut := cli("run", "-m", stories, "-p", "Once upon a time", "-n", "8", "--greedy", "--device", "cuda")
	require.Equal(t, 1, code)
	require.Empty(t, out)
	require.Equal(t, "engine: CUDA not compiled in: build with make cuda\n", errOut)

	var logged bytes.Buffer
	log.SetOutput(&logged)
	defer log.SetOutput(os.Stderr)
	code, auto, errOut := cli("run", "-m", stories, "-p", "Once upon a time", "-n", "8", "--greedy", "--device", "auto")
	log.SetOutput(os.Stderr)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, logged.String(), "device auto: CUDA not compiled in: build with make cuda; using the CPU")
	_, cpu, _ := cli("run", "-m", stories, "-p", "Once upon a time", "-n", "8", "--greedy", "--device", "cpu")
	require.Equal(t, cpu, auto)
	require.True(t, strings.HasPrefix(cpu, "Once upon a time,"), cpu)

	code, _, errOut = cli("run", "-m", stories, "-p", "x", "--device", "tpu")
	require.Equal(t, 1, code)
	require.Equal(t, "engine: unknown device \"tpu\" (auto, cpu or cuda)\n", errOut)
}
