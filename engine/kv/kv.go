// Package kv decides which blocks of a paged KV cache belong to which
// sequence: reference-counted blocks, copy-on-write forks, and a prefix cache
// of full blocks keyed by a chained hash, with LRU eviction of the cached
// blocks no sequence uses. It is pure bookkeeping: the only device work it
// implies are the block copies Reserve returns for the caller to perform.
package kv

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"math"
)

var (
	// ErrNoSpace: free and evictable blocks do not suffice.
	ErrNoSpace = errors.New("kv: not enough free KV blocks")
	// ErrFreed: the sequence was already freed.
	ErrFreed = errors.New("kv: sequence already freed")
)

// Copy asks the caller to copy block Src into block Dst
// (backend.KVCache.CopyBlock) before the next forward pass.
type Copy struct{ Dst, Src int32 }

// Stats is a snapshot of the manager's counters. Blocks = Used + Free + Cached.
type Stats struct {
	Blocks      int   // blocks in the pool
	Used        int   // blocks referenced by live sequences
	Free        int   // blocks on the free list
	Cached      int   // unreferenced blocks kept for the prefix cache (evictable)
	Queries     int64 // Match calls
	QueryTokens int64 // prompt tokens passed to Match
	HitTokens   int64 // prompt tokens Match found cached
	Evictions   int64 // cached blocks evicted to be reused
}

// Option configures a Manager.
type Option func(*Manager)

// WithPrefixCache turns the prefix cache on (the default) or off. Off, full
// blocks go straight back to the free list and Match finds nothing.
func WithPrefixCache(on bool) Option { return func(m *Manager) { m.cache = on } }

// withHash replaces the block hash (tests use weak hashes to force collisions).
func withHash(h func(parent uint64, toks []int32) uint64) Option {
	return func(m *Manager) { m.hashFn = h }
}

type block struct {
	ref    int32
	cached bool   // registered in the prefix index (a full block)
	hash   uint64 // chained hash while cached
	parent uint64 // hash of the previous block of the prefix (root for the first)
}

// link is a node of the LRU list of evictable blocks; index len(blocks) is
// the sentinel.
type link struct{ prev, next int32 }

// root is the parent hash of a prefix's first block.
const root uint64 = 0

// Manager owns the block pool. It is not safe for concurrent use: the
// scheduler owns it.
type Manager struct {
	bs     int
	blocks []block
	free   []int32 // stack of unreferenced, uncached blocks
	lru    []link  // evictable blocks, least recently used first
	nlru   int
	index  map[uint64]int32 // chained hash -> cached block
	ctoks  []int32          // tokens of cached blocks: block b at [b*bs, (b+1)*bs)
	cache  bool
	seed   maphash.Seed
	hashFn func(parent uint64, toks []int32) uint64
	buf    []byte
	live   map[*Seq]struct{}
	stats  Stats
	err    error // set by New for an invalid configuration
}

// New returns a manager of blocks blocks of blockSize tokens. An invalid
// size gives a manager with no blocks whose Reserve and Check report why.
func New(blocks, blockSize int, opts ...Option) *Manager {
	m := &Manager{bs: blockSize, cache: true, seed: maphash.MakeSeed(), live: map[*Seq]struct{}{}, index: map[uint64]int32{}}
	for _, o := range opts {
		o(m)
	}
	switch {
	case blockSize <= 0:
		m.err = fmt.Errorf("kv: block size %d, want > 0", blockSize)
	case blocks < 0 || blocks > math.MaxInt32-1:
		m.err = fmt.Errorf("kv: %d blocks, want 0..%d", blocks, math.MaxInt32-1)
	}
	if m.err != nil {
		blocks, m.bs = 0, 1
	}
	m.blocks = make([]block, blocks)
	m.free = make([]int32, blocks)
	for i := range m.free {
		m.free[i] = int32(blocks - 1 - i) // pop order 0, 1, 2, ...
	}
	m.lru = make([]link, blocks+1)
	m.lru[blocks] = link{int32(blocks), int32(blocks)}
	if m.cache {
		m.ctoks = make([]int32, blocks*m.bs)
	}
	m.stats.Blocks = blocks
	return m
}

// BlockSize is the number of tokens per block.
func (m *Manager) BlockSize() int { return m.bs }

// Seq is one sequence: its block table and the tokens whose K/V it holds.
type Seq struct {
	m        *Manager
	blocks   []int32
	toks     []int32
	hashes   []uint64 // chained hash of each full block (prefix cache on)
	reserved int      // token slots this sequence may write: Len() <= reserved
	freed    bool
}

// Len is the number of tokens whose K/V are stored (appended).
func (s *Seq) Len() int { return len(s.toks) }

// Table is the block table for backend.Batch.Blocks, including blocks
// reserved for tokens not yet appended. Valid until the next change; do not
// modify.
func (s *Seq) Table() []int32 { return s.blocks }

// Tokens are the token ids appended so far (do not modify).
func (s *Seq) Tokens() []int32 { return s.toks }

func (m *Manager) newSeq() *Seq {
	s := &Seq{m: m}
	m.live[s] = struct{}{}
	return s
}

