package server

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tscale/engine/engine"
	"github.com/tscale/engine/engine/grammar"
	"github.com/tscale/engine/engine/sample"
	"github.com/tscale/engine/internal/testmodels"
	"github.com/tscale/engine/model/tokenizer"
)

// listSchema keeps a sample going for a while: up to 12 bounded strings.
const listSchema = `{"type":"object","properties":{"pets":{"type":"array","minItems":8,"maxItems":12,
	"items":{"type":"object","properties":{"name":{"type":"string","maxLength":12},"pet":{"enum":["cat","dog","bird"]}},
	"required":["name","pet"],"additionalProperties":false}}},"required":["pets"],"additionalProperties":false}`

// BenchmarkConstrained is the throughput cost of a JSON schema on the
// default model: generated tokens per second at N = 1 and 16 samples,
// without and with the constraint. Unconstrained samples ignore EOG and
// run to max_tokens; constrained ones end where the schema does, so
// tok/s is the figure to compare (tokens/sample says how far they ran).
//
//	scripts/fetch-model.sh smollm2-135m-instruct
//	go test -run '^$' -bench BenchmarkConstrained -benchtime 3x -timeout 30m ./server/
func BenchmarkConstrained(b *testing.B) {
	path := filepath.Join(testmodels.CacheDir(), "SmolLM2-135M-Instruct.Q4_1.gguf")
	if _, err := os.Stat(path); err != nil {
		b.Skipf("default model absent (scripts/fetch-model.sh smollm2-135m-instruct): %v", err)
	}
	e, err := engine.Open(path, engine.WithContext(2048))
	require.NoError(b, err)
	defer e.Close()
	tok := e.Tokenizer()
	prompt := tok.Encode("<|im_start|>user\nList some pets as JSON.<|im_end|>\n<|im_start|>assistant\n", tokenizer.ParseSpecial)
	g, err := grammar.JSONSchema([]byte(listSchema))
	require.NoError(b, err)
	c := g.Constraint(grammar.VocabFor(tok))
	for _, n := range []int{1, 16} {
		for _, kind := range []string{"none", "schema"} {
			b.Run(fmt.Sprintf("N=%d/%s", n, kind), func(b *testing.B) {
				req := engine.Request{Prompt: prompt, N: n, MaxTokens: 128, Sampling: sample.Params{Temperature: 1}}
				if kind == "schema" {
					req.Constraint = c
				} else {
					req.IgnoreEOG = true
				}
				tokens, samples := 0, 0
				var spent time.Duration
				for i := 0; b.Loop(); i++ {
					req.Seed = uint64(i * n)
					start := time.Now()
					res, err := e.Generate(context.Background(), req, nil)
					spent += time.Since(start)
					require.NoError(b, err)
					for _, s := range res.Samples {
						require.NotEqual(b, engine.FinishError, s.Finish)
						tokens += len(s.Tokens)
						samples++
					}
				}
				b.ReportMetric(float64(tokens)/spent.Seconds(), "tok/s")
				b.ReportMetric(float64(tokens)/float64(samples), "tokens/sample")
			})
		}
	}
}
