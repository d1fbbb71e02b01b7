//go:build unix

package server

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
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
// On a shared machine wall time is noisy: cpu-ms/token (the process's CPU
// time) and mask-µs/token (time inside Mask and Accept) hold up better.
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
	var maskNS atomic.Int64
	c := timed{g.Constraint(grammar.VocabFor(tok)), &maskNS}
	for _, n := range []int{1, 16} {
		for _, kind := range []string{"none", "schema"} {
			b.Run(fmt.Sprintf("N=%d/%s", n, kind), func(b *testing.B) {
				req := engine.Request{Prompt: prompt, N: n, MaxTokens: 128, Sampling: sample.Params{Temperature: 1}}
				if kind == "schema" {
					req.Constraint = c
				} else {
					req.IgnoreEOG = true
				}
				maskNS.Store(0)
				tokens, samples := 0, 0
				var spent, cpu time.Duration
				for i := 0; b.Loop(); i++ {
					req.Seed = uint64(i * n)
					start, cpu0 := time.Now(), cpuTime()
					res, err := e.Generate(context.Background(), req, nil)
					spent += time.Since(start)
					cpu += cpuTime() - cpu0
					require.NoError(b, err)
					for _, s := range res.Samples {
						require.NotEqual(b, engine.FinishError, s.Finish)
						tokens += len(s.Tokens)
						samples++
					}
				}
				b.ReportMetric(float64(tokens)/spent.Seconds(), "tok/s")
				b.ReportMetric(float64(tokens)/float64(samples), "tokens/sample")
				b.ReportMetric(cpu.Seconds()*1e3/float64(tokens), "cpu-ms/token")
				b.ReportMetric(float64(maskNS.Load())/1e3/float64(tokens), "mask-µs/token")
			})
		}
	}
}

// cpuTime is the process's user + system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// timed adds the time spent in Mask and Accept to ns.
type timed struct {
	c  engine.Constraint
	ns *atomic.Int64
}

type timedState struct {
	s  engine.ConstraintState
	ns *atomic.Int64
}

func (t timed) Start() engine.ConstraintState { return &timedState{t.c.Start(), t.ns} }

func (t *timedState) Mask(logits []float32) error {
	start := time.Now()
	err := t.s.Mask(logits)
	t.ns.Add(int64(time.Since(start)))
	return err
}

func (t *timedState) Accept(id int32) error {
	start := time.Now()
	err := t.s.Accept(id)
	t.ns.Add(int64(time.Since(start)))
	return err
}

func (t *timedState) Clone() engine.ConstraintState { return &timedState{t.s.Clone(), t.ns} }
