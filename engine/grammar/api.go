// Package grammar constrains generation to a formal language: llama.cpp's
// GBNF, JSON Schema, JSON objects and regular expressions all compile to
// one kind of grammar over bytes, matched by a pushdown automaton whose
// state is a set of stacks (llama.cpp's grammar stacks). A token mask walks
// the vocabulary trie against that state and is cached per state.
package grammar

import (
	"container/list"
	"errors"
	"fmt"
	"strings"
	"sync"
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
	cons sync.Map // *Vocab -> *constraint, one per vocabulary
}

// Match reports whether the grammar admits s as a whole.
func (g *Grammar) Match(s string) bool {
	m := g.prog.start()
	for i := 0; i < len(s) && m >= 0; i++ {
		m = g.prog.step(m, s[i])
	}
	return g.prog.accepting(m)
}

// Compiled grammars are kept by source, the most recently used first, so
// that requests with the same schema share one matcher and its masks (all
// but the first start warm). Each holds at most maskCacheBytes of masks
// per vocabulary.
const cacheGrammars = 16

var compiled = struct {
	sync.Mutex
	lru *list.List // of *entry, most recent first
	m   map[string]*list.Element
}{lru: list.New(), m: map[string]*list.Element{}}

type entry struct {
	key string
	g   *Grammar
}

// cached returns the grammar compiled from key, building it on a miss
// (errors are not kept).
func cached(key string, build func() (*Grammar, error)) (*Grammar, error) {
	compiled.Lock()
	if e, ok := compiled.m[key]; ok {
		compiled.lru.MoveToFront(e)
		compiled.Unlock()
		return e.Value.(*entry).g, nil
	}
	compiled.Unlock()
	g, err := build()
	if err != nil {
		return nil, err
	}
	compiled.Lock()
	defer compiled.Unlock()
	if e, ok := compiled.m[key]; ok { // built meanwhile by another caller
		return e.Value.(*entry).g, nil
	}
	compiled.m[key] = compiled.lru.PushFront(&entry{key, g})
	if compiled.lru.Len() > cacheGrammars {
		last := compiled.lru.Back()
		compiled.lru.Remove(last)
		delete(compiled.m, last.Value.(*entry).key)
	}
	return g, nil
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
