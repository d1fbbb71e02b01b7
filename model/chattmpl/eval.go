// Package chattmpl renders the Jinja2 chat templates of model files, as
// Hugging Face transformers renders them (a sandbox with trim_blocks and
// lstrip_blocks), with every rendering bounded: a template is untrusted
// code, so its recursion, steps, output, allocations and time are all
// limited, and strings keep track of the bytes that came from message
// content (Str.Plain) so that only the template's own text may become
// special tokens.
//
// It replaces github.com/ardanlabs/jinja, which bounds nothing (its
// recursion overflows the Go stack, which no recover catches) and whose
// evaluator is closed to hooks; rendering it in a goroutine would bound
// neither the stack nor the CPU of a goroutine that cannot be stopped.
//
// The subset is what chat templates use: the statements if, for (with
// else, a filter and loop.*), set (also blocks and namespace attributes),
// macro, call, filter, raw, break/continue and transformers' generation;
// Python's expressions, string and dict methods, the common filters and
// tests, and range, namespace, dict, raise_exception and strftime_now.
// Known differences from Jinja2: tuples print as lists, strings have no %
// formatting or format(), and recursive loops are not supported.
package chattmpl

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits bound one rendering; zero fields take the defaults.
type Limits struct {
	Depth  int           // macro calls in progress at once (default 64)
	Steps  int           // tags, expressions and loop iterations evaluated (default 5,000,000)
	Output int           // bytes of the rendered text and of any one string (default 16 MiB)
	Alloc  int           // bytes of strings and lists made over the rendering (default 128 MiB)
	Time   time.Duration // wall time (default 5 s)
}

// DefaultLimits are the limits of a zero Limits.
var DefaultLimits = Limits{Depth: 64, Steps: 5_000_000, Output: 16 << 20, Alloc: 128 << 20, Time: 5 * time.Second}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits
	if l.Depth > 0 {
		d.Depth = l.Depth
	}
	if l.Steps > 0 {
		d.Steps = l.Steps
	}
	if l.Output > 0 {
		d.Output = l.Output
	}
	if l.Alloc > 0 {
		d.Alloc = l.Alloc
	}
	if l.Time > 0 {
		d.Time = l.Time
	}
	return d
}

// maxStack bounds the evaluator's own recursion (nested expressions and
// blocks, macro calls included) far below what would overflow the Go
// stack, which would kill the process.
const maxStack = 4000

// LimitError is a rendering stopped by one of its limits.
type LimitError struct {
	Limit string // "depth", "steps", "output", "alloc" or "time"
	Max   int64  // the limit's value (nanoseconds for time)
}

func (e *LimitError) Error() string {
	switch e.Limit {
	case "depth":
		return fmt.Sprintf("chat template exceeds the recursion limit (%d nested calls or %d nested expressions)", e.Max, maxStack)
	case "steps":
		return fmt.Sprintf("chat template exceeds the step limit (%d evaluation steps)", e.Max)
	case "output":
		return fmt.Sprintf("chat template exceeds the output limit (%d bytes)", e.Max)
	case "alloc":
		return fmt.Sprintf("chat template exceeds the memory limit (%d bytes allocated)", e.Max)
	}
	return fmt.Sprintf("chat template exceeds the time limit (%v)", time.Duration(e.Max))
}

// Error is an error raised by the template itself (raise_exception).
type Error struct{ Msg string }

func (e *Error) Error() string { return e.Msg }

// Template is a compiled template; it is safe for concurrent use.
type Template struct{ nodes []node }

// Compile parses src.
func Compile(src string) (*Template, error) {
	nodes, err := parse(src)
	if err != nil {
		return nil, fmt.Errorf("chat template: %w", err)
	}
	return &Template{nodes}, nil
}

// Render renders the template with vars (converted by Convert) within lim
// and ctx.
func (t *Template) Render(ctx context.Context, lim Limits, vars map[string]any) (Str, error) {
	lim = lim.withDefaults()
	e := &evaluator{ctx: ctx, lim: lim, deadline: time.Now().Add(lim.Time)}
	if d, ok := ctx.Deadline(); ok && d.Before(e.deadline) {
		e.deadline = d
	}
	sc := &scope{vars: make(map[string]Value, len(vars)), up: globals}
	for k, v := range vars {
		sc.vars[k] = Convert(v)
	}
	out := &output{}
	err := e.exec(t.nodes, sc, out)
	if errors.Is(err, errBreak) || errors.Is(err, errContinue) {
		err = errors.New("break or continue outside a loop")
	}
	if err != nil {
		return Str{}, err
	}
	return out.str(), nil
}

