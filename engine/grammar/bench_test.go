package grammar

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tscale/engine/internal/testmodels"
	"github.com/tscale/engine/model/gguf"
	"github.com/tscale/engine/model/tokenizer"
)

// Benchmark documents: each grammar kind with a valid output, tokenized
// by the model's own tokenizer.
var benchKinds = []struct {
	name    string
	compile func() (*Grammar, error)
	doc     string
}{
	{"schema", func() (*Grammar, error) {
		return compileSchema([]byte(`{"type":"object","properties":{
			"name":{"type":"string"},"age":{"type":"integer"},"email":{"type":"string","format":"email"},
			"tags":{"type":"array","items":{"enum":["math","poetry","engines"]},"maxItems":3},
			"address":{"type":"object","properties":{"street":{"type":"string"},"city":{"type":"string"}},"required":["street","city"]},
			"active":{"type":"boolean"}},"required":["name","age","tags","address","active"]}`))
	}, `{"name": "Ada Lovelace", "age": 36, "email": "ada@example.com", "tags": ["math", "poetry"], "address": {"street": "12 St James's Square", "city": "London"}, "active": true}`},
	{"json_object", func() (*Grammar, error) { return compileSchema([]byte(`{"type":"object"}`)) },
		`{"id": 7, "items": [{"sku": "A-1", "qty": 2, "price": 9.5}, {"sku": "B-22", "qty": 1, "price": 120}], "note": "leave at the door", "paid": false}`},
	{"gbnf", func() (*Grammar, error) {
		return compileGBNF("root ::= item+\nitem ::= \"- \" [A-Z] [^\\n]* \"\\n\"")
	}, "- Buy milk and bread\n- Call the plumber about the kitchen sink\n- Finish the grammar benchmark\n- Read a chapter\n"},
	{"regex", func() (*Grammar, error) { return compileRegex(`([A-Z][a-z']*( [a-z',]+)*[.!?] ?){1,4}`) },
		"The quick brown fox jumps over the lazy dog. It was, by all accounts, a fine day!"},
}

type benchVocab struct {
	tok *tokenizer.Tokenizer
	v   *Vocab
}

var (
	benchVocabsOnce sync.Once
	benchVocabs     map[string]benchVocab
)

// loadBenchVocabs reads SmolLM2's (49k) and gpt-oss's (201k) tokenizers
// when scripts/fetch-model.sh has cached them.
func loadBenchVocabs(tb testing.TB) map[string]benchVocab {
	benchVocabsOnce.Do(func() {
		benchVocabs = map[string]benchVocab{}
		if f, err := gguf.Open(filepath.Join(testmodels.CacheDir(), "SmolLM2-135M-Instruct.Q4_1.gguf")); err == nil {
			if tok, err := tokenizer.FromGGUF(f); err == nil {
				benchVocabs["smollm2-49k"] = benchVocab{tok, VocabFor(tok)}
			}
		}
		path := testmodels.GPTOSSTokenizer()
		tj, err := os.ReadFile(path)
		if err != nil {
			return
		}
		cfg, _ := os.ReadFile(filepath.Join(filepath.Dir(path), "tokenizer_config.json"))
		kvs, err := tokenizer.HFToGGUF(tokenizer.HFInput{Tokenizer: tj, Config: cfg, VocabSize: 201088, Pre: "gpt-4o"})
		if err != nil {
			return
		}
		w := gguf.NewWriter()
		_ = w.Set("general.architecture", "gpt-oss")
		for _, kv := range kvs {
			_ = w.Set(kv.Key, kv.Value)
		}
		var b bytes.Buffer
		if _, err := w.WriteTo(&b); err != nil {
			return
		}
		f, err := gguf.Parse(b.Bytes(), "gpt-oss-vocab")
		if err != nil {
			return
		}
		if tok, err := tokenizer.FromGGUF(f); err == nil {
			benchVocabs["gptoss-201k"] = benchVocab{tok, VocabFor(tok)}
		}
	})
	if len(benchVocabs) == 0 {
		tb.Skip("no cached tokenizer: run scripts/fetch-model.sh smollm2-135m-instruct (and gpt-oss-vocab)")
	}
	return benchVocabs
}

