package llama_test

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tscale/engine/backend/cpu"
	"github.com/tscale/engine/model"
	"github.com/tscale/engine/model/gguf"
	_ "github.com/tscale/engine/model/llama"
	"github.com/tscale/engine/model/synth"
	"github.com/tscale/engine/quant"
)

const vocab = "../../../shared/models/stories260K.gguf"

// moeFile builds the F32 synthetic MoE model of arch and copies it through
// the GGUF writer, letting edit rename or change keys (false drops one) and
// tensor change or drop tensors.
func moeFile(t *testing.T, arch string, edit func(k string, v any) (string, any, bool), tensor func(ti *gguf.TensorInfo) bool) *gguf.File {
	t.Helper()
	voc, err := gguf.Open(vocab)
	if err != nil {
		t.Skipf("%s: %v (../shared must sit beside the repository: the synthetic models borrow its vocabulary)", vocab, err)
	}
	defer voc.Close()
	var spec synth.Spec
	for _, s := range synth.MoESpecs() {
		if s.Arch == arch && s.Type == quant.F32 {
			spec = s
		}
	}
	require.NotEmpty(t, spec.Name, "no F32 MoE spec for %s", arch)
	b, err := synth.Encode(spec, voc)
	require.NoError(t, err)
	src, err := gguf.Parse(b, "src.gguf")
	require.NoError(t, err)
	w := gguf.NewWriter()
	for _, kv := range src.KVs {
		k, v, keep := kv.Key, kv.Value, true
		if edit != nil {
			k, v, keep = edit(k, v)
		}
		if keep {
			require.NoError(t, w.Set(k, v))
		}
	}
	for _, ti := range src.Tensors {
		data := src.Data(&ti)
		if tensor == nil || tensor(&ti) {
			require.NoError(t, w.AddTensor(ti.Name, ti.Type, ti.Shape, data))
		}
	}
	var buf bytes.Buffer
	_, err = w.WriteTo(&buf)
	require.NoError(t, err)
	f, err := gguf.Parse(buf.Bytes(), "edited.gguf")
	require.NoError(t, err)
	return f
}

func TestMoELoad(t *testing.T) {
	for _, tc := range []struct {
		arch    string
		experts int
		k       int
	}{
		{"llama", 4, 2},
		{"qwen2moe", 6, 2},
		{"qwen3moe", 6, 3},
		{"gpt-oss", 8, 4},
	} {
		t.Run(tc.arch, func(t *testing.T) {
			m, err := model.Load(moeFile(t, tc.arch, nil, nil), cpu.New(1))
			require.NoError(t, err)
			require.Equal(t, tc.experts, m.Hyper().Experts)
			require.Equal(t, tc.k, m.Hyper().ExpertsK)
		})
	}
}

