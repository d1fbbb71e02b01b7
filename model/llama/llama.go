// Package llama implements the Llama family of decoder-only transformers:
// llama (Llama 2/3, TinyLlama, SmolLM2, Mistral, Mixtral), qwen2 (QKV bias),
// qwen3 (Q/K norm) and the mixture-of-experts qwen2moe and qwen3moe. Other
// families with the same block (gemma3) configure it
// through New.
package llama

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/tscale/engine/backend"
	"github.com/tscale/engine/model"
	"github.com/tscale/engine/model/gguf"
	"github.com/tscale/engine/quant"
)

func init() {
	model.Register("llama", func(f *gguf.File, be backend.Backend) (model.Model, error) {
		return Load(f, be, Options{})
	})
	model.Register("qwen2", func(f *gguf.File, be backend.Backend) (model.Model, error) {
		return Load(f, be, Options{NeoX: true})
	})
	model.Register("qwen3", func(f *gguf.File, be backend.Backend) (model.Model, error) {
		return Load(f, be, Options{NeoX: true})
	})
}

// Options are the per-family variations of the block.
type Options struct {
	NeoX       bool        // NeoX RoPE ordering
	Act        backend.Act // FFN gate activation
	EmbedScale float32     // scale of token embeddings (0 = 1)
	// Layer overrides RoPE and the attention window per layer (nil = same
	// RoPE everywhere, full attention).
	Layer func(il int, rope backend.RoPE) (backend.RoPE, int)
	// FinalSoftcap soft-caps the logits (0 = none).
	FinalSoftcap float32
	// PostAttnFFNNorm: the FFN's input norm is named post_attention_norm
	// (gpt-oss), and there is no norm on the attention output.
	PostAttnFFNNorm bool
	// Sinks: every layer has attention sinks (attn_sinks, one logit per head).
	Sinks bool
	// QScale, when non-zero, multiplies the queries before attention (as
	// Gemma does) instead of the scores by 1/sqrt(head size). llama.cpp
	// rounds the scaled queries to F16 for q·k, so unless QScale is a power
	// of two (then scaling the scores is the same but for F16 subnormals)
	// it is folded into the Q norm weights, which such models have.
	QScale float32
}

// Model is a loaded Llama-family model.
type Model struct {
	hp     model.Hyper
	opt    Options
	be     backend.Backend
	eps    float32
	scale  float32
	ropes  []backend.RoPE
	window []int
	moe    *moeSpec // nil for dense models

	embd, outNorm, output backend.Weight
	layers                []layer
}

type layer struct {
	attnNorm, wq, wk, wv, wo backend.Weight
	bq, bk, bv, bo           backend.Weight // qwen2
	qNorm, kNorm             backend.Weight // qwen3, gemma3
	sinks                    backend.Weight // gpt-oss
	postAttn, postFFN        backend.Weight // gemma3
	ffnNorm, gate, up, down  backend.Weight
	moe                      *moeLayer // replaces gate, up, down
}

