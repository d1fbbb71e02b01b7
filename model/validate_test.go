package model_test

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tscale/engine/backend/cpu"
	"github.com/tscale/engine/model"
	"github.com/tscale/engine/model/gguf"
	"github.com/tscale/engine/model/synth"
	"github.com/tscale/engine/model/tokenizer"
	"github.com/tscale/engine/quant"
)

// familySpecs are the F32 synthetic models of every family the loaders
// register: llama, qwen2, qwen3, gemma3, llama-moe (Mixtral), qwen2moe,
// qwen3moe and gpt-oss.
func familySpecs() []synth.Spec {
	var out []synth.Spec
	seen := map[string]bool{}
	for _, s := range append(synth.Specs(), synth.MoESpecs()...) {
		if s.Type == quant.F32 && !seen[family(s)] {
			seen[family(s)] = true
			out = append(out, s)
		}
	}
	return out
}

// family is spec's architecture, or llama-moe for Mixtral-style llama.
func family(spec synth.Spec) string {
	if spec.Arch == "llama" && spec.Experts > 0 {
		return "llama-moe"
	}
	return spec.Arch
}

// bases caches each synthetic model's bytes: building one draws its
// weights, which is most of a test case's time.
var bases = map[string][]byte{}

// build writes a copy of spec's model through the GGUF writer with the
// given keys set ("%s" in a key stands for the architecture) and parses it.
func build(t *testing.T, spec synth.Spec, voc *gguf.File, set map[string]any) *gguf.File {
	t.Helper()
	b, ok := bases[spec.Name]
	if !ok {
		var err error
		b, err = synth.Encode(spec, voc)
		require.NoError(t, err)
		bases[spec.Name] = b
	}
	return edit(t, b, "edited.gguf", func(w *gguf.Writer) {
		for k, v := range set {
			require.NoError(t, w.Set(strings.ReplaceAll(k, "%s", spec.Arch), v))
		}
	})
}

// edit copies the GGUF file b through the writer, letting change set keys,
// and parses the result as path.
func edit(t *testing.T, b []byte, path string, change func(w *gguf.Writer)) *gguf.File {
	t.Helper()
	src, err := gguf.Parse(b, "src.gguf")
	require.NoError(t, err)
	w := gguf.NewWriter()
	for _, kv := range src.KVs {
		require.NoError(t, w.Set(kv.Key, kv.Value))
	}
	for _, ti := range src.Tensors {
		require.NoError(t, w.AddTensor(ti.Name, ti.Type, ti.Shape, src.Data(&ti)))
	}
	change(w)
	var buf bytes.Buffer
	_, err = w.WriteTo(&buf)
	require.NoError(t, err)
	f, err := gguf.Parse(buf.Bytes(), path)
	require.NoError(t, err)
	return f
}

