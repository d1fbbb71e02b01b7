package strategy

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
)

// synthLM is a synthetic language model: the next-token logits are a
// function of the tokens so far (by default seeded random numbers), and it
// counts nodes, forks and batched extends so tests can check the
// bookkeeping of the strategies.
type synthLM struct {
	vocab  []string // token texts; token 0 is EOG
	logits func(toks []int32) []float32
	open   int   // nodes not closed
	forks  int   // Fork calls
	starts int   // Start calls
	batch  []int // size of each Extend call
}

type synthNode struct {
	lm     *synthLM
	toks   []int32 // prompt and every token since
	closed bool
}

// randomLogits returns a model whose logits are seeded random values of the
// whole sequence; levels > 0 rounds them to that many values, so that ties
// are common.
func randomLogits(seed uint64, v, levels int) func([]int32) []float32 {
	return func(toks []int32) []float32 {
		h := seed
		for _, t := range toks {
			h = (h ^ uint64(t+1)) * 0x100000001b3
		}
		r := rand.New(rand.NewPCG(h, seed))
		l := make([]float32, v)
		for i := range l {
			if levels > 0 {
				l[i] = float32(r.IntN(levels))
			} else {
				l[i] = float32(r.NormFloat64() * 2)
			}
		}
		return l
	}
}

func newSynth(vocab []string, logits func([]int32) []float32) *synthLM {
	return &synthLM{vocab: vocab, logits: logits}
}

func (m *synthLM) Start(_ context.Context, prompt []int32) (Node, error) {
	m.starts++
	m.open++
	return &synthNode{lm: m, toks: append([]int32(nil), prompt...)}, nil
}

func (m *synthLM) Extend(_ context.Context, nodes []Node, toks []int32) error {
	if len(nodes) != len(toks) {
		return fmt.Errorf("%d nodes, %d tokens", len(nodes), len(toks))
	}
	seen := map[*synthNode]bool{}
	for i, n := range nodes {
		sn := n.(*synthNode)
		if sn.closed || seen[sn] {
			return errors.New("extend of a closed or repeated node")
		}
		seen[sn] = true
		sn.toks = append(sn.toks, toks[i])
	}
	m.batch = append(m.batch, len(nodes))
	return nil
}

func (m *synthLM) IsEOG(id int32) bool { return id == 0 }

func (m *synthLM) NewStream([]int32) TextStream { return &synthStream{m} }

type synthStream struct{ m *synthLM }

func (s *synthStream) Add(id int32) string { return s.m.vocab[id] }
func (s *synthStream) Flush() string       { return "" }

func (n *synthNode) Logprobs() []float32 {
	if n.closed {
		panic("logprobs of a closed node")
	}
	return logSoftmax(n.lm.logits(n.toks))
}

func (n *synthNode) Fork() (Node, error) {
	if n.closed {
		return nil, errors.New("fork of a closed node")
	}
	n.lm.forks++
	n.lm.open++
	return &synthNode{lm: n.lm, toks: append([]int32(nil), n.toks...)}, nil
}

func (n *synthNode) Close() {
	if n.closed {
		panic("double close")
	}
	n.closed = true
	n.lm.open--
}

// logprobAfter is the model's log-probability of tok after toks.
func (m *synthLM) logprobAfter(toks []int32, tok int32) float32 {
	return logSoftmax(m.logits(toks))[tok]
}

// text decodes tokens.
func (m *synthLM) text(toks []int32) string {
	var b strings.Builder
	for _, t := range toks {
		b.WriteString(m.vocab[t])
	}
	return b.String()
}

var negInf = float32(math.Inf(-1))
