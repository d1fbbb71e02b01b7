package grammar

import (
	"fmt"
	"math"
	"math/bits"
	"slices"
	"sort"
	"sync"

	"github.com/tscale/engine/engine"
	"github.com/tscale/engine/model/tokenizer"
)

// Vocab is a vocabulary prepared for masking: the tokens' bytes in a trie
// laid out in preorder (a pruned subtree is skipped with one jump), and
// the end-of-generation ids. Build it once per tokenizer (VocabFor).
type Vocab struct {
	size   int      // ids 0..size-1
	pieces []string // bytes of each id; "" for ids never allowed (control, empty)
	eog    []int32

	// Trie nodes in preorder, node 0 the root: the byte on the edge into
	// node i, its depth, the end of its subtree, and the ids whose bytes
	// end at it (toks[tokAt[i]:tokAt[i+1]]).
	edge   []byte
	parent []int32
	depth  []int32
	end    []int32
	tokAt  []int32
	toks   []int32
	words  int // mask length in uint64 words
	// desc[i] >= 0 indexes the bytes on every edge below node i (nodes
	// with a large enough subtree; equal sets share an index): a state
	// that loops on all of them allows the whole subtree at once.
	desc  []int32
	bytes []bset
}

const minDesc = 8 // subtree size (nodes) worth a byte set

var vocabs sync.Map // *tokenizer.Tokenizer -> *vocabOnce

type vocabOnce struct {
	once sync.Once
	v    *Vocab
}

// VocabFor returns tok's Vocab, built on first use and cached for the life
// of the process. Control tokens other than end-of-generation ones are
// never allowed under a grammar.
func VocabFor(tok *tokenizer.Tokenizer) *Vocab {
	e, _ := vocabs.LoadOrStore(tok, &vocabOnce{})
	vo := e.(*vocabOnce)
	vo.once.Do(func() {
		pieces := make([]string, tok.VocabSize())
		for id := range pieces {
			if !tok.IsControl(int32(id)) && !tok.IsEOG(int32(id)) {
				pieces[id] = tok.Piece(int32(id))
			}
		}
		vo.v = NewVocab(pieces, tok.EOG())
	})
	return vo.v
}

// NewVocab builds a Vocab from each id's bytes ("" for ids never allowed)
// and the end-of-generation ids (allowed where the output may end).
func NewVocab(pieces []string, eog []int32) *Vocab {
	v := &Vocab{size: len(pieces), pieces: make([]string, len(pieces)), words: (len(pieces) + 63) / 64}
	copy(v.pieces, pieces)
	for _, id := range eog {
		if id >= 0 && int(id) < len(pieces) {
			v.eog = append(v.eog, id)
			v.pieces[id] = ""
		}
	}
	ids := make([]int32, 0, len(pieces))
	for id, p := range v.pieces {
		if p != "" {
			ids = append(ids, int32(id))
		}
	}
	sort.SliceStable(ids, func(a, b int) bool { return v.pieces[ids[a]] < v.pieces[ids[b]] })
	// Sorted strings give the preorder directly: a new node per byte past
	// the common prefix with the previous string.
	v.edge, v.depth, v.end, v.parent = []byte{0}, []int32{0}, []int32{0}, []int32{-1}
	v.tokAt = []int32{0}
	path := []int32{0} // node at each depth of the previous string
	prev := ""
	for _, id := range ids {
		s := v.pieces[id]
		common := 0
		for common < len(prev) && common < len(s) && prev[common] == s[common] {
			common++
		}
		path = path[:common+1]
		for d := common; d < len(s); d++ {
			v.edge = append(v.edge, s[d])
			v.depth = append(v.depth, int32(d+1))
			v.end = append(v.end, 0)
			v.tokAt = append(v.tokAt, int32(len(v.toks)))
			v.parent = append(v.parent, path[len(path)-1])
			path = append(path, int32(len(v.edge)-1))
		}
		v.toks = append(v.toks, id)
		prev = s
	}
	v.tokAt = append(v.tokAt, int32(len(v.toks)))
	// Tokens were appended after their node was created, and nodes in
	// order, so tokAt[i]..tokAt[i+1] are node i's; subtree ends by depth.
	n := int32(len(v.edge))
	stack := []int32{}
	for i := int32(0); i < n; i++ {
		for len(stack) > 0 && v.depth[stack[len(stack)-1]] >= v.depth[i] {
			v.end[stack[len(stack)-1]] = i
			stack = stack[:len(stack)-1]
		}
		stack = append(stack, i)
	}
	for _, i := range stack {
		v.end[i] = n
	}
	// Byte sets below each node, children before parents.
	below := make([]bset, n)
	for i := n - 1; i > 0; i-- {
		for j := i + 1; j < v.end[i]; j = v.end[j] {
			below[i].add(v.edge[j], v.edge[j])
			for k := range below[i] {
				below[i][k] |= below[j][k]
			}
		}
	}
	v.desc = make([]int32, n)
	sets := map[bset]int32{}
	for i := int32(0); i < n; i++ {
		v.desc[i] = -1
		if v.end[i]-i >= minDesc && i > 0 {
			k, ok := sets[below[i]]
			if !ok {
				k = int32(len(v.bytes))
				sets[below[i]] = k
				v.bytes = append(v.bytes, below[i])
			}
			v.desc[i] = k
		}
	}
	return v
}

