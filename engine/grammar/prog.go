package grammar

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"unsafe"
)

// Limits that keep compiled grammars and their matchers bounded.
const (
	maxRepeat = 4096    // largest {m,n} bound
	maxCode   = 1 << 20 // elements of a compiled grammar
	maxStates = 1 << 16 // matcher states one grammar may discover
	maxExpand = 1 << 16 // expansions in one step (ambiguous grammars can need exponentially many)
	maxNodes  = 1 << 22 // stack nodes one grammar may intern
)

// ErrTooComplex: the grammar, or the states its matcher reached, passed a
// size limit.
var ErrTooComplex = errors.New("grammar too complex")

// elem is one element of a rule's alternative: a byte set, a rule
// reference or (in flat code) the end of an alternative.
type elem struct {
	ref int32 // rule index, or refSet / refEnd
	set bset
}

const (
	refSet int32 = -1
	refEnd int32 = -2
)

// builder lowers nodes into rules of byte sets and references.
type builder struct {
	rules   [][][]elem // rule -> alternatives -> elements
	names   []string
	index   map[string]int32
	defined []bool
	used    map[string][2]int // first reference of each name: line, col
	classes map[string]int32  // helper rule per multi-byte class
	size    int
	err     error
}

func newBuilder() *builder {
	return &builder{index: map[string]int32{}, used: map[string][2]int{}, classes: map[string]int32{}}
}

func (b *builder) rule(name string) int32 {
	if i, ok := b.index[name]; ok {
		return i
	}
	i := int32(len(b.rules))
	b.rules = append(b.rules, nil)
	b.names = append(b.names, name)
	b.defined = append(b.defined, false)
	b.index[name] = i
	return i
}

// helper makes an anonymous rule with the given alternatives.
func (b *builder) helper(alts ...[]elem) int32 {
	i := b.rule(fmt.Sprintf("\x00%d", len(b.rules)))
	b.rules[i] = alts
	b.defined[i] = true
	return i
}

// define adds n as (another) definition of rule name.
func (b *builder) define(name string, n *node) {
	i := b.rule(name)
	b.defined[i] = true
	var alts []*node
	if n.op == opAlt {
		alts = n.kids
	} else {
		alts = []*node{n}
	}
	for _, a := range alts {
		b.rules[i] = append(b.rules[i], b.lower(a, nil))
	}
}

func (b *builder) add(seq []elem, e elem) []elem {
	b.size++
	if b.size > maxCode && b.err == nil {
		b.err = fmt.Errorf("%w: more than %d elements", ErrTooComplex, maxCode)
	}
	return append(seq, e)
}

// lower appends the elements of n to seq.
func (b *builder) lower(n *node, seq []elem) []elem {
	if b.err != nil {
		return seq
	}
	switch n.op {
	case opSeq:
		for _, k := range n.kids {
			seq = b.lower(k, seq)
		}
	case opLit:
		for i := 0; i < len(n.lit); i++ {
			var s bset
			s.add(n.lit[i], n.lit[i])
			seq = b.add(seq, elem{ref: refSet, set: s})
		}
	case opClass:
		seq = b.add(seq, b.class(n.runes))
	case opRef:
		if _, ok := b.used[n.lit]; !ok {
			b.used[n.lit] = [2]int{n.line, n.col}
		}
		seq = b.add(seq, elem{ref: b.rule(n.lit)})
	case opAlt:
		if len(n.kids) == 1 {
			return b.lower(n.kids[0], seq)
		}
		alts := make([][]elem, len(n.kids))
		for i, k := range n.kids {
			alts[i] = b.lower(k, nil)
		}
		seq = b.add(seq, elem{ref: b.helper(alts...)})
	case opRep:
		seq = b.repeat(n, seq)
	}
	return seq
}

// repeat lowers x{min,max}: min copies, then a right-recursive tail
// (unbounded) or max-min nested optionals.
func (b *builder) repeat(n *node, seq []elem) []elem {
	if n.max >= 0 && n.max < n.min {
		b.err = fmt.Errorf("repetition {%d,%d}: max below min", n.min, n.max)
		return seq
	}
	if n.min > maxRepeat || n.max > maxRepeat {
		b.err = fmt.Errorf("%w: repetition bound over %d", ErrTooComplex, maxRepeat)
		return seq
	}
	x := b.lower(n.kids[0], nil)
	if len(x) != 1 {
		x = []elem{{ref: b.helper(x)}}
	}
	for i := 0; i < n.min; i++ {
		seq = b.add(seq, x[0])
	}
	switch {
	case n.max < 0:
		h := b.helper()
		b.rules[h] = [][]elem{{x[0], {ref: h}}, nil}
		seq = b.add(seq, elem{ref: h})
	case n.max > n.min:
		tail := b.helper([]elem{x[0]}, nil)
		for i := n.min + 1; i < n.max; i++ {
			tail = b.helper([]elem{x[0], {ref: tail}}, nil)
			b.size += 2
		}
		seq = b.add(seq, elem{ref: tail})
	}
	return seq
}

