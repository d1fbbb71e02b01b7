package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tscale/engine/internal/testmodels"
	"github.com/tscale/engine/model/synth"
	"github.com/tscale/engine/model/tokenizer"
	"github.com/tscale/engine/quant"
)

// The synthetic models (package model/synth) cover every family the engine
// runs with tiny random-weight files; testdata/golden/synth holds llama.cpp's
// outputs for them (scripts/make-golden-synth.sh).

const synthVocab = "../../shared/models/stories260K.gguf"

// Log-probability tolerances against llama.cpp: F32 models differ only by
// summation order, so over the whole vocabulary; quantized ones over
// plausible tokens, as in TestGoldenGreedy (llama.cpp's x86 kernels quantize
// activations and repack Q4_0, so per-token rounding differs).
const (
	synthF32Tol = 1e-3
	synthQ8Tol  = 0.05
	synthQ4Tol  = 0.15
)

// buildSynth writes spec's model into a temporary folder and returns its
// path and sha256; it skips when the borrowed vocabulary is absent.
func buildSynth(t *testing.T, s synth.Spec) (string, string) {
	t.Helper()
	if s.Name == synth.GPTOSSVocabSpec().Name {
		return buildGPTOSSVocab(t, s)
	}
	if _, err := os.Stat(synthVocab); err != nil {
		t.Skipf("%s is absent (../shared must sit beside the repository): the synthetic models borrow its vocabulary", synthVocab)
	}
	p := filepath.Join(t.TempDir(), s.Name+".gguf")
	require.NoError(t, synth.Write(p, synthVocab, s))
	return p, fileSum(t, p)
}

// buildGPTOSSVocab writes spec with gpt-oss's vocabulary, from the
// tokenizer.json that scripts/fetch-model.sh gpt-oss-vocab caches; it
// skips when that file is absent.
func buildGPTOSSVocab(t *testing.T, s synth.Spec) (string, string) {
	t.Helper()
	tj := testmodels.GPTOSSTokenizer()
	if _, err := os.Stat(tj); err != nil {
		t.Skipf("%s is absent (run scripts/fetch-model.sh gpt-oss-vocab)", tj)
	}
	v, err := synth.GPTOSSVocab(tj)
	require.NoError(t, err)
	w, err := synth.Build(s, v)
	require.NoError(t, err)
	p := filepath.Join(t.TempDir(), s.Name+".gguf")
	require.NoError(t, w.WriteFile(p))
	return p, fileSum(t, p)
}

func fileSum(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func TestSynthGolden(t *testing.T) {
	for _, s := range synth.Specs() {
		t.Run(s.Name, func(t *testing.T) { checkSynthGolden(t, s, 0) })
	}
}

// checkSynthGolden compares spec's model with its llama.cpp golden file:
// greedy tokens (exact on F32, near-tie rule otherwise) and first-step
// log-probabilities, within tol (0: the default for the weight type).
func checkSynthGolden(t *testing.T, s synth.Spec, tol float64) {
	t.Helper()
	g := loadGolden(t, filepath.Join("synth", s.Name))
	var meta struct {
		SHA256 string `json:"model_sha256"`
	}
	b, err := os.ReadFile(filepath.Join("..", "testdata", "golden", "synth", s.Name+".json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &meta))
	path, sum := buildSynth(t, s)
	require.Equal(t, meta.SHA256, sum,
		"%s differs from the model llama.cpp ran: regenerate with scripts/make-golden-synth.sh", s.Name)

	if tol == 0 {
		tol = map[quant.Type]float64{quant.F32: synthF32Tol, quant.Q8_0: synthQ8Tol, quant.Q4_0: synthQ4Tol}[s.Type]
	}
	require.NotZero(t, tol, "no tolerance for %s", s.Type)
	exact := s.Type == quant.F32
	e, err := Open(path, WithContext(512))
	require.NoError(t, err)
	defer e.Close()
	var worst float64
	cases := g.Cases
	if testing.Short() {
		cases = cases[:1] // every family and type still, one prompt each
	}
	for i, c := range cases {
		ids := e.Tokenizer().Encode(c.Prompt, tokenizer.AddSpecial)
		require.Equal(t, c.PromptTokens, ids, "tokens of %q", c.Prompt)
		res, err := e.Generate(context.Background(), Request{Prompt: ids, MaxTokens: g.NPredict, IgnoreEOG: true}, nil)
		got := res.Samples[0].Tokens
		require.NoError(t, err)
		if exact {
			require.Equal(t, c.Tokens, got, "case %d: greedy continuation of %q", i, c.Prompt)
		} else {
			checkUntilNearTie(t, e, ids, c.Tokens, got)
		}

		want := readLogits(t, filepath.Join("synth", c.Logits))
		have, err := e.Logits(context.Background(), ids)
		require.NoError(t, err)
		require.Len(t, have, len(want))
		have = logSoftmax(have)
		var d float64
		for j := range want {
			if exact || want[j] > plausible {
				d = max(d, math.Abs(float64(have[j]-want[j])))
			}
		}
		require.Less(t, d, tol, "case %d: log-probabilities of %q", i, c.Prompt)
		worst = max(worst, d)
	}
	how := "greedy tokens equal llama.cpp's; max |log-prob diff| %.2g over the vocabulary"
	if !exact {
		how = "greedy tokens pass the near-tie rule; max |log-prob diff| %.2g over tokens above -10"
	}
	t.Logf("%s: %d cases, "+how+" (tolerance %g)", s.Name, len(cases), worst, tol)
}

// TestGPTOSSVocabGolden runs the small gpt-oss with gpt-oss's own
// 201088-token vocabulary against llama.cpp, including a harmony-formatted
// prompt: tokenizer (o200k pre-tokenizer, special tokens) and model
// together, by the Q8_0 rules.
func TestGPTOSSVocabGolden(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 40 MB model")
	}
	checkSynthGolden(t, synth.GPTOSSVocabSpec(), 0)
}

// TestSynthBatchMatchesAlone runs several sequences at different positions
// (some past gemma3's sliding window) in one Forward and checks each row's
// logits are exactly those of the sequence run alone, for every family.
func TestSynthBatchMatchesAlone(t *testing.T) {
	for _, s := range synth.Specs() {
		if s.Type != quant.F32 {
			continue
		}
		t.Run(s.Arch, func(t *testing.T) {
			path, _ := buildSynth(t, s)
			e, err := Open(path, WithContext(128))
			require.NoError(t, err)
			defer e.Close()
			requireBatchMatchesAlone(t, e, batchTexts)
		})
	}
}
