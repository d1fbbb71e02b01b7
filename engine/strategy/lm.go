package strategy

import (
	"context"
	"fmt"
	"math"

	"github.com/tscale/engine/engine"
	"github.com/tscale/engine/model/tokenizer"
)

// LM is a language model driven one token at a time, for the search
// strategies. FromEngine adapts an *engine.Engine.
type LM interface {
	// Start evaluates prompt and returns the node after it.
	Start(ctx context.Context, prompt []int32) (Node, error)
	// Extend appends toks[i] to nodes[i], all in one batched step.
	Extend(ctx context.Context, nodes []Node, toks []int32) error
	// IsEOG reports whether id ends generation.
	IsEOG(id int32) bool
}

// Node is a sequence's state: its next-token distribution. Forks share
// the state (on the engine, its KV blocks) until they diverge.
type Node interface {
	// Logprobs is the log-softmax of the next-token logits (do not modify).
	Logprobs() []float32
	Fork() (Node, error)
	Close()
}

// TextLM is an LM that can also turn tokens into text (for step
// delimiters in Tree).
type TextLM interface {
	LM
	// NewStream decodes the text that tokens add after prefix.
	NewStream(prefix []int32) TextStream
}

// TextStream decodes tokens incrementally. Add may hold text back (an
// incomplete character); Flush releases it.
type TextStream interface {
	Add(id int32) string
	Flush() string
}

// Limited is an LM whose sequences hold at most MaxLen tokens, prompt
// included; Beam and Tree respect it when the LM implements it.
type Limited interface {
	MaxLen() int
}

// maxLen is lm's sequence limit, or MaxInt.
func maxLen(lm LM) int {
	if l, ok := lm.(Limited); ok {
		return l.MaxLen()
	}
	return math.MaxInt
}

// FromEngine adapts e: nodes are engine.Seqs, Fork shares KV blocks and
// Extend is one ExtendAll call.
func FromEngine(e *engine.Engine) TextLM { return engineLM{e} }

type engineLM struct{ e *engine.Engine }

type seqNode struct {
	s  *engine.Seq
	lp []float32 // log-softmax of s.Logits(), computed on first use
}

func (m engineLM) Start(ctx context.Context, prompt []int32) (Node, error) {
	s, err := m.e.NewSeq(ctx, prompt)
	if err != nil {
		return nil, err
	}
	return &seqNode{s: s}, nil
}

func (m engineLM) Extend(ctx context.Context, nodes []Node, toks []int32) error {
	if len(nodes) != len(toks) {
		return fmt.Errorf("extend: %d nodes but %d tokens", len(nodes), len(toks))
	}
	seqs := make([]*engine.Seq, len(nodes))
	lists := make([][]int32, len(nodes))
	for i, n := range nodes {
		sn, ok := n.(*seqNode)
		if !ok {
			return fmt.Errorf("extend: node %d is a %T, not an engine node", i, n)
		}
		seqs[i], lists[i] = sn.s, []int32{toks[i]}
	}
	if len(seqs) == 0 {
		return nil
	}
	err := m.e.ExtendAll(ctx, seqs, lists)
	for _, n := range nodes {
		n.(*seqNode).lp = nil
	}
	return err
}

func (m engineLM) MaxLen() int { return m.e.Context() }

func (m engineLM) IsEOG(id int32) bool { return m.e.Tokenizer().IsEOG(id) }

func (m engineLM) NewStream(prefix []int32) TextStream { return m.e.Tokenizer().NewStreamAfter(prefix) }

func (n *seqNode) Logprobs() []float32 {
	if n.lp == nil {
		n.lp = logSoftmax(n.s.Logits())
	}
	return n.lp
}

func (n *seqNode) Fork() (Node, error) {
	s, err := n.s.Fork()
	if err != nil {
		return nil, err
	}
	return &seqNode{s: s, lp: n.lp}, nil
}

func (n *seqNode) Close() { n.s.Close() }

// logSoftmax normalises logits in float64.
func logSoftmax(logits []float32) []float32 {
	mx := math.Inf(-1)
	for _, v := range logits {
		mx = max(mx, float64(v))
	}
	var sum float64
	for _, v := range logits {
		sum += math.Exp(float64(v) - mx)
	}
	lz := mx + math.Log(sum)
	out := make([]float32, len(logits))
	for i, v := range logits {
		out[i] = float32(float64(v) - lz)
	}
	return out
}

var _ TextStream = (*tokenizer.Stream)(nil)
