package engine

import (
	"context"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tscale/engine/model/synth"
	"github.com/tscale/engine/model/tokenizer"
	"github.com/tscale/engine/quant"
)

// Mixture-of-experts models: stories260K-moe4x (in ../shared) is
// stories260K with each FFN turned into 4 noisy copies, 2 used per token;
// its -identical twin has noiseless copies, so it must behave as the dense
// model.

// TestMoEGolden checks stories260K-moe4x's greedy continuations (F32:
// every token) against llama.cpp on all five golden prompts, that the
// router spread tokens over every expert, and that Stats reports 2 routed
// slots per layer for every token run through the model.
func TestMoEGolden(t *testing.T) {
	g := loadGolden(t, "stories260K-moe4x")
	e, err := Open(modelPath(t, g.ModelFile), WithContext(512))
	require.NoError(t, err)
	defer e.Close()
	require.Equal(t, 4, e.model.Hyper().Experts)
	require.Equal(t, 2, e.model.Hyper().ExpertsK)
	require.Empty(t, e.Stats().ExpertTokens, "no token routed yet")
	require.Len(t, g.Cases, 5)
	cases := g.Cases
	if testing.Short() {
		cases = cases[:2] // still enough tokens to route to every expert
	}
	ran := 0
	for i, c := range cases {
		ids := e.Tokenizer().Encode(c.Prompt, tokenizer.AddSpecial, tokenizer.ParseSpecial.If(g.Settings.ParseSpecial))
		require.Equal(t, c.PromptTokens, ids, "tokens of %q", c.Prompt)
		res, err := e.Generate(context.Background(), Request{Prompt: ids, MaxTokens: g.NPredict, IgnoreEOG: true}, nil)
		require.NoError(t, err)
		got := res.Samples[0].Tokens
		ran += len(ids) + len(got) - 1 // the last token is sampled, never run
		require.Equal(t, c.Tokens, got, "case %d: greedy continuation of %q:\n got %q\nwant %q",
			i, c.Prompt, e.Tokenizer().Decode(got), c.Text)
	}
	counts := e.Stats().ExpertTokens
	require.Len(t, counts, 5, "one row of counts per layer")
	for il, c := range counts {
		require.Len(t, c, 4)
		var sum int64
		for ex, n := range c {
			require.Positive(t, n, "layer %d: expert %d never chosen", il, ex)
			sum += n
		}
		require.Equal(t, int64(2*ran), sum, "layer %d: routed slots for %d tokens", il, ran)
	}
	t.Logf("tokens routed per layer and expert: %v", counts)
}

// TestMoEIdenticalMatchesDense runs the MoE whose experts all equal the
// dense FFN beside stories260K: the routing weights sum to 1, so the
// logits agree within 1e-5 of their scale and greedy text is the same.
func TestMoEIdenticalMatchesDense(t *testing.T) {
	dense, err := Open(modelPath(t, "stories260K.gguf"), WithContext(256))
	require.NoError(t, err)
	defer dense.Close()
	moe, err := Open(modelPath(t, "stories260K-moe4x-identical.gguf"), WithContext(256))
	require.NoError(t, err)
	defer moe.Close()
	require.Equal(t, 4, moe.model.Hyper().Experts)
	for _, p := range []string{
		"Once upon a time",
		"Tom",
		"The cat sat on the mat. It was",
		"Lily and her mom went to the park. They saw a big tree with red apples. Lily wanted an apple, so she",
	} {
		t.Run(p, func(t *testing.T) {
			ids := dense.Tokenizer().Encode(p, tokenizer.AddSpecial)
			require.Equal(t, ids, moe.Tokenizer().Encode(p, tokenizer.AddSpecial))
			want, err := dense.Logits(context.Background(), ids)
			require.NoError(t, err)
			got, err := moe.Logits(context.Background(), ids)
			require.NoError(t, err)
			require.Len(t, got, len(want))
			var worst, scale float64
			for j := range want {
				worst = max(worst, math.Abs(float64(got[j]-want[j])))
				scale = max(scale, math.Abs(float64(want[j])))
			}
			// w0·y + w1·y with w0+w1 = 1 in float32 is y within an ulp or
			// two per layer; over 5 layers and a long prompt that grows to
			// ~20 ulps of the largest logit, so the bound is relative.
			require.Less(t, worst, 1e-5*scale, "max |logit diff| (max |logit| %.3g)", scale)

			req := Request{Prompt: ids, MaxTokens: 48, IgnoreEOG: true}
			if testing.Short() {
				req.MaxTokens = 16
			}
			a, err := dense.Generate(context.Background(), req, nil)
			require.NoError(t, err)
			b, err := moe.Generate(context.Background(), req, nil)
			require.NoError(t, err)
			require.Equal(t, a.Samples[0].Tokens, b.Samples[0].Tokens, "greedy continuation of %q", p)
			t.Logf("max |logit diff| %.2g (max |logit| %.3g); %d greedy tokens equal", worst, scale, len(a.Samples[0].Tokens))
		})
	}
}

