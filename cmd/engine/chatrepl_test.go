package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func chatCLI(stdin string, args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = executeIn(append([]string{"chat"}, args...), strings.NewReader(stdin), &o, &e)
	return code, o.String(), e.String()
}

var turnStats = regexp.MustCompile(`(\d+) prompt tokens, (\d+) generated`)

// promptTokens are the prompt sizes of each turn, from --stats.
func promptTokens(t *testing.T, stderr string) (prompts, gens []int) {
	for _, m := range turnStats.FindAllStringSubmatch(stderr, -1) {
		p, _ := strconv.Atoi(m[1])
		g, _ := strconv.Atoi(m[2])
		prompts, gens = append(prompts, p), append(gens, g)
	}
	return prompts, gens
}

// TestChatPipe: a conversation through a pipe: each line a turn whose
// prompt holds the turns before, /clear starts again, /bye ends (what
// follows it is not read as a turn).
func TestChatPipe(t *testing.T) {
	need(t, stories)
	in := "Once upon a time\n\nThe end\n/clear\nOnce upon a time\n/nope\n/bye\nnever answered\n"
	code, out, errOut := chatCLI(in, "-m", stories, "--greedy", "-n", "8", "--stats", "-t", "2")
	require.Equal(t, 0, code, errOut)
	answers := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	require.Len(t, answers, 3, "three turns: %q", out)
	require.Equal(t, answers[0], answers[2], "after /clear the same question gets the same (greedy) answer")
	prompts, gens := promptTokens(t, errOut)
	require.Len(t, prompts, 3, errOut)
	require.Greater(t, prompts[1], prompts[0]+gens[0], "the second turn's prompt holds the first turn")
	require.Equal(t, prompts[0], prompts[2], "/clear forgets the conversation")
	require.Contains(t, errOut, "Cleared the conversation.")
	require.Contains(t, errOut, "Unknown command /nope")
	require.NotContains(t, out, ">>>", "no prompt when stdin is not a terminal")
}

// TestChatTemplateFlag: --chat-template replaces the GGUF's template.
func TestChatTemplateFlag(t *testing.T) {
	need(t, stories)
	tmpl := filepath.Join(t.TempDir(), "t.jinja")
	require.NoError(t, os.WriteFile(tmpl, []byte("{% for m in messages %}{{ m.content }}{% endfor %}"), 0o644))
	// The template makes the prompt the bare text, so the chat answers as run continues it.
	code, out, errOut := chatCLI("Once upon a time\n", "-m", stories, "--greedy", "-n", "12", "--chat-template", tmpl)
	require.Equal(t, 0, code, errOut)
	_, runOut, _ := cli("run", "-m", stories, "-p", "Once upon a time", "-n", "12", "--greedy")
	require.Equal(t, strings.TrimPrefix(runOut, "Once upon a time"), out)
}

func TestChatEOFAndErrors(t *testing.T) {
	need(t, stories)
	code, out, errOut := chatCLI("Hello", "-m", stories, "--greedy", "-n", "4", "-t", "2")
	require.Equal(t, 0, code, errOut)
	require.NotEmpty(t, strings.TrimSpace(out), "a last line without a newline is a turn; EOF ends the chat")

	// A conversation longer than the context is reported, and the chat goes on.
	long := strings.Repeat("Once upon a time there was a cat. ", 40) + "\n/clear\nHi\n"
	code, out, errOut = chatCLI(long, "-m", stories, "--greedy", "-n", "4", "-t", "2", "-c", "64")
	require.Equal(t, 0, code, errOut)
	require.Contains(t, errOut, "fills the context of 64 tokens; /clear starts again")
	require.NotEmpty(t, strings.TrimSpace(out))

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{}, "chat: --model is required"},
		{[]string{"-m", stories, "--chat-format", "chatml"}, `chat: unknown --chat-format "chatml"`},
		{[]string{"-m", stories, "--top-p", "2"}, "chat: need -n >= 0"},
		{[]string{"-m", stories, "--reasoning-effort", "max"}, "chat: --reasoning-effort must be low, medium or high"},
		{[]string{"-m", stories, "--chat-template", "/nonexistent.jinja"}, "chat: --chat-template: open /nonexistent.jinja"},
	} {
		code, _, errOut := chatCLI("", c.args...)
		require.Equal(t, 1, code, c.args)
		require.Contains(t, errOut, c.want)
	}
}
