package chattmpl

import (
	"fmt"
	"slices"
)

// maxNest bounds how deeply blocks and expressions nest, so that neither
// the parser nor the evaluator can recurse without limit on the Go stack.
const maxNest = 100

type node any

type (
	textNode struct{ s string }
	outNode  struct{ x expr }
	ifNode   struct {
		conds  []expr // nil for else
		bodies [][]node
	}
	forNode struct {
		vars      []string
		iter      expr
		cond      expr
		body, els []node
	}
	setNode struct {
		names []string // one name, a name per tuple item, or the namespace of attr
		attr  string   // set ns.attr
		x     expr
	}
	setBlock struct {
		name    string
		filters []*filterX // their x is nil: applied to the body
		body    []node
	}
	macroNode struct {
		name   string
		params []string
		defs   []expr // defaults, nil where none
		body   []node
	}
	callBlock struct {
		macro *macroNode // the caller(): body and parameters
		call  *callX
	}
	filterBlock struct {
		filters []*filterX
		body    []node
	}
	breakNode    struct{}
	continueNode struct{}
)

type expr any

type (
	constX struct{ v Value }
	nameX  struct{ n string }
	attrX  struct {
		x    expr
		name string
	}
	itemX  struct{ x, key expr }
	sliceX struct{ x, lo, hi, step expr }
	callX  struct {
		fn   expr
		args []expr
		kw   []string
		kws  []expr
	}
	filterX struct {
		x    expr
		name string
		args []expr
		kw   []string
		kws  []expr
	}
	testX struct {
		x    expr
		name string
		args []expr
		neg  bool
	}
	unaryX struct {
		op string
		x  expr
	}
	binX struct {
		op   string
		a, b expr
	}
	condX struct{ c, a, b expr }
	listX struct{ items []expr }
	dictX struct{ keys, vals []expr }
)

type parser struct {
	segs  []segment
	i     int
	depth int
	// the tag being parsed
	toks []token
	p    int
	line int
}

func parse(src string) ([]node, error) {
	segs, err := scan(src)
	if err != nil {
		return nil, err
	}
	p := &parser{segs: segs}
	body, end, err := p.body()
	if err != nil {
		return nil, err
	}
	if end != "" {
		return nil, fmt.Errorf("line %d: unexpected {%% %s %%}", p.line, end)
	}
	return body, nil
}

func (p *parser) errorf(format string, args ...any) error {
	return fmt.Errorf("line %d: %s", p.line, fmt.Sprintf(format, args...))
}

func (p *parser) enter() error {
	if p.depth++; p.depth > maxNest {
		return p.errorf("nesting deeper than %d levels", maxNest)
	}
	return nil
}

// ends are the keywords that close blocks: body stops at any of them.
var ends = []string{"endif", "elif", "else", "endfor", "endset", "endmacro", "endcall", "endfilter", "endgeneration"}

// body parses nodes up to a block-ending tag, whose keyword it returns
// ("" at the end of the template) with p.toks positioned after it.
func (p *parser) body() ([]node, string, error) {
	if err := p.enter(); err != nil {
		return nil, "", err
	}
	defer func() { p.depth-- }()
	var out []node
	for p.i < len(p.segs) {
		s := p.segs[p.i]
		p.i++
		p.toks, p.p, p.line = s.toks, 0, s.line
		switch s.kind {
		case segText:
			out = append(out, &textNode{s.text})
		case segExpr:
			x, err := p.expr()
			if err != nil {
				return nil, "", err
			}
			if err := p.done(); err != nil {
				return nil, "", err
			}
			out = append(out, &outNode{x})
		case segStmt:
			kw := p.next()
			if kw.kind != tName {
				return nil, "", p.errorf("expected a statement, got %s", kw)
			}
			if slices.Contains(ends, kw.s) {
				return out, kw.s, nil
			}
			n, err := p.stmt(kw.s)
			if err != nil {
				return nil, "", err
			}
			if n != nil {
				out = append(out, n)
			}
		}
	}
	return out, "", nil
}

// block parses a body that must end with end.
func (p *parser) block(what string, end ...string) ([]node, string, error) {
	line := p.line
	b, kw, err := p.body()
	if err != nil {
		return nil, "", err
	}
	if !slices.Contains(end, kw) {
		if kw == "" {
			return nil, "", fmt.Errorf("line %d: {%% %s %%} is never closed", line, what)
		}
		return nil, "", p.errorf("unexpected {%% %s %%} in {%% %s %%}", kw, what)
	}
	return b, kw, nil
}

