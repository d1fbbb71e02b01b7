package server

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tscale/engine/internal/testmodels"
)

// These tests run the real `engine serve` binary on a loopback port.

var (
	binOnce sync.Once
	binDir  string
	binPath string
	binErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// engineBinary builds cmd/engine once per test run.
func engineBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "engine-serve-test")
		if binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "engine")
		out, err := exec.Command("go", "build", "-o", binPath, "github.com/tscale/engine/cmd/engine").CombinedOutput()
		if err != nil {
			binErr = err
			binPath = string(out)
		}
	})
	require.NoError(t, binErr, "go build: %s", binPath)
	return binPath
}

// served is a running `engine serve` process.
type served struct {
	cmd  *exec.Cmd
	url  string
	mu   sync.Mutex
	logs []map[string]any
	raw  bytes.Buffer
	done chan error
}

// lines returns the log lines so far.
func (s *served) lines() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]map[string]any(nil), s.logs...)
}

// startServe starts the binary on a free loopback port and waits until
// /health says the model is ready.
func startServe(t *testing.T, args ...string) *served {
	t.Helper()
	needModel(t)
	bin := engineBinary(t)
	args = append([]string{"serve", "-m", modelPath, "--addr", "127.0.0.1:0", "--log-format", "json", "-t", "2"}, args...)
	s := &served{cmd: exec.Command(bin, args...), done: make(chan error, 1)}
	stderr, err := s.cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, s.cmd.Start())
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var m map[string]any
			s.mu.Lock()
			s.raw.WriteString(sc.Text() + "\n")
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				s.logs = append(s.logs, m)
				if m["msg"] == "listening" {
					addr <- m["addr"].(string)
				}
			}
			s.mu.Unlock()
		}
		s.done <- s.cmd.Wait()
	}()
	t.Cleanup(func() {
		if s.cmd.ProcessState == nil {
			s.cmd.Process.Kill()
		}
	})
	select {
	case a := <-addr:
		s.url = "http://" + a
	case err := <-s.done:
		t.Fatalf("engine serve exited: %v\n%s", err, s.raw.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("engine serve did not start:\n%s", s.raw.String())
	}
	waitFor(t, 30*time.Second, "the model to load", func() bool {
		res, err := http.Get(s.url + "/health")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == 200
	})
	return s
}

func TestSIGTERMDrainsAndExits(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped in -short mode")
	}
	s := startServe(t, "--shutdown-timeout", "60s")
	type result struct {
		raw string
		err error
	}
	const streams = 4
	results := make(chan result, streams)
	started := make(chan struct{}, streams)
	for i := range streams {
		go func() {
			body := mustJSON(map[string]any{"model": "stories260K", "prompt": "Once upon a time", "n": 4, "seed": i,
				"max_tokens": 300, "ignore_eos": true, "stream": true})
			res, err := http.Post(s.url+"/v1/completions", "application/json", strings.NewReader(body))
			if err != nil {
				results <- result{err: err}
				started <- struct{}{}
				return
			}
			defer res.Body.Close()
			r := bufio.NewReader(res.Body)
			first, err := r.ReadString('\n')
			started <- struct{}{}
			if err != nil {
				results <- result{err: err}
				return
			}
			rest, err := readAll(r)
			results <- result{raw: first + rest, err: err}
		}()
	}
	for range streams {
		<-started
	}
	require.NoError(t, s.cmd.Process.Signal(syscall.SIGTERM))

	// New connections are refused (or answered 503) while the streams run on.
	probe := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	waitFor(t, 10*time.Second, "new requests to be refused", func() bool {
		res, err := probe.Get(s.url + "/health")
		if err != nil {
			return true
		}
		res.Body.Close()
		return res.StatusCode == http.StatusServiceUnavailable
	})

	for range streams {
		r := <-results
		require.NoError(t, r.err)
		st := readSSE(t, strings.NewReader(r.raw))
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
		require.Equal(t, 4, finished)
	}
	select {
	case err := <-s.done:
		require.NoError(t, err, "exit status")
	case <-time.After(30 * time.Second):
		t.Fatal("engine serve did not exit after SIGTERM")
	}
	require.Equal(t, 0, s.cmd.ProcessState.ExitCode())

	// The log shows the streams finishing after the shutdown began.
	var order []string
	for _, l := range s.lines() {
		switch {
		case l["msg"] == "shutting down":
			order = append(order, "shutdown")
		case l["msg"] == "request" && l["path"] == "/v1/completions":
			require.EqualValues(t, 200, l["status"])
			order = append(order, "request")
		case l["msg"] == "stopped":
			order = append(order, "stopped")
		}
	}
	require.Equal(t, []string{"shutdown", "request", "request", "request", "request", "stopped"}, order)
}

