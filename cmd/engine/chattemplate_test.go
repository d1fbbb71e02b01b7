package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tscale/engine/engine"
	"github.com/tscale/engine/engine/chat"
)

// TestRunChatTemplateFile: --chat-template FILE replaces the model's
// template (stories260K has none: the fallback would say "User:").
func TestRunChatTemplateFile(t *testing.T) {
	need(t, stories)
	path := filepath.Join(t.TempDir(), "t.jinja")
	src := "{% for m in messages %}<<{{ m.role }}>> {{ m.content }}\n{% endfor %}{% if add_generation_prompt %}<<assistant>>{% endif %}"
	require.NoError(t, os.WriteFile(path, []byte(src), 0o644))
	code, out, errOut := cli("run", "-m", stories, "--chat", "--chat-template", path, "-p", "Once upon a time", "-n", "10", "--greedy")
	require.Equal(t, 0, code, errOut)

	e, err := engine.Open(stories)
	require.NoError(t, err)
	defer e.Close()
	f, err := chat.New(e, chat.FormatAuto, src)
	require.NoError(t, err)
	c, err := f.Render(context.Background(), e.Tokenizer(), &chat.Request{Messages: []chat.Message{{Role: "user", Content: "Once upon a time"}}})
	require.NoError(t, err)
	require.Equal(t, "<<user>> Once upon a time\n<<assistant>>", c.Text)
	res, err := e.Generate(context.Background(), engine.Request{Prompt: c.Prompt, MaxTokens: 10}, nil)
	require.NoError(t, err)
	require.Equal(t, res.Samples[0].Text+"\n", out)

	for _, tc := range []struct{ args []string }{
		{[]string{"--chat-template", path}},                                         // without --chat
		{[]string{"--chat", "--chat-template", filepath.Join(t.TempDir(), "none")}}, // no such file
	} {
		code, _, _ := cli(append([]string{"run", "-m", stories, "-p", "hi", "-n", "2"}, tc.args...)...)
		require.Equal(t, 1, code, tc.args)
	}
}
