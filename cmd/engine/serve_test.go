package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tscale/engine/server"
)

func TestServeErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"serve"}, "serve: --model is required"},
		{[]string{"serve", "-m", "x.gguf", "--max-queue", "0"}, "--max-queue >= 1"},
		{[]string{"serve", "-m", "x.gguf", "--chat-format", "chatml"}, `unknown --chat-format "chatml" (auto, jinja, harmony)`},
		{[]string{"serve", "-m", "x.gguf", "--log-format", "xml"}, `--log-format must be text or json, got "xml"`},
		{[]string{"serve", "-m", "missing.gguf", "--addr", "127.0.0.1:0"}, "missing.gguf"},
		{[]string{"serve", "-m", "x.gguf", "--addr", "256.0.0.1:0"}, "serve: listen tcp"},
	} {
		code, _, errOut := cli(c.args...)
		require.Equal(t, 1, code, c.args)
		require.Contains(t, errOut, c.want, c.args)
		require.Equal(t, 1, strings.Count(strings.TrimSpace(errOut), "engine: "), errOut)
	}
}

// syncBuffer is a log sink read while the server writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestServeInProcess starts serve on a free port, waits for the model and
// stops it through its context, as SIGTERM does.
func TestServeInProcess(t *testing.T) {
	need(t, stories)
	var logs syncBuffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, log, "127.0.0.1:0", stories, nil, time.Second, server.Config{Logger: log})
	}()
	var url string
	require.Eventually(t, func() bool {
		for _, line := range strings.Split(logs.String(), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == "listening" {
				url = "http://" + m["addr"].(string)
				return true
			}
		}
		return false
	}, 10*time.Second, 5*time.Millisecond)
	require.Eventually(t, func() bool {
		res, err := http.Get(url + "/health")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == 200
	}, 10*time.Second, 5*time.Millisecond)
	cancel()
	require.NoError(t, <-done)
	require.Contains(t, logs.String(), `"msg":"stopped"`)
	_, err := http.Get(url + "/health")
	require.Error(t, err, "the port must be closed after shutdown")
}