// TestSIGTERMCutsStreamsAfterTimeout: past --shutdown-timeout a stream
// ends with the server_shutdown error event and [DONE], the log says the
// shutdown cut it, and the binary exits 0. --body-timeout is wired too.
func TestSIGTERMCutsStreamsAfterTimeout(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped in -short mode")
	}
	s := startServe(t, "--shutdown-timeout", "50ms", "--body-timeout", "100ms")

	conn, err := net.Dial("tcp", strings.TrimPrefix(s.url, "http://"))
	require.NoError(t, err)
	defer conn.Close()
	_, err = io.WriteString(conn, "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n{")
	require.NoError(t, err)
	res, m := readResponse(t, conn, bufio.NewReader(conn))
	require.Equal(t, http.StatusRequestTimeout, res.StatusCode, "%v", m)

	body := mustJSON(map[string]any{"model": "stories260K", "prompt": "Once upon a time", "n": 8,
		"max_tokens": 500, "ignore_eos": true, "stream": true})
	res, err = http.Post(s.url+"/v1/completions", "application/json", strings.NewReader(body))
	require.NoError(t, err)
	defer res.Body.Close()
	r := bufio.NewReader(res.Body)
	first, err := r.ReadString('\n')
	require.NoError(t, err)
	require.NoError(t, s.cmd.Process.Signal(syscall.SIGTERM))
	rest, err := readAll(r)
	require.NoError(t, err)
	st := readSSE(t, strings.NewReader(first+rest))
	require.True(t, st.done, "the stream ends with [DONE]")
	last := st.events[len(st.events)-1]
	require.Equal(t, "server_shutdown", last["error"].(map[string]any)["type"], "%v", last)

	select {
	case err := <-s.done:
		require.NoError(t, err, "exit status")
	case <-time.After(30 * time.Second):
		t.Fatal("engine serve did not exit after SIGTERM")
	}
	var cut []any
	for _, l := range s.lines() {
		if l["msg"] == "request" && l["path"] == "/v1/completions" && l["status"] == 200.0 {
			cut = append(cut, l["cancelled"])
		}
	}
	require.Equal(t, []any{"server shutdown"}, cut)
}

func readAll(r *bufio.Reader) (string, error) {
	b, err := io.ReadAll(r)
	return string(b), err
}

// TestOpenAIPythonClient runs testdata/openai_client_test.py (pytest and
// the official openai package) against a live `engine serve`.
func TestOpenAIPythonClient(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped in -short mode")
	}
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not found; install it and `pip install openai pytest` to run the OpenAI client test")
	}
	if out, err := exec.Command(py, "-c", "import openai, pytest").CombinedOutput(); err != nil {
		t.Skipf("the openai or pytest Python package is missing (`pip install openai pytest`): %s", strings.TrimSpace(string(out)))
	}
	s := startServe(t, "--api-key", "test-key")
	runPytest(t, py, s, "testdata/openai_client_test.py", "stories260K")
}

// runPytest runs a pytest file against the served model name.
func runPytest(t *testing.T, py string, s *served, file, model string) {
	t.Helper()
	cmd := exec.Command(py, "-m", "pytest", "-q", "-p", "no:cacheprovider", file)
	cmd.Env = append(os.Environ(), "ENGINE_BASE_URL="+s.url+"/v1", "ENGINE_API_KEY=test-key", "ENGINE_MODEL="+model)
	out, err := cmd.CombinedOutput()
	t.Logf("pytest %s:\n%s", file, out)
	require.NoError(t, err, "pytest failed")
}

// TestOpenAIPythonTools runs testdata/openai_tools_test.py (tool calls
// through the official client) on stories260K with its fallback template,
// with Qwen 2.5's and Llama 3.1's templates by --chat-template, and on the
// default model (SmolLM2) when it is cached.
func TestOpenAIPythonTools(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped in -short mode")
	}
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not found; install it and `pip install openai pytest` to run the OpenAI client test")
	}
	if out, err := exec.Command(py, "-c", "import openai, pytest").CombinedOutput(); err != nil {
		t.Skipf("the openai or pytest Python package is missing (`pip install openai pytest`): %s", strings.TrimSpace(string(out)))
	}
	t.Run("stories260K", func(t *testing.T) {
		runPytest(t, py, startServe(t, "--api-key", "test-key"), "testdata/openai_tools_test.py", "stories260K")
	})
	// Hermes calls (Qwen 2.5) and Llama 3.1's JSON calls, by --chat-template.
	for _, name := range []string{"Qwen-Qwen2.5-7B-Instruct", "meta-llama-Llama-3.1-8B-Instruct"} {
		t.Run("stories260K with "+name, func(t *testing.T) {
			tmpl := "../../shared/testdata/chat-templates/" + name + ".jinja"
			if _, err := os.Stat(tmpl); err != nil {
				t.Skipf("%v (../shared is absent)", err)
			}
			s := startServe(t, "--api-key", "test-key", "--chat-template", tmpl)
			runPytest(t, py, s, "testdata/openai_tools_test.py", "stories260K")
		})
	}
	t.Run("SmolLM2", func(t *testing.T) {
		smol := filepath.Join(testmodels.CacheDir(), "SmolLM2-135M-Instruct.Q4_1.gguf")
		if _, err := os.Stat(smol); err != nil {
			t.Skipf("%v (scripts/fetch-model.sh smollm2-135m-instruct)", err)
		}
		s := startServe(t, "--api-key", "test-key", "-m", smol)
		runPytest(t, py, s, "testdata/openai_tools_test.py", "SmolLM2-135M-Instruct.Q4_1")
	})
}
