package kv

import (
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tscale/engine/backend"
	"github.com/tscale/engine/quant"
)

// seqTokens returns n distinct-looking tokens starting at id from.
func seqTokens(from, n int) []int32 {
	t := make([]int32, n)
	for i := range t {
		t[i] = int32(from + i)
	}
	return t
}

// sameInts is require.Equal that does not tell nil from empty.
func sameInts(t *testing.T, want, got []int32) {
	t.Helper()
	require.True(t, slices.Equal(want, got), "want %v, got %v", want, got)
}

// compute reserves and appends toks to s, as a forward pass would.
func compute(t *testing.T, m *Manager, s *Seq, toks []int32) []Copy {
	t.Helper()
	copies, err := m.Reserve(s, len(toks))
	require.NoError(t, err)
	require.NoError(t, m.Append(s, toks))
	require.NoError(t, m.Check())
	return copies
}

func TestBlockBytes(t *testing.T) {
	for _, c := range []struct {
		spec backend.KVSpec
		want int64
	}{
		// 2 (K and V) × layers × block size × row bytes
		{backend.KVSpec{Layers: 2, KVDim: 8, BlockSize: 16, Type: quant.F16}, 2 * 2 * 16 * 8 * 2},
		{backend.KVSpec{Layers: 2, KVDim: 8, BlockSize: 16, Type: quant.F32}, 2 * 2 * 16 * 8 * 4},
		{backend.KVSpec{Layers: 32, KVDim: 1024, BlockSize: 16, Blocks: 100, Type: quant.F16}, 2 * 32 * 16 * 1024 * 2},
		{backend.KVSpec{Layers: 1, KVDim: 64, BlockSize: 4, Type: quant.Q8_0}, 2 * 1 * 4 * (64 / 32 * 34)},
		{backend.KVSpec{Layers: 1, KVDim: 10, BlockSize: 4, Type: quant.Q8_0}, 0}, // not whole quant blocks
		{backend.KVSpec{Layers: 1, KVDim: 8, BlockSize: 4, Type: quant.Type(99)}, 0},
		{backend.KVSpec{Layers: 0, KVDim: 8, BlockSize: 4, Type: quant.F16}, 0},
		{backend.KVSpec{Layers: 1, KVDim: 8, BlockSize: 0, Type: quant.F16}, 0},
	} {
		require.Equal(t, c.want, BlockBytes(c.spec), "%+v", c.spec)
	}
	f16 := backend.KVSpec{Layers: 2, KVDim: 8, BlockSize: 16, Type: quant.F16} // 1024 bytes a block
	for _, c := range []struct {
		budget int64
		spec   backend.KVSpec
		want   int
	}{
		{10000, f16, 9},
		{1024, f16, 1},
		{1023, f16, 0},
		{0, f16, 0},
		{-5, f16, 0},
		{1 << 62, f16, 1<<31 - 1},
		{1 << 20, backend.KVSpec{Type: quant.F16}, 0},
	} {
		require.Equal(t, c.want, BlocksFor(c.budget, c.spec), "budget %d %+v", c.budget, c.spec)
	}
}