// Load reads hyperparameters and uploads the weights of a Llama-family file.
func Load(f *gguf.File, be backend.Backend, opt Options) (*Model, error) {
	m := model.NewMeta(f)
	hp := model.Hyper{
		Arch:    m.Arch,
		Context: m.PosInt("context_length", 2048),
		Dim:     m.PosInt("embedding_length"),
		Layers:  m.PosInt("block_count"),
		FFN:     m.Int("feed_forward_length", 0),
		Heads:   m.PosInt("attention.head_count"),
	}
	hp.KVHeads = m.PosInt("attention.head_count_kv", hp.Heads)
	eps := m.PosFloat("attention.layer_norm_rms_epsilon", 1e-5)
	if m.Err != nil {
		return nil, m.Err
	}
	if hp.Heads%hp.KVHeads != 0 {
		m.Bad("attention.head_count_kv", hp.KVHeads, fmt.Sprintf("must divide attention.head_count (%d)", hp.Heads))
	}
	if _, ok := f.Get(m.Arch + ".attention.key_length"); !ok && hp.Dim%hp.Heads != 0 {
		m.Bad("embedding_length", hp.Dim, fmt.Sprintf("must be a multiple of attention.head_count (%d) without attention.key_length", hp.Heads))
	}
	hp.HeadDim = m.PosInt("attention.key_length", hp.Dim/hp.Heads)
	if v := m.Int("attention.value_length", hp.HeadDim); v != hp.HeadDim {
		m.Bad("attention.value_length", v, fmt.Sprintf("must equal attention.key_length (%d)", hp.HeadDim))
	}
	if m.Err != nil {
		return nil, m.Err
	}
	moe, err := readMoE(f, m, &hp)
	if err != nil {
		return nil, err
	}
	if moe == nil && hp.FFN <= 0 {
		return nil, fmt.Errorf("%s: %s.feed_forward_length is missing or 0", f.Path, m.Arch)
	}
	rope := backend.RoPE{
		Dims:      m.PosInt("rope.dimension_count", hp.HeadDim),
		Base:      m.PosFloat("rope.freq_base", 10000),
		FreqScale: 1,
		NeoX:      opt.NeoX,
	}
	switch typ := m.String("rope.scaling.type", "none"); typ {
	case "none", "":
	case "linear":
		rope.FreqScale = freqScale(m)
	case "yarn":
		rope.FreqScale = freqScale(m)
		rope.YaRN = yarn(m, rope.FreqScale, hp.Context)
	default:
		return nil, fmt.Errorf("%s: RoPE scaling %q is not supported (none, linear, yarn)", f.Path, typ)
	}
	if rope.Dims > hp.HeadDim || rope.Dims%2 != 0 {
		m.Bad("rope.dimension_count", rope.Dims, fmt.Sprintf("must be even and at most the head size %d", hp.HeadDim))
	}
	if m.Err != nil {
		return nil, m.Err
	}

	w := &model.Weights{F: f, BE: be}
	md := &Model{hp: hp, opt: opt, be: be, eps: eps, scale: float32(1 / math.Sqrt(float64(hp.HeadDim))), moe: moe}
	foldQ := false
	if opt.QScale != 0 {
		md.scale = opt.QScale
		if frac, _ := math.Frexp(float64(opt.QScale)); frac != 0.5 {
			md.scale, foldQ = 1, true
		}
	}
	md.embd = w.Get("token_embd.weight")
	if w.Err != nil {
		return nil, w.Err
	}
	if s := md.embd.Shape(); len(s) != 2 || s[0] != int64(hp.Dim) || s[1] <= 0 {
		return nil, fmt.Errorf("%s: token_embd.weight has shape %v, want [%d vocab]", f.Path, s, hp.Dim)
	}
	hp.Vocab = int(md.embd.Shape()[1])
	if n := m.Int("vocab_size", hp.Vocab); n != hp.Vocab {
		m.Bad("vocab_size", n, fmt.Sprintf("disagrees with token_embd.weight's %d rows", hp.Vocab))
	}
	if m.Err != nil {
		return nil, m.Err
	}
	md.hp = hp
	if ff := w.Opt("rope_freqs.weight", int64(rope.Dims/2)); ff != nil {
		rope.Factors = make([]float32, rope.Dims/2)
		t, _ := f.Tensor("rope_freqs.weight")
		// rope_freqs is F32 by convention; decode it for the backend.
		if t.Type != 0 {
			return nil, fmt.Errorf("%s: rope_freqs.weight has type %s, want F32", f.Path, t.Type)
		}
		data := f.Data(t)
		for i := range rope.Factors {
			v := math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:]))
			if !(v > 0) || math.IsInf(float64(v), 0) {
				return nil, fmt.Errorf("%s: rope_freqs.weight[%d] = %v: must be a positive finite number", f.Path, i, v)
			}
			rope.Factors[i] = v
		}
	}
	md.outNorm = w.Get("output_norm.weight", int64(hp.Dim))
	md.output = w.Opt("output.weight", int64(hp.Dim), int64(hp.Vocab))
	if md.output == nil {
		md.output = md.embd // tied embeddings
	}
	d, q, kv := int64(hp.Dim), int64(hp.Heads*hp.HeadDim), int64(hp.KVHeads*hp.HeadDim)
	ffn, hd := int64(hp.FFN), int64(hp.HeadDim)
	for i := 0; i < hp.Layers; i++ {
		p := fmt.Sprintf("blk.%d.", i)
		l := layer{
			attnNorm: w.Get(p+"attn_norm.weight", d),
			wq:       w.Get(p+"attn_q.weight", d, q),
			wk:       w.Get(p+"attn_k.weight", d, kv),
			wv:       w.Get(p+"attn_v.weight", d, kv),
			wo:       w.Get(p+"attn_output.weight", q, d),
			bq:       w.Opt(p+"attn_q.bias", q),
			bk:       w.Opt(p+"attn_k.bias", kv),
			bv:       w.Opt(p+"attn_v.bias", kv),
			bo:       w.Opt(p+"attn_output.bias", d),
			qNorm:    w.Opt(p+"attn_q_norm.weight", hd),
			kNorm:    w.Opt(p+"attn_k_norm.weight", hd),
			postFFN:  w.Opt(p+"post_ffw_norm.weight", d),
		}
		if opt.PostAttnFFNNorm {
			l.ffnNorm = w.Get(p+"post_attention_norm.weight", d)
		} else {
			l.postAttn = w.Opt(p+"post_attention_norm.weight", d)
			l.ffnNorm = w.Get(p+"ffn_norm.weight", d)
		}
		if opt.Sinks {
			l.sinks = w.Get(p+"attn_sinks.weight", int64(hp.Heads))
		}
		if moe != nil {
			l.moe = moe.load(w, p, d)
		} else {
			l.gate = w.Get(p+"ffn_gate.weight", d, ffn)
			l.up = w.Get(p+"ffn_up.weight", d, ffn)
			l.down = w.Get(p+"ffn_down.weight", ffn, d)
		}
		if w.Err != nil {
			return nil, w.Err
		}
		if foldQ {
			if l.qNorm == nil {
				return nil, fmt.Errorf("%s: tensor %sattn_q_norm.weight is missing (needed to scale queries)", f.Path, p)
			}
			if l.qNorm, err = scaled(f, be, p+"attn_q_norm.weight", opt.QScale); err != nil {
				return nil, err
			}
		}
		md.layers = append(md.layers, l)
		r, win := rope, 0
		if opt.Layer != nil {
			r, win = opt.Layer(i, rope)
		}
		md.ropes = append(md.ropes, r)
		md.window = append(md.window, win)
	}
	return md, nil
}