func (p *parser) stmt(kw string) (node, error) {
	switch kw {
	case "if":
		n := &ifNode{}
		for kw := "if"; ; {
			var c expr
			if kw != "else" {
				var err error
				if c, err = p.expr(); err != nil {
					return nil, err
				}
			}
			if err := p.done(); err != nil {
				return nil, err
			}
			want := []string{"elif", "else", "endif"}
			if kw == "else" {
				want = want[2:]
			}
			b, end, err := p.block("if", want...)
			if err != nil {
				return nil, err
			}
			n.conds, n.bodies = append(n.conds, c), append(n.bodies, b)
			if kw = end; kw == "endif" {
				return n, p.done()
			}
		}
	case "for":
		n := &forNode{}
		for {
			t := p.next()
			if t.kind != tName {
				return nil, p.errorf("expected a loop variable, got %s", t)
			}
			n.vars = append(n.vars, t.s)
			if !p.accept(",") {
				break
			}
		}
		if !p.acceptName("in") {
			return nil, p.errorf("expected 'in' in for")
		}
		var err error
		if n.iter, err = p.ternaryless(); err != nil {
			return nil, err
		}
		if p.acceptName("if") {
			if n.cond, err = p.ternaryless(); err != nil {
				return nil, err
			}
		}
		if p.acceptName("recursive") {
			return nil, p.errorf("recursive loops are not supported")
		}
		if err := p.done(); err != nil {
			return nil, err
		}
		b, end, err := p.block("for", "else", "endfor")
		if err != nil {
			return nil, err
		}
		n.body = b
		if end == "else" {
			if err := p.done(); err != nil {
				return nil, err
			}
			if n.els, _, err = p.block("for", "endfor"); err != nil {
				return nil, err
			}
		}
		return n, p.done()
	case "set":
		t := p.next()
		if t.kind != tName {
			return nil, p.errorf("expected a name after set, got %s", t)
		}
		if p.peek().kind == tEOF || p.peek().s == "|" {
			n := &setBlock{name: t.s}
			var err error
			if n.filters, n.body, err = p.filteredBody("set", false); err != nil {
				return nil, err
			}
			return n, p.done()
		}
		n := &setNode{names: []string{t.s}}
		if p.accept(".") {
			a := p.next()
			if a.kind != tName {
				return nil, p.errorf("expected an attribute name, got %s", a)
			}
			n.attr = a.s
		}
		for n.attr == "" && p.accept(",") {
			a := p.next()
			if a.kind != tName {
				return nil, p.errorf("expected a name, got %s", a)
			}
			n.names = append(n.names, a.s)
		}
		if !p.accept("=") {
			return nil, p.errorf("expected '=' in set")
		}
		x, err := p.tuple()
		if err != nil {
			return nil, err
		}
		n.x = x
		return n, p.done()
	case "macro":
		m, err := p.signature(true)
		if err != nil {
			return nil, err
		}
		if err := p.done(); err != nil {
			return nil, err
		}
		if m.body, _, err = p.block("macro", "endmacro"); err != nil {
			return nil, err
		}
		return m, p.done()
	case "call":
		m := &macroNode{name: "caller"}
		if p.peek().s == "(" {
			var err error
			if m, err = p.signature(false); err != nil {
				return nil, err
			}
			m.name = "caller"
		}
		x, err := p.expr()
		if err != nil {
			return nil, err
		}
		c, ok := x.(*callX)
		if !ok {
			return nil, p.errorf("{%% call %%} needs a macro call")
		}
		if err := p.done(); err != nil {
			return nil, err
		}
		if m.body, _, err = p.block("call", "endcall"); err != nil {
			return nil, err
		}
		return &callBlock{macro: m, call: c}, p.done()
	case "filter":
		n := &filterBlock{}
		var err error
		if n.filters, n.body, err = p.filteredBody("filter", true); err != nil {
			return nil, err
		}
		return n, p.done()
	case "break", "continue":
		if err := p.done(); err != nil {
			return nil, err
		}
		if kw == "break" {
			return &breakNode{}, nil
		}
		return &continueNode{}, nil
	case "generation": // transformers' marker of assistant text: no output of its own
		if err := p.done(); err != nil {
			return nil, err
		}
		b, _, err := p.block("generation", "endgeneration")
		if err != nil {
			return nil, err
		}
		return &filterBlock{body: b}, p.done()
	}
	return nil, p.errorf("unknown statement %q", kw)
}

