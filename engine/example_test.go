package engine_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tscale/engine/engine"
	"github.com/tscale/engine/engine/sample"
	"github.com/tscale/engine/engine/strategy"
	"github.com/tscale/engine/model/tokenizer"
)

// The README's Go snippet, as written: TestReadmeSnippet keeps the two
// identical and runs it on stories260K.
func Example() {
	ctx := context.Background()
	e, err := engine.Open("model.gguf", engine.WithThreads(2), engine.WithKVBudget(512<<20))
	if err != nil {
		log.Fatal(err)
	}
	defer e.Close()
	ids := e.Tokenizer().Encode("Q: 17+25=? A:", tokenizer.AddSpecial)

	// 16 samples of one prompt: one prefill, copy-on-write forks, batched decoding.
	req := engine.Request{
		Prompt: ids, N: 16, MaxTokens: 64, Seed: 1,
		Sampling: sample.Params{Temperature: 0.8, TopP: 0.95},
		Stop:     []string{"\n\n"}, Logprobs: true,
	}
	res, err := e.Generate(ctx, req, nil) // or e.Stream(ctx, req) for per-sample token events
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%q\n", res.Samples[0].Text)

	// Self-consistency: majority vote over extracted answers, stopping early once decided.
	v, err := strategy.Vote(ctx, e, req, strategy.VoteOptions{Extract: strategy.LastNumber})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(v.Answer, v) // e.g. "42 42×9 17×2 (3 abstained)"

	// Step-by-step sequences for custom search: Fork shares KV blocks.
	s, err := e.NewSeq(ctx, ids)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	c, err := s.Fork()
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	yes, no := e.Tokenizer().Encode(" yes"), e.Tokenizer().Encode(" no")
	if err := e.ExtendAll(ctx, []*engine.Seq{s, c}, [][]int32{yes, no}); err != nil { // one batched step
		log.Fatal(err)
	}
	fmt.Println(s.Len(), c.Len(), len(c.Logits())) // each has the logits of its next token
}

// TestReadmeSnippet: README.md's Go snippet is Example's body, and it runs
// (on stories260K, as model.gguf).
func TestReadmeSnippet(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	m := regexp.MustCompile("(?s)## Go API\n.*?```go\n(.*?)```").FindSubmatch(readme)
	require.NotNil(t, m, "README.md has no Go snippet under '## Go API'")
	src, err := os.ReadFile("example_test.go")
	require.NoError(t, err)
	b := regexp.MustCompile(`(?s)\nfunc Example\(\) \{\n(.*?)\n\}\n`).FindSubmatch(src)
	require.NotNil(t, b, "no func Example() in example_test.go")
	var body strings.Builder
	for _, line := range strings.SplitAfter(string(b[1])+"\n", "\n") {
		body.WriteString(strings.TrimPrefix(line, "\t"))
	}
	require.Equal(t, body.String(), string(m[1]), "README.md's Go snippet and Example() in engine/example_test.go differ")

	model, err := filepath.Abs("../../shared/models/stories260K.gguf")
	require.NoError(t, err)
	if _, err := os.Stat(model); err != nil {
		t.Skipf("%s is absent: %v", model, err)
	}
	dir := t.TempDir()
	require.NoError(t, os.Symlink(model, filepath.Join(dir, "model.gguf")))
	t.Chdir(dir)
	out := captureStdout(t, Example)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 3, "%s", out)
	require.Regexp(t, `^".*"$`, lines[0])
	require.Regexp(t, `(^| )(no votes|\S+×\d+)( \(\d+ abstained\))?$`, lines[1])
	require.Regexp(t, `^\d+ \d+ 512$`, lines[2]) // stories260K's vocabulary
}

// captureStdout runs fn and returns what it printed.
func captureStdout(t *testing.T, fn func()) string {
	r, w, err := os.Pipe()
	require.NoError(t, err)
	var out bytes.Buffer
	done := make(chan struct{})
	go func() { io.Copy(&out, r); close(done) }()
	stdout := os.Stdout
	os.Stdout = w
	defer func() { os.Stdout = stdout }()
	fn()
	w.Close()
	<-done
	return out.String()
}

// Four samples of one prompt: the prompt is prefilled once and the samples
// share its KV blocks; sample i draws with seed Seed+i, so the output is
// reproducible. (Needs ../shared/models/stories260K.gguf beside the
// repository.)
func ExampleEngine_Generate() {
	e, err := engine.Open("../../shared/models/stories260K.gguf", engine.WithContext(256))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer e.Close()
	req := engine.Request{
		Prompt:    e.Tokenizer().Encode("Once upon a time", tokenizer.AddSpecial),
		N:         4,
		MaxTokens: 12,
		Sampling:  sample.Params{Temperature: 0.8, TopK: 40},
		Seed:      42,
	}
	res, err := e.Generate(context.Background(), req, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	for i, s := range res.Samples {
		fmt.Printf("%d: %q (%s)\n", i, s.Text, s.Finish)
	}
	// Output:
	// 0: ", there was a terrible little gir" (length)
	// 1: ", there was a little girl named Lily. She" (length)
	// 2: ", there was a brave kid. The" (length)
	// 3: " there was a little girl named Lily. She lo" (length)
}