// TestLoadRejectsBadMetadata: a nonsensical hyperparameter, written into
// a copy of a model of every family that reads it, fails to load with an
// error that names the key (it used to load silently).
func TestLoadRejectsBadMetadata(t *testing.T) {
	voc, err := gguf.Open(stories)
	if err != nil {
		t.Skipf("%s: %v (../shared must sit beside the repository)", stories, err)
	}
	defer voc.Close()
	tokens, _ := voc.Strings("tokenizer.ggml.tokens")
	n := len(tokens)
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	moe := []string{"qwen2moe", "qwen3moe", "gpt-oss", "llama-moe"}
	for ci, tc := range []struct {
		name  string
		set   map[string]any
		archs []string // families it applies to (nil: all)
		want  string   // "%s" stands for the architecture
	}{
		{"eps NaN", map[string]any{"%s.attention.layer_norm_rms_epsilon": nan}, nil,
			"%s.attention.layer_norm_rms_epsilon = NaN: must be a positive finite number"},
		{"eps 0", map[string]any{"%s.attention.layer_norm_rms_epsilon": float32(0)}, nil,
			"%s.attention.layer_norm_rms_epsilon = 0: must be a positive finite number"},
		{"eps negative", map[string]any{"%s.attention.layer_norm_rms_epsilon": float32(-0.5)}, nil,
			"%s.attention.layer_norm_rms_epsilon = -0.5: must be a positive finite number"},
		{"eps Inf", map[string]any{"%s.attention.layer_norm_rms_epsilon": inf}, nil,
			"%s.attention.layer_norm_rms_epsilon = +Inf: must be a positive finite number"},
		{"eps beyond float32", map[string]any{"%s.attention.layer_norm_rms_epsilon": 1e300}, nil,
			"%s.attention.layer_norm_rms_epsilon = 1e+300: must be a positive finite number"},
		{"eps below float32", map[string]any{"%s.attention.layer_norm_rms_epsilon": 1e-300}, nil,
			"%s.attention.layer_norm_rms_epsilon = 1e-300: must be a positive finite number"},
		{"eps a string", map[string]any{"%s.attention.layer_norm_rms_epsilon": "1e-5"}, nil,
			"%s.attention.layer_norm_rms_epsilon has type string, want a number"},
		{"rope base 0", map[string]any{"%s.rope.freq_base": float32(0)}, nil,
			"%s.rope.freq_base = 0: must be a positive finite number"},
		{"rope base negative", map[string]any{"%s.rope.freq_base": float32(-10000)}, nil,
			"%s.rope.freq_base = -10000: must be a positive finite number"},
		{"rope base NaN", map[string]any{"%s.rope.freq_base": nan}, nil,
			"%s.rope.freq_base = NaN: must be a positive finite number"},
		{"vocab_size disagrees", map[string]any{"%s.vocab_size": uint32(n + 1)}, nil,
			fmt.Sprintf("%%s.vocab_size = %d: disagrees with token_embd.weight's %d rows", n+1, n)},
		{"context 0", map[string]any{"%s.context_length": uint32(0)}, nil, "%s.context_length = 0: must be positive"},
		{"dim 0", map[string]any{"%s.embedding_length": uint32(0)}, nil, "%s.embedding_length = 0: must be positive"},
		{"no layers", map[string]any{"%s.block_count": uint32(0)}, nil, "%s.block_count = 0: must be positive"},
		{"layers a float", map[string]any{"%s.block_count": float32(2)}, nil, "%s.block_count has type float32, want an integer"},
		{"no heads", map[string]any{"%s.attention.head_count": uint32(0)}, nil, "%s.attention.head_count = 0: must be positive"},
		{"no KV heads", map[string]any{"%s.attention.head_count_kv": uint32(0)}, nil,
			"%s.attention.head_count_kv = 0: must be positive"},
		{"KV heads do not divide", map[string]any{"%s.attention.head_count_kv": uint32(3)}, nil,
			"%s.attention.head_count_kv = 3: must divide attention.head_count (4)"},
		{"per-layer KV heads differ", map[string]any{"%s.attention.head_count_kv": []int32{2, 1}}, nil,
			"%s.attention.head_count_kv = [2 1]: want one value >= 0 for every layer"},
		{"head size 0", map[string]any{"%s.attention.key_length": uint32(0)}, nil,
			"%s.attention.key_length = 0: must be positive"},
		{"value length differs", map[string]any{"%s.attention.value_length": uint32(8)}, nil,
			"%s.attention.value_length = 8: must equal attention.key_length"},
		{"dim not a multiple of heads", map[string]any{"%s.embedding_length": uint32(66)}, []string{"llama", "qwen2", "llama-moe"},
			"%s.embedding_length = 66: must be a multiple of attention.head_count (4) without attention.key_length"},
		{"rope dims beyond the head", map[string]any{"%s.rope.dimension_count": uint32(128)}, nil,
			"%s.rope.dimension_count = 128: must be even and at most the head size"},
		{"rope dims odd", map[string]any{"%s.rope.dimension_count": uint32(7)}, nil,
			"%s.rope.dimension_count = 7: must be even and at most the head size"},
		{"rope scaling NaN", map[string]any{"%s.rope.scaling.type": "linear", "%s.rope.scaling.factor": nan}, nil,
			"%s.rope.scaling.factor = NaN: must be a positive finite number"},
		{"rope scaling negative", map[string]any{"%s.rope.scaling.type": "yarn", "%s.rope.scaling.factor": float32(-4)}, nil,
			"%s.rope.scaling.factor = -4: must be a positive finite number"},
		{"rope scaling type not a string", map[string]any{"%s.rope.scaling.type": uint32(1)}, nil,
			"%s.rope.scaling.type has type uint32, want a string"},
		{"yarn attn factor NaN", map[string]any{"%s.rope.scaling.attn_factor": nan}, []string{"gpt-oss"},
			"%s.rope.scaling.attn_factor = NaN: must be a positive finite number"},
		{"yarn original context 0", map[string]any{"%s.rope.scaling.original_context_length": uint32(0)}, []string{"gpt-oss"},
			"%s.rope.scaling.original_context_length = 0: must be positive"},
		{"more experts used than exist", map[string]any{"%s.expert_used_count": uint32(99)}, moe,
			"%s.expert_used_count = 99, want 1 to expert_count"},
		{"expert FFN 0", map[string]any{"%s.expert_feed_forward_length": uint32(0)}, []string{"qwen2moe", "qwen3moe", "gpt-oss"},
			"%s.expert_feed_forward_length = 0: must be positive"},
		{"shared expert FFN 0", map[string]any{"%s.expert_shared_feed_forward_length": uint32(0)}, []string{"qwen2moe"},
			"%s.expert_shared_feed_forward_length = 0: must be positive"},
		{"sliding window 0", map[string]any{"%s.attention.sliding_window": uint32(0)}, []string{"gemma3", "gpt-oss"},
			"%s.attention.sliding_window = 0: must be positive"},
		{"softcap negative", map[string]any{"%s.final_logit_softcapping": float32(-30)}, []string{"gemma3"},
			"%s.final_logit_softcapping = -30: must be >= 0"},
		{"softcap NaN", map[string]any{"%s.final_logit_softcapping": nan}, []string{"gemma3"},
			"%s.final_logit_softcapping = NaN: must be a finite number"},
	} {
		var specs []synth.Spec
		for _, spec := range familySpecs() {
			if tc.archs == nil || slices.Contains(tc.archs, family(spec)) {
				specs = append(specs, spec)
			}
		}
		if testing.Short() { // one family per case, in turn
			i := ci % len(specs)
			specs = specs[i : i+1]
		}
		for _, spec := range specs {
			t.Run(tc.name+"/"+family(spec), func(t *testing.T) {
				_, err := model.Load(build(t, spec, voc, tc.set), cpu.New(1))
				require.Error(t, err)
				require.Contains(t, err.Error(), strings.ReplaceAll(tc.want, "%s", spec.Arch))
				require.Contains(t, err.Error(), "edited.gguf")
			})
		}
	}
}