// class is one element matching one UTF-8 encoded rune of rs: a byte set
// when all are single bytes, else a helper rule of byte-set sequences.
func (b *builder) class(rs []rng) elem {
	seqs := []([][2]byte){}
	for _, r := range rs {
		seqs = utf8Seqs(seqs, r.lo, r.hi)
	}
	var single bset
	var multi [][][2]byte
	for _, s := range seqs {
		if len(s) == 1 {
			single.add(s[0][0], s[0][1])
		} else {
			multi = append(multi, s)
		}
	}
	if len(multi) == 0 {
		return elem{ref: refSet, set: single}
	}
	key := fmt.Sprint(seqs)
	if h, ok := b.classes[key]; ok {
		return elem{ref: h}
	}
	var alts [][]elem
	if !single.empty() {
		alts = append(alts, []elem{{ref: refSet, set: single}})
	}
	for _, s := range multi {
		alt := make([]elem, len(s))
		for i, br := range s {
			alt[i].ref = refSet
			alt[i].set.add(br[0], br[1])
		}
		alts = append(alts, alt)
		b.size += len(alt)
	}
	h := b.helper(alts...)
	b.classes[key] = h
	return elem{ref: h}
}

// compile checks the rules and flattens them into a prog starting at root.
func (b *builder) compile(root string) (*prog, error) {
	if b.err != nil {
		return nil, b.err
	}
	r, ok := b.index[root]
	if !ok || !b.defined[r] {
		return nil, fmt.Errorf("no rule %q", root)
	}
	undefined := []string{}
	for i, name := range b.names {
		if !b.defined[i] {
			undefined = append(undefined, name)
		}
	}
	if len(undefined) > 0 {
		sort.Slice(undefined, func(i, j int) bool { return b.used[undefined[i]][0] < b.used[undefined[j]][0] })
		at := b.used[undefined[0]]
		return nil, fmt.Errorf("%d:%d: undefined rule %q", at[0], at[1], undefined[0])
	}
	if !b.prune(r) {
		return nil, fmt.Errorf("%w: rule %q derives no finite string", ErrEmpty, root)
	}
	if err := b.leftRecursion(); err != nil {
		return nil, err
	}
	p := &prog{root: r, alts: make([][]int32, len(b.rules))}
	for i, alts := range b.rules {
		named := b.names[i] == "" || b.names[i][0] != 0
		p.ruleAt = append(p.ruleAt, int32(len(p.code)))
		for _, a := range alts {
			p.alts[i] = append(p.alts[i], int32(len(p.code)))
			p.code = append(p.code, a...)
			p.code = append(p.code, elem{ref: refEnd})
			for range len(a) + 1 {
				p.named = append(p.named, named)
				p.rule = append(p.rule, int32(i))
			}
		}
	}
	p.ruleAt = append(p.ruleAt, int32(len(p.code)))
	p.init()
	return p, nil
}

// prune drops alternatives that can never complete (an empty byte set, a
// rule deriving no finite string), so that every matcher state can still
// reach an accepting one. It reports whether root survives.
func (b *builder) prune(root int32) bool {
	ok := make([]bool, len(b.rules))
	productive := func(a []elem) bool {
		for _, e := range a {
			if e.ref == refSet && e.set.empty() || e.ref >= 0 && !ok[e.ref] {
				return false
			}
		}
		return true
	}
	for changed := true; changed; {
		changed = false
		for i, alts := range b.rules {
			if !ok[i] && slices.ContainsFunc(alts, productive) {
				ok[i], changed = true, true
			}
		}
	}
	for i := range b.rules {
		b.rules[i] = slices.DeleteFunc(b.rules[i], func(a []elem) bool { return !productive(a) })
	}
	return ok[root]
}

