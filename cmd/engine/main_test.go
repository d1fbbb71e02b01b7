package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const stories = "../../../shared/models/stories260K.gguf"

func need(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		t.Skipf("%s not found: ../shared must sit beside the repository", path)
	}
}

func cli(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = execute(args, &o, &e)
	return code, o.String(), e.String()
}

func TestTokenizeJSON(t *testing.T) {
	need(t, stories)
	code, out, errOut := cli("tokenize", "-m", stories, "--json", "Once upon a time")
	require.Equal(t, 0, code, errOut)
	var ids []int32
	require.NoError(t, json.Unmarshal([]byte(out), &ids))
	require.Equal(t, []int32{1, 403, 407, 261, 378}, ids)
}

func TestRunGreedy(t *testing.T) {
	need(t, stories)
	code, out, errOut := cli("run", "-m", stories, "-p", "Once upon a time", "-n", "30", "--greedy")
	require.Equal(t, 0, code, errOut)
	require.True(t, strings.HasPrefix(out, "Once upon a time, there was a little girl named Lily. She loved to play outside in the park."), out)
}

func TestInfo(t *testing.T) {
	need(t, stories)
	code, out, errOut := cli("info", stories)
	require.Equal(t, 0, code, errOut)
	for _, want := range []string{"architecture", "llama", "llama.block_count", "token_embd.weight", "[64 512]", "131072", "vocab", "512"} {
		require.Contains(t, out, want)
	}
}

// TestErrors checks that bad input gives one clear line and exit status 1.
func TestErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.gguf")
	require.NoError(t, os.WriteFile(bad, []byte("GGUX\x03\x00\x00\x00"), 0o644))
	trunc := filepath.Join(dir, "trunc.gguf")
	if b, err := os.ReadFile(stories); err == nil {
		require.NoError(t, os.WriteFile(trunc, b[:len(b)/2], 0o644))
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"missing file", []string{"run", "-m", filepath.Join(dir, "nope.gguf"), "-p", "x"}, "no such file"},
		{"wrong magic", []string{"info", bad}, "magic"},
		{"no model flag", []string{"run", "-p", "x"}, "--model is required"},
		{"bad top-p", []string{"run", "-m", bad, "-p", "x", "--top-p", "2"}, "top-p"},
		{"unknown command", []string{"frobnicate"}, "unknown command"},
		{"truncated", []string{"run", "-m", trunc, "-p", "x"}, "truncated"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "truncated" {
				need(t, stories)
			}
			code, _, errOut := cli(tc.args...)
			require.Equal(t, 1, code)
			require.Contains(t, errOut, tc.want)
			require.Equal(t, 1, strings.Count(errOut, "\n"), "one line: %q", errOut)
			require.True(t, strings.HasPrefix(errOut, "engine: "), errOut)
		})
	}
}
