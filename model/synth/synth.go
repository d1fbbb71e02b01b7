// Package synth builds tiny GGUF models with random weights for every
// architecture family the engine runs, so each family can be checked
// against llama.cpp without downloading a real model. Weights come from a
// seeded PCG stream, so a Spec always gives the same bytes; the vocabulary
// (tokenizer.ggml.* keys) is borrowed from a real model so prompts
// tokenize to real text.
package synth

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"github.com/tscale/engine/model/gguf"
	"github.com/tscale/engine/model/tokenizer"
	"github.com/tscale/engine/quant"
)

// Spec describes one synthetic model.
type Spec struct {
	Name    string     // file stem and general.name
	Arch    string     // llama, qwen2, qwen3, gemma3, qwen2moe, qwen3moe or gpt-oss
	Type    quant.Type // type of the weight matrices; norms and biases stay F32
	Dim     int
	Layers  int
	Heads   int
	KVHeads int
	HeadDim int // written as attention.key_length/value_length when != Dim/Heads or Arch needs it
	FFN     int
	Window  int  // gemma3, gpt-oss attention.sliding_window
	Tied    bool // no output.weight: logits use token_embd
	Seed    uint64

	// Mixture of experts (llama: Mixtral-style; qwen2moe, qwen3moe).
	Experts   int // expert_count; 0 = dense FFN
	ExpertsK  int // expert_used_count
	ExpertFFN int // expert_feed_forward_length (qwen2moe, qwen3moe); llama's experts use FFN
	SharedFFN int // expert_shared_feed_forward_length (qwen2moe's shared expert)
	// MXFP4Experts stores the expert matrices in MXFP4 (as gpt-oss files
	// do); the other matrices stay in Type.
	MXFP4Experts bool
}

// Specs are the models the engine's synthetic golden tests use: every
// family in F32 and Q8_0, and llama also in Q4_0. None ties its output to
// the embeddings: random tied models tend to repeat one token, and (with
// the small embeddings that avoid that) their residual stream is made of
// layer outputs alone, which amplifies float rounding noise (F16 KV cache,
// GELU table) to about 4e-3 in log-probabilities where untied models stay
// below 1e-3. Real tied models (gemma3-270m) have golden files of their own.
func Specs() []Spec {
	base := map[string]Spec{
		"llama":  {Arch: "llama", Dim: 64, Layers: 2, Heads: 4, KVHeads: 2, HeadDim: 16, FFN: 128, Seed: 1},
		"qwen2":  {Arch: "qwen2", Dim: 64, Layers: 3, Heads: 4, KVHeads: 2, HeadDim: 16, FFN: 128, Seed: 2},
		"qwen3":  {Arch: "qwen3", Dim: 64, Layers: 3, Heads: 4, KVHeads: 2, HeadDim: 32, FFN: 128, Seed: 3},
		"gemma3": {Arch: "gemma3", Dim: 64, Layers: 6, Heads: 4, KVHeads: 2, HeadDim: 32, FFN: 128, Window: 8, Seed: 4},
	}
	var out []Spec
	for _, v := range []struct {
		arch string
		typ  quant.Type
	}{
		{"llama", quant.F32}, {"llama", quant.Q8_0}, {"llama", quant.Q4_0},
		{"qwen2", quant.F32}, {"qwen2", quant.Q8_0},
		{"qwen3", quant.F32}, {"qwen3", quant.Q8_0},
		{"gemma3", quant.F32}, {"gemma3", quant.Q8_0},
	} {
		s := base[v.arch]
		s.Type = v.typ
		s.Name = "synth-" + v.arch + "-" + strings.ToLower(v.typ.String())
		out = append(out, s)
	}
	return out
}