// signature parses "name(a, b=default)" (named) or "(a, b)".
func (p *parser) signature(named bool) (*macroNode, error) {
	m := &macroNode{}
	if named {
		t := p.next()
		if t.kind != tName {
			return nil, p.errorf("expected a macro name, got %s", t)
		}
		m.name = t.s
	}
	if !p.accept("(") {
		return nil, p.errorf("expected '(' after the macro name")
	}
	for !p.accept(")") {
		if len(m.params) > 0 && !p.accept(",") {
			return nil, p.errorf("expected ',' or ')' in the parameters")
		}
		t := p.next()
		if t.kind != tName {
			return nil, p.errorf("expected a parameter name, got %s", t)
		}
		var def expr
		if p.accept("=") {
			var err error
			if def, err = p.expr(); err != nil {
				return nil, err
			}
		}
		m.params, m.defs = append(m.params, t.s), append(m.defs, def)
	}
	return m, nil
}

// Tag tokens.

func (p *parser) peek() token {
	if p.p < len(p.toks) {
		return p.toks[p.p]
	}
	return token{kind: tEOF}
}

func (p *parser) next() token {
	t := p.peek()
	if p.p < len(p.toks) {
		p.p++
	}
	return t
}

func (p *parser) accept(op string) bool {
	if t := p.peek(); t.kind == tOp && t.s == op {
		p.p++
		return true
	}
	return false
}

func (p *parser) acceptName(n string) bool {
	if t := p.peek(); t.kind == tName && t.s == n {
		p.p++
		return true
	}
	return false
}

func (p *parser) done() error {
	if t := p.peek(); t.kind != tEOF {
		return p.errorf("unexpected %s", t)
	}
	return nil
}

func (p *parser) expect(op string) error {
	if !p.accept(op) {
		return p.errorf("expected '%s', got %s", op, p.peek())
	}
	return nil
}

// Expressions, by Jinja2's precedence.

// tuple is an expression or a bare tuple "a, b".
func (p *parser) tuple() (expr, error) {
	x, err := p.expr()
	if err != nil || p.peek().s != "," || p.peek().kind != tOp {
		return x, err
	}
	l := &listX{items: []expr{x}}
	for p.accept(",") {
		if p.peek().kind == tEOF {
			break
		}
		y, err := p.expr()
		if err != nil {
			return nil, err
		}
		l.items = append(l.items, y)
	}
	return l, nil
}

func (p *parser) expr() (expr, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	x, err := p.or()
	if err != nil {
		return nil, err
	}
	if !p.acceptName("if") {
		return x, nil
	}
	c, err := p.or()
	if err != nil {
		return nil, err
	}
	n := &condX{c: c, a: x}
	if p.acceptName("else") {
		if n.b, err = p.expr(); err != nil {
			return nil, err
		}
	}
	return n, nil
}

// ternaryless is an expression without "x if c else y" (a for loop's
// iterable, before its "if" filter).
func (p *parser) ternaryless() (expr, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	return p.or()
}

func (p *parser) or() (expr, error) {
	x, err := p.and()
	for err == nil && p.acceptName("or") {
		var y expr
		y, err = p.and()
		x = &binX{op: "or", a: x, b: y}
	}
	return x, err
}

func (p *parser) and() (expr, error) {
	x, err := p.not()
	for err == nil && p.acceptName("and") {
		var y expr
		y, err = p.not()
		x = &binX{op: "and", a: x, b: y}
	}
	return x, err
}

func (p *parser) not() (expr, error) {
	if p.acceptName("not") {
		if err := p.enter(); err != nil {
			return nil, err
		}
		defer func() { p.depth-- }()
		x, err := p.not()
		return &unaryX{op: "not", x: x}, err
	}
	return p.compare()
}

