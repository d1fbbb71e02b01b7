package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tscale/engine/model/registry"
)

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func postJSON(t *testing.T, url, body string) (int, map[string]any) {
	t.Helper()
	res, err := http.Post(url, "application/json", strings.NewReader(body))
	require.NoError(t, err)
	defer res.Body.Close()
	var m map[string]any
	require.NoError(t, json.NewDecoder(res.Body).Decode(&m))
	return res.StatusCode, m
}

// TestServeByName is the must-show: `engine serve -m smollm2-135m-instruct
// --host 127.0.0.1 --port P` (a real process, the model from the cache)
// serves; /tokenize and /detokenize round-trip; a CORS preflight from an
// allowed origin succeeds and from another fails.
func TestServeByName(t *testing.T) {
	m, err := registry.Lookup("smollm2-135m-instruct")
	require.NoError(t, err)
	dir, err := registry.CacheDir()
	require.NoError(t, err)
	if f := (&registry.Fetcher{Dir: dir}); !f.Cached(m) {
		t.Skipf("smollm2-135m-instruct is not in the cache %s (scripts/fetch-model.sh smollm2-135m-instruct)", dir)
	}
	port := freePort(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "serve", "-m", "smollm2-135m-instruct", "--host", "127.0.0.1",
		"--port", strconv.Itoa(port), "--allowed-origins", "http://app.example", "-t", "2", "--log-format", "json")
	cmd.Env = append(os.Environ(), "ENGINE_TEST_MAIN=1")
	var logs syncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
		}
	}()
	url := "http://127.0.0.1:" + strconv.Itoa(port)
	require.Eventually(t, func() bool {
		res, err := http.Get(url + "/health")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == 200
	}, time.Minute, 20*time.Millisecond, "logs: %s", &logs)

	res, err := http.Get(url + "/v1/models")
	require.NoError(t, err)
	var models struct {
		Data []map[string]any `json:"data"`
	}
	require.NoError(t, json.NewDecoder(res.Body).Decode(&models))
	res.Body.Close()
	require.Len(t, models.Data, 1)
	require.Equal(t, "smollm2-135m-instruct", models.Data[0]["id"], "served under the name it was asked by")
	require.Greater(t, models.Data[0]["max_model_len"], float64(0))

	for _, text := range []string{"Hello, world!", "The capital of France is Paris.\n  Indented <|im_start|>?"} {
		code, tk := postJSON(t, url+"/tokenize", `{"model":"smollm2-135m-instruct","prompt":`+strconv.Quote(text)+`}`)
		require.Equal(t, 200, code, tk)
		require.Equal(t, models.Data[0]["max_model_len"], tk["max_model_len"])
		toks, _ := json.Marshal(tk["tokens"])
		code, dt := postJSON(t, url+"/detokenize", `{"tokens":`+string(toks)+`}`)
		require.Equal(t, 200, code, dt)
		require.Equal(t, text, dt["prompt"])
	}
	code, tk := postJSON(t, url+"/tokenize", `{"messages":[{"role":"user","content":"Hi"}]}`)
	require.Equal(t, 200, code, tk)
	toks, _ := json.Marshal(tk["tokens"])
	_, dt := postJSON(t, url+"/detokenize", `{"tokens":`+string(toks)+`}`)
	require.Contains(t, dt["prompt"], "<|im_start|>user\nHi<|im_end|>", "the chat prompt, special tokens shown")

	for origin, status := range map[string]int{"http://app.example": 204, "http://evil.example": 403} {
		req, _ := http.NewRequest(http.MethodOptions, url+"/v1/chat/completions", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		require.Equal(t, status, res.StatusCode, origin)
		if status == 204 {
			require.Equal(t, origin, res.Header.Get("Access-Control-Allow-Origin"))
		}
	}

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-done:
		require.NoError(t, err, "logs: %s", &logs)
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop on SIGTERM")
	}
	done <- nil
}