// Hyper implements model.Model.
func (m *Model) Hyper() model.Hyper { return m.hp }

// KVSpec implements model.Model.
func (m *Model) KVSpec(blocks, blockSize int) backend.KVSpec {
	return backend.KVSpec{
		Layers: m.hp.Layers, KVDim: m.hp.KVHeads * m.hp.HeadDim,
		Blocks: blocks, BlockSize: blockSize, Type: 1, // F16, as llama.cpp's default cache
	}
}

// Forward implements model.Model.
func (m *Model) Forward(b *backend.Batch, kv backend.KVCache, logitRows []int) (backend.Tensor, error) {
	n := b.Len()
	if n == 0 {
		return nil, fmt.Errorf("llama: empty batch")
	}
	for i, id := range b.Tokens {
		if id < 0 || int(id) >= m.hp.Vocab {
			return nil, fmt.Errorf("llama: token %d at row %d is outside the vocabulary of %d", id, i, m.hp.Vocab)
		}
	}
	be, hp := m.be, m.hp
	qd, kvd := hp.Heads*hp.HeadDim, hp.KVHeads*hp.HeadDim
	x := be.Alloc(n, hp.Dim)
	scale := m.opt.EmbedScale
	if scale == 0 {
		scale = 1
	}
	be.Embed(x, m.embd, b.Tokens, scale)
	xn := be.Alloc(n, hp.Dim)
	q, k, v := be.Alloc(n, qd), be.Alloc(n, kvd), be.Alloc(n, kvd)
	att, o := be.Alloc(n, qd), be.Alloc(n, hp.Dim)
	var g, u backend.Tensor
	var mb *moeBufs
	if m.moe != nil {
		mb = m.newMoEBufs(n)
	} else {
		g, u = be.Alloc(n, hp.FFN), be.Alloc(n, hp.FFN)
	}
	for il, l := range m.layers {
		be.RMSNorm(xn, x, l.attnNorm, m.eps)
		be.MatMul(q, xn, l.wq, l.bq)
		be.MatMul(k, xn, l.wk, l.bk)
		be.MatMul(v, xn, l.wv, l.bv)
		if l.qNorm != nil {
			be.RMSNorm(q, q, l.qNorm, m.eps)
		}
		if l.kNorm != nil {
			be.RMSNorm(k, k, l.kNorm, m.eps)
		}
		be.RoPE(q, hp.HeadDim, b.Pos, m.ropes[il])
		be.RoPE(k, hp.HeadDim, b.Pos, m.ropes[il])
		be.Attention(att, q, k, v, kv, b, backend.Attn{
			Layer: il, Heads: hp.Heads, KVHeads: hp.KVHeads, HeadDim: hp.HeadDim,
			Scale: m.scale, Window: m.window[il], Sinks: l.sinks,
		})
		be.MatMul(o, att, l.wo, l.bo)
		if l.postAttn != nil {
			be.RMSNorm(o, o, l.postAttn, m.eps)
		}
		be.Add(x, x, o)

		be.RMSNorm(xn, x, l.ffnNorm, m.eps)
		if l.moe != nil {
			m.moeFFN(o, xn, l.moe, il, mb)
		} else {
			be.MatMul(g, xn, l.gate, nil)
			be.MatMul(u, xn, l.up, nil)
			be.GLU(g, g, u, m.opt.Act)
			be.MatMul(o, g, l.down, nil)
		}
		if l.postFFN != nil {
			be.RMSNorm(o, o, l.postFFN, m.eps)
		}
		be.Add(x, x, o)
	}
	if len(logitRows) == 0 {
		return nil, nil
	}
	sel := be.Alloc(len(logitRows), hp.Dim)
	be.Gather(sel, x, logitRows)
	be.RMSNorm(sel, sel, m.outNorm, m.eps)
	logits := be.Alloc(len(logitRows), hp.Vocab)
	be.MatMul(logits, sel, m.output, nil)
	if m.opt.FinalSoftcap > 0 {
		be.Softcap(logits, m.opt.FinalSoftcap)
	}
	return logits, nil
}

