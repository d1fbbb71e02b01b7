package kv

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
)

// sim drives a Manager with random operations and checks it against a
// simulated device: store[b][slot] is the token whose K/V block b holds at
// slot, written by Append through the block table and moved by the copies
// Reserve returns. Every live sequence must read back its own tokens.
type sim struct {
	m     *Manager
	bs    int
	store [][]int32
	docs  [][]int32 // prompts share these, so Match hits
	seqs  []*simSeq
	rng   *rand.Rand
	// how often the interesting paths ran, so tests can require them
	copies, noSpace, badAppends, forks int
}

type simSeq struct {
	s   *Seq
	src []int32 // the tokens this sequence will append, in order
}

// weakHash collides constantly: equal hashes for different prefixes must
// never make Match return wrong blocks.
func weakHash(parent uint64, toks []int32) uint64 {
	h := parent * 3
	for _, t := range toks {
		h += uint64(t)
	}
	return h % 5
}

func newSim(blocks, bs int, seed uint64, opts ...Option) *sim {
	rng := rand.New(rand.NewPCG(seed, 7))
	d := &sim{m: New(blocks, bs, opts...), bs: bs, store: make([][]int32, blocks), rng: rng}
	for i := range d.store {
		d.store[i] = slices.Repeat([]int32{-1}, bs)
	}
	for range 4 {
		d.docs = append(d.docs, d.tokens(8*bs+3))
	}
	return d
}

// tokens draws from a tiny vocabulary so that equal blocks after different
// prefixes are common.
func (d *sim) tokens(n int) []int32 {
	t := make([]int32, n)
	for i := range t {
		t[i] = int32(d.rng.IntN(3))
	}
	return t
}

// op performs one operation chosen by kind on the sequence picked by a, of a
// size given by b.
func (d *sim) op(kind, a, b byte) error {
	m := d.m
	var x *simSeq
	if len(d.seqs) > 0 {
		x = d.seqs[int(a)%len(d.seqs)]
	}
	k := kind % 8
	if len(d.seqs) >= 8 && (k == 0 || k == 5) {
		k = 6 // keep the pool from filling with idle sequences
	}
	switch k {
	case 0: // a new request: Match a prompt that shares a document's start
		doc := d.docs[int(a)%len(d.docs)]
		prompt := slices.Concat(doc[:int(b)%len(doc)], d.tokens(int(b)%3))
		s := m.Match(prompt)
		if s.Len()%d.bs != 0 || (s.Len() > 0 && s.Len() >= len(prompt)) {
			return fmt.Errorf("Match of %d tokens reused %d (block size %d)", len(prompt), s.Len(), d.bs)
		}
		if !slices.Equal(s.Tokens(), prompt[:s.Len()]) {
			return fmt.Errorf("Match returned tokens %v for prompt %v", s.Tokens(), prompt)
		}
		d.seqs = append(d.seqs, &simSeq{s: s, src: slices.Concat(prompt, d.tokens(4*d.bs))})
	case 1, 2: // Reserve
		if x == nil {
			return nil
		}
		n := int(b) % (3*d.bs + 1)
		before, used := d.snapshot(x.s), m.Used()
		need, can := m.Need(x.s, n), m.CanReserve(x.s, n)
		copies, err := m.Reserve(x.s, n)
		if errors.Is(err, ErrNoSpace) {
			d.noSpace++
			if can {
				return fmt.Errorf("CanReserve said yes, Reserve: %v", err)
			}
			if after := d.snapshot(x.s); after != before {
				return fmt.Errorf("failed Reserve changed state:\n%s\n%s", before, after)
			}
			return nil
		}
		if err != nil {
			return err
		}
		if !can || need != m.Used()-used {
			return fmt.Errorf("Reserve took %d blocks, Need said %d (CanReserve %v)", m.Used()-used, need, can)
		}
		d.copies += len(copies)
		for _, c := range copies {
			copy(d.store[c.Dst], d.store[c.Src])
		}
	case 3, 4: // Append up to what is reserved (sometimes one more, which must fail)
		if x == nil {
			return nil
		}
		room := x.s.reserved - x.s.Len()
		k := int(b) % (room + 2)
		if x.s.Len()+k > len(x.src) {
			x.src = append(x.src, d.tokens(x.s.Len()+k-len(x.src))...)
		}
		toks := x.src[x.s.Len() : x.s.Len()+k]
		before := d.snapshot(x.s)
		err := m.Append(x.s, toks)
		if k > room {
			d.badAppends++
			if err == nil {
				return fmt.Errorf("Append of %d tokens with %d reserved succeeded", k, room)
			}
			if after := d.snapshot(x.s); after != before {
				return fmt.Errorf("failed Append changed state:\n%s\n%s", before, after)
			}
			return nil
		}
		if err != nil {
			return err
		}
		start := x.s.Len() - k
		for i, t := range toks {
			p := start + i
			d.store[x.s.Table()[p/d.bs]][p%d.bs] = t
		}
	case 5: // Fork, the child continuing differently
		if x == nil {
			return nil
		}
		d.forks++
		c := m.Fork(x.s)
		d.seqs = append(d.seqs, &simSeq{s: c, src: slices.Concat(c.Tokens(), d.tokens(4*d.bs))})
	case 6, 7: // Free (twice, sometimes)
		if x == nil {
			return nil
		}
		m.Free(x.s)
		if b%4 == 0 {
			m.Free(x.s)
		}
		d.seqs = slices.DeleteFunc(d.seqs, func(y *simSeq) bool { return y == x })
	}
	return nil
}

// snapshot renders everything a failed operation must leave unchanged.
func (d *sim) snapshot(s *Seq) string {
	return fmt.Sprintf("%+v %v %v %d %d free %v lru %v", d.m.Stats(), s.Table(), s.Len(), s.reserved, len(d.m.index), d.m.free, lruOrder(d.m))
}

// lruOrder lists the evictable blocks, least recently used first.
func lruOrder(m *Manager) []int32 {
	var ids []int32
	s := int32(len(m.blocks))
	for id := m.lru[s].next; id != s; id = m.lru[id].next {
		ids = append(ids, id)
	}
	return ids
}

// verify checks the manager's invariants and that every live sequence reads
// its own tokens back from the simulated device.
func (d *sim) verify() error {
	if err := d.m.Check(); err != nil {
		return err
	}
	st := d.m.Stats()
	if st.Used+st.Free+st.Cached != st.Blocks || d.m.Used()+d.m.Available() != st.Blocks {
		return fmt.Errorf("block accounting %+v, Used %d Available %d", st, d.m.Used(), d.m.Available())
	}
	for _, x := range d.seqs {
		s := x.s
		for p, t := range s.Tokens() {
			if got := d.store[s.Table()[p/d.bs]][p%d.bs]; got != t {
				return fmt.Errorf("sequence reads token %d at position %d, wrote %d", got, p, t)
			}
		}
	}
	return nil
}

// drain frees every live sequence and checks that all blocks come back.
func (d *sim) drain() error {
	for _, x := range d.seqs {
		d.m.Free(x.s)
	}
	d.seqs = nil
	if err := d.m.Check(); err != nil {
		return err
	}
	if d.m.Used() != 0 || d.m.Available() != len(d.store) {
		return fmt.Errorf("after freeing all: Used %d, Available %d of %d", d.m.Used(), d.m.Available(), len(d.store))
	}
	return nil
}
