//go:build cudaemu && asan

package emu

import (
	"os"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/require"
)

// Under make cudaemu-asan a kernel's access one element past its buffer
// stops the process with AddressSanitizer's report (the emulated kernels'
// memcheck): a child test binary reads past the end in add_f32.
func TestOutOfBounds(t *testing.T) {
	if os.Getenv("EMU_OOB_CHILD") == "1" {
		a := dev(t, make([]float32, 100))
		_ = Launch("add_f32", Dim3{1, 1, 1}, Dim3{128, 1, 1}, 0, Ptr(a), Ptr(a), Ptr(a), I64(101))
		t.Fatal("the launch returned")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestOutOfBounds$", "-test.count=1")
	cmd.Env = append(os.Environ(), "EMU_OOB_CHILD=1")
	out, err := cmd.CombinedOutput()
	require.Error(t, err, "%s", out)
	require.Contains(t, string(out), "AddressSanitizer: heap-buffer-overflow")
	require.Contains(t, string(out), "READ of size 4")
	require.NotContains(t, string(out), "the launch returned")
}