// TestForks is the parallel-sampling layout: a 200-token prompt is computed
// once (block size 16: 12 full blocks + a partial block holding 8 tokens),
// then 15 forks make 16 samples sharing all 13 blocks. Each sample's first
// decode write goes into the shared partial block, so 15 of them copy it
// (the last one to write finds itself its only user and writes in place):
// 13 + 15 = 28 blocks, 15 copies. After 8 decode tokens each partial block
// is full (208 = 13×16) and the next token takes one new block per sample:
// 28 + 16 = 44.
func TestForks(t *testing.T) {
	const bs, samples = 16, 16
	m := New(64, bs)
	prompt := seqTokens(1000, 200)
	root := m.Match(prompt)
	require.Zero(t, root.Len())
	require.Empty(t, compute(t, m, root, prompt))
	require.Equal(t, 13, m.Used())
	require.Len(t, root.Table(), 13)

	seqs := []*Seq{root}
	for range samples - 1 {
		f := m.Fork(root)
		require.Equal(t, root.Table(), f.Table())
		require.Equal(t, prompt, f.Tokens())
		seqs = append(seqs, f)
	}
	require.NoError(t, m.Check())
	require.Equal(t, 13, m.Used(), "forks share every block")
	for _, id := range root.Table() {
		require.EqualValues(t, samples, m.blocks[id].ref)
	}

	shared := root.Table()[12]
	var copies []Copy
	for i, s := range seqs {
		c, err := m.Reserve(s, 1)
		require.NoError(t, err)
		copies = append(copies, c...)
		require.NoError(t, m.Append(s, []int32{int32(i)}))
		require.NoError(t, m.Check())
	}
	require.Len(t, copies, samples-1)
	require.Equal(t, shared, seqs[samples-1].Table()[12], "the last writer keeps the block")
	for _, c := range copies {
		require.Equal(t, shared, c.Src, "only the partial block is copied")
	}
	require.Equal(t, 13+samples-1, m.Used())
	for _, s := range seqs {
		require.Equal(t, root.Table()[:12], s.Table()[:12], "full blocks stay shared")
	}

	for step := range 8 {
		for i, s := range seqs {
			require.Empty(t, compute(t, m, s, []int32{int32(100*step + i)}))
		}
	}
	require.Equal(t, 13+samples-1+samples, m.Used())
	require.Equal(t, 12+samples, len(m.index), "12 prompt blocks and each sample's 13th block are cached")
	for _, s := range seqs {
		require.Len(t, s.Table(), 14)
		m.Free(s)
	}
	require.NoError(t, m.Check())
	require.Zero(t, m.Used())
	require.Equal(t, 64, m.Available())
}

// TestMatch: after a 200-token sequence (12 full blocks cached), Match
// reuses whole blocks of a prompt's cached prefix, never the whole prompt.
func TestMatch(t *testing.T) {
	const bs = 16
	prefix := seqTokens(1, 200)
	for _, alive := range []bool{true, false} {
		m := New(40, bs)
		a := m.Match(prefix)
		compute(t, m, a, prefix)
		table := slices.Clone(a.Table())
		if !alive {
			m.Free(a) // a preempted or finished request: its full blocks stay cached
			require.Equal(t, 12, m.Stats().Cached)
		}
		for _, c := range []struct {
			name   string
			prompt []int32
			want   int
		}{
			{"same prefix, new suffix", slices.Concat(prefix, seqTokens(5000, 50)), 192},
			{"whole prefix", prefix, 192},
			{"193 tokens", prefix[:193], 192},
			{"192 tokens: one block left to compute", prefix[:192], 176},
			{"17 tokens", prefix[:17], 16},
			{"one block exactly", prefix[:16], 0},
			{"shorter than a block", prefix[:5], 0},
			{"empty", nil, 0},
			{"diverges in block 3", slices.Concat(prefix[:40], []int32{-1}, prefix[41:]), 32},
			{"different first token", slices.Concat([]int32{-1}, prefix[1:]), 0},
		} {
			t.Run(fmt.Sprintf("alive=%v/%s", alive, c.name), func(t *testing.T) {
				s := m.Match(c.prompt)
				require.NoError(t, m.Check())
				require.Equal(t, c.want, s.Len())
				sameInts(t, c.prompt[:c.want], s.Tokens())
				sameInts(t, table[:c.want/bs], s.Table()) // the cached blocks are reused
				m.Free(s)
				require.NoError(t, m.Check())
			})
		}
	}
}

// TestSecondRequestReuses: a second request with the same 200-token prefix
// and a new suffix reuses 12 blocks = 192 tokens and computes the rest.
func TestSecondRequestReuses(t *testing.T) {
	m := New(40, 16)
	prefix := seqTokens(1, 200)
	a := m.Match(prefix)
	compute(t, m, a, prefix)
	b := m.Match(slices.Concat(prefix, seqTokens(900, 30)))
	require.Equal(t, 192, b.Len())
	compute(t, m, b, slices.Concat(prefix[192:], seqTokens(900, 30)))
	require.Equal(t, a.Table()[:12], b.Table()[:12])
	require.NotEqual(t, a.Table()[12], b.Table()[12])
	// a: 13 blocks; b: 12 shared + ceil((230-192)/16) = 3 own.
	require.Equal(t, 13+3, m.Used())
	st := m.Stats()
	require.Equal(t, Stats{Blocks: 40, Used: 16, Free: 24, Queries: 2, QueryTokens: 430, HitTokens: 192}, st)
}

