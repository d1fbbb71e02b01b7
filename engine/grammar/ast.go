package grammar

// node is a grammar expression before lowering: every front end (GBNF,
// regex, JSON Schema via GBNF) builds these.
type node struct {
	op       op
	runes    []rng   // opClass: one UTF-8 encoded rune from the ranges
	lit      string  // opLit: these bytes; opRef: the rule name
	kids     []*node // opSeq, opAlt: parts; opRep: kids[0]
	min, max int     // opRep: max < 0 is unbounded
	line     int     // opRef: where it was written, for errors
	col      int
}

type op uint8

const (
	opSeq op = iota
	opAlt
	opLit
	opClass
	opRef
	opRep
)

// rng is an inclusive range of runes.
type rng struct{ lo, hi rune }

// bset is a set of bytes.
type bset [4]uint64

func (s *bset) add(lo, hi byte) {
	for c := int(lo); c <= int(hi); c++ {
		s[c>>6] |= 1 << (c & 63)
	}
}

func (s *bset) has(c byte) bool { return s[c>>6]&(1<<(c&63)) != 0 }

func (s *bset) empty() bool { return s[0]|s[1]|s[2]|s[3] == 0 }

func altOf(kids ...*node) *node { return &node{op: opAlt, kids: kids} }
func litOf(s string) *node      { return &node{op: opLit, lit: s} }
func repOf(n *node, lo, hi int) *node {
	return &node{op: opRep, kids: []*node{n}, min: lo, max: hi}
}
