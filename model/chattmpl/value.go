package chattmpl

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Values are nil (None), undefined, bool, int64, float64, Str, []Value
// (lists and tuples), *Dict and *Func.
type Value = any

// undefined is a name or key that does not exist: it prints as "" and is
// false, as in Jinja2.
type undefined struct{}

// Str is a string with the byte ranges that came from message content
// (Plain: to be tokenized as ordinary text, never as special tokens).
type Str struct {
	S     string
	Plain Spans
}

// Span is the byte range [Start, End) of a string.
type Span struct{ Start, End int }

// Spans are sorted, disjoint and non-adjacent spans.
type Spans []Span

// PlainText is s marked as message content.
func PlainText(s string) Str {
	if s == "" {
		return Str{}
	}
	return Str{S: s, Plain: Spans{{0, len(s)}}}
}

func text(s string) Str { return Str{S: s} }

// add appends the spans of t shifted by off, merging where they touch.
func (p Spans) add(t Spans, off int) Spans {
	for _, s := range t {
		s.Start += off
		s.End += off
		if n := len(p); n > 0 && p[n-1].End >= s.Start {
			p[n-1].End = max(p[n-1].End, s.End)
			continue
		}
		p = append(p, s)
	}
	return p
}

// cut returns the spans of the bytes [i, j), relative to i.
func (p Spans) cut(i, j int) Spans {
	var out Spans
	for _, s := range p {
		lo, hi := max(s.Start, i), min(s.End, j)
		if lo < hi {
			out = append(out, Span{lo - i, hi - i})
		}
	}
	return out
}

// Overlaps reports whether any byte of [i, j) is plain.
func (p Spans) Overlaps(i, j int) bool {
	k := sort.Search(len(p), func(k int) bool { return p[k].End > i })
	return k < len(p) && p[k].Start < j
}

func concat(a, b Str) Str {
	if a.Plain == nil && b.Plain == nil {
		return text(a.S + b.S)
	}
	return Str{S: a.S + b.S, Plain: append(Spans(nil), a.Plain...).add(b.Plain, len(a.S))}
}

func (s Str) slice(i, j int) Str { return Str{S: s.S[i:j], Plain: s.Plain.cut(i, j)} }

// Slice is s.S[i:j] with its plain spans.
func (s Str) Slice(i, j int) Str { return s.slice(i, j) }

// derived is a string made from s by a transformation that keeps no byte
// positions: all plain when any of s was.
func derived(r string, from ...Str) Str {
	for _, f := range from {
		if f.Plain != nil && r != "" {
			return PlainText(r)
		}
	}
	return text(r)
}

// Dict is an ordered mapping with string keys; a namespace() is a Dict
// that {% set ns.x = ... %} may change.
type Dict struct {
	keys  []string
	m     map[string]Value
	ns    bool
	plain map[string]Str // keys made from message content, with their spans
}

// key is key k as a string value, plain where it came from content.
func (d *Dict) key(k string) Str {
	if s, ok := d.plain[k]; ok {
		return s
	}
	return text(k)
}

// setKey sets key k, remembering its plain spans.
func (d *Dict) setKey(k Str, v Value) {
	if k.Plain != nil {
		if d.plain == nil {
			d.plain = map[string]Str{}
		}
		d.plain[k.S] = k
	}
	d.Set(k.S, v)
}

// NewDict makes a dict of key, value pairs: string keys, values as
// Convert takes them.
func NewDict(kv ...any) *Dict {
	d := &Dict{m: map[string]Value{}}
	for i := 0; i+1 < len(kv); i += 2 {
		d.Set(kv[i].(string), Convert(kv[i+1]))
	}
	return d
}

// Set sets key k to v (a template value).
func (d *Dict) Set(k string, v Value) {
	if _, ok := d.m[k]; !ok {
		d.keys = append(d.keys, k)
	}
	d.m[k] = v
}

func (d *Dict) get(k string) (Value, bool) {
	v, ok := d.m[k]
	return v, ok
}

// Func is a callable: a macro, a global function or a bound method.
type Func struct {
	name string
	fn   func(e *evaluator, args []Value, kw map[string]Value) (Value, error)
}

// Convert turns Go values (string, bool, ints, floats, []any, []string,
// map[string]any with its keys sorted, Str, *Dict) into template values.
func Convert(v any) Value {
	switch x := v.(type) {
	case nil, bool, int64, float64, Str, *Dict, *Func, undefined:
		return x
	case string:
		return text(x)
	case int:
		return int64(x)
	case int32:
		return int64(x)
	case float32:
		return float64(x)
	case []string:
		out := make([]Value, len(x))
		for i, s := range x {
			out[i] = text(s)
		}
		return out
	case []any:
		out := make([]Value, len(x))
		for i, s := range x {
			out[i] = Convert(s)
		}
		return out
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		d := NewDict()
		for _, k := range keys {
			d.Set(k, Convert(x[k]))
		}
		return d
	}
	return text(fmt.Sprint(v))
}

func truthy(v Value) bool {
	switch x := v.(type) {
	case nil, undefined:
		return false
	case bool:
		return x
	case int64:
		return x != 0
	case float64:
		return x != 0
	case Str:
		return x.S != ""
	case []Value:
		return len(x) > 0
	case *Dict:
		return len(x.keys) > 0
	}
	return true
}

func typeName(v Value) string {
	switch v.(type) {
	case nil:
		return "none"
	case undefined:
		return "undefined"
	case bool:
		return "bool"
	case int64:
		return "int"
	case float64:
		return "float"
	case Str:
		return "string"
	case []Value:
		return "list"
	case *Dict:
		return "dict"
	case *Func:
		return "function"
	}
	return fmt.Sprintf("%T", v)
}