// TestSamePromptTwice: two requests with the same prompt admitted before
// either computed it share nothing; the first to append owns the cache
// entries and the second's equal blocks go back to the free list.
func TestSamePromptTwice(t *testing.T) {
	m := New(20, 4)
	p := seqTokens(1, 10)
	a, b := m.Match(p), m.Match(p)
	require.Zero(t, a.Len())
	require.Zero(t, b.Len())
	compute(t, m, a, p)
	compute(t, m, b, p)
	require.Len(t, m.index, 2)
	m.Free(b)
	m.Free(a)
	st := m.Stats()
	require.Equal(t, 2, st.Cached, "a's two full blocks")
	require.Equal(t, 18, st.Free)
	c := m.Match(p)
	require.Equal(t, 8, c.Len())
	require.NoError(t, m.Check())
}

// TestLRUEviction: unreferenced cached blocks are evicted least recently
// freed first, a sequence's tail before its head, and a Match hit refreshes
// a block.
func TestLRUEviction(t *testing.T) {
	m := New(6, 4)
	pa, pb := seqTokens(10, 8), seqTokens(50, 8)
	a, b := m.Match(pa), m.Match(pb)
	compute(t, m, a, pa) // blocks 0, 1
	compute(t, m, b, pb) // blocks 2, 3
	require.Equal(t, []int32{0, 1}, a.Table())
	require.Equal(t, []int32{2, 3}, b.Table())
	m.Free(a)
	m.Free(b)
	require.Equal(t, []int32{1, 0, 3, 2}, lruOrder(m))
	require.Equal(t, 6, m.Available())

	c := m.Match(nil)
	compute(t, m, c, seqTokens(100, 12)) // blocks 4, 5 free, then evicts 1
	require.Equal(t, []int32{4, 5, 1}, c.Table())
	require.EqualValues(t, 1, m.Stats().Evictions)
	require.Equal(t, []int32{0, 3, 2}, lruOrder(m))
	require.NotContains(t, m.index, m.hash(m.hash(root, pa[:4]), pa[4:]), "an evicted block leaves the index")

	// pa's first block survives; a hit moves it to the recent end.
	d := m.Match(slices.Concat(pa, []int32{7}))
	require.Equal(t, 4, d.Len())
	require.Equal(t, []int32{0}, d.Table())
	m.Free(d)
	require.Equal(t, []int32{3, 2, 0}, lruOrder(m))

	_, err := m.Reserve(c, 4) // c's 12 tokens fill 3 blocks: one new block, evicting 3
	require.NoError(t, err)
	require.Equal(t, []int32{4, 5, 1, 3}, c.Table())
	require.Equal(t, []int32{2, 0}, lruOrder(m))
	e := m.Match(slices.Concat(pb, []int32{7}))
	require.Equal(t, []int32{2}, e.Table(), "pb's tail went first, its head is still cached")
	require.NoError(t, m.Check())
}

// state renders everything a failed call must leave unchanged.
func state(m *Manager, seqs ...*Seq) string {
	out := fmt.Sprintf("%+v free %v lru %v index %d", m.Stats(), m.free, lruOrder(m), len(m.index))
	for _, s := range seqs {
		out += fmt.Sprintf(" | %v %v %d", s.Table(), s.Tokens(), s.reserved)
	}
	return out
}

func TestNoSpaceChangesNothing(t *testing.T) {
	for _, c := range []struct {
		name string
		n    int // tokens to reserve for the victim
		need int
	}{
		{"two new blocks, one available", 8, 2},
		{"copy of the shared block and a new one", 5, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := New(5, 4)
			a := m.Match(nil)
			compute(t, m, a, seqTokens(1, 6)) // blocks 0, 1 (1 holds 2 tokens)
			f := m.Fork(a)                    // shares block 1
			hog := m.Match(nil)
			compute(t, m, hog, seqTokens(50, 8)) // blocks 2, 3
			m.Free(hog)                          // cached and evictable: 3 available
			other := m.Match(nil)
			compute(t, m, other, seqTokens(90, 8)) // block 4 and evicted block 3: only 2 is left
			require.Equal(t, 1, m.Available())
			victim := f
			if c.n == 8 {
				victim = m.Match(nil)
			}
			require.Equal(t, c.need, m.Need(victim, c.n))
			require.False(t, m.CanReserve(victim, c.n))
			before := state(m, a, f, other, victim)
			copies, err := m.Reserve(victim, c.n)
			require.ErrorIs(t, err, ErrNoSpace)
			require.ErrorContains(t, err, fmt.Sprintf("need %d blocks, 1 available", c.need))
			require.Nil(t, copies)
			require.Equal(t, before, state(m, a, f, other, victim))
			require.NoError(t, m.Check())
			_, err = m.Reserve(victim, 1) // one block still fits
			require.NoError(t, err)
			require.NoError(t, m.Check())
		})
	}
}

