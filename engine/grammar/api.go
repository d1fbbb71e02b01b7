// Package grammar constrains generation to a formal language: llama.cpp's
// GBNF, JSON Schema, JSON objects and regular expressions all compile to
// one kind of grammar over bytes, matched by a pushdown automaton whose
// state is a set of stacks (llama.cpp's grammar stacks). A token mask walks
// the vocabulary trie against that state and is cached per state.
package grammar

import (
	"errors"
	"fmt"
	"strings"
)

// ErrEmpty: the grammar admits no string, or no token may come next.
var ErrEmpty = errors.New("grammar admits nothing")

// UnsupportedError names JSON Schema keywords the compiler does not handle.
type UnsupportedError struct{ Keywords []string }

func (e *UnsupportedError) Error() string {
	return "unsupported JSON Schema keywords: " + strings.Join(e.Keywords, ", ")
}

// Grammar is a compiled grammar: immutable and safe for concurrent use.
type Grammar struct {
	prog *prog
}

// Match reports whether the grammar admits s as a whole.
func (g *Grammar) Match(s string) bool {
	m := g.prog.start()
	for i := 0; i < len(s) && m >= 0; i++ {
		m = g.prog.step(m, s[i])
	}
	return g.prog.accepting(m)
}

func newGrammar(p *prog) (*Grammar, error) {
	switch p.start() {
	case overflow:
		return nil, fmt.Errorf("%w: over %d expansions for the first byte (a highly ambiguous grammar)", ErrTooComplex, maxExpand)
	case dead:
		return nil, fmt.Errorf("%w: no string matches", ErrEmpty)
	}
	return &Grammar{prog: p}, nil
}

// Prefix reports whether s can be extended to a string the grammar admits.
func (g *Grammar) Prefix(s string) bool {
	m := g.prog.start()
	for i := 0; i < len(s) && m >= 0; i++ {
		m = g.prog.step(m, s[i])
	}
	return m >= 0
}