var (
	errBreak    = errors.New("break")
	errContinue = errors.New("continue")
)

type scope struct {
	vars map[string]Value
	up   *scope
}

func (s *scope) get(n string) (Value, bool) {
	for ; s != nil; s = s.up {
		if v, ok := s.vars[n]; ok {
			return v, true
		}
	}
	return undefined{}, false
}

func (s *scope) child() *scope { return &scope{vars: map[string]Value{}, up: s} }

// output builds a string with its plain spans.
type output struct {
	b     strings.Builder
	plain Spans
}

func (o *output) add(s Str) {
	o.plain = o.plain.add(s.Plain, o.b.Len())
	o.b.WriteString(s.S)
}

func (o *output) str() Str { return Str{S: o.b.String(), Plain: o.plain} }

type evaluator struct {
	ctx      context.Context
	lim      Limits
	deadline time.Time
	steps    int
	alloc    int
	calls    int // macro calls in progress
	nest     int // evaluator recursion
}

// step counts one evaluation step, checking the time and the context now
// and then.
func (e *evaluator) step() error {
	if e.steps++; e.steps > e.lim.Steps {
		return &LimitError{"steps", int64(e.lim.Steps)}
	}
	if e.steps&1023 == 0 {
		if err := e.ctx.Err(); err != nil {
			return err
		}
		if time.Now().After(e.deadline) {
			return &LimitError{"time", int64(e.lim.Time)}
		}
	}
	return nil
}

// cost counts n steps of work done inside one builtin (compared values,
// sorted items, scanned bytes / 64).
func (e *evaluator) cost(n int) error {
	before := e.steps
	if e.steps += n; e.steps > e.lim.Steps || e.steps < before {
		return &LimitError{"steps", int64(e.lim.Steps)}
	}
	if e.steps>>10 != before>>10 {
		if err := e.ctx.Err(); err != nil {
			return err
		}
		if time.Now().After(e.deadline) {
			return &LimitError{"time", int64(e.lim.Time)}
		}
	}
	return nil
}

// scan is the cost of going through s.
func (e *evaluator) scan(s string) error { return e.cost(len(s) / 64) }

// equal is Python's ==, its work counted.
func (e *evaluator) equal(a, b Value) (bool, error) {
	n := 0
	ok := equal(a, b, &n)
	return ok, e.cost(n)
}

// compare is compare, its work counted.
func (e *evaluator) compare(a, b Value) (int, error) {
	c, err := compare(a, b)
	if s, ok := a.(Str); ok && err == nil {
		err = e.scan(s.S)
	}
	return c, err
}

// grow accounts for n bytes of new strings or lists.
func (e *evaluator) grow(n int) error {
	if e.alloc += n; e.alloc > e.lim.Alloc {
		return &LimitError{"alloc", int64(e.lim.Alloc)}
	}
	return nil
}

func (e *evaluator) enter() error {
	if e.nest++; e.nest > maxStack {
		return &LimitError{"depth", int64(e.lim.Depth)}
	}
	return e.step()
}

func (e *evaluator) write(o *output, s Str) error {
	if o.b.Len()+len(s.S) > e.lim.Output {
		return &LimitError{"output", int64(e.lim.Output)}
	}
	if err := e.grow(len(s.S)); err != nil {
		return err
	}
	o.add(s)
	return nil
}

// str is a new string, accounted for.
func (e *evaluator) str(s Str) (Value, error) {
	if len(s.S) > e.lim.Output {
		return nil, &LimitError{"output", int64(e.lim.Output)}
	}
	if err := e.grow(len(s.S)); err != nil {
		return nil, err
	}
	return s, nil
}

func (e *evaluator) list(items []Value) (Value, error) {
	if err := e.grow(16 * len(items)); err != nil {
		return nil, err
	}
	return items, nil
}

func (e *evaluator) exec(nodes []node, sc *scope, o *output) error {
	if err := e.enter(); err != nil {
		return err
	}
	defer func() { e.nest-- }()
	for _, n := range nodes {
		if err := e.node(n, sc, o); err != nil {
			return err
		}
	}
	return nil
}