func TestStats(t *testing.T) {
	m := New(10, 4)
	p := seqTokens(1, 10)
	a := m.Match(p)
	compute(t, m, a, p) // 2 full blocks cached
	require.Equal(t, Stats{Blocks: 10, Used: 3, Free: 7, Queries: 1, QueryTokens: 10}, m.Stats())
	b := m.Match(p)     // 8 of 10
	c := m.Match(p[:5]) // 4 of 5
	d := m.Match(p[:4]) // 0: a whole prompt is never reused
	m.Free(a)           // block 2 (partial) free; blocks 0, 1 still held by b
	require.Equal(t, Stats{Blocks: 10, Used: 2, Free: 8, Queries: 4, QueryTokens: 29, HitTokens: 12}, m.Stats())
	for _, s := range []*Seq{b, c, d} {
		m.Free(s)
	}
	require.Equal(t, Stats{Blocks: 10, Used: 0, Free: 8, Cached: 2, Queries: 4, QueryTokens: 29, HitTokens: 12}, m.Stats())

	off := New(10, 4, WithPrefixCache(false))
	a = off.Match(p)
	compute(t, off, a, p)
	off.Free(a)
	b = off.Match(p)
	require.Zero(t, b.Len())
	require.Equal(t, Stats{Blocks: 10, Used: 0, Free: 10, Queries: 2, QueryTokens: 20}, off.Stats())
	require.Empty(t, off.index)
	require.NoError(t, off.Check())
}

// TestPreempted: a sequence freed mid-generation and recomputed later finds
// its full blocks in the cache.
func TestPreempted(t *testing.T) {
	m := New(8, 16)
	toks := seqTokens(1, 40)
	s := m.Match(toks[:30])
	compute(t, m, s, toks[:30])
	for _, tok := range toks[30:] { // decode
		compute(t, m, s, []int32{tok})
	}
	table := slices.Clone(s.Table())
	m.Free(s)
	r := m.Match(toks)
	require.Equal(t, 32, r.Len())
	require.Equal(t, table[:2], r.Table())
	require.Empty(t, compute(t, m, r, toks[32:]))
	require.Equal(t, toks, r.Tokens())
}

// TestCachedPartialBlock: a block one sequence filled (and cached) while a
// fork still sees it partly filled must not be written in place while it is
// cached: it is copied when shared, dropped from the cache when not.
func TestCachedPartialBlock(t *testing.T) {
	for _, parentAlive := range []bool{true, false} {
		t.Run(fmt.Sprintf("parentAlive=%v", parentAlive), func(t *testing.T) {
			m := New(8, 16)
			p := m.Match(nil)
			compute(t, m, p, seqTokens(1, 18)) // blocks 0, 1 (2 tokens)
			_, err := m.Reserve(p, 14)         // room to fill block 1
			require.NoError(t, err)
			c := m.Fork(p) // shares blocks 0 and 1, none of p's reservation
			require.Equal(t, 18, c.reserved)
			require.Error(t, m.Append(c, []int32{7}), "a fork has no reserved room")
			require.NoError(t, m.Append(p, seqTokens(19, 14))) // block 1 full and cached
			require.True(t, m.blocks[1].cached)
			require.NoError(t, m.Check())
			if !parentAlive {
				m.Free(p)
			}
			copies, err := m.Reserve(c, 1)
			require.NoError(t, err)
			if parentAlive {
				require.Equal(t, []Copy{{Dst: 2, Src: 1}}, copies)
				require.True(t, m.blocks[1].cached)
			} else {
				require.Empty(t, copies)
				require.Equal(t, []int32{0, 1}, c.Table())
				require.False(t, m.blocks[1].cached, "written in place, so dropped from the cache")
			}
			require.NoError(t, m.Append(c, []int32{-7}))
			require.NoError(t, m.Check())
		})
	}
}

