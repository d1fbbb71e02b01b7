package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
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
		{[]string{"serve", "-m", "x.gguf", "--body-timeout", "-1s"}, "need non-negative --header-timeout, --body-timeout"},
		{[]string{"serve", "-m", "x.gguf", "--max-conns", "-1"}, "--idle-timeout, --max-conns"},
		{[]string{"serve", "-m", "x.gguf", "--chat-format", "chatml"}, `unknown --chat-format "chatml" (auto, jinja, harmony)`},
		{[]string{"serve", "-m", "x.gguf", "--log-format", "xml"}, `--log-format must be text or json, got "xml"`},
		{[]string{"serve", "-m", "missing.gguf", "--addr", "127.0.0.1:0"}, "missing.gguf"},
		{[]string{"serve", "-m", stories, "--addr", "256.0.0.1:0"}, "serve: listen tcp"}, // the model is checked first
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

// inProcess is serve running in this process.
type inProcess struct {
	url  string
	addr string
	logs *syncBuffer
	stop context.CancelFunc
	done chan error
}

// startInProcess starts serve on a free port and waits for the model.
func startInProcess(t *testing.T, lc listenConfig) *inProcess {
	t.Helper()
	need(t, stories)
	p := &inProcess{logs: &syncBuffer{}, done: make(chan error, 1)}
	log := slog.New(slog.NewJSONHandler(p.logs, nil))
	ctx, cancel := context.WithCancel(context.Background())
	p.stop = cancel
	go func() { p.done <- serve(ctx, log, "127.0.0.1:0", stories, nil, lc, server.Config{Logger: log}) }()
	t.Cleanup(func() {
		cancel()
		<-p.done
	})
	require.Eventually(t, func() bool {
		for _, m := range p.lines() {
			if m["msg"] == "listening" {
				p.addr = m["addr"].(string)
				p.url = "http://" + p.addr
				return true
			}
		}
		return false
	}, 10*time.Second, 5*time.Millisecond)
	require.Eventually(t, func() bool {
		res, err := http.Get(p.url + "/health")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == 200
	}, 10*time.Second, 5*time.Millisecond)
	return p
}

// lines returns the JSON log lines so far.
func (p *inProcess) lines() []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(p.logs.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// TestServeInProcess starts serve on a free port, waits for the model and
// stops it through its context, as SIGTERM does.
func TestServeInProcess(t *testing.T) {
	p := startInProcess(t, listenConfig{shutdownTimeout: time.Second})
	p.stop()
	require.NoError(t, <-p.done)
	p.done <- nil // for the cleanup
	require.Contains(t, p.logs.String(), `"msg":"stopped"`)
	_, err := http.Get(p.url + "/health")
	require.Error(t, err, "the port must be closed after shutdown")
}

// TestServeShutdownCutsRequests: requests still running when
// --shutdown-timeout expires end with a server_shutdown error (an event
// then [DONE] when streaming, else 503), logged as cut by the shutdown.
func TestServeShutdownCutsRequests(t *testing.T) {
	p := startInProcess(t, listenConfig{shutdownTimeout: 50 * time.Millisecond})
	const req = `{"model":"stories260K","prompt":"Once upon a time","n":8,"max_tokens":500,"ignore_eos":true`
	bodies := map[string]string{
		"stream":   req + `,"stream":true}`,
		"plain":    req + `}`,
		"strategy": req + `,"reasoning":{"strategy":"vote"}}`,
	}
	type result struct {
		name   string
		status int
		body   string
		err    error
	}
	results := make(chan result, len(bodies))
	for name, body := range bodies {
		go func() {
			res, err := http.Post(p.url+"/v1/completions", "application/json", strings.NewReader(body))
			if err != nil {
				results <- result{name: name, err: err}
				return
			}
			defer res.Body.Close()
			b, err := io.ReadAll(res.Body)
			results <- result{name, res.StatusCode, string(b), err}
		}()
	}
	// All run: 24 samples in flight.
	require.Eventually(t, func() bool {
		res, err := http.Get(p.url + "/metrics")
		if err != nil {
			return false
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return strings.Contains(string(b), "\nengine_samples_in_flight 24\n")
	}, 10*time.Second, time.Millisecond)
	start := time.Now()
	p.stop()
	got := map[string]result{}
	for range bodies {
		r := <-results
		require.NoError(t, r.err, r.name)
		got[r.name] = r
	}
	require.Less(t, time.Since(start), 50*time.Millisecond+cutGrace, "the answers come within the grace")
	require.NoError(t, <-p.done)
	p.done <- nil

	stream := got["stream"]
	require.Equal(t, http.StatusOK, stream.status)
	events := strings.Split(strings.TrimSuffix(stream.body, "\n\n"), "\n\n")
	require.Greater(t, len(events), 2, "the stream had begun")
	require.Equal(t, "data: [DONE]", events[len(events)-1], "the stream ends with [DONE]")
	var last map[string]map[string]any
	require.NoError(t, json.Unmarshal([]byte(strings.TrimPrefix(events[len(events)-2], "data: ")), &last))
	require.Equal(t, "server_shutdown", last["error"]["type"], "%v", last)

	for _, name := range []string{"plain", "strategy"} {
		r := got[name]
		require.Equal(t, http.StatusServiceUnavailable, r.status, "%s: %s", name, r.body)
		var m map[string]map[string]any
		require.NoError(t, json.Unmarshal([]byte(r.body), &m), r.body)
		require.Equal(t, "server_shutdown", m["error"]["type"], name)
	}

	var cut []any
	for _, l := range p.lines() {
		if l["msg"] == "request" && l["path"] == "/v1/completions" {
			cut = append(cut, l["cancelled"])
		}
	}
	require.Equal(t, []any{"server shutdown", "server shutdown", "server shutdown"}, cut)
}

// TestServeConnectionTimeouts: an idle keep-alive connection is closed
// after --idle-timeout, one whose headers never end after --header-timeout.
func TestServeConnectionTimeouts(t *testing.T) {
	const d = 100 * time.Millisecond
	p := startInProcess(t, listenConfig{shutdownTimeout: time.Second, idleTimeout: d, headerTimeout: d})
	for _, c := range []struct{ name, send string }{
		{"idle", "GET /health HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"headers", "GET /health HTTP/1.1\r\nHost: x\r\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", p.addr)
			require.NoError(t, err)
			defer conn.Close()
			start := time.Now()
			_, err = io.WriteString(conn, c.send)
			require.NoError(t, err)
			require.NoError(t, conn.SetReadDeadline(time.Now().Add(5*time.Second)))
			b, err := io.ReadAll(conn) // to the server's close
			require.NoError(t, err, "the server must close the connection")
			require.GreaterOrEqual(t, time.Since(start), d)
			if c.name == "idle" {
				require.Contains(t, string(b), "200 OK")
			}
		})
	}
}