// MoESpecs are the mixture-of-experts models of the engine's MoE golden
// tests, in F32 and Q8_0: Mixtral-style llama (renormalised top-2 of 4),
// qwen2moe (top-2 of 6 without renormalisation, plus a sigmoid-gated shared
// expert) and qwen3moe (renormalised top-3 of 6, so the sum of three expert
// outputs tests the order of additions). Fewer than 8 experts keeps
// llama.cpp's router softmax on its scalar expf, whatever the SIMD width.
// Routers stay F32, as llama-quantize leaves ffn_gate_inp.
func MoESpecs() []Spec {
	base := map[string]Spec{
		"llama-moe": {Arch: "llama", Dim: 64, Layers: 2, Heads: 4, KVHeads: 2, HeadDim: 16, FFN: 128,
			Experts: 4, ExpertsK: 2, Seed: 11},
		"qwen2moe": {Arch: "qwen2moe", Dim: 64, Layers: 3, Heads: 4, KVHeads: 2, HeadDim: 16, FFN: 128,
			Experts: 6, ExpertsK: 2, ExpertFFN: 64, SharedFFN: 96, Seed: 12},
		"qwen3moe": {Arch: "qwen3moe", Dim: 64, Layers: 3, Heads: 4, KVHeads: 2, HeadDim: 32, FFN: 192,
			Experts: 6, ExpertsK: 3, ExpertFFN: 64, Seed: 13},
	}
	var out []Spec
	for _, name := range []string{"llama-moe", "qwen2moe", "qwen3moe"} {
		for _, typ := range []quant.Type{quant.F32, quant.Q8_0} {
			sp := base[name]
			sp.Type = typ
			sp.Name = "synth-" + name + "-" + strings.ToLower(typ.String())
			out = append(out, sp)
		}
	}
	// gpt-oss: 4 layers alternating a sliding window of 8 and full
	// attention, queries wider than the model (4 heads of 32 in dim 64),
	// top-4 of 8 experts; in F32, and as released files store it: MXFP4
	// experts with the other matrices in Q8_0.
	oss := Spec{Arch: "gpt-oss", Dim: 64, Layers: 4, Heads: 4, KVHeads: 2, HeadDim: 32, FFN: 64, Window: 8,
		Experts: 8, ExpertsK: 4, ExpertFFN: 64, Seed: 14}
	f32, mx := oss, oss
	f32.Name, f32.Type = "synth-gpt-oss-f32", quant.F32
	mx.Name, mx.Type, mx.MXFP4Experts = "synth-gpt-oss-mxfp4", quant.Q8_0, true
	return append(out, f32, mx)
}

// MoEBenchSpec is the Mixtral-style MoE that `bench moe` times: 8 layers
// of dim 1024, 8 experts of FFN 2048 with 2 used per token, Q4_0 weights
// (about 230 MB), sized so a 2-core machine decodes it at batch 64 in
// minutes. It is generated on demand, never committed or golden-tested.
func MoEBenchSpec() Spec {
	return Spec{Name: "synth-llama-moe-bench-q4_0", Arch: "llama", Type: quant.Q4_0, Dim: 1024, Layers: 8,
		Heads: 16, KVHeads: 4, HeadDim: 64, FFN: 2048, Experts: 8, ExpertsK: 2, Seed: 21}
}

// GPTOSSVocabSpec is the small F32 gpt-oss of MoESpecs with gpt-oss's own
// 201088-token vocabulary (GPTOSSVocab), so that a harmony-formatted
// prompt runs through the real tokenizer and special tokens end to end
// (about 100 MB). It is F32 so that it can be held to exact agreement: a
// Q8_0 version of it (the files' type) differs from llama.cpp by up to
// 0.18 in log-probabilities on the harmony prompt while its F32 twin
// agrees to 1e-5, the quantized activations amplifying a rounding flip.
func GPTOSSVocabSpec() Spec {
	return Spec{Name: "synth-gpt-oss-o200k", Arch: "gpt-oss", Type: quant.F32, Dim: 64, Layers: 4, Heads: 4,
		KVHeads: 2, HeadDim: 32, FFN: 64, Window: 8, Experts: 8, ExpertsK: 4, ExpertFFN: 64, Seed: 15}
}

// GPTOSSVocabSize is gpt-oss's vocab_size (config.json): tokenizer.json's
// tokens padded with unused ones.
const GPTOSSVocabSize = 201088

// GPTOSSVocab converts gpt-oss's tokenizer.json (with tokenizer_config.json
// beside it, as scripts/fetch-model.sh gpt-oss-vocab leaves them) into a
// vocabulary-only GGUF file to borrow with Build: the metadata llama.cpp's
// converter writes, pre-tokenizer "gpt-4o".
func GPTOSSVocab(tokenizerJSON string) (*gguf.File, error) {
	tj, err := os.ReadFile(tokenizerJSON)
	if err != nil {
		return nil, fmt.Errorf("synth: %w", err)
	}
	cfg, err := os.ReadFile(filepath.Join(filepath.Dir(tokenizerJSON), "tokenizer_config.json"))
	if err != nil {
		return nil, fmt.Errorf("synth: %w", err)
	}
	kvs, err := tokenizer.HFToGGUF(tokenizer.HFInput{Tokenizer: tj, Config: cfg, VocabSize: GPTOSSVocabSize, Pre: "gpt-4o"})
	if err != nil {
		return nil, fmt.Errorf("synth: %s: %w", tokenizerJSON, err)
	}
	w := gguf.NewWriter()
	for _, kv := range kvs {
		if err := w.Set(kv.Key, kv.Value); err != nil {
			return nil, fmt.Errorf("synth: %w", err)
		}
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("synth: %w", err)
	}
	return gguf.Parse(buf.Bytes(), tokenizerJSON)
}