func TestEdgeCases(t *testing.T) {
	t.Run("reserve zero", func(t *testing.T) {
		m := New(4, 4)
		s := m.Match(nil)
		copies, err := m.Reserve(s, 0)
		require.NoError(t, err)
		require.Nil(t, copies)
		require.Empty(t, s.Table())
		require.Zero(t, m.Used())
		require.NoError(t, m.Append(s, nil))
	})
	t.Run("prefill chunk spanning blocks", func(t *testing.T) {
		m := New(8, 4)
		s := m.Match(nil)
		compute(t, m, s, seqTokens(1, 3))
		_, err := m.Reserve(s, 10) // positions 3..12: blocks 0..3
		require.NoError(t, err)
		require.Len(t, s.Table(), 4)
		require.NoError(t, m.Append(s, seqTokens(4, 6)))
		require.NoError(t, m.Append(s, seqTokens(10, 4)))
		require.Equal(t, 13, s.Len())
		require.Len(t, m.index, 3)
		require.NoError(t, m.Check())
	})
	t.Run("block size 1", func(t *testing.T) {
		m := New(8, 1)
		p := seqTokens(1, 5)
		s := m.Match(p)
		compute(t, m, s, p)
		f := m.Fork(s)
		require.Empty(t, compute(t, m, f, []int32{9}), "no partial blocks, nothing to copy")
		r := m.Match(p)
		require.Equal(t, 4, r.Len())
		require.NoError(t, m.Check())
	})
	t.Run("bad arguments", func(t *testing.T) {
		m, other := New(4, 4), New(4, 4)
		s := m.Match(nil)
		_, err := m.Reserve(s, -1)
		require.ErrorContains(t, err, "Reserve of -1 tokens")
		require.ErrorContains(t, m.Append(s, []int32{1}), "only 0 reserved")
		_, err = m.Reserve(nil, 1)
		require.ErrorContains(t, err, "nil sequence")
		_, err = other.Reserve(s, 1)
		require.ErrorContains(t, err, "another manager")
		m.Free(s)
		m.Free(s) // no-op
		m.Free(nil)
		_, err = m.Reserve(s, 1)
		require.ErrorIs(t, err, ErrFreed)
		require.ErrorIs(t, m.Append(s, nil), ErrFreed)
		f := m.Fork(s)
		_, err = m.Reserve(f, 1)
		require.ErrorIs(t, err, ErrFreed)
		require.False(t, m.CanReserve(s, 1))
		require.NoError(t, m.Check())
		require.Equal(t, 4, m.Available())
	})
	t.Run("invalid manager", func(t *testing.T) {
		for _, c := range []struct{ blocks, bs int }{{4, 0}, {4, -1}, {-1, 4}} {
			m := New(c.blocks, c.bs)
			s := m.Match(seqTokens(1, 10))
			require.Zero(t, s.Len())
			_, err := m.Reserve(s, 1)
			require.Error(t, err)
			require.Error(t, m.Check())
			require.Zero(t, m.Available())
		}
	})
}

// TestHashCollisions: with hashes that collide, Match still returns only
// blocks holding the prompt's tokens after the prompt's own prefix.
func TestHashCollisions(t *testing.T) {
	tokensOnly := func(_ uint64, toks []int32) uint64 { // ignores the parent
		var h uint64
		for _, t := range toks {
			h = h*31 + uint64(t)
		}
		return h
	}
	constant := func(uint64, []int32) uint64 { return 7 }
	for _, c := range []struct {
		name string
		hash func(uint64, []int32) uint64
		want int // tokens of prompt [3333 2222 9] reused
	}{
		{"equal block after another prefix", tokensOnly, 4},
		{"every hash equal", constant, 0}, // only the first registered block (1111) is cached
	} {
		t.Run(c.name, func(t *testing.T) {
			m := New(8, 4, withHash(c.hash))
			a, b := m.Match(nil), m.Match(nil)
			compute(t, m, a, []int32{1, 1, 1, 1, 2, 2, 2, 2})
			compute(t, m, b, []int32{3, 3, 3, 3, 5})
			p := []int32{3, 3, 3, 3, 2, 2, 2, 2, 9}
			s := m.Match(p)
			require.Equal(t, c.want, s.Len())
			sameInts(t, p[:c.want], s.Tokens())
			sameInts(t, b.Table()[:c.want/4], s.Table())
			require.NoError(t, m.Check())
		})
	}
}
