package kv

import (
	"errors"
	"fmt"
	"slices"
)

// Check verifies the manager's invariants (for tests; it walks everything):
// reference counts equal the references from live sequences; every block is
// exactly one of referenced, free or evictable; the prefix index and the
// cached blocks agree; every sequence's chained hashes and tokens match the
// cached blocks it holds; sequences sharing a block agree on its contents;
// blocks past a sequence's data are private and uncached.
func (m *Manager) Check() error {
	if m.err != nil {
		return m.err
	}
	n, bs := len(m.blocks), m.bs
	refs := make([]int32, n)
	// owner[b] is a sequence holding block b and its index there, to compare
	// the tokens of sharers.
	type at struct {
		s *Seq
		i int
	}
	owner := make([]at, n)
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf("kv: "+format, a...)) }

	for s := range m.live {
		if s.freed || s.m != m {
			bad("live set holds a freed or foreign sequence")
			continue
		}
		data := (s.Len() + bs - 1) / bs
		if s.Len() > s.reserved || len(s.blocks) != (s.reserved+bs-1)/bs {
			bad("sequence of %d tokens, %d reserved, has %d blocks of %d", s.Len(), s.reserved, len(s.blocks), bs)
			continue
		}
		if m.cache && len(s.hashes) != s.Len()/bs {
			bad("sequence of %d tokens has %d block hashes", s.Len(), len(s.hashes))
			continue
		}
		parent := root
		for i, id := range s.blocks {
			if id < 0 || int(id) >= n {
				bad("sequence block %d is %d, outside 0..%d", i, id, n-1)
				continue
			}
			refs[id]++
			b := m.blocks[id]
			if i >= data {
				if b.ref != 1 || b.cached {
					bad("block %d past a sequence's data has ref %d, cached %v", id, b.ref, b.cached)
				}
				continue
			}
			lo, hi := i*bs, min((i+1)*bs, s.Len())
			if m.cache && hi-lo == bs {
				h := m.hash(parent, s.toks[lo:hi])
				if h != s.hashes[i] {
					bad("sequence block %d hash %#x, want %#x", i, s.hashes[i], h)
				}
				if b.cached && (b.hash != h || b.parent != parent) {
					bad("cached block %d hash %#x parent %#x, sequence has %#x parent %#x", id, b.hash, b.parent, h, parent)
				}
				parent = h
			}
			if b.cached && !slices.Equal(m.ctoks[int(id)*bs:int(id)*bs+hi-lo], s.toks[lo:hi]) {
				bad("cached block %d holds other tokens than sequence block %d", id, i)
			}
			if o := owner[id]; o.s == nil {
				owner[id] = at{s, i}
			} else {
				olo := o.i * bs
				k := min(hi-lo, min((o.i+1)*bs, o.s.Len())-olo)
				if !slices.Equal(s.toks[lo:lo+k], o.s.toks[olo:olo+k]) {
					bad("block %d shared by sequences with different tokens", id)
				}
			}
		}
	}

	where := make([]byte, n) // 'f' free, 'l' evictable
	for _, id := range m.free {
		switch {
		case id < 0 || int(id) >= n:
			bad("free list holds %d, outside 0..%d", id, n-1)
			continue
		case where[id] != 0:
			bad("block %d twice on the free list", id)
		case m.blocks[id].cached:
			bad("free block %d is cached", id)
		}
		where[id] = 'f'
	}
	cnt, s := 0, int32(n)
	for p, id := s, m.lru[s].next; id != s; p, id = id, m.lru[id].next {
		if id < 0 || int(id) >= n || cnt > n {
			bad("LRU list broken at %d", id)
			break
		}
		if m.lru[id].prev != p {
			bad("LRU block %d has prev %d, want %d", id, m.lru[id].prev, p)
		}
		if where[id] != 0 {
			bad("block %d on the LRU list and %c", id, where[id])
		}
		if !m.blocks[id].cached {
			bad("evictable block %d is not cached", id)
		}
		where[id] = 'l'
		cnt++
	}
	if cnt != m.nlru {
		bad("LRU list has %d blocks, count says %d", cnt, m.nlru)
	}

	cached := 0
	for id, b := range m.blocks {
		if b.ref != refs[id] {
			bad("block %d has ref %d, live sequences hold %d", id, b.ref, refs[id])
		}
		if (b.ref > 0) == (where[id] != 0) {
			bad("block %d has ref %d and is on list %q", id, b.ref, where[id])
		}
		if b.cached {
			cached++
			if got, ok := m.index[b.hash]; !ok || got != int32(id) {
				bad("cached block %d hash %#x maps to %d (%v)", id, b.hash, got, ok)
			}
			if h := m.hash(b.parent, m.ctoks[id*bs:(id+1)*bs]); h != b.hash {
				bad("cached block %d hash %#x, its tokens hash to %#x", id, b.hash, h)
			}
		}
	}
	if cached != len(m.index) {
		bad("%d cached blocks, index has %d entries", cached, len(m.index))
	}
	if !m.cache && cached > 0 {
		bad("prefix cache off but %d blocks cached", cached)
	}
	return errors.Join(errs...)
}