// GPTOSSBenchSpec is the gpt-oss-shaped MoE `bench moe --arch gpt-oss`
// times: 8 layers of dim 1024 alternating a 128-token window and full
// attention, 16 heads of 64 over 4 KV heads, 16 experts of FFN 1024 with 4
// used per token stored in MXFP4, other matrices Q8_0 (about 250 MB).
func GPTOSSBenchSpec() Spec {
	return Spec{Name: "synth-gpt-oss-bench-mxfp4", Arch: "gpt-oss", Type: quant.Q8_0, Dim: 1024, Layers: 8,
		Heads: 16, KVHeads: 4, HeadDim: 64, FFN: 1024, Window: 128, Experts: 16, ExpertsK: 4, ExpertFFN: 1024,
		MXFP4Experts: true, Seed: 22}
}

// family holds what differs between architectures.
type family struct {
	eps      float32
	ropeBase float32
	headLen  bool // write attention.key_length / value_length
	qkvBias  bool // qwen2
	qkNorm   bool // qwen3, gemma3
	postNorm bool // gemma3: post_attention_norm, post_ffw_norm
	moe      int  // 0: dense only, 1: experts optional (llama), 2: experts required
	shared   bool // qwen2moe: shared expert
	oss      bool // gpt-oss: output and expert biases, sinks, YaRN, norm names
}

var families = map[string]family{
	"llama":  {eps: 1e-5, ropeBase: 10000, moe: 1},
	"qwen2":  {eps: 1e-6, ropeBase: 1000000, qkvBias: true},
	"qwen3":  {eps: 1e-6, ropeBase: 1000000, headLen: true, qkNorm: true},
	"gemma3": {eps: 1e-6, ropeBase: 1000000, headLen: true, qkNorm: true, postNorm: true},

	"qwen2moe": {eps: 1e-6, ropeBase: 1000000, qkvBias: true, moe: 2, shared: true},
	"qwen3moe": {eps: 1e-6, ropeBase: 1000000, headLen: true, qkNorm: true, moe: 2},
	"gpt-oss":  {eps: 1e-5, ropeBase: 150000, headLen: true, qkvBias: true, moe: 2, oss: true},
}

// fileTypes are llama.cpp's general.file_type values (enum llama_ftype).
var fileTypes = map[quant.Type]uint32{quant.F32: 0, quant.F16: 1, quant.Q4_0: 2, quant.Q4_1: 3, quant.Q8_0: 7}

// ftypeMXFP4MoE is LLAMA_FTYPE_MOSTLY_MXFP4_MOE: MXFP4 experts.
const ftypeMXFP4MoE = 38