// own checks that s is a live sequence of m.
func (m *Manager) own(s *Seq) error {
	switch {
	case m.err != nil:
		return m.err
	case s == nil:
		return errors.New("kv: nil sequence")
	case s.m != m:
		return errors.New("kv: sequence belongs to another manager")
	case s.freed:
		return ErrFreed
	}
	return nil
}

func (m *Manager) hash(parent uint64, toks []int32) uint64 {
	if m.hashFn != nil {
		return m.hashFn(parent, toks)
	}
	b := binary.LittleEndian.AppendUint64(m.buf[:0], parent)
	for _, t := range toks {
		b = binary.LittleEndian.AppendUint32(b, uint32(t))
	}
	m.buf = b
	return maphash.Bytes(m.seed, b)
}

// Match returns a new sequence holding the longest cached prefix of prompt:
// whole blocks only, and never all of prompt, so at least one token is left
// to compute and give logits. Len() is the number of reused tokens. With the
// cache off (or prompt nil) it returns an empty sequence.
func (m *Manager) Match(prompt []int32) *Seq {
	s := m.newSeq()
	m.stats.Queries++
	m.stats.QueryTokens += int64(len(prompt))
	if !m.cache {
		return s
	}
	bs, parent := m.bs, root
	for i := 0; (i+1)*bs < len(prompt); i++ {
		toks := prompt[i*bs : (i+1)*bs]
		h := m.hash(parent, toks)
		id, ok := m.index[h]
		if !ok || !m.same(id, parent, toks) {
			break // a miss, or a hash collision with another prefix
		}
		m.take(id)
		s.blocks = append(s.blocks, id)
		s.hashes = append(s.hashes, h)
		parent = h
	}
	s.toks = append([]int32(nil), prompt[:len(s.blocks)*bs]...)
	s.reserved = len(s.toks)
	m.stats.HitTokens += int64(len(s.toks))
	return s
}

// same reports whether cached block id holds toks after the prefix whose
// hash is parent: the check that makes a hash collision a miss, not a wrong
// match. (A wrong match would need two different prefixes with equal 64-bit
// chained hashes at the parent and equal tokens after it.)
func (m *Manager) same(id int32, parent uint64, toks []int32) bool {
	b := &m.blocks[id]
	if !b.cached || b.parent != parent {
		return false
	}
	for i, t := range m.ctoks[int(id)*m.bs : (int(id)+1)*m.bs] {
		if t != toks[i] {
			return false
		}
	}
	return true
}

// take adds a reference to block id, taking it off the LRU list if needed.
func (m *Manager) take(id int32) {
	b := &m.blocks[id]
	if b.ref == 0 {
		m.unlink(id)
	}
	b.ref++
}

// release drops a reference; an unreferenced block becomes evictable if it
// is cached, free otherwise.
func (m *Manager) release(id int32) {
	b := &m.blocks[id]
	b.ref--
	if b.ref > 0 {
		return
	}
	if b.cached {
		m.pushLRU(id)
	} else {
		m.free = append(m.free, id)
	}
}

func (m *Manager) pushLRU(id int32) {
	s := int32(len(m.blocks))
	last := m.lru[s].prev
	m.lru[id] = link{last, s}
	m.lru[last].next = id
	m.lru[s].prev = id
	m.nlru++
}

func (m *Manager) unlink(id int32) {
	l := m.lru[id]
	m.lru[l.prev].next = l.next
	m.lru[l.next].prev = l.prev
	m.lru[id] = link{}
	m.nlru--
}

// alloc returns a block with one reference: a free one, else the least
// recently used cached one (evicting it). The caller has checked Available.
func (m *Manager) alloc() int32 {
	var id int32
	if n := len(m.free); n > 0 {
		id = m.free[n-1]
		m.free = m.free[:n-1]
	} else {
		id = m.lru[len(m.blocks)].next
		m.unlink(id)
		m.uncache(id)
		m.stats.Evictions++
	}
	m.blocks[id].ref = 1
	return id
}

// uncache removes block id from the prefix index.
func (m *Manager) uncache(id int32) {
	b := &m.blocks[id]
	if b.cached {
		delete(m.index, b.hash)
		b.cached, b.hash, b.parent = false, 0, 0
	}
}

// Available is the number of blocks that can be allocated now: free plus
// evictable cached blocks.
func (m *Manager) Available() int { return len(m.free) + m.nlru }

// Used is the number of blocks referenced by live sequences.
func (m *Manager) Used() int { return len(m.blocks) - m.Available() }

// Stats returns a snapshot of the counters.
func (m *Manager) Stats() Stats {
	st := m.stats
	st.Free, st.Cached = len(m.free), m.nlru
	st.Used = st.Blocks - st.Free - st.Cached
	return st
}

// cow returns the index of s's block that must be made private before s
// writes into it, or -1: the partly filled last block when another sequence
// shares it or the prefix cache holds it (cached blocks are immutable).
// Blocks past the data are always private (Fork does not share them).
func (m *Manager) cow(s *Seq) int {
	i := s.Len() / m.bs
	if s.Len()%m.bs == 0 || i >= len(s.blocks) {
		return -1
	}
	if b := m.blocks[s.blocks[i]]; b.ref > 1 || b.cached {
		return i
	}
	return -1
}

