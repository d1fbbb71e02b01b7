package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tscale/engine/model/gguf"
	"github.com/tscale/engine/model/registry"
)

// TestMain lets the tests run this test binary as the engine command
// (ENGINE_TEST_MAIN=1), a real process without a go build.
func TestMain(m *testing.M) {
	if os.Getenv("ENGINE_TEST_MAIN") == "1" {
		main()
	}
	os.Exit(m.Run())
}

func TestModelsList(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("ENGINE_CACHE", dir)
	m, err := registry.Lookup("smollm2-135m-instruct")
	require.NoError(t, err)
	// A file of the right size counts as cached (the sha256 is checked on use).
	p := filepath.Join(dir, "models", m.Files[0].Path)
	require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
	f, err := os.Create(p)
	require.NoError(t, err)
	require.NoError(t, f.Truncate(m.Files[0].Size))
	f.Close()

	code, out, errOut := cli("models")
	require.Equal(t, 0, code, errOut)
	lines := strings.Split(out, "\n")
	require.Regexp(t, `^NAME\s+SIZE\s+CACHED\s+ABOUT$`, lines[0])
	require.Regexp(t, `^smollm2-135m-instruct\s+98\.4 MB\s+`+p+`\s+SmolLM2`, lines[1])
	require.Regexp(t, `^gemma3-270m\s+253\.1 MB\s+no\s+Gemma`, lines[2])
	require.Regexp(t, `^gpt-oss-vocab\s+27\.9 MB\s+no\s+`, lines[3])
	require.Contains(t, out, "cache: "+filepath.Join(dir, "models"))
}

// TestUnknownName: every command taking a model names the known ones.
func TestUnknownName(t *testing.T) {
	t.Setenv("ENGINE_CACHE", t.TempDir())
	const want = `unknown model name "llama-9000" (known: smollm2-135m-instruct, gemma3-270m, gpt-oss-vocab)`
	for _, args := range [][]string{
		{"run", "-m", "llama-9000", "-p", "x"},
		{"chat", "-m", "llama-9000"},
		{"info", "llama-9000"},
		{"tokenize", "-m", "llama-9000", "x"},
		{"serve", "-m", "llama-9000", "--addr", "127.0.0.1:0"},
		{"pull", "llama-9000"},
	} {
		code, _, errOut := cli(args...)
		require.Equal(t, 1, code, args)
		require.Contains(t, errOut, want, args)
		require.Equal(t, 1, strings.Count(errOut, "\n"), errOut)
	}
	code, _, errOut := cli("run", "-m", "gpt-oss-vocab", "-p", "x")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "gpt-oss-vocab is a tokenizer, not a GGUF model")
}

// TestServeChecksBeforeListening: a model that cannot load fails before
// the port opens: on a port already taken the error is the model's, not
// the port's.
func TestServeChecksBeforeListening(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	taken := ln.Addr().String()
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.gguf")
	require.NoError(t, os.WriteFile(bad, []byte("GGUF\x03\x00\x00\x00"), 0o644))
	for _, c := range []struct{ model, want string }{
		{filepath.Join(dir, "missing.gguf"), "no such file"},
		{bad, "truncated"},
	} {
		code, _, errOut := cli("serve", "-m", c.model, "--addr", taken)
		require.Equal(t, 1, code)
		require.Contains(t, errOut, c.want)
		require.NotContains(t, errOut, "address already in use")
	}
	need(t, stories)
	// A file whose header and tokenizer are fine but that lacks a tensor
	// the model needs fails on the tensor, before the port.
	src, err := gguf.Open(stories)
	require.NoError(t, err)
	w := gguf.NewWriter()
	for _, kv := range src.KVs {
		if kv.Key != "general.alignment" {
			require.NoError(t, w.Set(kv.Key, kv.Value))
		}
	}
	for i := range src.Tensors {
		ti := &src.Tensors[i]
		if ti.Name != "blk.0.attn_q.weight" {
			require.NoError(t, w.AddTensor(ti.Name, ti.Type, ti.Shape, src.Data(ti)))
		}
	}
	noQ := filepath.Join(dir, "no-q.gguf")
	require.NoError(t, w.WriteFile(noQ))
	require.NoError(t, src.Close())
	code, _, errOut := cli("serve", "-m", noQ, "--addr", taken)
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "blk.0.attn_q.weight")
	require.NotContains(t, errOut, "address already in use")

	code, _, errOut = cli("serve", "-m", stories, "--addr", taken)
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "address already in use", "a good model gets as far as the port")
}

func TestServeFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--addr", "127.0.0.1:0", "--port", "9"}, "serve: give --addr or --host/--port, not both"},
		{[]string{"--addr", "127.0.0.1:0", "--host", "0.0.0.0"}, "serve: give --addr or --host/--port, not both"},
		{[]string{"--port", "70000"}, "serve: --port must be 0 to 65535, got 70000"},
		{[]string{"--allowed-origins", "app.example"}, `--allowed-origins: "app.example" is not an origin (scheme://host[:port]) nor *`},
		{[]string{"--allowed-origins", "http://a.example,https://b.example/path"}, `"https://b.example/path" is not an origin`},
	} {
		code, _, errOut := cli(append([]string{"serve", "-m", "x.gguf"}, c.args...)...)
		require.Equal(t, 1, code, c.args)
		require.Contains(t, errOut, c.want, c.args)
	}
	got, err := parseOrigins(" http://a.example , https://b.example:8443/,*")
	require.NoError(t, err)
	require.Equal(t, []string{"http://a.example", "https://b.example:8443", "*"}, got)
	got, err = parseOrigins("")
	require.NoError(t, err)
	require.Empty(t, got)
}