// TestTokenizerRejectsSpecialIDsOutsideVocab: BOS, EOS, EOT and EOM ids
// beyond the token list fail to load, naming the key (they used to be
// ignored, silently changing how prompts start and generation stops).
func TestTokenizerRejectsSpecialIDsOutsideVocab(t *testing.T) {
	voc, err := gguf.Open(stories)
	if err != nil {
		t.Skipf("%s: %v (../shared must sit beside the repository)", stories, err)
	}
	defer voc.Close()
	tokens, _ := voc.Strings("tokenizer.ggml.tokens")
	n := len(tokens)
	spec := familySpecs()[0]
	for _, key := range []string{"bos_token_id", "eos_token_id", "eot_token_id", "eom_token_id"} {
		for _, id := range []uint32{uint32(n), 1 << 31} {
			t.Run(fmt.Sprint(key, id), func(t *testing.T) {
				_, err := tokenizer.FromGGUF(build(t, spec, voc, map[string]any{"tokenizer.ggml." + key: id}))
				require.EqualError(t, err, fmt.Sprintf("tokenizer: tokenizer.ggml.%s = %d: outside the vocabulary of %d tokens", key, id, n))
			})
		}
	}
	// The last token is fine.
	tok, err := tokenizer.FromGGUF(build(t, spec, voc, map[string]any{"tokenizer.ggml.eos_token_id": uint32(n - 1)}))
	require.NoError(t, err)
	require.Equal(t, int32(n-1), tok.EOS())
}