func (e *evaluator) node(n node, sc *scope, o *output) error {
	if err := e.step(); err != nil {
		return err
	}
	switch n := n.(type) {
	case *textNode:
		return e.write(o, text(n.s))
	case *outNode:
		v, err := e.eval(n.x, sc)
		if err != nil {
			return err
		}
		return e.write(o, e.toStr(v))
	case *ifNode:
		for i, c := range n.conds {
			if c != nil {
				v, err := e.eval(c, sc)
				if err != nil {
					return err
				}
				if !truthy(v) {
					continue
				}
			}
			return e.exec(n.bodies[i], sc, o)
		}
		return nil
	case *forNode:
		return e.loop(n, sc, o)
	case *setNode:
		v, err := e.eval(n.x, sc)
		if err != nil {
			return err
		}
		return assign(sc, n, v)
	case *setBlock:
		s, err := e.capture(n.body, sc)
		if err != nil {
			return err
		}
		v, err := e.applyFilters(n.filters, s, sc)
		if err != nil {
			return err
		}
		sc.vars[n.name] = v
		return nil
	case *filterBlock:
		s, err := e.capture(n.body, sc)
		if err != nil {
			return err
		}
		v, err := e.applyFilters(n.filters, s, sc)
		if err != nil {
			return err
		}
		return e.write(o, e.toStr(v))
	case *macroNode:
		sc.vars[n.name] = e.macro(n, sc)
		return nil
	case *callBlock:
		c := *n.call
		c.kw = append(append([]string(nil), c.kw...), "caller")
		c.kws = append(append([]expr(nil), c.kws...), &constX{e.macro(n.macro, sc)})
		v, err := e.eval(&c, sc)
		if err != nil {
			return err
		}
		return e.write(o, e.toStr(v))
	case *breakNode:
		return errBreak
	case *continueNode:
		return errContinue
	}
	return fmt.Errorf("unknown node %T", n)
}

func assign(sc *scope, n *setNode, v Value) error {
	if n.attr != "" {
		ns, _ := sc.get(n.names[0])
		d, ok := ns.(*Dict)
		if !ok || !d.ns {
			return fmt.Errorf("cannot set %s.%s: %s is not a namespace", n.names[0], n.attr, n.names[0])
		}
		d.Set(n.attr, v)
		return nil
	}
	if len(n.names) == 1 {
		sc.vars[n.names[0]] = v
		return nil
	}
	l, ok := v.([]Value)
	if !ok || len(l) != len(n.names) {
		return fmt.Errorf("cannot unpack %s into %d names", typeName(v), len(n.names))
	}
	for i, name := range n.names {
		sc.vars[name] = l[i]
	}
	return nil
}

// capture renders nodes to a string.
func (e *evaluator) capture(nodes []node, sc *scope) (Str, error) {
	o := &output{}
	if err := e.exec(nodes, sc, o); err != nil {
		return Str{}, err
	}
	return o.str(), nil
}

func (e *evaluator) applyFilters(fs []*filterX, v Value, sc *scope) (Value, error) {
	for _, f := range fs {
		var err error
		if v, err = e.filter(f, v, sc); err != nil {
			return nil, err
		}
	}
	return v, nil
}

// iterate lists the items a for loop or a filter goes through, counting
// one step per item.
func (e *evaluator) iterate(v Value) ([]Value, error) {
	switch x := v.(type) {
	case []Value:
		return x, e.cost(len(x))
	case *Dict:
		out := make([]Value, len(x.keys))
		for i, k := range x.keys {
			out[i] = x.key(k)
		}
		return out, e.cost(len(out))
	case Str:
		if err := e.grow(16 * len(x.S)); err != nil {
			return nil, err
		}
		out := make([]Value, 0, len(x.S))
		for i, r := range x.S {
			out = append(out, x.slice(i, i+utf8.RuneLen(r)))
		}
		return out, e.cost(len(out))
	case undefined:
		return nil, nil
	}
	return nil, fmt.Errorf("%s is not iterable", typeName(v))
}

