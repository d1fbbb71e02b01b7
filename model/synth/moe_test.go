package synth_test

import (
	"crypto/sha256"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tscale/engine/backend/cpu"
	"github.com/tscale/engine/model"
	"github.com/tscale/engine/model/gguf"
	"github.com/tscale/engine/model/synth"
	"github.com/tscale/engine/quant"
)

func TestMoESpecs(t *testing.T) {
	vocab := openVocab(t)
	for _, s := range synth.MoESpecs() {
		t.Run(s.Name, func(t *testing.T) {
			a, err := synth.Encode(s, vocab)
			require.NoError(t, err)
			b, err := synth.Encode(s, vocab)
			require.NoError(t, err)
			require.Equal(t, sha256.Sum256(a), sha256.Sum256(b), "two encodings differ")
			f, err := gguf.Parse(a, s.Name)
			require.NoError(t, err)
			m, err := model.Load(f, cpu.New(1))
			require.NoError(t, err)
			hp := m.Hyper()
			require.Equal(t, s.Experts, hp.Experts)
			require.Equal(t, s.ExpertsK, hp.ExpertsK)

			ff := s.FFN
			if s.ExpertFFN > 0 {
				ff = s.ExpertFFN
			}
			n := int64(s.Experts)
			et := s.Type
			if s.MXFP4Experts {
				et = quant.MXFP4
			}
			oss := s.Arch == "gpt-oss"
			for name, want := range map[string]struct {
				typ   quant.Type
				shape []int64
			}{
				"blk.0.ffn_gate_inp.weight":  {quant.F32, []int64{int64(s.Dim), n}},
				"blk.0.ffn_gate_exps.weight": {et, []int64{int64(s.Dim), int64(ff), n}},
				"blk.0.ffn_up_exps.weight":   {et, []int64{int64(s.Dim), int64(ff), n}},
				"blk.0.ffn_down_exps.weight": {et, []int64{int64(ff), int64(s.Dim), n}},
			} {
				ti, ok := f.Tensor(name)
				require.True(t, ok, name)
				require.Equal(t, want.typ, ti.Type, name)
				require.Equal(t, want.shape, ti.Shape, name)
			}
			for name, present := range map[string]bool{
				"blk.0.ffn_gate.weight":            false,
				"blk.0.ffn_gate_inp_shexp.weight":  s.Arch == "qwen2moe",
				"blk.0.ffn_down_shexp.weight":      s.Arch == "qwen2moe",
				"blk.0.attn_q.bias":                s.Arch == "qwen2moe" || oss,
				"blk.0.attn_q_norm.weight":         s.Arch == "qwen3moe",
				"blk.0.attn_sinks.weight":          oss,
				"blk.0.ffn_gate_inp.bias":          oss,
				"blk.0.ffn_down_exps.bias":         oss,
				"blk.0.post_attention_norm.weight": oss,
				"blk.0.ffn_norm.weight":            !oss,
			} {
				_, ok := f.Tensor(name)
				require.Equal(t, present, ok, name)
			}

			// Experts are drawn like dense FFNs: std 1/sqrt(fan-in).
			ti, _ := f.Tensor("blk.1.ffn_down_exps.weight")
			vals := make([]float32, ti.Elems())
			require.NoError(t, quant.Dequantize(ti.Type, f.Data(ti), vals))
			var ss float64
			for _, v := range vals {
				ss += float64(v) * float64(v)
			}
			require.InDelta(t, 1/math.Sqrt(float64(ff)), math.Sqrt(ss/float64(len(vals))), 0.01)
		})
	}
}

func TestBadMoESpecs(t *testing.T) {
	vocab := openVocab(t)
	good := synth.MoESpecs()[2] // qwen2moe F32
	require.Equal(t, "qwen2moe", good.Arch)
	for _, tc := range []struct {
		name string
		edit func(*synth.Spec)
		msg  string
	}{
		{"no experts", func(s *synth.Spec) { s.Experts = 0 }, "qwen2moe needs experts"},
		{"dense arch", func(s *synth.Spec) { s.Arch = "qwen2" }, "qwen2 has no experts"},
		{"k", func(s *synth.Spec) { s.ExpertsK = 7 }, "6 experts, 7 used per token"},
		{"expert ffn", func(s *synth.Spec) { s.ExpertFFN = 0 }, "qwen2moe needs an expert FFN length"},
		{"shared ffn", func(s *synth.Spec) { s.SharedFFN = 0 }, "needs a shared expert FFN length"},
		{"block", func(s *synth.Spec) { s.Type = quant.Q8_0; s.ExpertFFN = 48 }, "row length 48 is not a multiple"},
		{"mxfp4 rows", func(s *synth.Spec) { s.MXFP4Experts = true; s.ExpertFFN = 48 }, "MXFP4 experts need"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := good
			tc.edit(&s)
			_, err := synth.Encode(s, vocab)
			require.ErrorContains(t, err, tc.msg)
		})
	}
}
