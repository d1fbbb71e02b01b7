package engine_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tscale/engine/engine"
	"github.com/tscale/engine/engine/grammar"
	"github.com/tscale/engine/engine/sample"
	"github.com/tscale/engine/internal/testmodels"
	"github.com/tscale/engine/model/tokenizer"
)

const stories = "../../shared/models/stories260K.gguf"

func openStoriesExt(t *testing.T) *engine.Engine {
	t.Helper()
	if _, err := os.Stat(stories); err != nil {
		t.Skipf("%s not found", stories)
	}
	e, err := engine.Open(stories, engine.WithContext(256))
	require.NoError(t, err)
	t.Cleanup(func() { e.Close() })
	return e
}

func constraintGrammars(t *testing.T) map[string]*grammar.Grammar {
	gb, err := grammar.ParseGBNF(`root ::= ("yes" | "no" | "once") " " [a-z]{1,8} ("," " " [a-z]{1,8}){0,3} "."`)
	require.NoError(t, err)
	js, err := grammar.JSONSchema([]byte(`{"type":"object","properties":{"name":{"type":"string","maxLength":12},
		"age":{"type":"integer"},"kind":{"enum":["cat","dog"]}},"required":["name","age","kind"]}`))
	require.NoError(t, err)
	re, err := grammar.Regex(`[A-Z][a-z]{2,6}( [a-z]{2,6}){1,4}\.`)
	require.NoError(t, err)
	return map[string]*grammar.Grammar{"gbnf": gb, "schema": js, "regex": re}
}

// TestConstraintSamples: every sample of a constrained request, greedy and
// sampled, matches the grammar and ends with a stop; its logprobs are those
// of the masked distribution (finite, so never a masked-out token). On
// stories260K, and without -short on SmolLM2 (49k vocabulary) too.
func TestConstraintSamples(t *testing.T) {
	t.Run("stories260K", func(t *testing.T) { constraintSamples(t, openStoriesExt(t)) })
	t.Run("smollm2", func(t *testing.T) {
		if testing.Short() {
			t.Skip("SmolLM2: not under -short")
		}
		p := filepath.Join(testmodels.CacheDir(), "SmolLM2-135M-Instruct.Q4_1.gguf")
		if _, err := os.Stat(p); err != nil {
			t.Skip("run scripts/fetch-model.sh smollm2-135m-instruct")
		}
		e, err := engine.Open(p, engine.WithContext(512))
		require.NoError(t, err)
		defer e.Close()
		constraintSamples(t, e)
	})
}

func constraintSamples(t *testing.T, e *engine.Engine) {
	v := grammar.VocabFor(e.Tokenizer())
	prompt := e.Tokenizer().Encode("Once upon a time", tokenizer.AddSpecial)
	for name, g := range constraintGrammars(t) {
		for _, p := range []sample.Params{{}, {Temperature: 1.2, TopK: 100}} {
			n := 4
			if p.Temperature == 0 {
				n = 1 // greedy samples are all the same
			}
			res, err := e.Generate(context.Background(), engine.Request{Prompt: prompt, N: n, MaxTokens: 160,
				Sampling: p, Seed: 7, Constraint: g.Constraint(v), Logprobs: true}, nil)
			require.NoError(t, err)
			for i, c := range res.Samples {
				require.Equal(t, engine.FinishStop, c.Finish, "%s sample %d: %q", name, i, c.Text)
				require.True(t, g.Match(c.Text), "%s sample %d: %q", name, i, c.Text)
				for _, lp := range c.Logprobs {
					require.Greater(t, lp, float32(-1e30))
				}
			}
		}
	}
}

// failing fails its Mask after three tokens.
type failing struct{}

type failingState struct{ n int }

var errFail = errors.New("no way on")

func (failing) Start() engine.ConstraintState { return &failingState{} }

func (f *failingState) Mask([]float32) error {
	if f.n == 3 {
		return errFail
	}
	return nil
}

func (f *failingState) Accept(int32) error            { f.n++; return nil }
func (f *failingState) Clone() engine.ConstraintState { c := *f; return &c }

// TestConstraintError: a sample whose constraint fails ends with
// FinishError and that error, after the tokens it had.
func TestConstraintError(t *testing.T) {
	e := openStoriesExt(t)
	prompt := e.Tokenizer().Encode("Once upon a time", tokenizer.AddSpecial)
	var errs []error
	res, err := e.Generate(context.Background(), engine.Request{Prompt: prompt, N: 2, MaxTokens: 20, IgnoreEOG: true,
		Constraint: failing{}}, func(ev engine.Event) error {
		if ev.Finish != "" {
			errs = append(errs, ev.Err)
		}
		return nil
	})
	require.ErrorIs(t, err, errFail) // Generate returns the first sample error
	for _, c := range res.Samples {
		require.Equal(t, engine.FinishError, c.Finish)
		require.Len(t, c.Tokens, 3)
	}
	require.Len(t, errs, 2)
	for _, err := range errs {
		require.ErrorIs(t, err, errFail)
	}
	require.Zero(t, e.Stats().KV.Used)
}