func (p *parser) compare() (expr, error) {
	x, err := p.math1()
	if err != nil {
		return nil, err
	}
	var chain expr
	for {
		t := p.peek()
		op := ""
		switch {
		case t.kind == tOp && (t.s == "==" || t.s == "!=" || t.s == "<" || t.s == ">" || t.s == "<=" || t.s == ">="):
			op = t.s
			p.p++
		case t.kind == tName && t.s == "in":
			op = "in"
			p.p++
		case t.kind == tName && t.s == "not" && p.p+1 < len(p.toks) && p.toks[p.p+1].kind == tName && p.toks[p.p+1].s == "in":
			op = "not in"
			p.p += 2
		default:
			if chain != nil {
				return chain, nil
			}
			return x, nil
		}
		y, err := p.math1()
		if err != nil {
			return nil, err
		}
		c := &binX{op: op, a: x, b: y}
		if chain == nil {
			chain = c
		} else {
			chain = &binX{op: "and", a: chain, b: c}
		}
		x = y
	}
}

func (p *parser) binary(next func() (expr, error), ops ...string) (expr, error) {
	x, err := next()
	for err == nil {
		t := p.peek()
		if t.kind != tOp || !slices.Contains(ops, t.s) {
			break
		}
		p.p++
		var y expr
		y, err = next()
		x = &binX{op: t.s, a: x, b: y}
	}
	return x, err
}

func (p *parser) math1() (expr, error)  { return p.binary(p.concat, "+", "-") }
func (p *parser) concat() (expr, error) { return p.binary(p.math2, "~") }
func (p *parser) math2() (expr, error)  { return p.binary(p.pow, "*", "/", "//", "%") }
func (p *parser) pow() (expr, error) {
	return p.binary(func() (expr, error) { return p.unary(true) }, "**")
}

// unary parses a unary expression; filters apply to the whole of it
// ("-3 | abs" is 3), so an operand of - takes none of its own.
func (p *parser) unary(filters bool) (expr, error) {
	var x expr
	if t := p.peek(); t.kind == tOp && (t.s == "-" || t.s == "+") {
		p.p++
		if err := p.enter(); err != nil {
			return nil, err
		}
		defer func() { p.depth-- }()
		y, err := p.unary(false)
		if err != nil {
			return nil, err
		}
		x = &unaryX{op: t.s, x: y}
	} else {
		y, err := p.primary()
		if err != nil {
			return nil, err
		}
		if x, err = p.postfix(y); err != nil {
			return nil, err
		}
	}
	if !filters {
		return x, nil
	}
	return p.filters(x)
}

func (p *parser) primary() (expr, error) {
	t := p.next()
	switch t.kind {
	case tName:
		switch t.s {
		case "true", "True":
			return &constX{true}, nil
		case "false", "False":
			return &constX{false}, nil
		case "none", "None":
			return &constX{nil}, nil
		}
		return &nameX{t.s}, nil
	case tStr:
		s := t.s
		for p.peek().kind == tStr {
			s += p.next().s
		}
		return &constX{text(s)}, nil
	case tInt:
		return &constX{t.i}, nil
	case tFloat:
		return &constX{t.f}, nil
	case tOp:
		switch t.s {
		case "(":
			if p.accept(")") {
				return &listX{}, nil
			}
			x, err := p.expr()
			if err != nil {
				return nil, err
			}
			if p.peek().s == "," && p.peek().kind == tOp {
				l := &listX{items: []expr{x}}
				for p.accept(",") && p.peek().s != ")" {
					y, err := p.expr()
					if err != nil {
						return nil, err
					}
					l.items = append(l.items, y)
				}
				x = l
			}
			return x, p.expect(")")
		case "[":
			l := &listX{}
			for !p.accept("]") {
				if len(l.items) > 0 {
					if err := p.expect(","); err != nil {
						return nil, err
					}
					if p.accept("]") {
						break
					}
				}
				y, err := p.expr()
				if err != nil {
					return nil, err
				}
				l.items = append(l.items, y)
			}
			return l, nil
		case "{":
			d := &dictX{}
			for !p.accept("}") {
				if len(d.keys) > 0 {
					if err := p.expect(","); err != nil {
						return nil, err
					}
					if p.accept("}") {
						break
					}
				}
				k, err := p.expr()
				if err != nil {
					return nil, err
				}
				if err := p.expect(":"); err != nil {
					return nil, err
				}
				v, err := p.expr()
				if err != nil {
					return nil, err
				}
				d.keys, d.vals = append(d.keys, k), append(d.vals, v)
			}
			return d, nil
		}
	}
	return nil, p.errorf("unexpected %s", t)
}

