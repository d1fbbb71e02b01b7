package synth_test

import (
	"crypto/sha256"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tscale/engine/backend/cpu"
	"github.com/tscale/engine/model"
	_ "github.com/tscale/engine/model/gemma3"
	"github.com/tscale/engine/model/gguf"
	_ "github.com/tscale/engine/model/llama"
	"github.com/tscale/engine/model/synth"
	"github.com/tscale/engine/quant"
)

const vocabPath = "../../../shared/models/stories260K.gguf"

func openVocab(t *testing.T) *gguf.File {
	t.Helper()
	f, err := gguf.Open(vocabPath)
	if err != nil {
		t.Skipf("%s: %v (../shared must sit beside the repository)", vocabPath, err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestSpecsAreDeterministicAndLoad(t *testing.T) {
	vocab := openVocab(t)
	// Specs has no tied model; check that path too.
	tied := synth.Specs()[len(synth.Specs())-1]
	tied.Name, tied.Tied = tied.Name+"-tied", true
	for _, s := range append(synth.Specs(), tied) {
		t.Run(s.Name, func(t *testing.T) {
			a, err := synth.Encode(s, vocab)
			require.NoError(t, err)
			b, err := synth.Encode(s, vocab)
			require.NoError(t, err)
			require.Equal(t, sha256.Sum256(a), sha256.Sum256(b), "two encodings differ")

			// Write goes through a file and must give the same bytes.
			p := filepath.Join(t.TempDir(), s.Name+".gguf")
			require.NoError(t, synth.Write(p, vocabPath, s))
			c, err := os.ReadFile(p)
			require.NoError(t, err)
			require.Equal(t, sha256.Sum256(a), sha256.Sum256(c), "Write differs from Encode")

			f, err := gguf.Parse(a, s.Name)
			require.NoError(t, err)
			require.Equal(t, s.Arch, f.Arch())
			for _, kv := range vocab.KVs {
				got, ok := f.Get(kv.Key)
				if strings.HasPrefix(kv.Key, "tokenizer.ggml.") {
					require.True(t, ok, "%s not copied", kv.Key)
					require.Equal(t, kv.Value, got.Value, kv.Key)
				}
			}
			m, err := model.Load(f, cpu.New(1))
			require.NoError(t, err)
			hp := m.Hyper()
			require.Equal(t, model.Hyper{
				Arch: s.Arch, Vocab: 512, Context: 2048, Dim: s.Dim, Layers: s.Layers,
				Heads: s.Heads, KVHeads: s.KVHeads, HeadDim: s.HeadDim, FFN: s.FFN,
			}, hp)

			// The family's own tensors are there, in the spec's type.
			q, ok := f.Tensor("blk.0.attn_q.weight")
			require.True(t, ok)
			require.Equal(t, s.Type, q.Type)
			n, ok := f.Tensor("blk.0.attn_norm.weight")
			require.True(t, ok)
			require.Equal(t, quant.F32, n.Type)
			want := map[string]bool{
				"blk.0.attn_q.bias":                s.Arch == "qwen2",
				"blk.0.attn_q_norm.weight":         s.Arch == "qwen3" || s.Arch == "gemma3",
				"blk.0.post_attention_norm.weight": s.Arch == "gemma3",
				"blk.0.post_ffw_norm.weight":       s.Arch == "gemma3",
				"output.weight":                    !s.Tied,
			}
			for name, present := range want {
				_, ok := f.Tensor(name)
				require.Equal(t, present, ok, name)
			}
		})
	}
}

// TestWeightsAreSane checks the random weights have the intended scale, so
// activations stay O(1): norms near 1, matrices with std near 1/math.Sqrt(fan-in).
func TestWeightsAreSane(t *testing.T) {
	vocab := openVocab(t)
	s := synth.Specs()[0]
	require.Equal(t, quant.F32, s.Type)
	b, err := synth.Encode(s, vocab)
	require.NoError(t, err)
	f, err := gguf.Parse(b, s.Name)
	require.NoError(t, err)
	stats := func(name string) (mean, std float64) {
		ti, ok := f.Tensor(name)
		require.True(t, ok, name)
		vals := make([]float32, ti.Elems())
		require.NoError(t, quant.Dequantize(ti.Type, f.Data(ti), vals))
		for _, v := range vals {
			mean += float64(v)
		}
		mean /= float64(len(vals))
		for _, v := range vals {
			std += (float64(v) - mean) * (float64(v) - mean)
		}
		return mean, math.Sqrt(std / float64(len(vals)))
	}
	m, sd := stats("blk.0.attn_norm.weight")
	require.InDelta(t, 1, m, 0.05)
	require.InDelta(t, 0.1, sd, 0.03)
	_, sd = stats("blk.0.attn_q.weight")
	require.InDelta(t, 1/math.Sqrt(float64(s.Dim)), sd, 0.01)
	_, sd = stats("blk.0.ffn_down.weight")
	require.InDelta(t, 1/math.Sqrt(float64(s.FFN)), sd, 0.01)
}

func TestBadSpecs(t *testing.T) {
	vocab := openVocab(t)
	good := synth.Specs()[0]
	for _, tc := range []struct {
		name string
		edit func(*synth.Spec)
		msg  string
	}{
		{"arch", func(s *synth.Spec) { s.Arch = "gpt2" }, `unknown arch "gpt2"`},
		{"type", func(s *synth.Spec) { s.Type = quant.Q4_K }, "weight type Q4_K not supported"},
		{"heads", func(s *synth.Spec) { s.KVHeads = 3 }, "bad shape"},
		{"head dim", func(s *synth.Spec) { s.HeadDim = 32 }, "llama needs head dim × heads = dim"},
		{"block", func(s *synth.Spec) { s.Type = quant.Q8_0; s.FFN = 100 }, "row length 100 is not a multiple of Q8_0's block size 32"},
		{"window", func(s *synth.Spec) { s.Arch = "gemma3"; s.Window = 0 }, "gemma3 needs a sliding window"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := good
			tc.edit(&s)
			_, err := synth.Encode(s, vocab)
			require.ErrorContains(t, err, tc.msg)
		})
	}
	_, err := synth.Encode(good, &gguf.File{Path: "empty.gguf"})
	require.ErrorContains(t, err, "empty.gguf has no tokenizer.ggml.tokens")
}