// TestValidModelsLoad: the real model and every family's synthetic model
// pass the checks.
func TestValidModelsLoad(t *testing.T) {
	voc, err := gguf.Open(stories)
	if err != nil {
		t.Skipf("%s: %v (../shared must sit beside the repository)", stories, err)
	}
	defer voc.Close()
	tokens, _ := voc.Strings("tokenizer.ggml.tokens")
	m, err := model.Load(voc, cpu.New(1))
	require.NoError(t, err)
	require.Equal(t, len(tokens), m.Hyper().Vocab)
	_, err = tokenizer.FromGGUF(voc)
	require.NoError(t, err)
	for _, moe := range []string{"../../shared/models/stories260K-moe4x.gguf"} {
		f, err := gguf.Open(moe)
		require.NoError(t, err)
		_, err = model.Load(f, cpu.New(1))
		require.NoError(t, err, moe)
		require.NoError(t, f.Close())
	}
	for _, spec := range familySpecs() {
		f := build(t, spec, voc, map[string]any{"%s.vocab_size": uint32(len(tokens))})
		_, err := model.Load(f, cpu.New(1))
		require.NoError(t, err, spec.Name)
		_, err = tokenizer.FromGGUF(f)
		require.NoError(t, err, spec.Name)
	}
}

// FuzzLoadMetadata sets one hyperparameter of the synthetic llama to an
// arbitrary value: loading never panics, and what loads is consistent.
func FuzzLoadMetadata(f *testing.F) {
	voc, err := gguf.Open(stories)
	if err != nil {
		f.Skipf("%s: %v (../shared must sit beside the repository)", stories, err)
	}
	defer voc.Close()
	base, err := synth.Encode(familySpecs()[0], voc)
	require.NoError(f, err)
	floats := []string{"attention.layer_norm_rms_epsilon", "rope.freq_base", "rope.scaling.factor", "rope.scaling.attn_factor"}
	ints := []string{"context_length", "embedding_length", "block_count", "feed_forward_length", "attention.head_count",
		"attention.head_count_kv", "attention.key_length", "attention.value_length", "rope.dimension_count", "vocab_size",
		"rope.scaling.original_context_length", "expert_count", "expert_used_count"}
	for i := range floats {
		f.Add(uint8(i), math.NaN(), int64(0))
		f.Add(uint8(i), -1.0, int64(0))
	}
	for i := range ints {
		f.Add(uint8(len(floats)+i), 0.0, int64(0))
		f.Add(uint8(len(floats)+i), 0.0, int64(3))
	}
	f.Fuzz(func(t *testing.T, which uint8, x float64, n int64) {
		k := int(which) % (len(floats) + len(ints))
		g := edit(t, base, "fuzz.gguf", func(w *gguf.Writer) {
			if k < len(floats) {
				require.NoError(t, w.Set("llama.rope.scaling.type", []string{"linear", "yarn"}[k%2]))
				require.NoError(t, w.Set("llama."+floats[k], x))
			} else {
				require.NoError(t, w.Set("llama."+ints[k-len(floats)], n))
			}
		})
		m, err := model.Load(g, cpu.New(1))
		if err != nil {
			require.Contains(t, err.Error(), "fuzz.gguf: ")
			return
		}
		hp := m.Hyper()
		require.True(t, hp.Context > 0 && hp.Dim > 0 && hp.Layers > 0 && hp.Heads > 0 && hp.KVHeads > 0 && hp.HeadDim > 0, "%+v", hp)
		require.Zero(t, hp.Heads%hp.KVHeads, "%+v", hp)
		require.True(t, hp.ExpertsK <= hp.Experts, "%+v", hp)
		if k < len(floats) && !(x == 0 && floats[k] == "rope.scaling.factor") {
			require.True(t, x > 0 && !math.IsInf(x, 0), "loaded with %s = %v", floats[k], x)
		}
	})
}
