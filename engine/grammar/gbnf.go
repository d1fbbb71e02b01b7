package grammar

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ParseGBNF compiles a grammar in llama.cpp's GBNF: rules `name ::= ...`
// with literals, character classes ([a-z], [^"\\]), `.`, references,
// groups, alternation and the postfixes * + ? {m} {m,} {m,n}; comments
// start with #. Generation starts at rule "root". Errors say line:col.
func ParseGBNF(src string) (*Grammar, error) {
	return cached("gbnf\x00"+src, func() (*Grammar, error) { return compileGBNF(src) })
}

func compileGBNF(src string) (*Grammar, error) {
	b := newBuilder()
	if err := parseGBNF(b, src); err != nil {
		return nil, err
	}
	p, err := b.compile("root")
	if err != nil {
		return nil, err
	}
	return newGrammar(p)
}

const maxDepth = 1000 // nesting of groups

type gparser struct {
	src   string
	pos   int
	depth int
}

type gbnfError struct {
	line, col int
	msg       string
}

func (e *gbnfError) Error() string { return fmt.Sprintf("%d:%d: %s", e.line, e.col, e.msg) }

func (p *gparser) lineCol(pos int) (int, int) {
	line := 1 + strings.Count(p.src[:pos], "\n")
	col := 1 + utf8.RuneCountInString(p.src[strings.LastIndexByte(p.src[:pos], '\n')+1:pos])
	return line, col
}

func (p *gparser) fail(pos int, format string, args ...any) error {
	l, c := p.lineCol(pos)
	return &gbnfError{l, c, fmt.Sprintf(format, args...)}
}

func parseGBNF(b *builder, src string) error {
	if !utf8.ValidString(src) {
		return fmt.Errorf("grammar is not valid UTF-8")
	}
	p := &gparser{src: src}
	defs := map[string]bool{}
	p.space(true)
	for p.pos < len(src) {
		start := p.pos
		name := p.name()
		if name == "" {
			return p.fail(p.pos, "expected a rule name")
		}
		p.space(false)
		if !strings.HasPrefix(src[p.pos:], "::=") {
			return p.fail(p.pos, "expected ::= after rule name %q", name)
		}
		p.pos += 3
		p.space(true)
		n, err := p.alternates(false)
		if err != nil {
			return err
		}
		if defs[name] {
			return p.fail(start, "rule %q defined twice", name)
		}
		defs[name] = true
		b.define(name, n)
		if p.pos < len(src) && src[p.pos] != '\n' && src[p.pos] != '\r' {
			return p.fail(p.pos, "expected end of line, found %q", p.peekRune())
		}
		p.space(true)
	}
	return nil
}

func (p *gparser) peekRune() rune {
	r, _ := utf8.DecodeRuneInString(p.src[p.pos:])
	return r
}

// space skips blanks and comments, and line ends when nl.
func (p *gparser) space(nl bool) {
	for p.pos < len(p.src) {
		switch c := p.src[p.pos]; {
		case c == ' ' || c == '\t':
			p.pos++
		case c == '#':
			for p.pos < len(p.src) && p.src[p.pos] != '\n' {
				p.pos++
			}
		case nl && (c == '\n' || c == '\r'):
			p.pos++
		default:
			return
		}
	}
}

