package server

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestUncleanPathsGet404JSON: ServeMux would redirect these to the clean
// path with an HTML body; the API answers its JSON 404 for every method.
func TestUncleanPathsGet404JSON(t *testing.T) {
	ts, _, _ := newTestServer(t, Config{})
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, p := range []string{"//v1/completions", "/../x", "/v1/../v1/models", "/v1//models", "/./health", "/v1/chat/completions/.", "/%2e%2e/health"} {
		for _, method := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodOptions} {
			req, err := http.NewRequest(method, ts.URL+p, strings.NewReader(`{}`))
			require.NoError(t, err)
			res, err := client.Do(req)
			require.NoError(t, err)
			b, err := io.ReadAll(res.Body)
			res.Body.Close()
			require.NoError(t, err)
			require.Equal(t, http.StatusNotFound, res.StatusCode, "%s %s: %s", method, p, b)
			require.Empty(t, res.Header.Get("Location"), "%s %s", method, p)
			require.Equal(t, "application/json", res.Header.Get("Content-Type"), "%s %s", method, p)
			var m map[string]map[string]any
			require.NoError(t, json.Unmarshal(b, &m), "%s %s: %s", method, p, b)
			require.Equal(t, "unknown_url", m["error"]["code"], "%s %s", method, p)
		}
	}
}

// readResponse reads one response from a raw connection.
func readResponse(t *testing.T, c net.Conn, r *bufio.Reader) (*http.Response, map[string]any) {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
	res, err := http.ReadResponse(r, nil)
	require.NoError(t, err)
	b, err := io.ReadAll(res.Body)
	res.Body.Close()
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m), "%s", b)
	return res, m
}

// TestSlowBodyGets408: a body that never ends is cut after BodyTimeout
// with a JSON 408, and its connection closed; so is one sent to a handler
// that does not read it (net/http would read it after the handler).
func TestSlowBodyGets408(t *testing.T) {
	ts, _, _ := newTestServer(t, Config{BodyTimeout: 100 * time.Millisecond, APIKey: "k"})
	const auth = "Authorization: Bearer k\r\n"
	for _, c := range []struct {
		name, line, head, part string
		status                 int
		code, msg              string
	}{
		{"short Content-Length", "POST /v1/completions", auth + "Content-Length: 100", `{"model":"stories260K",`,
			http.StatusRequestTimeout, "request_timeout", "the request body did not arrive within 100ms"},
		{"unfinished chunks", "POST /v1/completions", auth + "Transfer-Encoding: chunked", "5\r\n{\"mod\r\n",
			http.StatusRequestTimeout, "request_timeout", "the request body did not arrive within 100ms"},
		{"unauthorized", "POST /v1/completions", "Content-Length: 100", `{`,
			http.StatusUnauthorized, "invalid_api_key", ""},
		{"unknown URL", "POST //v1/completions", "Transfer-Encoding: chunked", "5\r\n{\"mod\r\n",
			http.StatusNotFound, "unknown_url", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", ts.Listener.Addr().String())
			require.NoError(t, err)
			defer conn.Close()
			start := time.Now()
			_, err = io.WriteString(conn, c.line+" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"+
				c.head+"\r\n\r\n"+c.part)
			require.NoError(t, err)
			r := bufio.NewReader(conn)
			res, m := readResponse(t, conn, r)
			require.Equal(t, c.status, res.StatusCode, "%v", m)
			require.GreaterOrEqual(t, time.Since(start), 100*time.Millisecond)
			e := m["error"].(map[string]any)
			require.Equal(t, c.code, e["code"])
			if c.msg != "" {
				require.Equal(t, c.msg, e["message"])
			}
			_, err = r.ReadByte()
			require.ErrorIs(t, err, io.EOF, "the connection must be closed")
		})
	}
}