// leftRecursion rejects rules that can reach themselves without consuming
// a byte: the matcher expands references eagerly and would not terminate.
func (b *builder) leftRecursion() error {
	nullable := make([]bool, len(b.rules))
	isNull := func(a []elem) bool {
		for _, e := range a {
			if e.ref == refSet || !nullable[e.ref] {
				return false
			}
		}
		return true
	}
	for changed := true; changed; {
		changed = false
		for i, alts := range b.rules {
			if !nullable[i] && slices.ContainsFunc(alts, isNull) {
				nullable[i], changed = true, true
			}
		}
	}
	color := make([]uint8, len(b.rules)) // 0 new, 1 on the path, 2 done
	var visit func(r int32) int32
	visit = func(r int32) int32 {
		color[r] = 1
		for _, a := range b.rules[r] {
			for _, e := range a {
				if e.ref == refSet {
					break
				}
				switch color[e.ref] {
				case 1:
					return e.ref
				case 0:
					if c := visit(e.ref); c >= 0 {
						return c
					}
				}
				if !nullable[e.ref] {
					break
				}
			}
		}
		color[r] = 2
		return -1
	}
	for r := range b.rules {
		if color[r] == 0 {
			if c := visit(int32(r)); c >= 0 {
				name := b.names[c]
				if name != "" && name[0] == 0 {
					name = "(a group or repetition)"
				}
				return fmt.Errorf("left recursion through rule %q (a rule reaching itself without consuming input; a repeated part that can be empty)", name)
			}
		}
	}
	return nil
}

// prog is a compiled grammar and its lazily built matcher: a stack is an
// interned list of return positions whose top is a byte set; a state is
// an interned set of stacks, and its transitions on each byte are
// computed once, so matching turns into a lazily built DFA.
type prog struct {
	code   []elem
	named  []bool  // per position: in a rule the source named (not a group or repetition)
	rule   []int32 // per position: its rule
	ruleAt []int32 // per rule: its first position (and one past the last rule)
	alts   [][]int32
	root   int32

	mu     sync.Mutex
	nodes  []snode // stack nodes; 0 is the empty stack (the input may end)
	nodeIx map[snode]int32
	states [][]int32 // sorted stack ids
	stIx   map[string]int32
	trans  [][]int32 // per state: nil, or next state by byte
	acc    []bool
	// Local states (see local): per state its local state, and whether
	// a stack of it returned into the cut-off context.
	local   []int32
	hasCont []bool
	loop    []*bset // per state: nil, or the bytes leading back to it
	startS  int32
	masks   map[*Vocab]*maskCache
	sigSize []int32   // per rule: 0, or 1 + closure
	sigNum  []int32   // per rule: its number in the signature being built, or -1
	sigEnc  []ruleEnc // per rule: its code for signatures
	sigBuf  []byte
	tmp     []int32
	mark    []uint32 // per node: the step (gen) that expanded it last
	gen     uint32
	work    int // expansions in this step
}

type snode struct{ pos, parent int32 }

// cont is the stack node standing for the context cut off a local state.
const cont int32 = 1

// localDepth bounds the frames a local state keeps.
const localDepth = 8

// localState is s with each stack cut below its innermost frame in a named
// rule (p.mu held): tokens that stay within the frames kept are allowed or
// not whatever lies below, so the mask of that part is shared by every
// state with the same top (the inside of any JSON string, say: a
// character of the string rule, wherever the string sits).
func (p *prog) localState(s int32) int32 {
	if l := p.local[s]; l != unknown {
		return l
	}
	var cut func(id int32, k int) int32
	cut = func(id int32, k int) int32 {
		if id == 0 || id == cont {
			return id
		}
		n := p.nodes[id]
		if k == 1 || p.named[n.pos] {
			return p.node(n.pos, cont)
		}
		return p.node(n.pos, cut(n.parent, k-1))
	}
	p.tmp, p.work = p.tmp[:0], 0
	for _, id := range p.states[s] {
		p.tmp = append(p.tmp, cut(id, localDepth))
	}
	l := p.intern()
	p.local[s] = l
	return l
}

// maxSig bounds a local state's signature: states whose reachable rules
// are larger are not shared between grammars.
const maxSig = 64 << 10