// BenchmarkMask times Mask (the token mask applied to a logits row) at each
// step of a valid document, tokenized by the model, then Accept. "first"
// compiles the grammar afresh for every document (bypassing the compile
// cache) and empties the masks shared between grammars, so every state's
// mask is computed by walking the vocabulary trie: the first request of a
// process. "cold" keeps the shared masks (the inside of JSON strings, say):
// a request with a new schema once others ran. "warm" reuses one grammar,
// as later requests with the same schema do through the compile cache, so
// masks come from the per-state cache (primed by one unmeasured document). Reported: mean and
// p99 of the Mask calls in µs of wall time and of the thread's CPU time
// (cpuµs: what one core spends, whatever else the machine runs); ns/op is
// one document's masks.
func BenchmarkMask(b *testing.B) {
	vocabs := loadBenchVocabs(b)
	for _, k := range benchKinds {
		for _, vname := range []string{"smollm2-49k", "gptoss-201k"} {
			bv, ok := vocabs[vname]
			if !ok {
				continue
			}
			ids := bv.tok.Encode(k.doc)
			for _, mode := range []string{"first", "cold", "warm"} {
				b.Run(k.name+"-"+mode+"/"+vname, func(b *testing.B) {
					g, err := k.compile()
					require.NoError(b, err)
					logits := make([]float32, bv.v.Size())
					var times, cpu []time.Duration
					runtime.LockOSThread()
					defer runtime.UnlockOSThread()
					run := func(g *Grammar, record bool) {
						st := g.Constraint(bv.v).Start()
						for _, id := range append(slices.Clone(ids), bv.tok.EOS()) {
							clear(logits)
							t0, c0 := time.Now(), threadCPU()
							err := st.Mask(logits)
							if record {
								times = append(times, time.Since(t0))
								cpu = append(cpu, threadCPU()-c0)
							}
							require.NoError(b, err)
							require.Zero(b, logits[id], "document token %d %q masked", id, bv.tok.Piece(id))
							require.NoError(b, st.Accept(id))
						}
					}
					if mode == "warm" {
						run(g, false) // prime the caches
					}
					b.ResetTimer()
					for i := 0; i < b.N; i++ {
						if mode != "warm" {
							b.StopTimer()
							g, _ = k.compile()
							if mode == "first" {
								shared = &sharedMasks{m: map[sharedKey]*mask{}}
							}
							b.StartTimer()
						}
						run(g, true)
					}
					report := func(ts []time.Duration, unit string) {
						slices.Sort(ts)
						var sum time.Duration
						for _, t := range ts {
							sum += t
						}
						b.ReportMetric(float64(sum.Nanoseconds())/1e3/float64(len(ts)), "mean-"+unit)
						b.ReportMetric(float64(ts[len(ts)*99/100].Nanoseconds())/1e3, "p99-"+unit)
					}
					report(times, "µs")
					report(cpu, "cpuµs")
					b.ReportMetric(float64(len(ids)+1), "masks/doc")
				})
			}
		}
	}
}

// TestBenchDocs: the benchmark documents match their grammars and walk
// through Mask/Accept with the real tokenizers (when cached).
func TestBenchDocs(t *testing.T) {
	for _, k := range benchKinds {
		g, err := k.compile()
		require.NoError(t, err, k.name)
		require.True(t, g.Match(k.doc), k.name)
	}
	if testing.Short() {
		t.Skip("real vocabularies: not under -short")
	}
	for vname, bv := range loadBenchVocabs(t) {
		for _, k := range benchKinds {
			g, _ := k.compile()
			st := g.Constraint(bv.v).Start()
			logits := make([]float32, bv.v.Size())
			for _, id := range append(bv.tok.Encode(k.doc), bv.tok.EOS()) {
				clear(logits)
				require.NoError(t, st.Mask(logits), "%s %s", vname, k.name)
				require.Zero(t, logits[id], "%s %s: token %q masked", vname, k.name, bv.tok.Piece(id))
				require.NoError(t, st.Accept(id))
			}
		}
	}
}
