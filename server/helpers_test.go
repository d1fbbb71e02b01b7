package server

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tscale/engine/engine"
)

const modelPath = "../../shared/models/stories260K.gguf"

// Reference facts for stories260K from llama.cpp (../shared/README.md).
var (
	onceIDs    = []int32{1, 403, 407, 261, 378}
	onceGreedy = ", there was a little girl named Lily. She loved to play outside in the park."
)

func needModel(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(modelPath); err != nil {
		t.Skipf("model %s not found (../shared is absent): %v", modelPath, err)
	}
}

func openEngine(t testing.TB, opts ...engine.Option) *engine.Engine {
	t.Helper()
	needModel(t)
	e, err := engine.Open(modelPath, append([]engine.Option{engine.WithThreads(2)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { e.Close() })
	return e
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// newTestServer serves stories260K over loopback HTTP.
func newTestServer(t testing.TB, cfg Config, opts ...engine.Option) (*httptest.Server, *Server, *engine.Engine) {
	t.Helper()
	e := openEngine(t, opts...)
	if cfg.Logger == nil {
		cfg.Logger = quietLogger()
	}
	s := New(cfg)
	require.NoError(t, s.SetEngine(e))
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return ts, s, e
}

// post sends a JSON body and returns the status and the decoded body.
func post(t testing.TB, url, body string, headers ...string) (int, map[string]any, http.Header) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m), "body: %s", b)
	return res.StatusCode, m, res.Header
}

// sse is a parsed event stream: the JSON payloads and whether [DONE] ended it.
type sse struct {
	events []map[string]any
	done   bool
}

// readSSE parses a stream strictly: every event is one "data: " line
// followed by a blank line, [DONE] is the last event.
func readSSE(t testing.TB, r io.Reader) sse {
	t.Helper()
	var s sse
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		require.False(t, s.done, "data after [DONE]: %q", line)
		data, ok := strings.CutPrefix(line, "data: ")
		require.True(t, ok, "line %q is not a data line", line)
		require.True(t, sc.Scan(), "event %q not terminated", line)
		require.Equal(t, "", sc.Text(), "event %q not followed by a blank line", line)
		if data == "[DONE]" {
			s.done = true
			continue
		}
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(data), &m), "event %q", data)
		s.events = append(s.events, m)
	}
	require.NoError(t, sc.Err())
	return s
}

func streamPost(t testing.TB, url, body string) (*http.Response, sse) {
	t.Helper()
	res, err := http.Post(url, "application/json", strings.NewReader(body))
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Equal(t, "text/event-stream", res.Header.Get("Content-Type"))
	return res, readSSE(t, res.Body)
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// waitFor polls cond until it holds or the time is up.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func choices(t testing.TB, m map[string]any) []map[string]any {
	t.Helper()
	list, ok := m["choices"].([]any)
	require.True(t, ok, "no choices in %v", m)
	out := make([]map[string]any, len(list))
	for i, c := range list {
		out[i] = c.(map[string]any)
	}
	return out
}

func body(v any) *bytes.Reader { return bytes.NewReader([]byte(mustJSON(v))) }