// TestMoEBatchMatchesAlone runs several sequences through stories260K-moe4x
// in one batch and checks each row equals the sequence run alone: routing
// and grouped expert products must not depend on the rest of the batch.
func TestMoEBatchMatchesAlone(t *testing.T) {
	checkBatchMatchesAlone(t, modelPath(t, "stories260K-moe4x.gguf"))
}

// checkBatchMatchesAlone opens a model and runs requireBatchMatchesAlone.
func checkBatchMatchesAlone(t *testing.T, path string) {
	t.Helper()
	e, err := Open(path, WithContext(128))
	require.NoError(t, err)
	defer e.Close()
	requireBatchMatchesAlone(t, e, batchTexts)
}

// Tolerances for qwen3moe, whose log-probabilities differ from llama.cpp's
// more than the other families' (2e-3 on F32, 0.1 on Q8_0) while greedy
// tokens agree. The cause is not its MoE block but last-bit differences
// that this model makes visible (found by dumping llama.cpp's tensors
// through its eval callback and comparing them with the engine's):
//
// Q8_0: llama.cpp's logits are bit-identical with batch 512 and batch 1
// (tinyBLAS_Q0 and vec_dot_q8_0 do the same arithmetic); the engine's
// depart at the 8th prompt token, which is why shorter prompts agreed. At
// layer 0, token 7, one element of a roped query is 1 ulp off llama.cpp's
// and rounds to the other F16 (queries meet the F16 cache as F16), moving
// two of that head's attention weights by an F16 ulp (2e-4 in its output).
// Q8_0 requantization and attention to token 7 spread that to every later
// position, about 5x per layer, to 0.1 in log-probabilities. The ulps come
// from two places where the engine follows ggml's C source, not the x86
// binary: GCC contracts RoPE's x0*cos - x1*sin into fma(x0, cos, -(x1*sin))
// (and x0*sin + x1*cos into fma(x0, sin, x1*cos)), and the x86 Q8_0 dot
// keeps 8 float lanes of 4-byte integer sums, each fma'd with the block
// scale, added by hsum_float_8, where package quant adds block by block.
// With both changed (backend/cpu RoPE, quant's Q8_0 dot) every Q8_0 synth
// model agrees to 1e-6, qwen3moe and gemma3 included, and this tolerance
// can go. Other families just did not hit an F16 rounding flip here.
//
// F32: llama.cpp disagrees with itself: batches of 2+ tokens use tinyBLAS
// (16 fma lanes, then _mm512_reduce_add_ps), single tokens and mul_mat_id
// ggml_vec_dot_f32, and on these prompts batch 512 and batch 1 differ by up
// to 1.9e-3 for qwen3moe against at most 4.9e-4 (gemma3) for the other
// synth models: this model is the most sensitive to rounding noise. The engine's F32 dot
// follows neither order. With tinyBLAS's order for dense F32 products and
// the RoPE fma, prompts 0 and 1 agree with the batch-512 goldens to 3e-6;
// prompt 2 still differs by 2.5e-4 through the F16 attention products
// (tinyBLAS F16 order) and RoPE's angles: glibc's cosf/sinf differ from the
// rounded float64 cos/sin the engine takes at 9 of its (position, pair)s.
const (
	qwen3moeF32Tol = 3e-3
	qwen3moeQ8Tol  = 0.15
)

// TestMoESynthGolden compares the synthetic MoE models (Mixtral-style
// llama, qwen2moe with its shared expert, qwen3moe with top-3) with
// llama.cpp: F32 greedy tokens exactly and log-probabilities within 1e-3,
// Q8_0 by the near-tie rule; qwen3moe's log-probabilities within the looser
// bounds above.
func TestMoESynthGolden(t *testing.T) {
	for _, s := range synth.MoESpecs() {
		t.Run(s.Name, func(t *testing.T) {
			var tol float64
			if s.Arch == "qwen3moe" {
				tol = map[quant.Type]float64{quant.F32: qwen3moeF32Tol, quant.Q8_0: qwen3moeQ8Tol}[s.Type]
			}
			checkSynthGolden(t, s, tol)
		})
	}
}

// TestMoESynthBatchMatchesAlone checks batch invariance for every MoE
// family.
func TestMoESynthBatchMatchesAlone(t *testing.T) {
	for _, s := range synth.MoESpecs() {
		if s.Type != quant.F32 {
			continue
		}
		t.Run(s.Name, func(t *testing.T) {
			path, _ := buildSynth(t, s)
			checkBatchMatchesAlone(t, path)
		})
	}
}
