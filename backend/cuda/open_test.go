//go:build !cuda && !cudaemu

package cuda

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestOpenWithoutCUDA(t *testing.T) {
	b, err := Open()
	require.Nil(t, b)
	require.ErrorIs(t, err, ErrNotCompiled)
	require.EqualError(t, err, "CUDA not compiled in: build with make cuda")
	require.False(t, Built)
}
