package engine

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestKVPeak: Stats.KVPeak holds a finished run's KV high-water mark (no
// polling during the run), and ResetKVPeak starts it again from what is in
// use, so each run of bench parallel reads its own peak.
func TestKVPeak(t *testing.T) {
	e := openStories(t, WithPrefixCache(false))
	defer e.Close()
	ids := prompt200(t, e)
	require.Zero(t, e.Stats().KVPeak, "nothing run yet")

	// The last of 20 tokens is never run through the model: 219 positions.
	one := Request{Prompt: ids, MaxTokens: 20, IgnoreEOG: true}
	_, err := e.Generate(context.Background(), one, nil)
	require.NoError(t, err)
	st := e.Stats()
	require.Zero(t, st.KV.Used, "all freed")
	require.Equal(t, (219+15)/16, st.KVPeak)

	e.ResetKVPeak()
	require.Zero(t, e.Stats().KVPeak)
	// Four samples share the prompt's 12 full blocks; each holds its own
	// positions 192..218 (two blocks).
	four := one
	four.N, four.Sampling = 4, warm
	_, err = e.Generate(context.Background(), four, nil)
	require.NoError(t, err)
	require.Equal(t, 12+4*2, e.Stats().KVPeak)

	// A smaller run after it leaves the larger peak until the next reset.
	_, err = e.Generate(context.Background(), one, nil)
	require.NoError(t, err)
	require.Equal(t, 20, e.Stats().KVPeak)
}