// signature describes local state l independently of rule numbering and
// state ids: per stack, its frames as (rule, offset) and the code of every
// rule reachable from them, rules numbered in the order met; the stacks'
// descriptions sorted. Two local states with the same signature allow the
// same tokens (their walks take the same steps), in any grammar. "" when
// too large. p.mu held.
func (p *prog) signature(l int32) string {
	var parts []string
	total := 0
	for _, id := range p.states[l] {
		for f := id; f != 0 && f != cont; f = p.nodes[f].parent {
			if p.closure(p.rule[p.nodes[f].pos]) > maxSig {
				return "" // known too large: skip building it
			}
		}
		if p.sigNum == nil {
			p.sigNum = make([]int32, len(p.alts))
			for i := range p.sigNum {
				p.sigNum[i] = -1
			}
			p.sigEnc = make([]ruleEnc, len(p.alts))
		}
		b := p.sigBuf[:0] // reused: signatures run to kilobytes
		var queue []int32 // rules in the order met; sigNum their numbers
		ref := func(r int32) int32 {
			n := p.sigNum[r]
			if n < 0 {
				n = int32(len(queue))
				p.sigNum[r] = n
				queue = append(queue, r)
			}
			return n
		}
		for ; id != 0 && id != cont; id = p.nodes[id].parent {
			pos := p.nodes[id].pos
			r := p.rule[pos]
			b = binary.LittleEndian.AppendUint32(append(b, 'F'), uint32(ref(r)))
			b = binary.LittleEndian.AppendUint32(b, uint32(pos-p.ruleAt[r]))
		}
		b = append(b, 'B'+byte(id)) // B: the stack's bottom, C: cut
		for i := 0; i < len(queue) && total+len(b) <= maxSig; i++ {
			e := p.enc(queue[i])
			at := len(b)
			b = append(b, e.b...)
			for _, f := range e.refs {
				binary.LittleEndian.PutUint32(b[at+int(f.at):], uint32(ref(f.r)))
			}
		}
		for _, r := range queue {
			p.sigNum[r] = -1
		}
		p.sigBuf = b
		if total+len(b) > maxSig {
			return ""
		}
		total += len(b)
		parts = append(parts, string(b))
	}
	slices.Sort(parts)
	return strings.Join(parts, "|")
}

// ruleEnc is a rule's code as signature bytes, the numbers of the rules
// it references left to fill in at refs.
type ruleEnc struct {
	b    []byte
	refs []struct{ at, r int32 }
}

// enc is rule r's ruleEnc, built once (p.mu held).
func (p *prog) enc(r int32) *ruleEnc {
	e := &p.sigEnc[r]
	if e.b != nil {
		return e
	}
	e.b = append(e.b, 'R')
	for _, c := range p.code[p.ruleAt[r]:p.ruleAt[r+1]] {
		switch c.ref {
		case refEnd:
			e.b = append(e.b, 'E')
		case refSet:
			e.b = append(e.b, 'S')
			for _, w := range c.set {
				e.b = binary.LittleEndian.AppendUint64(e.b, w)
			}
		default:
			e.refs = append(e.refs, struct{ at, r int32 }{int32(len(e.b) + 1), c.ref})
			e.b = append(e.b, 'r', 0, 0, 0, 0)
		}
	}
	return e
}

// closure is the size in signature bytes of rule r and the rules it
// reaches, counted up to just past maxSig; kept per rule (p.mu held).
func (p *prog) closure(r int32) int {
	if p.sigSize == nil {
		p.sigSize = make([]int32, len(p.alts))
	}
	if n := p.sigSize[r]; n > 0 {
		return int(n) - 1
	}
	seen := map[int32]bool{r: true}
	queue := []int32{r}
	total := 0
	for i := 0; i < len(queue) && total <= maxSig; i++ {
		total++
		for _, e := range p.code[p.ruleAt[queue[i]]:p.ruleAt[queue[i]+1]] {
			switch e.ref {
			case refEnd:
				total++
			case refSet:
				total += 33
			default:
				total += 5
				if !seen[e.ref] {
					seen[e.ref] = true
					queue = append(queue, e.ref)
				}
			}
		}
	}
	p.sigSize[r] = int32(total) + 1
	return total
}

// State ids besides real states.
const (
	dead     int32 = -1 // no stack survives
	unknown  int32 = -2 // transition not computed yet
	overflow int32 = -3 // maxStates reached
)

func (p *prog) init() {
	p.nodes = []snode{{-1, -1}, {-1, -1}} // the empty stack, cont
	p.nodeIx = map[snode]int32{}
	p.stIx = map[string]int32{}
	p.masks = map[*Vocab]*maskCache{}
	p.tmp, p.work = p.tmp[:0], 0
	p.gen++
	for _, a := range p.alts[p.root] {
		p.expand(a, 0)
	}
	p.startS = p.intern()
}