// TestConstraintBatchedSame: a constrained request gives the same tokens
// alone and batched with other requests (constrained and not).
func TestConstraintBatchedSame(t *testing.T) {
	e := openStoriesExt(t)
	v := grammar.VocabFor(e.Tokenizer())
	g := constraintGrammars(t)["schema"]
	prompt := e.Tokenizer().Encode("Once upon a time", tokenizer.AddSpecial)
	req := engine.Request{Prompt: prompt, N: 3, MaxTokens: 160, Sampling: sample.Params{Temperature: 1, TopK: 50}, Seed: 42}
	run := func() [][]int32 {
		r := req
		r.Constraint = g.Constraint(v)
		res, err := e.Generate(context.Background(), r, nil)
		require.NoError(t, err)
		var out [][]int32
		for _, c := range res.Samples {
			out = append(out, c.Tokens)
		}
		return out
	}
	alone := run()
	errs := make([]error, 3)
	var wg sync.WaitGroup
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := req
			r.Seed = uint64(100 + i)
			if i%2 == 0 {
				r.Constraint = g.Constraint(v)
			}
			_, errs[i] = e.Generate(context.Background(), r, nil)
		}()
	}
	batched := run()
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	require.Equal(t, alone, batched)
}

// TestConstraintPreempted: constrained requests that a small KV pool
// forces to be preempted and re-forked give the tokens they give alone.
func TestConstraintPreempted(t *testing.T) {
	if _, err := os.Stat(stories); err != nil {
		t.Skipf("%s not found", stories)
	}
	probe, err := engine.Open(stories, engine.WithContext(256), engine.WithBlockSize(16), engine.WithKVBudget(0))
	require.NoError(t, err)
	perBlock := probe.Stats().KVBytesPerBlock
	probe.Close()
	e, err := engine.Open(stories, engine.WithContext(256), engine.WithBlockSize(16), engine.WithKVBudget(36*perBlock))
	require.NoError(t, err)
	defer e.Close()
	ref := openStoriesExt(t)
	g := constraintGrammars(t)["schema"]
	prompt := e.Tokenizer().Encode("Once upon a time", tokenizer.AddSpecial)
	reqs := make([]engine.Request, 6)
	if testing.Short() {
		reqs = reqs[:4]
	}
	want := make([][]engine.Completion, len(reqs))
	for i := range reqs {
		reqs[i] = engine.Request{Prompt: prompt, N: 3, MaxTokens: 150, Sampling: sample.Params{Temperature: 1, TopK: 50}, Seed: uint64(10 * i),
			Constraint: g.Constraint(grammar.VocabFor(ref.Tokenizer()))}
		res, err := ref.Generate(context.Background(), reqs[i], nil)
		require.NoError(t, err)
		want[i] = res.Samples
	}
	// Queued back to back from one goroutine, so all want blocks at once
	// however fast the engine runs.
	chans := make([]<-chan engine.Event, len(reqs))
	for i := range reqs {
		r := reqs[i]
		r.Constraint = g.Constraint(grammar.VocabFor(e.Tokenizer()))
		ch, err := e.Stream(context.Background(), r)
		require.NoError(t, err)
		chans[i] = ch
	}
	got := make([][]engine.Completion, len(reqs))
	for i, ch := range chans {
		got[i] = make([]engine.Completion, reqs[i].N)
		for ev := range ch {
			require.NoError(t, ev.Err, "request %d sample %d", i, ev.Sample)
			c := &got[i][ev.Sample]
			if ev.Token >= 0 {
				c.Tokens = append(c.Tokens, ev.Token)
			}
			c.Text += ev.Text
		}
	}
	require.Positive(t, e.Stats().Preemptions, "the pool should force preemption")
	for i := range reqs {
		for j := range want[i] {
			require.Equal(t, want[i][j].Tokens, got[i][j].Tokens, "request %d sample %d", i, j)
			require.True(t, g.Match(got[i][j].Text), "%q", got[i][j].Text)
		}
	}
}

// BenchmarkConstrained: decode throughput with and without a JSON schema
// constraint, N = 1 and 16 samples, on SmolLM2 (tok/s of generated tokens,
// prompt prefill included). The constrained samples stop when their JSON
// is complete (about 19 tokens): "none-20" is unconstrained at that length,
// the fair comparison; "none" runs the full 48.
func BenchmarkConstrained(b *testing.B) {
	p := filepath.Join(testmodels.CacheDir(), "SmolLM2-135M-Instruct.Q4_1.gguf")
	if _, err := os.Stat(p); err != nil {
		b.Skip("run scripts/fetch-model.sh smollm2-135m-instruct")
	}
	e, err := engine.Open(p, engine.WithContext(512))
	require.NoError(b, err)
	defer e.Close()
	g, err := grammar.JSONSchema([]byte(`{"type":"object","properties":{"name":{"type":"string","maxLength":24},
		"age":{"type":"integer"},"city":{"type":"string","maxLength":24}},"required":["name","age","city"]}`))
	require.NoError(b, err)
	v := grammar.VocabFor(e.Tokenizer())
	prompt := e.Tokenizer().Encode("A person described as JSON with name, age and city:", tokenizer.AddSpecial)
	for _, n := range []int{1, 16} {
		for _, kind := range []string{"none", "none-20", "schema"} {
			b.Run(fmt.Sprintf("N=%d/%s", n, kind), func(b *testing.B) {
				req := engine.Request{Prompt: prompt, N: n, MaxTokens: 48, Sampling: sample.Params{Temperature: 0.8, TopK: 40}, Seed: 1}
				tokens := 0
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					switch kind {
					case "schema":
						req.Constraint = g.Constraint(v)
					case "none-20":
						req.MaxTokens = 20
					}
					res, err := e.Generate(context.Background(), req, nil)
					require.NoError(b, err)
					for _, c := range res.Samples {
						tokens += len(c.Tokens)
					}
				}
				b.ReportMetric(float64(tokens)/b.Elapsed().Seconds(), "tok/s")
				b.ReportMetric(float64(tokens)/float64(b.N*n), "tokens/sample")
			})
		}
	}
}
