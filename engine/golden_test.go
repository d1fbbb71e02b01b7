package engine

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// golden is a reference file written by scripts/ref/golden.mjs from llama.cpp.
type golden struct {
	Model     string `json:"model"`
	ModelFile string `json:"model_file"`
	NPredict  int    `json:"n_predict"`
	Settings  struct {
		ParseSpecial bool `json:"parse_special"`
	} `json:"settings"`
	Cases []struct {
		Prompt       string  `json:"prompt"`
		PromptTokens []int32 `json:"prompt_tokens"`
		Tokens       []int32 `json:"tokens"`
		Text         string  `json:"text"`
		Logits       string  `json:"logits_file"`
		LogitsKind   string  `json:"logits_kind"`
	} `json:"cases"`
}

func loadGolden(t *testing.T, name string) golden {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "golden", name+".json"))
	require.NoError(t, err)
	var g golden
	require.NoError(t, json.Unmarshal(b, &g))
	require.NotEmpty(t, g.Cases)
	return g
}

// modelPath finds a golden file's model: ../shared/models for the shared
// ones, the fetch-model.sh cache for the PyPI ones. It skips when absent.
func modelPath(t *testing.T, file string) string {
	t.Helper()
	if p := findModel(file); p != "" {
		return p
	}
	t.Skipf("model %s not found in ../shared/models or the model cache (run `make models`; ../shared must sit beside the repo)", file)
	return ""
}

func findModel(file string) string {
	dirs := []string{filepath.Join("..", "..", "shared", "models")}
	if c := os.Getenv("ENGINE_CACHE"); c != "" {
		dirs = append(dirs, filepath.Join(c, "models"))
	}
	if h, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(h, ".cache", "tscale", "models"))
	}
	for _, d := range dirs {
		p := filepath.Join(d, file)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

func readLogits(t *testing.T, file string) []float32 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "golden", file))
	require.NoError(t, err)
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

// logSoftmax makes logits comparable with references that store log-probabilities.
func logSoftmax(x []float32) []float32 {
	mx := x[0]
	for _, v := range x {
		mx = max(mx, v)
	}
	var sum float64
	for _, v := range x {
		sum += math.Exp(float64(v - mx))
	}
	lse := float64(mx) + math.Log(sum)
	out := make([]float32, len(x))
	for i, v := range x {
		out[i] = float32(float64(v) - lse)
	}
	return out
}

// TestGoldenGreedy checks tokenization and greedy continuations against
// llama.cpp, token for token, and reports how far the logits are.
func TestGoldenGreedy(t *testing.T) {
	for _, tc := range []struct {
		golden string
		tol    float64 // largest allowed |logit - llama.cpp's|
	}{
		{"stories260K", 1e-3},
		{"smollm2-135m-instruct", 0.5},
		{"gemma3-270m", 0.5},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			if _, err := os.Stat(filepath.Join("..", "testdata", "golden", tc.golden+".json")); err != nil {
				t.Skipf("no golden file for %s", tc.golden)
			}
			g := loadGolden(t, tc.golden)
			e, err := Open(modelPath(t, g.ModelFile), WithContext(512))
			require.NoError(t, err)
			defer e.Close()
			for i, c := range g.Cases {
				t.Run(fmt.Sprint(i), func(t *testing.T) {
					ids := e.Tokenizer().Encode(c.Prompt, true, g.Settings.ParseSpecial)
					require.Equal(t, c.PromptTokens, ids, "tokens of %q", c.Prompt)
					p := NewParams(g.NPredict)
					p.StopAtEOG = false
					got, err := e.Generate(context.Background(), ids, p, nil)
					require.NoError(t, err)
					require.Equal(t, c.Tokens, got, "greedy continuation of %q:\n got %q\nwant %q",
						c.Prompt, e.Tokenizer().Decode(got), c.Text)
					if c.Logits == "" {
						return
					}
					want := readLogits(t, c.Logits)
					have, err := e.Logits(ids)
					require.NoError(t, err)
					require.Len(t, have, len(want))
					if c.LogitsKind == "logprobs" {
						have = logSoftmax(have)
					}
					var worst float64
					for j := range want {
						worst = max(worst, math.Abs(float64(have[j]-want[j])))
					}
					t.Logf("%s case %d: max |logit diff| vs llama.cpp = %.5f", tc.golden, i, worst)
					require.Less(t, worst, tc.tol)
				})
			}
		})
	}
}