func isWord(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

func (p *gparser) name() string {
	start := p.pos
	for p.pos < len(p.src) && isWord(p.src[p.pos]) {
		p.pos++
	}
	return p.src[start:p.pos]
}

func (p *gparser) alternates(nested bool) (*node, error) {
	var alts []*node
	for {
		s, err := p.sequence(nested)
		if err != nil {
			return nil, err
		}
		alts = append(alts, s)
		if p.pos >= len(p.src) || p.src[p.pos] != '|' {
			break
		}
		p.pos++
		p.space(true)
	}
	if len(alts) == 1 {
		return alts[0], nil
	}
	return altOf(alts...), nil
}

func (p *gparser) sequence(nested bool) (*node, error) {
	seq := &node{op: opSeq}
	for p.pos < len(p.src) {
		start := p.pos
		c := p.src[p.pos]
		var n *node
		var err error
		switch {
		case c == '"':
			n, err = p.literal()
		case c == '[':
			n, err = p.class()
		case c == '.':
			p.pos++
			n = &node{op: opClass, runes: []rng{{0, utf8.MaxRune}}}
		case c == '(':
			p.pos++
			if p.depth++; p.depth > maxDepth {
				return nil, p.fail(start, "groups nested deeper than %d", maxDepth)
			}
			p.space(true)
			n, err = p.alternates(true)
			p.depth--
			if err == nil {
				if p.pos >= len(p.src) || p.src[p.pos] != ')' {
					return nil, p.fail(p.pos, "expected ) to close the group at %s", p.at(start))
				}
				p.pos++
				n = altOf(n) // a group is one element
			}
		case isWord(c):
			name := p.name()
			l, col := p.lineCol(start)
			n = &node{op: opRef, lit: name, line: l, col: col}
		case c == '*' || c == '+' || c == '?' || c == '{':
			if len(seq.kids) == 0 {
				return nil, p.fail(start, "%q without an element before it", c)
			}
			last := &seq.kids[len(seq.kids)-1]
			*last, err = p.postfix(*last)
		case c == '<':
			return nil, p.fail(start, "token references (<...>) are not supported")
		default:
			return seq, nil // | ) end of line, or an error for the caller
		}
		if err != nil {
			return nil, err
		}
		if n != nil {
			seq.kids = append(seq.kids, n)
		}
		p.space(nested)
	}
	return seq, nil
}

func (p *gparser) at(pos int) string {
	l, c := p.lineCol(pos)
	return fmt.Sprintf("%d:%d", l, c)
}

func (p *gparser) postfix(n *node) (*node, error) {
	c := p.src[p.pos]
	p.pos++
	switch c {
	case '*':
		return repOf(n, 0, -1), nil
	case '+':
		return repOf(n, 1, -1), nil
	case '?':
		return repOf(n, 0, 1), nil
	}
	start := p.pos - 1
	p.space(true)
	lo, ok := p.int()
	if !ok {
		return nil, p.fail(p.pos, "expected a number in {m,n}")
	}
	hi := lo
	p.space(true)
	if p.pos < len(p.src) && p.src[p.pos] == ',' {
		p.pos++
		p.space(true)
		hi = -1
		if v, ok := p.int(); ok {
			hi = v
		}
		p.space(true)
	}
	if p.pos >= len(p.src) || p.src[p.pos] != '}' {
		return nil, p.fail(p.pos, "expected } to close the repetition at %s", p.at(start))
	}
	p.pos++
	if lo > maxRepeat || hi > maxRepeat {
		return nil, p.fail(start, "repetition bound over %d", maxRepeat)
	}
	if hi >= 0 && hi < lo {
		return nil, p.fail(start, "repetition {%d,%d}: max below min", lo, hi)
	}
	return repOf(n, lo, hi), nil
}

func (p *gparser) int() (int, bool) {
	start := p.pos
	for p.pos < len(p.src) && p.src[p.pos] >= '0' && p.src[p.pos] <= '9' {
		p.pos++
	}
	if p.pos == start || p.pos-start > 6 {
		return 0, false
	}
	v, _ := strconv.Atoi(p.src[start:p.pos])
	return v, true
}

func (p *gparser) literal() (*node, error) {
	start := p.pos
	p.pos++
	var sb strings.Builder
	for {
		if p.pos >= len(p.src) {
			return nil, p.fail(start, "unterminated literal")
		}
		if p.src[p.pos] == '"' {
			p.pos++
			return litOf(sb.String()), nil
		}
		r, err := p.char()
		if err != nil {
			return nil, err
		}
		sb.WriteRune(r)
	}
}

func (p *gparser) class() (*node, error) {
	start := p.pos
	p.pos++
	neg := p.pos < len(p.src) && p.src[p.pos] == '^'
	if neg {
		p.pos++
	}
	var rs []rng
	for {
		if p.pos >= len(p.src) {
			return nil, p.fail(start, "unterminated character class")
		}
		if p.src[p.pos] == ']' {
			p.pos++
			break
		}
		lo, err := p.char()
		if err != nil {
			return nil, err
		}
		hi := lo
		if p.pos+1 < len(p.src) && p.src[p.pos] == '-' && p.src[p.pos+1] != ']' {
			p.pos++
			if hi, err = p.char(); err != nil {
				return nil, err
			}
			if hi < lo {
				return nil, p.fail(p.pos, "character range %q-%q is reversed", lo, hi)
			}
		}
		rs = append(rs, rng{lo, hi})
	}
	rs = normalize(rs)
	if neg {
		rs = negate(rs)
	}
	return &node{op: opClass, runes: rs}, nil
}

// char reads one character of a literal or class, escapes included.
func (p *gparser) char() (rune, error) {
	start := p.pos
	r, n := utf8.DecodeRuneInString(p.src[p.pos:])
	p.pos += n
	if r != '\\' {
		if r == '\n' || r == '\r' {
			return 0, p.fail(start, "line break inside a literal or class (write \\n)")
		}
		return r, nil
	}
	if p.pos >= len(p.src) {
		return 0, p.fail(start, "escape at end of input")
	}
	c := p.src[p.pos]
	p.pos++
	switch c {
	case 'x', 'u', 'U':
		digits := map[byte]int{'x': 2, 'u': 4, 'U': 8}[c]
		if p.pos+digits > len(p.src) {
			return 0, p.fail(start, "\\%c needs %d hex digits", c, digits)
		}
		v, err := strconv.ParseUint(p.src[p.pos:p.pos+digits], 16, 32)
		if err != nil {
			return 0, p.fail(start, "\\%c needs %d hex digits", c, digits)
		}
		p.pos += digits
		if v > utf8.MaxRune || v >= 0xD800 && v <= 0xDFFF {
			return 0, p.fail(start, "escape \\%c%s is not a Unicode scalar value", c, p.src[p.pos-digits:p.pos])
		}
		return rune(v), nil
	case 't':
		return '\t', nil
	case 'r':
		return '\r', nil
	case 'n':
		return '\n', nil
	case '\\', '"', '[', ']', '-', '^', '/', '.', '|', '(', ')', '*', '+', '?', '{', '}':
		return rune(c), nil
	}
	return 0, p.fail(start, "unknown escape \\%c", c)
}
