package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
)

// Seq is a sequence driven step by step, for search strategies (beam,
// tree) that choose tokens themselves. Seqs share KV blocks through Fork;
// their steps are batched with everything else the engine runs.
type Seq struct {
	e      *Engine
	u      *unit
	logits []float32
	tokens []int32
	closed bool
	tree   *int // open Seqs of this one's NewSeq and its forks (Stats.SeqTrees)
}

// NewSeq prefills prompt (reusing the prefix cache) and returns a sequence
// whose Logits are those after the prompt's last token.
func (e *Engine) NewSeq(ctx context.Context, prompt []int32) (*Seq, error) {
	r := Request{Prompt: prompt}
	if err := r.validate(e.model.Hyper().Vocab, e.ctx); err != nil {
		return nil, err
	}
	s := &Seq{e: e, u: &unit{idx: -1}, tree: new(int)}
	if err := e.do(func() {
		s.u.seq = e.kvm.Match(prompt)
		e.exts = append(e.exts, s.u)
		e.openSeq(s.tree)
	}); err != nil {
		return nil, err
	}
	if err := e.ExtendAll(ctx, []*Seq{s}, [][]int32{prompt[s.u.seq.Len():]}); err != nil {
		s.Close()
		return nil, err
	}
	s.tokens = slices.Clone(prompt)
	return s, nil
}

// Logits are the logits after the sequence's last token (do not modify).
func (s *Seq) Logits() []float32 { return s.logits }

// Tokens are the sequence's tokens so far.
func (s *Seq) Tokens() []int32 { return s.tokens }

// Len is the number of tokens in the sequence.
func (s *Seq) Len() int { return len(s.tokens) }

// Fork returns a sequence that shares this one's KV blocks (copy on write).
func (s *Seq) Fork() (*Seq, error) {
	if s.closed {
		return nil, errors.New("fork of a closed sequence")
	}
	c := &Seq{e: s.e, u: &unit{idx: -1}, logits: s.logits, tokens: slices.Clone(s.tokens), tree: s.tree}
	if err := s.e.do(func() {
		c.u.seq = s.e.kvm.Fork(s.u.seq)
		s.e.exts = append(s.e.exts, c.u)
		s.e.openSeq(c.tree)
	}); err != nil {
		return nil, err
	}
	return c, nil
}

// Extend appends tokens and computes the logits after the last one.
func (s *Seq) Extend(ctx context.Context, tokens ...int32) error {
	return s.e.ExtendAll(ctx, []*Seq{s}, [][]int32{tokens})
}

// ExtendAll appends tokens[i] to seqs[i], all in the same batched steps, and
// waits for their logits.
func (e *Engine) ExtendAll(ctx context.Context, seqs []*Seq, tokens [][]int32) error {
	if len(seqs) != len(tokens) {
		return fmt.Errorf("%d sequences but %d token lists", len(seqs), len(tokens))
	}
	vocab := e.model.Hyper().Vocab
	for i, s := range seqs {
		if s.closed || s.e != e {
			return errors.New("extend of a closed or foreign sequence")
		}
		if len(tokens[i]) == 0 {
			return errors.New("extend with no tokens")
		}
		if s.u.seq != nil && s.u.seq.Len()+len(tokens[i]) > e.ctx {
			return fmt.Errorf("%w: %d + %d tokens > context %d", ErrTooLong, s.u.seq.Len(), len(tokens[i]), e.ctx)
		}
		for _, id := range tokens[i] {
			if id < 0 || int(id) >= vocab {
				return fmt.Errorf("token %d is outside the vocabulary of %d", id, vocab)
			}
		}
	}
	type result struct {
		i      int
		logits []float32
		err    error
	}
	done := make(chan result, len(seqs))
	if err := e.do(func() {
		for i, s := range seqs {
			i := i
			s.u.todo = tokens[i]
			s.u.ext = func(logits []float32, err error) {
				s.u.ext = nil
				s.u.todo = nil
				done <- result{i, slices.Clone(logits), err}
			}
		}
	}); err != nil {
		return err
	}
	var first error
	for range seqs {
		select {
		case r := <-done:
			if r.err != nil && first == nil {
				first = r.err
			}
			if r.err == nil {
				seqs[r.i].logits = r.logits
				seqs[r.i].tokens = append(seqs[r.i].tokens, tokens[r.i]...)
			}
		case <-ctx.Done():
			// Withdraw what has not run yet; the sequences stay usable
			// only if the caller closes them.
			e.do(func() {
				for _, s := range seqs {
					s.u.ext, s.u.todo = nil, nil
				}
			})
			return ctx.Err()
		case <-e.stopped:
			return ErrClosed
		}
	}
	return first
}

// Close frees the sequence's KV blocks.
func (s *Seq) Close() {
	if s.closed {
		return
	}
	s.closed = true
	s.e.do(func() {
		if s.u.seq != nil {
			s.e.kvm.Free(s.u.seq)
			s.u.seq = nil
		}
		s.e.exts = slices.DeleteFunc(s.e.exts, func(x *unit) bool { return x == s.u })
		s.e.closeSeq(s.tree)
	})
}

// Logits evaluates ids as a fresh sequence and returns the logits after its
// last token.
func (e *Engine) Logits(ctx context.Context, ids []int32) ([]float32, error) {
	s, err := e.NewSeq(ctx, ids)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	return s.Logits(), nil
}
