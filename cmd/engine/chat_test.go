package main

import (
	"bufio"
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tscale/engine/engine"
	"github.com/tscale/engine/internal/testmodels"
	"github.com/tscale/engine/server"
)

// TestRunChat checks that --chat generates from the chat prompt `engine
// serve` would build (stories260K has no template: the fallback one) and
// prints only the reply.
func TestRunChat(t *testing.T) {
	need(t, stories)
	code, out, errOut := cli("run", "-m", stories, "--chat", "--system", "Stories only.", "-p", "Once upon a time", "-n", "12", "--greedy")
	require.Equal(t, 0, code, errOut)

	e, err := engine.Open(stories)
	require.NoError(t, err)
	defer e.Close()
	c, err := server.ChatPrompt(e, server.FormatAuto, []server.ChatMessage{
		{Role: "system", Content: "Stories only."}, {Role: "user", Content: "Once upon a time"}}, "", time.Now())
	require.NoError(t, err)
	require.Equal(t, "System: Stories only.\nUser: Once upon a time\nAssistant:", c.Text)
	res, err := e.Generate(context.Background(), engine.Request{Prompt: c.Prompt, MaxTokens: 12}, nil)
	require.NoError(t, err)
	require.Equal(t, res.Samples[0].Text+"\n", out)
	require.NotContains(t, out, "User:")
}

func TestRunChatErrors(t *testing.T) {
	need(t, stories)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--system", "x"}, "--system, --chat-format and --reasoning-effort need --chat"},
		{[]string{"--chat", "--chat-format", "chatml"}, `unknown --chat-format "chatml" (auto, jinja, harmony)`},
		{[]string{"--chat", "--reasoning-effort", "max"}, `--reasoning-effort must be low, medium or high, got "max"`},
		{[]string{"--chat", "--chat-format", "harmony"}, "chat format harmony: the vocabulary has no <|start|> token"},
	} {
		code, _, errOut := cli(append([]string{"run", "-m", stories, "-p", "hi", "-n", "2"}, tc.args...)...)
		require.Equal(t, 1, code)
		require.Contains(t, errOut, tc.want)
	}
}

// TestRunChatUntrustedTemplate runs --chat on model files whose chat
// templates recurse without end or multiply a string by 10^10: a one-line
// error naming the limit, no crash.
func TestRunChatUntrustedTemplate(t *testing.T) {
	need(t, stories)
	for _, tc := range []struct{ tmpl, want string }{
		{"{% macro f(x) %}{{ f(x) }}{% endmacro %}{{ f(1) }}", "chat template exceeds the recursion limit (64 nested calls or 4000 nested expressions)"},
		{`{{ "x" * 10000000000 }}`, "chat template exceeds the output limit (16777216 bytes)"},
		{"{{ raise_exception('no system messages') }}", "chat template: no system messages"},
	} {
		path := filepath.Join(t.TempDir(), "m.gguf")
		require.NoError(t, testmodels.WithChatTemplate(stories, path, tc.tmpl))
		code, out, errOut := cli("run", "-m", path, "--chat", "-p", "hi", "-n", "2")
		require.Equal(t, 1, code)
		require.Empty(t, out)
		require.Contains(t, errOut, tc.want)
		require.Equal(t, 1, strings.Count(strings.TrimSpace(errOut), "\n")+1, "%q", errOut)
	}
}

// TestHarmonyPrinter feeds a harmony reply in small pieces: the analysis
// goes to stderr, the final answer to stdout, no marker to either.
func TestHarmonyPrinter(t *testing.T) {
	reply := "<|channel|>analysis<|message|>Add them.<|end|><|start|>assistant<|channel|>final<|message|>2 + 2 = 4<|return|>"
	for _, size := range []int{1, 3, 7, len(reply)} {
		var out, errw bytes.Buffer
		w := bufio.NewWriter(&out)
		emit := harmonyPrinter(w, &errw)
		for i := 0; i < len(reply); i += size {
			require.NoError(t, emit(reply[i:min(i+size, len(reply))]))
		}
		require.NoError(t, emit(""))
		require.Equal(t, "2 + 2 = 4", out.String(), "pieces of %d", size)
		require.Equal(t, "Add them.", errw.String(), "pieces of %d", size)
		require.False(t, strings.Contains(out.String()+errw.String(), "<|"))
	}
}
