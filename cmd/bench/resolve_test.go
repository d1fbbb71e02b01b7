package main

import (
	"context"
	"testing"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/require"
)

// TestResolveModelFlag: every suite's -m takes a path as it is, and a
// name through the registry.
func TestResolveModelFlag(t *testing.T) {
	for _, c := range []struct{ arg, want, err string }{
		{"../shared/x.gguf", "../shared/x.gguf", ""},
		{"", "", ""},
		{"llama-9000", "", `unknown model name "llama-9000" (known: smollm2-135m-instruct, gemma3-270m, gpt-oss-vocab)`},
	} {
		var model string
		cmd := &cobra.Command{}
		cmd.SetContext(context.Background())
		cmd.Flags().StringVarP(&model, "model", "m", "", "")
		require.NoError(t, cmd.Flags().Set("model", c.arg))
		err := resolveModelFlag(cmd, nil)
		if c.err != "" {
			require.ErrorContains(t, err, c.err)
			continue
		}
		require.NoError(t, err)
		require.Equal(t, c.want, model)
	}
	require.NoError(t, resolveModelFlag(&cobra.Command{}, nil), "a suite without -m")
}