func (e *evaluator) loop(n *forNode, sc *scope, o *output) error {
	v, err := e.eval(n.iter, sc)
	if err != nil {
		return err
	}
	items, err := e.iterate(v)
	if err != nil {
		return err
	}
	bind := func(s *scope, it Value) error {
		if len(n.vars) == 1 {
			s.vars[n.vars[0]] = it
			return nil
		}
		return assign(s, &setNode{names: n.vars}, it)
	}
	if n.cond != nil {
		var kept []Value
		for _, it := range items {
			s := sc.child()
			if err := bind(s, it); err != nil {
				return err
			}
			c, err := e.eval(n.cond, s)
			if err != nil {
				return err
			}
			if truthy(c) {
				kept = append(kept, it)
			}
		}
		items = kept
	}
	if len(items) == 0 {
		return e.exec(n.els, sc, o)
	}
	// One loop object and scope for all iterations: fresh ones each time
	// would cost more than the body of a typical loop.
	l := &loopState{items: items}
	s := sc.child()
	for i, it := range items {
		if err := e.step(); err != nil {
			return err
		}
		l.i = i
		clear(s.vars)
		if err := bind(s, it); err != nil {
			return err
		}
		s.vars["loop"] = l
		err := e.exec(n.body, s, o)
		if errors.Is(err, errBreak) {
			break
		}
		if err != nil && !errors.Is(err, errContinue) {
			return err
		}
	}
	return nil
}

// macro makes the function of a macro defined in sc.
func (e *evaluator) macro(m *macroNode, sc *scope) *Func {
	return &Func{m.name, func(e *evaluator, args []Value, kw map[string]Value) (Value, error) {
		if e.calls >= e.lim.Depth {
			return nil, &LimitError{"depth", int64(e.lim.Depth)}
		}
		e.calls++
		defer func() { e.calls-- }()
		if len(args) > len(m.params) {
			return nil, fmt.Errorf("macro %s takes %d arguments, got %d", m.name, len(m.params), len(args))
		}
		s := sc.child()
		for i, p := range m.params {
			switch v, ok := kw[p]; {
			case i < len(args):
				s.vars[p] = args[i]
			case ok:
				s.vars[p] = v
			case m.defs[i] != nil:
				d, err := e.eval(m.defs[i], s)
				if err != nil {
					return nil, err
				}
				s.vars[p] = d
			default:
				s.vars[p] = undefined{}
			}
		}
		if c, ok := kw["caller"]; ok {
			s.vars["caller"] = c
		}
		return e.capture(m.body, s)
	}}
}