// Need is the number of blocks Reserve(s, n) would allocate (0 for a bad s
// or n).
func (m *Manager) Need(s *Seq, n int) int {
	if m.own(s) != nil || n <= 0 {
		return 0
	}
	need := max(0, (s.Len()+n+m.bs-1)/m.bs-len(s.blocks))
	if i := m.cow(s); i >= 0 && m.blocks[s.blocks[i]].ref > 1 {
		need++
	}
	return need
}

// CanReserve reports whether Reserve(s, n) would succeed now.
func (m *Manager) CanReserve(s *Seq, n int) bool {
	return m.own(s) == nil && n >= 0 && m.Need(s, n) <= m.Available()
}

// Reserve makes room for n more tokens after s.Len(), allocating blocks and
// evicting least recently used cached blocks when the free list is empty.
// If s's partly filled last block is shared, it is first copied (copy on
// write): the returned copies must be performed with KVCache.CopyBlock
// before the next forward pass. If that block is cached but used by s alone,
// it is dropped from the cache instead. Fails with ErrNoSpace, changing
// nothing, when blocks do not suffice.
func (m *Manager) Reserve(s *Seq, n int) ([]Copy, error) {
	if err := m.own(s); err != nil {
		return nil, err
	}
	if n < 0 {
		return nil, fmt.Errorf("kv: Reserve of %d tokens", n)
	}
	if n == 0 {
		return nil, nil
	}
	if need, avail := m.Need(s, n), m.Available(); need > avail {
		return nil, fmt.Errorf("%w: %d tokens after %d need %d blocks, %d available", ErrNoSpace, n, s.Len(), need, avail)
	}
	var copies []Copy
	if i := m.cow(s); i >= 0 {
		old := s.blocks[i]
		if m.blocks[old].ref > 1 {
			nb := m.alloc()
			copies = append(copies, Copy{Dst: nb, Src: old})
			m.blocks[old].ref-- // still referenced by another sequence
			s.blocks[i] = nb
		} else {
			m.uncache(old)
		}
	}
	for len(s.blocks)*m.bs < s.Len()+n {
		s.blocks = append(s.blocks, m.alloc())
	}
	s.reserved = max(s.reserved, s.Len()+n)
	return copies, nil
}

// Append records that tokens were computed into s's reserved slots (after
// the forward pass) and registers every block that became full in the prefix
// cache, unless an equal block is already there. It fails, changing nothing,
// when the tokens were not reserved.
func (m *Manager) Append(s *Seq, tokens []int32) error {
	if err := m.own(s); err != nil {
		return err
	}
	if s.Len()+len(tokens) > s.reserved {
		return fmt.Errorf("kv: Append of %d tokens after %d, only %d reserved", len(tokens), s.Len(), s.reserved)
	}
	old := s.Len()
	s.toks = append(s.toks, tokens...)
	if !m.cache {
		return nil
	}
	bs := m.bs
	for i := old / bs; (i+1)*bs <= s.Len(); i++ {
		parent := root
		if i > 0 {
			parent = s.hashes[i-1]
		}
		toks := s.toks[i*bs : (i+1)*bs]
		h := m.hash(parent, toks)
		s.hashes = append(s.hashes, h)
		id := s.blocks[i]
		if _, dup := m.index[h]; dup || m.blocks[id].cached {
			continue // the prefix (or a colliding one) is cached already
		}
		b := &m.blocks[id]
		b.cached, b.hash, b.parent = true, h, parent
		m.index[h] = id
		copy(m.ctoks[int(id)*bs:], toks)
	}
	return nil
}

// Fork returns a new sequence sharing s's blocks that hold data (each
// gains a reference); a write into a shared partly filled block is copied
// by Reserve. Forking a freed sequence gives a freed sequence.
func (m *Manager) Fork(s *Seq) *Seq {
	if err := m.own(s); err != nil {
		return &Seq{m: m, freed: true}
	}
	c := m.newSeq()
	c.blocks = append([]int32(nil), s.blocks[:(s.Len()+m.bs-1)/m.bs]...)
	for _, id := range c.blocks {
		m.blocks[id].ref++
	}
	c.toks = append([]int32(nil), s.toks...)
	c.hashes = append([]uint64(nil), s.hashes...)
	c.reserved = c.Len() // reserved slots of s stay s's
	return c
}

// Free releases s's blocks; those no sequence references any more go back to
// the free list, or, if cached, to the end of the LRU list (the sequence's
// last block first, so a prefix's tail is evicted before its head). Freeing
// twice is a no-op.
func (m *Manager) Free(s *Seq) {
	if m.own(s) != nil {
		return
	}
	for i := len(s.blocks) - 1; i >= 0; i-- {
		m.release(s.blocks[i])
	}
	delete(m.live, s)
	*s = Seq{m: m, freed: true}
}