// Size is the number of ids the Vocab covers.
func (v *Vocab) Size() int { return v.size }

// maskCache holds token masks per matcher state, bounded in bytes.
type maskCache struct {
	m     map[int32]*mask
	order []int32 // insertion order, for eviction
	max   int
}

// mask is a state's allowed ids as a bitset; for a local state, the ids
// it allows whatever the context, and the trie nodes whose subtrees
// follow a return into the context (unsure), to re-check from it.
type mask struct {
	bits   []uint64
	unsure []int32     // by edge byte, the bytes' runs from at
	at     *[257]int32 // nil when nothing is unsure
}

// byByte sorts m.unsure by the byte on the edge into each node, so that
// the re-check takes only the bytes the real contexts can go on with.
func (m *mask) byByte(v *Vocab) {
	if len(m.unsure) == 0 {
		return
	}
	m.at = new([257]int32)
	for _, j := range m.unsure {
		m.at[v.edge[j]+1]++
	}
	for b := range 256 {
		m.at[b+1] += m.at[b]
	}
	sorted := make([]int32, len(m.unsure))
	next := *m.at
	for _, j := range m.unsure {
		sorted[next[v.edge[j]]] = j
		next[v.edge[j]]++
	}
	m.unsure = sorted
}

const maskCacheBytes = 16 << 20 // per grammar and vocabulary

func (c *maskCache) put(s int32, m *mask) {
	if len(c.order) >= c.max {
		delete(c.m, c.order[0])
		c.order = c.order[1:]
	}
	c.m[s] = m
	c.order = append(c.order, s)
}

// shared holds local masks by signature across grammars: the inside of a
// JSON string, say, is walked once per vocabulary, not once per schema.
// Masks are never modified once made.
var shared = &sharedMasks{m: map[sharedKey]*mask{}}

const sharedBytes = 64 << 20

type sharedKey struct {
	v   *Vocab
	sig string
}

type sharedMasks struct {
	mu    sync.Mutex
	m     map[sharedKey]*mask
	order []sharedKey
	bytes int
}

