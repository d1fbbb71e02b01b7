package llama

import (
	"fmt"

	"github.com/tscale/engine/backend"
	"github.com/tscale/engine/model"
	"github.com/tscale/engine/model/gguf"
)

func init() {
	model.Register("qwen2moe", func(f *gguf.File, be backend.Backend) (model.Model, error) {
		return Load(f, be, Options{NeoX: true})
	})
	model.Register("qwen3moe", func(f *gguf.File, be backend.Backend) (model.Model, error) {
		return Load(f, be, Options{NeoX: true})
	})
}

// moeFamily is how an architecture's mixture-of-experts block differs.
// llama.cpp fixes these per architecture (softmax gating for all but
// gpt-oss, which softmaxes the chosen experts' logits only) and
// ignores expert_gating_func / expert_weights_norm / expert_weights_scale
// for them, so the engine does too.
type moeFamily struct {
	gating backend.Gating
	bias   bool // router and expert biases (gpt-oss)
	norm   bool // renormalise the chosen experts' weights to sum to 1
	expFF  bool // expert_feed_forward_length, else feed_forward_length / k
	shared bool // a shared expert with a sigmoid gate (qwen2moe)
	dense  bool // expert_count may be 0 (llama)
}

var moeFamilies = map[string]moeFamily{
	"llama":    {norm: true, dense: true}, // Mixtral
	"qwen2moe": {expFF: true, shared: true},
	"qwen3moe": {norm: true, expFF: true},
	"gpt-oss":  {gating: backend.SoftmaxWeight, bias: true, expFF: true},
}

// moeSpec is a model's expert configuration.
type moeSpec struct {
	fam      moeFamily
	route    backend.Route // Layer is set per call
	ff       int           // expert FFN length
	sharedFF int           // shared expert FFN length (qwen2moe)
}

// readMoE reads the expert hyperparameters into hp; it returns nil for
// dense models.
func readMoE(f *gguf.File, m *model.Meta, hp *model.Hyper) (*moeSpec, error) {
	n := m.Int("expert_count", 0)
	fam, ok := moeFamilies[m.Arch]
	switch {
	case m.Err != nil:
		return nil, m.Err
	case n == 0 && (!ok || fam.dense):
		return nil, nil
	case !ok:
		return nil, fmt.Errorf("%s: %s.expert_count = %d: mixture-of-experts %s models are not supported (llama, qwen2moe, qwen3moe, gpt-oss)", f.Path, m.Arch, n, m.Arch)
	case n == 0:
		return nil, fmt.Errorf("%s: %s.expert_count is missing or 0: %s needs experts", f.Path, m.Arch, m.Arch)
	}
	k := m.Int("expert_used_count", 0)
	if m.Err != nil {
		return nil, m.Err
	}
	if k <= 0 || k > n {
		return nil, fmt.Errorf("%s: %s.expert_used_count = %d, want 1 to expert_count (%d)", f.Path, m.Arch, k, n)
	}
	s := &moeSpec{
		fam:   fam,
		route: backend.Route{Experts: n, K: k, Gating: fam.gating, Norm: fam.norm},
		ff:    hp.FFN,
	}
	if fam.expFF {
		s.ff = m.Int("expert_feed_forward_length", hp.FFN/k)
	}
	if fam.shared {
		s.sharedFF = m.Int("expert_shared_feed_forward_length", hp.FFN)
	}
	switch {
	case s.ff <= 0 && fam.expFF:
		m.Bad("expert_feed_forward_length", s.ff, "must be positive")
	case s.ff <= 0:
		m.Bad("feed_forward_length", s.ff, "must be positive")
	case fam.shared && s.sharedFF <= 0:
		m.Bad("expert_shared_feed_forward_length", s.sharedFF, "must be positive")
	}
	if m.Err != nil {
		return nil, m.Err
	}
	hp.Experts, hp.ExpertsK = n, k
	return s, nil
}

// moeLayer holds one layer's router and experts.
type moeLayer struct {
	router, routerBias      backend.Weight
	exps                    backend.Experts
	shGate, sGate, sUp, sDn backend.Weight // qwen2moe shared expert and its gate
}

// load uploads the expert tensors of the layer with prefix p.
func (s *moeSpec) load(w *model.Weights, p string, dim int64) *moeLayer {
	n, ff := int64(s.route.Experts), int64(s.ff)
	l := &moeLayer{
		router: w.Get(p+"ffn_gate_inp.weight", dim, n),
		exps: backend.Experts{
			Gate: w.Get(p+"ffn_gate_exps.weight", dim, ff, n),
			Up:   w.Get(p+"ffn_up_exps.weight", dim, ff, n),
			Down: w.Get(p+"ffn_down_exps.weight", ff, dim, n),
		},
	}
	if s.fam.bias {
		l.routerBias = w.Get(p+"ffn_gate_inp.bias", n)
		l.exps.GateBias = w.Get(p+"ffn_gate_exps.bias", ff, n)
		l.exps.UpBias = w.Get(p+"ffn_up_exps.bias", ff, n)
		l.exps.DownBias = w.Get(p+"ffn_down_exps.bias", dim, n)
	}
	if s.fam.shared {
		sff := int64(s.sharedFF)
		l.shGate = w.Get(p+"ffn_gate_inp_shexp.weight", dim)
		l.sGate = w.Get(p+"ffn_gate_shexp.weight", dim, sff)
		l.sUp = w.Get(p+"ffn_up_shexp.weight", dim, sff)
		l.sDn = w.Get(p+"ffn_down_shexp.weight", sff, dim)
	}
	return l
}

// moeBufs are one forward pass's scratch tensors for the expert block.
type moeBufs struct {
	logits, sg, su, gate, sh backend.Tensor
}

func (m *Model) newMoEBufs(n int) *moeBufs {
	be, s := m.be, m.moe
	b := &moeBufs{logits: be.Alloc(n, s.route.Experts)}
	if s.fam.shared {
		b.sg, b.su = be.Alloc(n, s.sharedFF), be.Alloc(n, s.sharedFF)
		b.gate, b.sh = be.Alloc(n, 1), be.Alloc(n, m.hp.Dim)
	}
	return b
}

// moeFFN sets dst to the expert block's output for the normalised input
// xn, in llama.cpp's order: routed experts, then the gated shared expert
// added to them.
func (m *Model) moeFFN(dst, xn backend.Tensor, l *moeLayer, il int, b *moeBufs) {
	be := m.be
	be.MatMul(b.logits, xn, l.router, l.routerBias)
	r := m.moe.route
	r.Layer = il
	rt := be.MoERoute(b.logits, r)
	be.MoEExperts(dst, xn, rt, l.exps, m.opt.Act)
	if l.shGate == nil {
		return
	}
	be.MatMul(b.gate, xn, l.shGate, nil)
	be.MatMul(b.sg, xn, l.sGate, nil)
	be.MatMul(b.su, xn, l.sUp, nil)
	be.GLU(b.sg, b.sg, b.su, m.opt.Act)
	be.MatMul(b.sh, b.sg, l.sDn, nil)
	be.SigmoidGate(b.sh, b.gate)
	be.Add(dst, dst, b.sh)
}