func (s Spec) check() (family, error) {
	fam, ok := families[s.Arch]
	if !ok {
		return fam, fmt.Errorf("synth %s: unknown arch %q (llama, qwen2, qwen3, gemma3, qwen2moe, qwen3moe, gpt-oss)", s.Name, s.Arch)
	}
	if _, ok := fileTypes[s.Type]; !ok {
		return fam, fmt.Errorf("synth %s: weight type %s not supported (F32, F16, Q4_0, Q4_1, Q8_0)", s.Name, s.Type)
	}
	if s.Dim <= 0 || s.Layers <= 0 || s.Heads <= 0 || s.KVHeads <= 0 || s.HeadDim <= 0 || s.FFN <= 0 ||
		s.Heads%s.KVHeads != 0 || s.HeadDim%2 != 0 {
		return fam, fmt.Errorf("synth %s: bad shape: dim %d, %d layers, %d heads, %d KV heads, head dim %d, ffn %d",
			s.Name, s.Dim, s.Layers, s.Heads, s.KVHeads, s.HeadDim, s.FFN)
	}
	if !fam.headLen && s.HeadDim*s.Heads != s.Dim {
		return fam, fmt.Errorf("synth %s: %s needs head dim × heads = dim, got %d × %d != %d", s.Name, s.Arch, s.HeadDim, s.Heads, s.Dim)
	}
	switch {
	case s.Experts == 0 && fam.moe == 2:
		return fam, fmt.Errorf("synth %s: %s needs experts", s.Name, s.Arch)
	case s.Experts > 0 && fam.moe == 0:
		return fam, fmt.Errorf("synth %s: %s has no experts", s.Name, s.Arch)
	case s.Experts < 0 || (s.Experts > 0 && (s.ExpertsK < 1 || s.ExpertsK > s.Experts)):
		return fam, fmt.Errorf("synth %s: %d experts, %d used per token", s.Name, s.Experts, s.ExpertsK)
	case s.Experts > 0 && s.Arch != "llama" && s.ExpertFFN <= 0:
		return fam, fmt.Errorf("synth %s: %s needs an expert FFN length", s.Name, s.Arch)
	case s.Experts > 0 && fam.shared && s.SharedFFN <= 0:
		return fam, fmt.Errorf("synth %s: %s needs a shared expert FFN length", s.Name, s.Arch)
	}
	bs := int(s.Type.BlockSize())
	for _, n := range []int{s.Dim, s.FFN, s.Heads * s.HeadDim, max(s.ExpertFFN, bs), max(s.SharedFFN, bs)} {
		if n%bs != 0 {
			return fam, fmt.Errorf("synth %s: row length %d is not a multiple of %s's block size %d", s.Name, n, s.Type, bs)
		}
	}
	if (s.Arch == "gemma3" || s.Arch == "gpt-oss") && s.Window <= 0 {
		return fam, fmt.Errorf("synth %s: %s needs a sliding window > 0", s.Name, s.Arch)
	}
	if s.MXFP4Experts && (s.Experts == 0 || s.Dim%32 != 0 || s.ExpertFFN%32 != 0) {
		return fam, fmt.Errorf("synth %s: MXFP4 experts need experts and rows that are multiples of 32", s.Name)
	}
	return fam, nil
}