// toStr is Python's str(v), keeping the plain spans of strings; the repr
// of a list or dict stops past limit bytes (a list can hold one long
// string many times over), which every later size check then refuses.
func toStr(v Value, limit int) Str {
	switch x := v.(type) {
	case Str:
		return x
	case undefined:
		return Str{}
	case []Value, *Dict:
		var b strings.Builder
		plain := reprAt(&b, v, 0, limit)
		return derived(b.String(), plain)
	}
	return text(format(v))
}

// toStr is toStr within the rendering's output limit.
func (e *evaluator) toStr(v Value) Str { return toStr(v, e.lim.Output) }

// format prints a scalar as Python does.
func format(v Value) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case bool:
		if x {
			return "True"
		}
		return "False"
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return formatFloat(x)
	case Str:
		return x.S
	case *Func:
		return "<function " + x.name + ">"
	case []Value, *Dict:
		return toStr(v, DefaultLimits.Output).S
	}
	return fmt.Sprint(v)
}

// formatFloat is Python's repr of a float.
func formatFloat(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case math.IsNaN(f):
		return "nan"
	}
	e := strconv.FormatFloat(f, 'e', -1, 64)
	mant, exp, _ := strings.Cut(e, "e")
	x, _ := strconv.Atoi(exp)
	if x < -4 || x >= 16 {
		sign := "+"
		if x < 0 {
			sign, x = "-", -x
		}
		return fmt.Sprintf("%se%s%02d", mant, sign, x)
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.ContainsAny(s, ".") {
		s += ".0"
	}
	return s
}

// reprAt writes Python's repr of v, up to a little past limit bytes; it
// returns a string of v that has plain spans, if any. Nesting deeper than
// maxStack is written "...".
func reprAt(b *strings.Builder, v Value, depth, limit int) Str {
	var plain Str
	if b.Len() > limit {
		return plain
	}
	if depth > maxStack {
		b.WriteString("...")
		return plain
	}
	switch x := v.(type) {
	case Str:
		b.WriteString(quote(x.S))
		if x.Plain != nil {
			plain = x
		}
	case []Value:
		b.WriteByte('[')
		for i, it := range x {
			if i > 0 {
				b.WriteString(", ")
			}
			if p := reprAt(b, it, depth+1, limit); p.Plain != nil {
				plain = p
			}
		}
		b.WriteByte(']')
	case *Dict:
		b.WriteByte('{')
		for i, k := range x.keys {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(quote(k) + ": ")
			if ks := x.key(k); ks.Plain != nil {
				plain = ks
			}
			if p := reprAt(b, x.m[k], depth+1, limit); p.Plain != nil {
				plain = p
			}
		}
		b.WriteByte('}')
	case undefined:
	default:
		b.WriteString(format(v))
	}
	return plain
}

// quote is Python's repr of a string (roughly: ' unless the text has '
// and no ").
func quote(s string) string {
	q := byte('\'')
	if strings.IndexByte(s, '\'') >= 0 && strings.IndexByte(s, '"') < 0 {
		q = '"'
	}
	var b strings.Builder
	b.WriteByte(q)
	for _, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case r == rune(q):
			b.WriteByte('\\')
			b.WriteByte(q)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte(q)
	return b.String()
}

func isNumber(v Value) bool {
	switch v.(type) {
	case int64, float64, bool:
		return true
	}
	return false
}

func toFloat(v Value) float64 {
	switch x := v.(type) {
	case int64:
		return float64(x)
	case float64:
		return x
	case bool:
		if x {
			return 1
		}
	}
	return 0
}

// equal is Python's ==; n counts the values compared (the work done),
// and nesting deeper than maxStack compares unequal rather than recurse.
func equal(a, b Value, n *int) bool {
	return equalAt(a, b, n, 0)
}

func equalAt(a, b Value, n *int, depth int) bool {
	if *n++; depth > maxStack {
		return false
	}
	if isNumber(a) && isNumber(b) {
		if x, ok := a.(int64); ok {
			if y, ok := b.(int64); ok {
				return x == y
			}
		}
		return toFloat(a) == toFloat(b)
	}
	switch x := a.(type) {
	case nil:
		return b == nil
	case undefined:
		_, ok := b.(undefined)
		return ok
	case Str:
		y, ok := b.(Str)
		*n += len(x.S) / 64
		return ok && x.S == y.S
	case []Value:
		y, ok := b.([]Value)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !equalAt(x[i], y[i], n, depth+1) {
				return false
			}
		}
		return true
	case *Dict:
		y, ok := b.(*Dict)
		if !ok || len(x.keys) != len(y.keys) {
			return false
		}
		for _, k := range x.keys {
			if w, ok := y.m[k]; !ok || !equalAt(x.m[k], w, n, depth+1) {
				return false
			}
		}
		return true
	}
	return a == b
}

// compare orders numbers and strings; other pairs are an error, as in
// Python.
func compare(a, b Value) (int, error) {
	if isNumber(a) && isNumber(b) {
		x, y := toFloat(a), toFloat(b)
		if i, ok := a.(int64); ok {
			if j, ok := b.(int64); ok {
				return cmpInt(i, j), nil
			}
		}
		switch {
		case x < y:
			return -1, nil
		case x > y:
			return 1, nil
		}
		return 0, nil
	}
	if x, ok := a.(Str); ok {
		if y, ok := b.(Str); ok {
			return strings.Compare(x.S, y.S), nil
		}
	}
	return 0, fmt.Errorf("cannot compare %s with %s", typeName(a), typeName(b))
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