func (p *parser) postfix(x expr) (expr, error) {
	for {
		switch {
		case p.accept("."):
			t := p.next()
			switch t.kind {
			case tName:
				x = &attrX{x: x, name: t.s}
			case tInt:
				x = &itemX{x: x, key: &constX{t.i}}
			default:
				return nil, p.errorf("expected an attribute after '.', got %s", t)
			}
		case p.accept("["):
			var parts [3]expr
			n, colons := 0, 0
			for {
				if t := p.peek(); t.kind == tOp && (t.s == ":" || t.s == "]") {
					if p.accept("]") {
						break
					}
					p.p++
					if colons++; colons > 2 {
						return nil, p.errorf("too many ':' in a slice")
					}
					n = colons
					continue
				}
				if parts[n] != nil {
					return nil, p.errorf("expected ']'")
				}
				y, err := p.expr()
				if err != nil {
					return nil, err
				}
				parts[n] = y
			}
			if colons == 0 {
				if parts[0] == nil {
					return nil, p.errorf("empty subscript")
				}
				x = &itemX{x: x, key: parts[0]}
			} else {
				x = &sliceX{x: x, lo: parts[0], hi: parts[1], step: parts[2]}
			}
		case p.peek().kind == tOp && p.peek().s == "(":
			p.p++
			c := &callX{fn: x}
			if err := p.args(&c.args, &c.kw, &c.kws); err != nil {
				return nil, err
			}
			x = c
		default:
			return x, nil
		}
	}
}

// args parses call arguments after "(", through ")".
func (p *parser) args(args *[]expr, kw *[]string, kws *[]expr) error {
	for !p.accept(")") {
		if len(*args)+len(*kw) > 0 {
			if err := p.expect(","); err != nil {
				return err
			}
			if p.accept(")") {
				return nil
			}
		}
		if t := p.peek(); t.kind == tName && p.p+1 < len(p.toks) && p.toks[p.p+1].kind == tOp && p.toks[p.p+1].s == "=" {
			p.p += 2
			v, err := p.expr()
			if err != nil {
				return err
			}
			*kw, *kws = append(*kw, t.s), append(*kws, v)
			continue
		}
		if len(*kw) > 0 {
			return p.errorf("positional argument after keyword argument")
		}
		v, err := p.expr()
		if err != nil {
			return err
		}
		*args = append(*args, v)
	}
	return nil
}

// filters parses "| filter" and "is test" after x.
func (p *parser) filters(x expr) (expr, error) {
	for {
		switch {
		case p.accept("|"):
			f, err := p.filter(x)
			if err != nil {
				return nil, err
			}
			x = f
		case p.acceptName("is"):
			t := &testX{x: x, neg: p.acceptName("not")}
			n := p.next()
			if n.kind != tName {
				return nil, p.errorf("expected a test name after 'is', got %s", n)
			}
			t.name = n.s
			switch a := p.peek(); {
			case a.kind == tOp && a.s == "(":
				p.p++
				var kw []string
				var kws []expr
				if err := p.args(&t.args, &kw, &kws); err != nil {
					return nil, err
				}
			case a.kind == tStr || a.kind == tInt || a.kind == tFloat || a.kind == tName && !slices.Contains([]string{"and", "or", "else", "if", "is", "in", "not"}, a.s):
				y, err := p.primary()
				if err != nil {
					return nil, err
				}
				if y, err = p.postfix(y); err != nil {
					return nil, err
				}
				t.args = []expr{y}
			}
			x = t
		default:
			return x, nil
		}
	}
}

// filteredBody parses the rest of a {% set x | f %} or {% filter f | g %}
// tag (a filter chain, needed or not), then its body up to {% endTAG %}.
func (p *parser) filteredBody(tag string, need bool) ([]*filterX, []node, error) {
	var fs []*filterX
	for first := true; (first && need) || p.accept("|"); first = false {
		f, err := p.filter(nil)
		if err != nil {
			return nil, nil, err
		}
		fs = append(fs, f)
	}
	if err := p.done(); err != nil {
		return nil, nil, err
	}
	b, _, err := p.block(tag, "end"+tag)
	return fs, b, err
}

func (p *parser) filter(x expr) (*filterX, error) {
	n := p.next()
	if n.kind != tName {
		return nil, p.errorf("expected a filter name after '|', got %s", n)
	}
	f := &filterX{x: x, name: n.s}
	for p.accept(".") { // dotted filter names are not supported, but parse them
		m := p.next()
		f.name += "." + m.s
	}
	if p.accept("(") {
		if err := p.args(&f.args, &f.kw, &f.kws); err != nil {
			return nil, err
		}
	}
	return f, nil
}