func (e *evaluator) eval(x expr, sc *scope) (Value, error) {
	if err := e.enter(); err != nil {
		return nil, err
	}
	defer func() { e.nest-- }()
	switch x := x.(type) {
	case *constX:
		return x.v, nil
	case *nameX:
		v, _ := sc.get(x.n)
		return v, nil
	case *attrX:
		v, err := e.eval(x.x, sc)
		if err != nil {
			return nil, err
		}
		return attr(v, x.name)
	case *itemX:
		v, err := e.eval(x.x, sc)
		if err != nil {
			return nil, err
		}
		k, err := e.eval(x.key, sc)
		if err != nil {
			return nil, err
		}
		return e.item(v, k)
	case *sliceX:
		return e.slice(x, sc)
	case *callX:
		fv, err := e.eval(x.fn, sc)
		if err != nil {
			return nil, err
		}
		f, ok := fv.(*Func)
		if !ok {
			return nil, fmt.Errorf("%s is not callable", typeName(fv))
		}
		args, kw, err := e.args(x.args, x.kw, x.kws, sc)
		if err != nil {
			return nil, err
		}
		return f.fn(e, args, kw)
	case *filterX:
		v, err := e.eval(x.x, sc)
		if err != nil {
			return nil, err
		}
		return e.filter(x, v, sc)
	case *testX:
		v, err := e.eval(x.x, sc)
		if err != nil {
			return nil, err
		}
		args, _, err := e.args(x.args, nil, nil, sc)
		if err != nil {
			return nil, err
		}
		ok, err := e.test(x.name, v, args)
		return ok != x.neg, err
	case *unaryX:
		v, err := e.eval(x.x, sc)
		if err != nil {
			return nil, err
		}
		switch x.op {
		case "not":
			return !truthy(v), nil
		case "-":
			switch n := v.(type) {
			case int64:
				if n == math.MinInt64 {
					return nil, errOverflow
				}
				return -n, nil
			case float64:
				return -n, nil
			case bool:
				return -toFloat(n), nil
			}
			return nil, fmt.Errorf("bad operand for unary -: %s", typeName(v))
		}
		if !isNumber(v) {
			return nil, fmt.Errorf("bad operand for unary +: %s", typeName(v))
		}
		return v, nil
	case *binX:
		a, err := e.eval(x.a, sc)
		if err != nil {
			return nil, err
		}
		switch x.op {
		case "and":
			if !truthy(a) {
				return a, nil
			}
			return e.eval(x.b, sc)
		case "or":
			if truthy(a) {
				return a, nil
			}
			return e.eval(x.b, sc)
		}
		b, err := e.eval(x.b, sc)
		if err != nil {
			return nil, err
		}
		return e.binary(x.op, a, b)
	case *condX:
		c, err := e.eval(x.c, sc)
		if err != nil {
			return nil, err
		}
		if truthy(c) {
			return e.eval(x.a, sc)
		}
		if x.b == nil {
			return undefined{}, nil
		}
		return e.eval(x.b, sc)
	case *listX:
		out := make([]Value, len(x.items))
		for i, it := range x.items {
			v, err := e.eval(it, sc)
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return e.list(out)
	case *dictX:
		d := NewDict()
		for i := range x.keys {
			k, err := e.eval(x.keys[i], sc)
			if err != nil {
				return nil, err
			}
			v, err := e.eval(x.vals[i], sc)
			if err != nil {
				return nil, err
			}
			d.setKey(e.toStr(k), v)
		}
		return d, e.grow(32 * len(x.keys))
	}
	return nil, fmt.Errorf("unknown expression %T", x)
}

func (e *evaluator) args(xs []expr, names []string, kxs []expr, sc *scope) ([]Value, map[string]Value, error) {
	args := make([]Value, len(xs))
	for i, a := range xs {
		v, err := e.eval(a, sc)
		if err != nil {
			return nil, nil, err
		}
		args[i] = v
	}
	var kw map[string]Value
	if len(names) > 0 {
		kw = make(map[string]Value, len(names))
		for i, n := range names {
			v, err := e.eval(kxs[i], sc)
			if err != nil {
				return nil, nil, err
			}
			kw[n] = v
		}
	}
	return args, kw, nil
}

// loopState is a for loop's loop variable.
type loopState struct {
	items []Value
	i     int
}

func (l *loopState) attr(name string) Value {
	i, n := int64(l.i), int64(len(l.items))
	switch name {
	case "index":
		return i + 1
	case "index0":
		return i
	case "revindex":
		return n - i
	case "revindex0":
		return n - i - 1
	case "first":
		return i == 0
	case "last":
		return i == n-1
	case "length":
		return n
	case "previtem":
		if i > 0 {
			return l.items[i-1]
		}
	case "nextitem":
		if i+1 < n {
			return l.items[i+1]
		}
	case "cycle":
		return &Func{"loop.cycle", func(_ *evaluator, args []Value, _ map[string]Value) (Value, error) {
			if len(args) == 0 {
				return nil, errors.New("loop.cycle needs an argument")
			}
			return args[l.i%len(args)], nil
		}}
	}
	return undefined{}
}

func attr(v Value, name string) (Value, error) {
	switch x := v.(type) {
	case *loopState:
		return x.attr(name), nil
	case *Dict:
		if !x.ns {
			if m, ok := dictMethod(x, name); ok {
				return m, nil
			}
		}
		if w, ok := x.get(name); ok {
			return w, nil
		}
		return undefined{}, nil
	case Str:
		if m, ok := strMethod(x, name); ok {
			return m, nil
		}
		return undefined{}, nil
	case undefined:
		return nil, fmt.Errorf("cannot read attribute %q of an undefined value", name)
	case nil:
		return nil, fmt.Errorf("cannot read attribute %q of none", name)
	}
	return undefined{}, nil
}

func (e *evaluator) item(v, k Value) (Value, error) {
	switch x := v.(type) {
	case []Value:
		i, ok := k.(int64)
		if !ok {
			return undefined{}, nil
		}
		if i < 0 {
			i += int64(len(x))
		}
		if i < 0 || i >= int64(len(x)) {
			return undefined{}, nil
		}
		return x[i], nil
	case *Dict:
		ks, ok := k.(Str)
		if !ok {
			return undefined{}, nil
		}
		if w, ok := x.get(ks.S); ok {
			return w, nil
		}
		if m, ok := dictMethod(x, ks.S); ok && !x.ns {
			return m, nil
		}
		return undefined{}, nil
	case Str:
		i, ok := k.(int64)
		if !ok {
			return undefined{}, nil
		}
		offs, err := e.runeOffsets(x.S)
		if err != nil {
			return nil, err
		}
		n := int64(len(offs) - 1)
		if i < 0 {
			i += n
		}
		if i < 0 || i >= n {
			return undefined{}, nil
		}
		return x.slice(offs[i], offs[i+1]), nil
	case undefined:
		return nil, errors.New("cannot index an undefined value")
	case nil:
		return nil, errors.New("cannot index none")
	}
	return undefined{}, nil
}

// runeOffsets are the byte offsets of s's runes, and len(s) last.
func (e *evaluator) runeOffsets(s string) ([]int, error) {
	if err := e.grow(8 * len(s)); err != nil {
		return nil, err
	}
	offs := make([]int, 0, len(s)+1)
	for i := range s {
		offs = append(offs, i)
	}
	return append(offs, len(s)), e.scan(s)
}

func (e *evaluator) slice(x *sliceX, sc *scope) (Value, error) {
	v, err := e.eval(x.x, sc)
	if err != nil {
		return nil, err
	}
	var bounds [3]*int64
	for i, b := range []expr{x.lo, x.hi, x.step} {
		if b == nil {
			continue
		}
		w, err := e.eval(b, sc)
		if err != nil {
			return nil, err
		}
		switch n := w.(type) {
		case nil:
		case int64:
			bounds[i] = &n
		default:
			return nil, fmt.Errorf("slice indices must be integers, not %s", typeName(w))
		}
	}
	var n int64
	var offs []int
	switch s := v.(type) {
	case []Value:
		n = int64(len(s))
	case Str:
		if offs, err = e.runeOffsets(s.S); err != nil {
			return nil, err
		}
		n = int64(len(offs) - 1)
	default:
		return nil, fmt.Errorf("cannot slice %s", typeName(v))
	}
	lo, hi, step, err := indices(bounds, n)
	if err != nil {
		return nil, err
	}
	var idx []int64
	for i := lo; step > 0 && i < hi || step < 0 && i > hi; i += step {
		idx = append(idx, i)
	}
	switch s := v.(type) {
	case []Value:
		out := make([]Value, len(idx))
		for j, i := range idx {
			out[j] = s[i]
		}
		return e.list(out)
	default:
		str := v.(Str)
		if step == 1 {
			if lo >= hi {
				return text(""), nil
			}
			return str.slice(offs[lo], offs[hi]), nil
		}
		var out output
		for _, i := range idx {
			out.add(str.slice(offs[i], offs[i+1]))
		}
		return e.str(out.str())
	}
}

// indices is Python's slice.indices.
func indices(b [3]*int64, n int64) (lo, hi, step int64, err error) {
	step = 1
	if b[2] != nil {
		if step = *b[2]; step == 0 {
			return 0, 0, 0, errors.New("slice step cannot be zero")
		}
	}
	clamp := func(p *int64, def int64) int64 {
		if p == nil {
			return def
		}
		v := *p
		if v < 0 {
			v += n
		}
		if step > 0 {
			return min(max(v, 0), n)
		}
		return min(max(v, -1), n-1)
	}
	if step > 0 {
		return clamp(b[0], 0), clamp(b[1], n), step, nil
	}
	return clamp(b[0], n-1), clamp(b[1], -1), step, nil
}

var errOverflow = errors.New("integer overflow")

func (e *evaluator) binary(op string, a, b Value) (Value, error) {
	switch op {
	case "==", "!=":
		ok, err := e.equal(a, b)
		return ok == (op == "=="), err
	case "<", ">", "<=", ">=":
		c, err := e.compare(a, b)
		if err != nil {
			return nil, err
		}
		return op == "<" && c < 0 || op == ">" && c > 0 || op == "<=" && c <= 0 || op == ">=" && c >= 0, nil
	case "in", "not in":
		ok, err := e.contains(b, a)
		return ok != (op == "not in"), err
	case "~":
		s := concat(e.toStr(a), e.toStr(b))
		return e.str(s)
	}
	sa, aStr := a.(Str)
	sb, bStr := b.(Str)
	la, aList := a.([]Value)
	lb, bList := b.([]Value)
	switch {
	case op == "+" && aStr && bStr:
		return e.str(concat(sa, sb))
	case op == "+" && aList && bList:
		return e.list(append(append([]Value(nil), la...), lb...))
	case op == "*" && (aStr || aList) && isInt(b), op == "*" && (bStr || bList) && isInt(a):
		if !aStr && !aList {
			a, b = b, a
			sa, aStr, la = sb, bStr, lb
		}
		n := max(toInt(b), 0)
		size := int64(len(la)) * 16
		if aStr {
			size = int64(len(sa.S))
		}
		if size > 0 && n > int64(e.lim.Output)/size {
			return nil, &LimitError{"output", int64(e.lim.Output)}
		}
		if aStr {
			if sa.Plain == nil {
				return e.str(text(strings.Repeat(sa.S, int(n))))
			}
			var out output
			for range n {
				out.add(sa)
			}
			return e.str(out.str())
		}
		out := make([]Value, 0, int64(len(la))*n)
		for range n {
			out = append(out, la...)
		}
		return e.list(out)
	}
	if !isNumber(a) || !isNumber(b) {
		return nil, fmt.Errorf("unsupported operand types for %s: %s and %s", op, typeName(a), typeName(b))
	}
	if isInt(a) && isInt(b) {
		x, y := toInt(a), toInt(b)
		switch op {
		case "+":
			if r := x + y; (r > x) == (y > 0) {
				return r, nil
			}
			return nil, errOverflow
		case "-":
			if r := x - y; (r < x) == (y > 0) {
				return r, nil
			}
			return nil, errOverflow
		case "*":
			if x == 0 || y == 0 {
				return int64(0), nil
			}
			r := x * y
			if r/y != x || x == -1 && y == math.MinInt64 || y == -1 && x == math.MinInt64 {
				return nil, errOverflow
			}
			return r, nil
		case "//", "%":
			if y == 0 {
				return nil, errors.New("integer division or modulo by zero")
			}
			if x == math.MinInt64 && y == -1 {
				return nil, errOverflow
			}
			q, m := x/y, x%y
			if m != 0 && (m < 0) != (y < 0) {
				q, m = q-1, m+y
			}
			if op == "//" {
				return q, nil
			}
			return m, nil
		case "**":
			if y >= 0 {
				return ipow(x, y)
			}
		}
	}
	x, y := toFloat(a), toFloat(b)
	switch op {
	case "+":
		return x + y, nil
	case "-":
		return x - y, nil
	case "*":
		return x * y, nil
	case "/":
		if y == 0 {
			return nil, errors.New("division by zero")
		}
		return x / y, nil
	case "//":
		if y == 0 {
			return nil, errors.New("float floor division by zero")
		}
		return math.Floor(x / y), nil
	case "%":
		if y == 0 {
			return nil, errors.New("float modulo by zero")
		}
		m := math.Mod(x, y)
		if m != 0 && (m < 0) != (y < 0) {
			m += y
		}
		return m, nil
	case "**":
		return math.Pow(x, y), nil
	}
	return nil, fmt.Errorf("unknown operator %s", op)
}

func isInt(v Value) bool {
	switch v.(type) {
	case int64, bool:
		return true
	}
	return false
}

func toInt(v Value) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case bool:
		if x {
			return 1
		}
	}
	return 0
}

// ipow is x**y for y >= 0; |x| >= 2 overflows within 63 multiplications.
func ipow(x, y int64) (Value, error) {
	switch {
	case y == 0 || x == 1:
		return int64(1), nil
	case x == 0:
		return int64(0), nil
	case x == -1:
		return 1 - 2*(y&1), nil
	}
	r := int64(1)
	for ; y > 0; y-- {
		if r*x/x != r {
			return nil, errOverflow
		}
		r *= x
	}
	return r, nil
}

func (e *evaluator) contains(container, v Value) (bool, error) {
	switch c := container.(type) {
	case Str:
		s, ok := v.(Str)
		if !ok {
			return false, fmt.Errorf("'in <string>' requires a string, not %s", typeName(v))
		}
		return strings.Contains(c.S, s.S), e.scan(c.S)
	case []Value:
		for _, it := range c {
			if ok, err := e.equal(it, v); ok || err != nil {
				return ok, err
			}
		}
		return false, nil
	case *Dict:
		s, ok := v.(Str)
		if !ok {
			return false, nil
		}
		_, found := c.get(s.S)
		return found, nil
	case undefined:
		return false, nil
	}
	return false, fmt.Errorf("%s is not a container", typeName(container))
}