// Build returns the GGUF writer for spec with vocab's tokenizer.
func Build(spec Spec, vocab *gguf.File) (*gguf.Writer, error) {
	fam, err := spec.check()
	if err != nil {
		return nil, err
	}
	tokens, ok := vocab.Strings("tokenizer.ggml.tokens")
	if !ok || len(tokens) == 0 {
		return nil, fmt.Errorf("synth %s: %s has no tokenizer.ggml.tokens", spec.Name, vocab.Path)
	}
	w := gguf.NewWriter()
	set := func(k string, v any) {
		if err == nil {
			err = w.Set(k, v)
		}
	}
	a := spec.Arch + "."
	set("general.architecture", spec.Arch)
	set("general.name", spec.Name)
	ftype := fileTypes[spec.Type]
	if spec.MXFP4Experts {
		ftype = ftypeMXFP4MoE
	}
	set("general.file_type", ftype)
	set(a+"context_length", uint32(2048))
	set(a+"embedding_length", uint32(spec.Dim))
	set(a+"block_count", uint32(spec.Layers))
	set(a+"feed_forward_length", uint32(spec.FFN))
	set(a+"attention.head_count", uint32(spec.Heads))
	set(a+"attention.head_count_kv", uint32(spec.KVHeads))
	set(a+"attention.layer_norm_rms_epsilon", fam.eps)
	set(a+"rope.freq_base", fam.ropeBase)
	if fam.headLen {
		set(a+"attention.key_length", uint32(spec.HeadDim))
		set(a+"attention.value_length", uint32(spec.HeadDim))
	} else {
		set(a+"rope.dimension_count", uint32(spec.HeadDim))
	}
	if spec.Window > 0 {
		set(a+"attention.sliding_window", uint32(spec.Window))
	}
	if fam.oss {
		// gpt-oss's YaRN: 32× a 4096-token training context.
		set(a+"rope.scaling.type", "yarn")
		set(a+"rope.scaling.factor", float32(32))
		set(a+"rope.scaling.original_context_length", uint32(4096))
	}
	if spec.Experts > 0 {
		set(a+"expert_count", uint32(spec.Experts))
		set(a+"expert_used_count", uint32(spec.ExpertsK))
		if spec.ExpertFFN > 0 {
			set(a+"expert_feed_forward_length", uint32(spec.ExpertFFN))
		}
		if spec.SharedFFN > 0 {
			set(a+"expert_shared_feed_forward_length", uint32(spec.SharedFFN))
		}
	}
	for _, kv := range vocab.KVs {
		if strings.HasPrefix(kv.Key, "tokenizer.ggml.") {
			set(kv.Key, kv.Value)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("synth %s: %w", spec.Name, err)
	}

	g := &gen{w: w, rng: rand.NewPCG(spec.Seed, 0x5eed), typ: spec.Type}
	d, ff, q, kv, vocabN := spec.Dim, spec.FFN, spec.Heads*spec.HeadDim, spec.KVHeads*spec.HeadDim, len(tokens)
	inv := func(n int) float32 { return float32(1 / math.Sqrt(float64(n))) }
	// Logits have a spread of about outNorm·std(output)·sqrt(dim) = 3:
	// peaked enough that greedy choices are clear, flat enough that text
	// does not collapse onto one token.
	outStd, outNorm, embStd := 3*inv(d), float32(1), float32(1)
	if spec.Tied {
		// A tied model scores each token by its embedding, so the input
		// token's own embedding in the residual stream favours repeating
		// it. Keep that embedding small (0.1 rms after Gemma's sqrt(dim)
		// scale) next to the layers' outputs, and make the spread up with
		// a larger output norm.
		embStd = 0.1
		if spec.Arch == "gemma3" {
			embStd *= inv(d)
		}
		outStd, outNorm = embStd, 3/(embStd*float32(math.Sqrt(float64(d))))
	}
	g.matrix("token_embd.weight", d, vocabN, embStd)
	for i := 0; i < spec.Layers; i++ {
		p := fmt.Sprintf("blk.%d.", i)
		g.norm(p+"attn_norm.weight", d)
		g.matrix(p+"attn_q.weight", d, q, inv(d))
		g.matrix(p+"attn_k.weight", d, kv, inv(d))
		g.matrix(p+"attn_v.weight", d, kv, inv(d))
		if fam.qkvBias {
			g.vector(p+"attn_q.bias", q, 0, 0.1)
			g.vector(p+"attn_k.bias", kv, 0, 0.1)
			g.vector(p+"attn_v.bias", kv, 0, 0.1)
		}
		if fam.qkNorm {
			g.norm(p+"attn_q_norm.weight", spec.HeadDim)
			g.norm(p+"attn_k_norm.weight", spec.HeadDim)
		}
		g.matrix(p+"attn_output.weight", q, d, inv(q))
		if fam.oss {
			g.vector(p+"attn_output.bias", d, 0, 0.1)
			g.vector(p+"attn_sinks.weight", spec.Heads, 1, 1)
		}
		switch {
		case fam.postNorm:
			g.norm(p+"post_attention_norm.weight", d)
			g.norm(p+"ffn_norm.weight", d)
		case fam.oss: // gpt-oss's FFN norm has this name
			g.norm(p+"post_attention_norm.weight", d)
		default:
			g.norm(p+"ffn_norm.weight", d)
		}
		if spec.Experts > 0 {
			g.experts(p, spec, fam)
		} else {
			g.matrix(p+"ffn_gate.weight", d, ff, inv(d))
			g.matrix(p+"ffn_up.weight", d, ff, inv(d))
			g.matrix(p+"ffn_down.weight", ff, d, inv(ff))
		}
		if fam.postNorm {
			g.norm(p+"post_ffw_norm.weight", d)
		}
	}
	g.vector("output_norm.weight", d, outNorm, 0.1*outNorm)
	if !spec.Tied {
		g.matrix("output.weight", d, vocabN, outStd)
	}
	if g.err != nil {
		return nil, fmt.Errorf("synth %s: %w", spec.Name, g.err)
	}
	return w, nil
}

// Encode returns the bytes of spec's GGUF file.
func Encode(spec Spec, vocab *gguf.File) ([]byte, error) {
	w, err := Build(spec, vocab)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("synth %s: %w", spec.Name, err)
	}
	return buf.Bytes(), nil
}

// Write writes spec's model to path, borrowing the tokenizer of the GGUF
// file at vocabPath.
func Write(path, vocabPath string, spec Spec) error {
	vocab, err := gguf.Open(vocabPath)
	if err != nil {
		return err
	}
	defer vocab.Close()
	w, err := Build(spec, vocab)
	if err != nil {
		return err
	}
	return w.WriteFile(path)
}

// gen draws tensors from one random stream and adds them to w.
type gen struct {
	w   *gguf.Writer
	rng *rand.PCG
	typ quant.Type
	err error
}