// TestTimeoutsSpareLongRequests: the body and write timeouts bound the
// client's reading and writing only, not a request that computes longer.
func TestTimeoutsSpareLongRequests(t *testing.T) {
	const d = 10 * time.Millisecond
	ts, _, _ := newTestServer(t, Config{BodyTimeout: d, WriteTimeout: d})
	// Longer requests until both forms outlast the timeouts three times
	// over (a single short one already does on a slow machine).
	for toks := 20; ; toks *= 2 {
		req := map[string]any{"model": "stories260K", "prompt": "Once upon a time", "n": 2, "max_tokens": toks, "ignore_eos": true}
		start := time.Now()
		code, m, _ := post(t, ts.URL+"/v1/completions", mustJSON(req))
		require.Equal(t, 200, code, "%v", m)
		plain := time.Since(start)

		req["stream"] = true
		start = time.Now()
		_, st := streamPost(t, ts.URL+"/v1/completions", mustJSON(req))
		streamed := time.Since(start)
		require.True(t, st.done, "stream cut short")
		finished := 0
		for _, ev := range st.events {
			for _, c := range choices(t, ev) {
				if c["finish_reason"] != nil {
					require.Equal(t, "length", c["finish_reason"])
					finished++
				}
			}
		}
		require.Equal(t, 2, finished)
		if plain > 3*d && streamed > 3*d {
			break
		}
		if toks >= 320 {
			t.Skipf("%d tokens took only %v and %v: too fast to outlast %v", toks, plain, streamed, d)
		}
	}

	// A keep-alive connection's next request is not cut by the deadlines
	// its previous request left.
	conn, err := net.Dial("tcp", ts.Listener.Addr().String())
	require.NoError(t, err)
	defer conn.Close()
	r := bufio.NewReader(conn)
	for range 2 {
		_, err = io.WriteString(conn, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
		require.NoError(t, err)
		res, _ := readResponse(t, conn, r)
		require.Equal(t, 200, res.StatusCode)
		time.Sleep(3 * d)
	}
}

// TestLimitListener: above the limit a connection waits for a free slot.
func TestLimitListener(t *testing.T) {
	s := New(Config{Logger: quietLogger()})
	ts := httptest.NewUnstartedServer(s)
	ts.Listener = LimitListener(ts.Listener, 1)
	ts.Start()
	defer ts.Close()
	addr := ts.Listener.Addr().String()
	get := func(c net.Conn) {
		_, err := io.WriteString(c, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
		require.NoError(t, err)
	}

	a, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	get(a)
	ra := bufio.NewReader(a)
	res, _ := readResponse(t, a, ra)
	require.Equal(t, http.StatusServiceUnavailable, res.StatusCode, "no model yet")

	b, err := net.Dial("tcp", addr) // the kernel's backlog takes it
	require.NoError(t, err)
	defer b.Close()
	get(b)
	rb := bufio.NewReader(b)
	require.NoError(t, b.SetReadDeadline(time.Now().Add(200*time.Millisecond)))
	_, err = rb.ReadByte()
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	require.True(t, ne.Timeout(), "a second connection must wait while the first is open: %v", err)

	a.Close()
	res, m := readResponse(t, b, rb)
	require.Equal(t, http.StatusServiceUnavailable, res.StatusCode, "%v", m)
	require.Equal(t, "loading", m["status"])
}

// smallBuffers gives accepted connections a small send buffer, so that a
// client that does not read soon blocks the server's writes.
type smallBuffers struct{ net.Listener }

func (l smallBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetWriteBuffer(4096)
	}
	return c, err
}

// logBuffer is a log sink read while the server writes to it.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestWriteTimeoutCutsNonReader: a stream whose client stops reading is
// cut after WriteTimeout, which frees its KV blocks. (Large events, with
// logprobs, fill the small socket buffers in a few steps.)
func TestWriteTimeoutCutsNonReader(t *testing.T) {
	e := openEngine(t)
	var logs logBuffer
	s := New(Config{Logger: slog.New(slog.NewTextHandler(&logs, nil)), WriteTimeout: 100 * time.Millisecond})
	require.NoError(t, s.SetEngine(e))
	ts := httptest.NewUnstartedServer(s)
	ts.Listener = smallBuffers{ts.Listener}
	ts.Start()
	defer ts.Close()

	conn, err := net.Dial("tcp", ts.Listener.Addr().String())
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.(*net.TCPConn).SetReadBuffer(4096))
	body := `{"model":"stories260K","prompt":"Once upon a time","n":8,"max_tokens":300,"logprobs":20,"ignore_eos":true,"stream":true}`
	_, err = fmt.Fprintf(conn, "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	require.NoError(t, err)
	waitFor(t, 10*time.Second, "the request to be cut", func() bool {
		return strings.Contains(logs.String(), "cancelled=\"client disconnected\"")
	})
	waitFor(t, 5*time.Second, "its KV blocks to be freed", func() bool {
		st := e.Stats()
		return st.KV.Used == 0 && st.Running == 0
	})
}

// FuzzPaths: whatever the path, the answer is JSON, never a redirect.
func FuzzPaths(f *testing.F) {
	for _, p := range []string{"/", "//v1/completions", "/../x", "/v1/models/", "/v1/models/a/../b", "/health", "/v1//", "", "x", "/./", "/v1/models/%2F"} {
		f.Add(p, true)
		f.Add(p, false)
	}
	s := New(Config{Logger: quietLogger()})
	f.Fuzz(func(t *testing.T, p string, post bool) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		if post {
			r.Method = http.MethodPost
		}
		r.URL.Path, r.URL.RawPath = p, ""
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		require.True(t, w.Code < 300 || w.Code >= 400, "%q: %d", p, w.Code)
		require.Equal(t, "application/json", w.Header().Get("Content-Type"), "%q", p)
		if !strings.HasPrefix(p, "/") || p != cleanPath(p) {
			require.Equal(t, http.StatusNotFound, w.Code, "%q", p)
		}
	})
}
