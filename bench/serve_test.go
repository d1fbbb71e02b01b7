package bench

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tscale/engine/engine"
	"github.com/tscale/engine/server"
)

func TestParseRange(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Range
		ok   bool
	}{
		{"128", Range{128, 128}, true},
		{"64-256", Range{64, 256}, true},
		{"0", Range{}, false},
		{"9-3", Range{}, false},
		{"a-b", Range{}, false},
		{"", Range{}, false},
	} {
		got, err := ParseRange(c.in)
		if !c.ok {
			require.Error(t, err, c.in)
			continue
		}
		require.NoError(t, err)
		require.Equal(t, c.want, got)
		require.Equal(t, c.in, got.String())
	}
}

func TestStatsNearestRank(t *testing.T) {
	v := make([]float64, 100)
	for i := range v {
		v[i] = float64(100-i) / 1000 // 0.100 .. 0.001 s, unsorted
	}
	s := stats(v)
	require.InDelta(t, 50.5, s.Mean, 1e-9)
	require.InDelta(t, 50, s.P50, 1e-9)
	require.InDelta(t, 90, s.P90, 1e-9)
	require.InDelta(t, 99, s.P99, 1e-9)
	require.InDelta(t, 100, s.Max, 1e-9)
	require.Equal(t, Stats{}, stats(nil))
}

func TestRunServe(t *testing.T) {
	const path = "../../shared/models/stories260K.gguf"
	if _, err := os.Stat(path); err != nil {
		t.Skipf("model %s not found (../shared is absent)", path)
	}
	e, err := engine.Open(path, engine.WithThreads(2))
	require.NoError(t, err)
	defer e.Close()
	srv := server.New(server.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, srv.SetEngine(e))
	ts := httptest.NewServer(srv)
	defer ts.Close()

	cfg := ServeConfig{URL: ts.URL, Model: "stories260K", Requests: 12, Concurrency: 4, Rate: 50,
		Prompt: Range{4, 40}, Gen: Range{8, 8}, N: 2, Seed: 3}
	rep, samples, err := RunServe(context.Background(), cfg)
	require.NoError(t, err)
	require.Equal(t, 12, rep.OK, "%v", rep.ErrorKinds)
	require.Len(t, samples, 12)
	// ignore_eos: every sample makes exactly its drawn length.
	require.Equal(t, 12*8*2, rep.OutputTokens)
	for _, s := range samples {
		require.Equal(t, 16, s.Tokens)
		require.Positive(t, s.TTFT)
		require.GreaterOrEqual(t, s.E2E, s.TTFT)
	}
	require.LessOrEqual(t, rep.TTFT.P50, rep.TTFT.P90)
	require.LessOrEqual(t, rep.E2E.P90, rep.E2E.Max)

	prefix := filepath.Join(t.TempDir(), "serve")
	require.NoError(t, PlotServe(samples, "test", prefix))
	for _, f := range []string{prefix + "-latency.png", prefix + "-timeline.png"} {
		st, err := os.Stat(f)
		require.NoError(t, err)
		require.Positive(t, st.Size())
	}

	// A wrong model name counts as errors, not a failure of the run.
	cfg.Model, cfg.Requests = "nope", 3
	rep, _, err = RunServe(context.Background(), cfg)
	require.NoError(t, err)
	require.Equal(t, map[string]int{"http 404": 3}, rep.ErrorKinds)
}