// uniform returns n values uniform in [mean-std·√3, mean+std·√3) (standard
// deviation std). It uses PCG's raw output only, whose sequence is fixed by
// its definition, so files stay identical across Go releases.
func (g *gen) uniform(n int, mean, std float32) []float32 {
	half := std * float32(math.Sqrt(3))
	out := make([]float32, n)
	for i := range out {
		u := float32(g.rng.Uint64()>>40) / (1 << 24) // [0, 1), exact in float32
		out[i] = mean + half*(2*u-1)
	}
	return out
}

func (g *gen) add(name string, typ quant.Type, shape []int64, vals []float32) {
	if g.err != nil {
		return
	}
	n, err := quant.RowBytes(typ, int64(len(vals)))
	if err != nil {
		g.err = fmt.Errorf("tensor %s: %w", name, err)
		return
	}
	data := make([]byte, n)
	if typ == quant.F32 {
		for i, v := range vals {
			binary.LittleEndian.PutUint32(data[4*i:], math.Float32bits(v))
		}
	} else {
		// Rows are quantized separately, as blocks never cross rows.
		rows := len(vals) / int(shape[0])
		rb := len(data) / rows
		for r := 0; r < rows; r++ {
			row := vals[r*int(shape[0]) : (r+1)*int(shape[0])]
			if err := quant.Quantize(typ, row, data[r*rb:(r+1)*rb]); err != nil {
				g.err = fmt.Errorf("tensor %s: %w", name, err)
				return
			}
		}
	}
	g.err = g.w.AddTensor(name, typ, shape, data)
}

// matrix adds a [cols × rows] weight (GGML order: rows of length cols) in
// the spec's type.
func (g *gen) matrix(name string, cols, rows int, std float32) {
	g.add(name, g.typ, []int64{int64(cols), int64(rows)}, g.uniform(cols*rows, 0, std))
}

// experts adds a layer's router, experts (3-D: [cols, rows, experts]) and
// shared expert. The router's logits have a spread of about 1, so routing
// is decided but not one-sided.
func (g *gen) experts(p string, s Spec, fam family) {
	inv := func(n int) float32 { return float32(1 / math.Sqrt(float64(n))) }
	d, n, ff := s.Dim, s.Experts, s.FFN
	if s.ExpertFFN > 0 {
		ff = s.ExpertFFN
	}
	typ, gu := g.typ, inv(d)
	if s.MXFP4Experts {
		typ = quant.MXFP4
	}
	if fam.oss {
		// Gate and up values of about ±4 (plus bias), so that gpt-oss's
		// SwiGLU clamp at ±7 takes effect now and then.
		gu *= 4
	}
	g.add(p+"ffn_gate_inp.weight", quant.F32, []int64{int64(d), int64(n)}, g.uniform(d*n, 0, inv(d)))
	g.add(p+"ffn_gate_exps.weight", typ, []int64{int64(d), int64(ff), int64(n)}, g.uniform(d*ff*n, 0, gu))
	g.add(p+"ffn_up_exps.weight", typ, []int64{int64(d), int64(ff), int64(n)}, g.uniform(d*ff*n, 0, gu))
	g.add(p+"ffn_down_exps.weight", typ, []int64{int64(ff), int64(d), int64(n)}, g.uniform(ff*d*n, 0, inv(ff)))
	if fam.oss {
		g.add(p+"ffn_gate_inp.bias", quant.F32, []int64{int64(n)}, g.uniform(n, 0, 0.5))
		g.add(p+"ffn_gate_exps.bias", quant.F32, []int64{int64(ff), int64(n)}, g.uniform(ff*n, 0, 1))
		g.add(p+"ffn_up_exps.bias", quant.F32, []int64{int64(ff), int64(n)}, g.uniform(ff*n, 0, 1))
		g.add(p+"ffn_down_exps.bias", quant.F32, []int64{int64(d), int64(n)}, g.uniform(d*n, 0, 0.1))
	}
	if fam.shared {
		sf := s.SharedFFN
		g.vector(p+"ffn_gate_inp_shexp.weight", d, 0, inv(d))
		g.matrix(p+"ffn_gate_shexp.weight", d, sf, inv(d))
		g.matrix(p+"ffn_up_shexp.weight", d, sf, inv(d))
		g.matrix(p+"ffn_down_shexp.weight", sf, d, inv(sf))
	}
}

// vector adds an F32 vector.
func (g *gen) vector(name string, n int, mean, std float32) {
	g.add(name, quant.F32, []int64{int64(n)}, g.uniform(n, mean, std))
}

// norm adds RMSNorm weights near 1 (Gemma's files store 1+w already).
func (g *gen) norm(name string, n int) { g.vector(name, n, 1, 0.1) }