func (s *sharedMasks) get(v *Vocab, sig string) *mask {
	if sig == "" {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[sharedKey{v, sig}]
}

func (s *sharedMasks) put(v *Vocab, sig string, m *mask) {
	if sig == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k := sharedKey{v, sig}
	if _, ok := s.m[k]; ok {
		return
	}
	size := func(k sharedKey, m *mask) int { return 8*len(m.bits) + 4*len(m.unsure) + 1028 + len(k.sig) }
	for s.bytes > sharedBytes && len(s.order) > 0 {
		old := s.order[0]
		s.order = s.order[1:]
		s.bytes -= size(old, s.m[old])
		delete(s.m, old)
	}
	s.m[k] = m
	s.order = append(s.order, k)
	s.bytes += size(k, m)
}

var errOverflow = fmt.Errorf("%w: over %d matcher states or %d expansions in a step", ErrTooComplex, maxStates, maxExpand)

// mask returns the allowed ids in state s (p.mu held). The part that
// depends only on the top of the stacks comes from s's local state, whose
// mask is shared by all states with that top (the inside of every JSON
// string, say); only the subtrees after a return into the context are
// walked from the contexts s cut off.
func (p *prog) mask(v *Vocab, s int32) ([]uint64, error) {
	c := p.masks[v]
	if c == nil {
		c = &maskCache{m: map[int32]*mask{}, max: max(16, maskCacheBytes/(8*max(1, v.words)))}
		p.masks[v] = c
	}
	if m, ok := c.m[s]; ok {
		return m.bits, nil
	}
	var bits []uint64
	if l := p.localState(s); l >= 0 && l != s {
		lm, ok := c.m[l]
		if !ok {
			sig := p.signature(l)
			if lm = shared.get(v, sig); lm == nil {
				lm = &mask{bits: make([]uint64, v.words)}
				if err := p.walk(v, lm, l, 1, int32(len(v.edge))); err != nil {
					return nil, err
				}
				lm.byByte(v)
				shared.put(v, sig, lm)
			}
			c.put(l, lm)
		}
		if len(lm.unsure) == 0 && !p.acc[s] {
			// Nothing to add: share the local mask (never modified).
			c.put(s, &mask{bits: lm.bits})
			return lm.bits, nil
		}
		m := &mask{bits: append([]uint64(nil), lm.bits...)}
		ctx, err := p.contexts(s)
		if err != nil {
			return nil, err
		}
		var path []byte
		for b := 0; b < 256 && lm.at != nil; b++ {
			js := lm.unsure[lm.at[b]:lm.at[b+1]]
			if len(js) == 0 {
				continue
			}
			var gs []context // the contexts that may go on with byte b
			for _, g := range ctx {
				if n := p.next(g.ret, byte(b)); n >= 0 {
					gs = append(gs, g)
				} else if n == overflow {
					return nil, errOverflow
				}
			}
			for _, j := range js {
				if len(gs) == 0 {
					break
				}
				// The contexts the stacks at j's parent returned into,
				// then j's subtree from there.
				i := v.parent[j]
				path = path[:0]
				for k := i; k > 0; k = v.parent[k] {
					path = append(path, v.edge[k])
				}
				u := dead
				for _, g := range gs {
					t := g.local
					for k := len(path) - 1; k >= 0 && t >= 0; k-- {
						t = p.next(t, path[k])
					}
					if t == overflow {
						return nil, errOverflow
					}
					if t >= 0 && p.hasCont[t] {
						if u, err = p.union(u, g.ret); err != nil {
							return nil, err
						}
					}
				}
				if u >= 0 {
					if err := p.walk(v, m, u, j, v.end[j]); err != nil {
						return nil, err
					}
				}
			}
		}
		bits = m.bits
	} else {
		m := &mask{bits: make([]uint64, v.words)}
		if err := p.walk(v, m, s, 1, int32(len(v.edge))); err != nil {
			return nil, err
		}
		bits = m.bits
	}
	if p.acc[s] {
		for _, id := range v.eog {
			bits[id>>6] |= 1 << (id & 63)
		}
	}
	c.put(s, &mask{bits: bits})
	return bits, nil
}

// context is one group of a state's stacks, by the context their local
// state cuts off: the group's local state, and the state once a stack
// returns into that context.
type context struct{ local, ret int32 }

// contexts splits real state s by the contexts its local state cuts off
// (p.mu held); stacks not cut never leave their local state.
func (p *prog) contexts(s int32) ([]context, error) {
	var cut func(id int32, k int) (int32, int32)
	cut = func(id int32, k int) (int32, int32) {
		if id == 0 || id == cont {
			return id, -1
		}
		n := p.nodes[id]
		if k == 1 || p.named[n.pos] {
			return p.node(n.pos, cont), n.parent
		}
		r, c := cut(n.parent, k-1)
		return p.node(n.pos, r), c
	}
	groups := map[int32][]int32{} // context -> cut stacks
	var order []int32
	for _, id := range p.states[s] {
		l, c := cut(id, localDepth)
		if c < 0 {
			continue
		}
		if _, ok := groups[c]; !ok {
			order = append(order, c)
		}
		groups[c] = append(groups[c], l)
	}
	out := make([]context, 0, len(order))
	for _, c := range order {
		p.tmp, p.work = append(p.tmp[:0], groups[c]...), 0
		l := p.intern()
		p.tmp, p.work = p.tmp[:0], 0
		p.gen++
		if c == 0 {
			p.tmp = append(p.tmp, 0)
		} else {
			n := p.nodes[c]
			p.expand(n.pos, n.parent)
		}
		r := p.intern()
		if l == overflow || r == overflow {
			return nil, errOverflow
		}
		out = append(out, context{l, r})
	}
	return out, nil
}

// union is the state of a's stacks and b's (p.mu held).
func (p *prog) union(a, b int32) (int32, error) {
	switch {
	case a < 0 || a == b:
		return b, nil
	case b < 0:
		return a, nil
	}
	p.tmp, p.work = append(append(p.tmp[:0], p.states[a]...), p.states[b]...), 0
	u := p.intern()
	if u == overflow {
		return u, errOverflow
	}
	return u, nil
}

// walk adds to m the ids allowed from state s in the trie nodes from..to,
// a run of siblings' subtrees whose parent is reached in state s: it skips
// the subtrees that die and takes whole subtrees whose bytes all loop back
// to the state. In a local state, the children of a node where stacks
// return into the cut-off context are unsure.
func (p *prog) walk(v *Vocab, m *mask, s int32, from, to int32) error {
	st := make([]int32, 64)
	st[0] = s
	base := v.depth[from] - 1
	for i := from; i < to; {
		d := v.depth[i] - base
		if int(d) >= len(st) {
			st = append(st, make([]int32, len(st))...)
		}
		t := unknown
		if tr := p.trans[st[d-1]]; tr != nil {
			t = tr[v.edge[i]]
		}
		if t == unknown {
			t = p.next(st[d-1], v.edge[i])
		}
		if t < 0 {
			if t == overflow {
				return errOverflow
			}
			i = v.end[i]
			continue
		}
		st[d] = t
		last := i + 1
		switch k := v.desc[i]; {
		case p.hasCont[t]:
			// Some stacks returned into the cut-off context: what follows
			// from there is re-checked from the real contexts; the other
			// stacks go on here (next ignores the returned ones).
			for j := i + 1; j < v.end[i]; j = v.end[j] {
				m.unsure = append(m.unsure, j)
			}
		case k >= 0 && t == st[d-1] && p.loops(t, &v.bytes[k]):
			// Only states entered by a self-loop are tried: the loop set
			// costs 256 transitions, worth it only for loop states.
			last = v.end[i] // every byte below loops back to t: all allowed
		}
		for _, id := range v.toks[v.tokAt[i]:v.tokAt[last]] {
			m.bits[id>>6] |= 1 << (id & 63)
		}
		i = last
	}
	return nil
}

// Constraint returns g as an engine constraint over v's token ids: the
// same one for the same v, so that the compile cache (JSONSchema and the
// others keep the last grammars by source) is the only cache a server
// needs.
func (g *Grammar) Constraint(v *Vocab) engine.Constraint { return g.constraint(v) }

func (g *Grammar) constraint(v *Vocab) *constraint {
	c, _ := g.cons.LoadOrStore(v, &constraint{p: g.prog, v: v})
	return c.(*constraint)
}

// Check reports whether some token of v may come first: an error wrapping
// ErrEmpty when none may (a grammar this vocabulary cannot spell), or
// ErrTooComplex. The answer is computed once per vocabulary.
func (g *Grammar) Check(v *Vocab) error {
	c := g.constraint(v)
	c.once.Do(func() {
		p := c.p
		p.mu.Lock()
		m, err := p.mask(v, p.start())
		p.mu.Unlock()
		if err == nil && !slices.ContainsFunc(m, func(w uint64) bool { return w != 0 }) {
			err = fmt.Errorf("%w: no token of the vocabulary may come first", ErrEmpty)
		}
		c.err = err
	})
	return c.err
}

type constraint struct {
	p    *prog
	v    *Vocab
	once sync.Once // Check
	err  error
}

func (c *constraint) Start() engine.ConstraintState { return &cstate{c: c, s: c.p.start()} }

// cstate is one sample's matcher state; done after an end-of-generation
// token.
type cstate struct {
	c    *constraint
	s    int32
	done bool
}

func (st *cstate) Clone() engine.ConstraintState { c := *st; return &c }

var (
	negInf   = float32(math.Inf(-1))
	negInf64 = func() (a [64]float32) {
		for i := range a {
			a[i] = negInf
		}
		return a
	}()
)

func (st *cstate) Mask(logits []float32) error {
	if st.done || st.s < 0 {
		return fmt.Errorf("%w: the output is complete", ErrEmpty)
	}
	p, v := st.c.p, st.c.v
	p.mu.Lock()
	m, err := p.mask(v, st.s)
	p.mu.Unlock()
	if err != nil {
		return err
	}
	any := false
	n := min(len(logits), v.size)
	for w := 0; w*64 < n; w++ {
		word := m[w]
		if word != 0 {
			any = true
		}
		if word == math.MaxUint64 {
			continue
		}
		if w*64+64 <= n && bits.OnesCount64(word) < 32 {
			// Mostly masked: one block copy, the few allowed put back.
			row := logits[w*64 : w*64+64]
			var keep [64]float32
			for b := word; b != 0; b &= b - 1 {
				i := bits.TrailingZeros64(b)
				keep[i] = row[i]
			}
			copy(row, negInf64[:])
			for b := word; b != 0; b &= b - 1 {
				i := bits.TrailingZeros64(b)
				row[i] = keep[i]
			}
			continue
		}
		for z := ^word; z != 0; z &= z - 1 {
			if i := w*64 + bits.TrailingZeros64(z); i < n {
				logits[i] = negInf
			}
		}
	}
	for i := n; i < len(logits); i++ {
		logits[i] = negInf
	}
	if !any {
		return fmt.Errorf("%w: no token of the vocabulary may come next", ErrEmpty)
	}
	return nil
}

func (st *cstate) Accept(id int32) error {
	v := st.c.v
	if st.done {
		return fmt.Errorf("token %d after the end of the output", id)
	}
	if id < 0 || int(id) >= v.size {
		return fmt.Errorf("token %d outside the vocabulary of %d", id, v.size)
	}
	p := st.c.p
	p.mu.Lock()
	defer p.mu.Unlock()
	piece := v.pieces[id]
	if piece == "" {
		for _, e := range v.eog {
			if e == id && st.s >= 0 && p.acc[st.s] {
				st.done = true
				return nil
			}
		}
		return fmt.Errorf("token %d not allowed by the grammar here", id)
	}
	s := st.s
	for i := 0; i < len(piece) && s >= 0; i++ {
		s = p.next(s, piece[i])
	}
	if s < 0 {
		if s == overflow {
			return errOverflow
		}
		return fmt.Errorf("token %d (%q) not allowed by the grammar here", id, piece)
	}
	st.s = s
	return nil
}