func TestMoELoadErrors(t *testing.T) {
	if _, err := os.Stat(vocab); err != nil {
		t.Skipf("%s is absent (../shared must sit beside the repository)", vocab)
	}
	setKey := func(key string, val any) func(string, any) (string, any, bool) {
		return func(k string, v any) (string, any, bool) {
			if k == key {
				return k, val, val != nil
			}
			return k, v, true
		}
	}
	drop := func(name string) func(*gguf.TensorInfo) bool {
		return func(ti *gguf.TensorInfo) bool { return ti.Name != name }
	}
	for _, tc := range []struct {
		name   string
		arch   string
		edit   func(string, any) (string, any, bool)
		tensor func(*gguf.TensorInfo) bool
		want   string
	}{
		{
			name: "more experts used than exist",
			arch: "qwen3moe",
			edit: setKey("qwen3moe.expert_used_count", uint32(7)),
			want: "qwen3moe.expert_used_count = 7, want 1 to expert_count (6)",
		},
		{
			name: "expert_used_count missing",
			arch: "llama",
			edit: setKey("llama.expert_used_count", nil),
			want: "llama.expert_used_count = 0, want 1 to expert_count (4)",
		},
		{
			name: "qwen3moe without experts",
			arch: "qwen3moe",
			edit: setKey("qwen3moe.expert_count", nil),
			want: "qwen3moe.expert_count is missing or 0: qwen3moe needs experts",
		},
		{
			name: "experts in a dense-only architecture",
			arch: "qwen3moe",
			edit: func(k string, v any) (string, any, bool) {
				if k == "general.architecture" {
					return k, "qwen3", true
				}
				if rest, ok := strings.CutPrefix(k, "qwen3moe."); ok {
					return "qwen3." + rest, v, true
				}
				return k, v, true
			},
			want: "qwen3.expert_count = 6: mixture-of-experts qwen3 models are not supported (llama, qwen2moe, qwen3moe, gpt-oss)",
		},
		{
			name:   "missing expert tensor",
			arch:   "llama",
			tensor: drop("blk.1.ffn_up_exps.weight"),
			want:   "tensor blk.1.ffn_up_exps.weight is missing",
		},
		{
			name:   "missing router",
			arch:   "qwen3moe",
			tensor: drop("blk.2.ffn_gate_inp.weight"),
			want:   "tensor blk.2.ffn_gate_inp.weight is missing",
		},
		{
			name:   "missing shared expert gate",
			arch:   "qwen2moe",
			tensor: drop("blk.0.ffn_gate_inp_shexp.weight"),
			want:   "tensor blk.0.ffn_gate_inp_shexp.weight is missing",
		},
		{
			name: "expert tensor of the wrong shape",
			arch: "qwen3moe",
			tensor: func(ti *gguf.TensorInfo) bool {
				if ti.Name == "blk.0.ffn_down_exps.weight" {
					ti.Shape = []int64{64, 6, 64} // experts and rows swapped
				}
				return true
			},
			want: "tensor blk.0.ffn_down_exps.weight has shape [64 6 64], want [64 64 6]",
		},
		{
			name: "gpt-oss without a sliding window",
			arch: "gpt-oss",
			edit: setKey("gpt-oss.attention.sliding_window", nil),
			want: "required key gpt-oss.attention.sliding_window is missing",
		},
		{
			name: "gpt-oss without experts",
			arch: "gpt-oss",
			edit: setKey("gpt-oss.expert_count", nil),
			want: "gpt-oss.expert_count is missing or 0: gpt-oss needs experts",
		},
		{
			name:   "gpt-oss without attention sinks",
			arch:   "gpt-oss",
			tensor: drop("blk.3.attn_sinks.weight"),
			want:   "tensor blk.3.attn_sinks.weight is missing",
		},
		{
			name:   "gpt-oss without an expert bias",
			arch:   "gpt-oss",
			tensor: drop("blk.1.ffn_down_exps.bias"),
			want:   "tensor blk.1.ffn_down_exps.bias is missing",
		},
		{
			name: "gpt-oss expert bias of the wrong shape",
			arch: "gpt-oss",
			tensor: func(ti *gguf.TensorInfo) bool {
				if ti.Name == "blk.0.ffn_up_exps.bias" {
					ti.Shape = []int64{8, 64}
				}
				return true
			},
			want: "tensor blk.0.ffn_up_exps.bias has shape [8 64], want [64 8]",
		},
		{
			name: "unknown RoPE scaling",
			arch: "gpt-oss",
			edit: setKey("gpt-oss.rope.scaling.type", "longrope"),
			want: `RoPE scaling "longrope" is not supported (none, linear, yarn)`,
		},
		{
			name: "expert FFN length not matching the tensors",
			arch: "qwen2moe",
			edit: setKey("qwen2moe.expert_feed_forward_length", uint32(32)),
			want: "tensor blk.0.ffn_gate_exps.weight has shape [64 64 6], want [64 32 6]",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := model.Load(moeFile(t, tc.arch, tc.edit, tc.tensor), cpu.New(1))
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.want)
			require.Contains(t, err.Error(), "edited.gguf")
		})
	}
}