func (p *prog) node(pos, parent int32) int32 {
	k := snode{pos, parent}
	if i, ok := p.nodeIx[k]; ok {
		return i
	}
	i := int32(len(p.nodes))
	if i >= maxNodes {
		p.work = maxExpand + 1 // the step ends in overflow
	}
	p.nodes = append(p.nodes, k)
	p.nodeIx[k] = i
	return i
}

// expand adds to p.tmp the stacks reached from position pos with return
// stack parent once references are entered and finished rules return.
func (p *prog) expand(pos, parent int32) {
	// Each (position, parent) once per step: nullable rules nested in
	// each other would otherwise be walked along exponentially many paths.
	id := p.node(pos, parent)
	for int(id) >= len(p.mark) {
		p.mark = append(p.mark, 0)
	}
	if p.mark[id] == p.gen {
		return
	}
	p.mark[id] = p.gen
	if p.work++; p.work > maxExpand {
		return
	}
	e := &p.code[pos]
	switch e.ref {
	case refSet:
		p.tmp = append(p.tmp, id)
	case refEnd:
		if parent == 0 || parent == cont {
			p.tmp = append(p.tmp, parent)
			return
		}
		n := p.nodes[parent]
		p.expand(n.pos, n.parent)
	default:
		// A reference last in its alternative returns straight to the
		// parent (a tail call): right recursion such as x* keeps a
		// constant stack, so its states repeat and their masks are reused.
		ret := parent
		if p.code[pos+1].ref != refEnd {
			ret = p.node(pos+1, parent)
		}
		for _, a := range p.alts[e.ref] {
			p.expand(a, ret)
		}
	}
}

// intern turns p.tmp into a state id (dead when empty).
func (p *prog) intern() int32 {
	if p.work > maxExpand {
		return overflow
	}
	if len(p.tmp) == 0 {
		return dead
	}
	slices.Sort(p.tmp)
	p.tmp = slices.Compact(p.tmp)
	key := unsafe.String((*byte)(unsafe.Pointer(&p.tmp[0])), 4*len(p.tmp))
	if s, ok := p.stIx[key]; ok {
		return s
	}
	if len(p.states) >= maxStates {
		return overflow
	}
	s := int32(len(p.states))
	st := slices.Clone(p.tmp)
	p.states = append(p.states, st)
	// The key must not alias p.tmp: st is never modified.
	p.stIx[unsafe.String((*byte)(unsafe.Pointer(&st[0])), 4*len(st))] = s
	p.trans = append(p.trans, nil)
	p.loop = append(p.loop, nil)
	p.acc = append(p.acc, st[0] == 0)
	p.hasCont = append(p.hasCont, st[0] == cont || len(st) > 1 && st[1] == cont)
	p.local = append(p.local, unknown)
	return s
}

// next is the state after byte c from state s (p.mu held).
func (p *prog) next(s int32, c byte) int32 {
	t := p.trans[s]
	if t == nil {
		t = make([]int32, 256)
		for i := range t {
			t[i] = unknown
		}
		p.trans[s] = t
	}
	if n := t[c]; n != unknown {
		return n
	}
	p.tmp, p.work = p.tmp[:0], 0
	p.gen++
	for _, id := range p.states[s] {
		if id == 0 || id == cont {
			continue
		}
		n := p.nodes[id]
		if p.code[n.pos].set.has(c) {
			p.expand(n.pos+1, n.parent)
		}
	}
	n := p.intern()
	p.trans[s][c] = n // p.trans may have grown: index again
	return n
}

// loops reports whether every byte of set leads from state s back to s
// (p.mu held).
func (p *prog) loops(s int32, set *bset) bool {
	l := p.loop[s]
	if l == nil {
		l = new(bset)
		for c := 0; c < 256; c++ {
			if p.next(s, byte(c)) == s {
				l.add(byte(c), byte(c))
			}
		}
		p.loop[s] = l
	}
	return set[0]&^l[0]|set[1]&^l[1]|set[2]&^l[2]|set[3]&^l[3] == 0
}

func (p *prog) start() int32 { return p.startS }

// step is next under the lock; it returns dead or overflow too.
func (p *prog) step(s int32, c byte) int32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.next(s, c)
}

func (p *prog) accepting(s int32) bool {
	if s < 0 {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.acc[s]
}
