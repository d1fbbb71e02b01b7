//go:build cudaemu

package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestRunCUDAEmu: `engine run --device cuda --greedy` built with the
// emulated driver prints exactly the CPU backend's 48 tokens.
func TestRunCUDAEmu(t *testing.T) {
	need(t, stories)
	args := []string{"run", "-m", stories, "-p", "Once upon a time", "-n", "48", "--greedy", "--device"}
	code, cpu, errOut := cli(append(args, "cpu")...)
	require.Equal(t, 0, code, errOut)
	code, gpu, errOut := cli(append(args, "cuda")...)
	require.Equal(t, 0, code, errOut)
	require.True(t, strings.HasPrefix(cpu, "Once upon a time, there was a little girl named Lily."), cpu)
	require.Equal(t, cpu, gpu)
}
