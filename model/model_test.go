package model_test

import (
	"bytes"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tscale/engine/backend/cpu"
	"github.com/tscale/engine/model"
	_ "github.com/tscale/engine/model/gemma3"
	"github.com/tscale/engine/model/gguf"
	_ "github.com/tscale/engine/model/llama"
)

const stories = "../../shared/models/stories260K.gguf"

// rewrite copies stories260K through the GGUF writer, letting edit change
// metadata and tensors, and parses the result.
func rewrite(t *testing.T, edit func(key string, v any) (any, bool), tensor func(ti gguf.TensorInfo) (gguf.TensorInfo, bool)) *gguf.File {
	t.Helper()
	src, err := gguf.Open(stories)
	if err != nil {
		t.Skipf("%s: %v (../shared must sit beside the repository)", stories, err)
	}
	defer src.Close()
	w := gguf.NewWriter()
	for _, kv := range src.KVs {
		v, keep := kv.Value, true
		if edit != nil {
			v, keep = edit(kv.Key, v)
		}
		if keep {
			require.NoError(t, w.Set(kv.Key, v))
		}
	}
	for _, ti := range src.Tensors {
		data := src.Data(&ti)
		keep := true
		if tensor != nil {
			ti, keep = tensor(ti)
		}
		if keep {
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

func TestLoadErrors(t *testing.T) {
	if _, err := os.Stat(stories); err != nil {
		t.Skip("../shared is absent")
	}
	for _, tc := range []struct {
		name   string
		edit   func(string, any) (any, bool)
		tensor func(gguf.TensorInfo) (gguf.TensorInfo, bool)
		want   string
	}{
		{
			name: "unknown architecture",
			edit: func(k string, v any) (any, bool) {
				if k == "general.architecture" {
					return "mamba9", true
				}
				return v, true
			},
			want: `architecture "mamba9" is not supported (supported: gemma3, gpt-oss, llama, qwen2, qwen2moe, qwen3, qwen3moe)`,
		},
		{
			name: "missing hyperparameter",
			edit: func(k string, v any) (any, bool) { return v, k != "llama.block_count" },
			want: "required key llama.block_count is missing",
		},
		{
			name:   "missing tensor",
			tensor: func(ti gguf.TensorInfo) (gguf.TensorInfo, bool) { return ti, ti.Name != "blk.3.ffn_up.weight" },
			want:   "tensor blk.3.ffn_up.weight is missing",
		},
		{
			name: "wrong shape",
			tensor: func(ti gguf.TensorInfo) (gguf.TensorInfo, bool) {
				if ti.Name == "blk.1.attn_k.weight" {
					ti.Shape = []int64{32, 64} // transposed
				}
				return ti, true
			},
			want: "tensor blk.1.attn_k.weight has shape [32 64], want [64 32]",
		},
		{
			name: "heads not divisible",
			edit: func(k string, v any) (any, bool) {
				if k == "llama.attention.head_count_kv" {
					return uint32(3), true
				}
				return v, true
			},
			want: "llama.attention.head_count_kv = 3: must divide attention.head_count (8)",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := rewrite(t, tc.edit, tc.tensor)
			_, err := model.Load(f, cpu.New(1))
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.want)
			require.Contains(t, err.Error(), "edited.gguf")
		})
	}
}