// freqScale is 1 / rope.scaling.factor; llama.cpp reads a factor of 0 as
// unset (1).
func freqScale(m *model.Meta) float32 {
	if v, ok := m.F.Float(m.Arch + ".rope.scaling.factor"); ok && v == 0 {
		return 1
	}
	return 1 / m.PosFloat("rope.scaling.factor", 1)
}

// yarn returns llama.cpp's YaRN parameters for a model whose RoPE is
// scaled by freqScale: full extrapolation mix, betas 32 and 1, and an
// attention factor that cancels ggml's own 1 + 0.1·ln(factor) magnitude
// scaling for the default mscale (llama_context's constructor).
func yarn(m *model.Meta, freqScale float32, ctx int) *backend.YaRN {
	factor := 1 / freqScale
	mscale := float32(1)
	if factor > 1 {
		mscale = 0.1*float32(math.Log(float64(factor))) + 1
	}
	attn := mscale * (1 / (1 + 0.1*float32(math.Log(float64(factor)))))
	return &backend.YaRN{
		ExtFactor:  1,
		AttnFactor: attn * m.PosFloat("rope.scaling.attn_factor", 1),
		BetaFast:   32,
		BetaSlow:   1,
		OrigCtx:    m.PosInt("rope.scaling.original_context_length", ctx),
	}
}

// scaled uploads tensor name multiplied by s, as F32.
func scaled(f *gguf.File, be backend.Backend, name string, s float32) (backend.Weight, error) {
	t, _ := f.Tensor(name)
	vals := make([]float32, t.Elems())
	if err := quant.Dequantize(t.Type, f.Data(t), vals); err != nil {
		return nil, fmt.Errorf("%s: tensor %s: %w", f.Path, name, err)
	}
	data := make([]byte, 4*len(vals))
	for i, v := range vals {
		binary.LittleEndian.PutUint32(data[4*i:], math.Float32bits(v*s))
	}
	w, err := be.Upload(name, quant.F32, t.Shape, data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Path, err)
	}
	return w, nil
}
