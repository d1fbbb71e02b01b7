package chattmpl

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// globals are the functions every template sees.
var globals = &scope{vars: map[string]Value{
	"range":           &Func{"range", builtinRange},
	"namespace":       &Func{"namespace", builtinNamespace},
	"dict":            &Func{"dict", builtinDict},
	"raise_exception": &Func{"raise_exception", builtinRaise},
	"strftime_now":    &Func{"strftime_now", builtinStrftime},
}}

func builtinRange(e *evaluator, args []Value, _ map[string]Value) (Value, error) {
	var b [3]int64
	b[2] = 1
	for i, a := range args {
		if !isInt(a) || i > 2 {
			return nil, errors.New("range takes up to three integers")
		}
		b[i] = toInt(a)
	}
	lo, hi, step := int64(0), b[0], b[2]
	if len(args) >= 2 {
		lo, hi = b[0], b[1]
	}
	if step == 0 {
		return nil, errors.New("range step cannot be zero")
	}
	var n int64
	if step > 0 && hi > lo {
		n = (hi - lo + step - 1) / step
	} else if step < 0 && lo > hi {
		n = (lo - hi - step - 1) / -step
	}
	if n < 0 || n > int64(e.lim.Steps) {
		return nil, &LimitError{"steps", int64(e.lim.Steps)}
	}
	if err := e.grow(16 * int(n)); err != nil {
		return nil, err
	}
	out := make([]Value, n)
	for i := range out {
		out[i] = lo + int64(i)*step
	}
	return out, nil
}

func builtinNamespace(e *evaluator, args []Value, kw map[string]Value) (Value, error) {
	d := NewDict()
	d.ns = true
	for _, a := range args {
		if m, ok := a.(*Dict); ok {
			for _, k := range m.keys {
				d.setKey(m.key(k), m.m[k])
			}
		}
	}
	for _, k := range sortedKeys(kw) {
		d.Set(k, kw[k])
	}
	return d, nil
}

func builtinDict(e *evaluator, args []Value, kw map[string]Value) (Value, error) {
	d := NewDict()
	for _, k := range sortedKeys(kw) {
		d.Set(k, kw[k])
	}
	return d, nil
}

func sortedKeys(m map[string]Value) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func builtinRaise(e *evaluator, args []Value, _ map[string]Value) (Value, error) {
	msg := "raise_exception"
	if len(args) > 0 {
		msg = e.toStr(args[0]).S
	}
	return nil, &Error{msg}
}

var strftime = map[byte]string{'Y': "2006", 'm': "01", 'd': "02", 'H': "15", 'M': "04", 'S': "05",
	'y': "06", 'b': "Jan", 'B': "January", 'a': "Mon", 'A': "Monday", 'p': "PM", 'I': "03", 'Z': "MST", 'z': "-0700", '%': "%"}

func builtinStrftime(e *evaluator, args []Value, _ map[string]Value) (Value, error) {
	if len(args) != 1 {
		return nil, errors.New("strftime_now takes a format")
	}
	f := e.toStr(args[0]).S
	now := time.Now()
	var b strings.Builder
	for i := 0; i < len(f); i++ {
		if b.Len() > e.lim.Output {
			return nil, &LimitError{"output", int64(e.lim.Output)}
		}
		if f[i] != '%' || i+1 == len(f) {
			b.WriteByte(f[i])
			continue
		}
		i++
		switch l, ok := strftime[f[i]]; {
		case f[i] == 'e':
			fmt.Fprintf(&b, "%2d", now.Day())
		case f[i] == 'j':
			fmt.Fprintf(&b, "%03d", now.YearDay())
		case ok && f[i] == '%':
			b.WriteByte('%')
		case ok:
			b.WriteString(now.Format(l))
		default:
			b.WriteByte('%')
			b.WriteByte(f[i])
		}
	}
	return derived(b.String(), e.toStr(args[0])), nil
}

// dictMethod returns d's method name.
func dictMethod(d *Dict, name string) (*Func, bool) {
	var fn func(e *evaluator, args []Value, kw map[string]Value) (Value, error)
	switch name {
	case "items":
		fn = func(e *evaluator, _ []Value, _ map[string]Value) (Value, error) { return e.list(dictItems(d)) }
	case "keys":
		fn = func(e *evaluator, _ []Value, _ map[string]Value) (Value, error) {
			out := make([]Value, len(d.keys))
			for i, k := range d.keys {
				out[i] = d.key(k)
			}
			return e.list(out)
		}
	case "values":
		fn = func(e *evaluator, _ []Value, _ map[string]Value) (Value, error) {
			out := make([]Value, len(d.keys))
			for i, k := range d.keys {
				out[i] = d.m[k]
			}
			return e.list(out)
		}
	case "get":
		fn = func(_ *evaluator, args []Value, _ map[string]Value) (Value, error) {
			if len(args) == 0 || len(args) > 2 {
				return nil, errors.New("get takes a key and an optional default")
			}
			if k, ok := args[0].(Str); ok {
				if v, ok := d.get(k.S); ok {
					return v, nil
				}
			}
			if len(args) == 2 {
				return args[1], nil
			}
			return nil, nil
		}
	default:
		return nil, false
	}
	return &Func{"dict." + name, fn}, true
}

func dictItems(d *Dict) []Value {
	out := make([]Value, len(d.keys))
	for i, k := range d.keys {
		out[i] = []Value{d.key(k), d.m[k]}
	}
	return out
}

// strMethod returns s's method name.
func strMethod(s Str, name string) (*Func, bool) {
	var fn func(e *evaluator, args []Value, kw map[string]Value) (Value, error)
	strArg := func(args []Value, i int) (string, bool, error) {
		if i >= len(args) || args[i] == nil {
			return "", false, nil
		}
		a, ok := args[i].(Str)
		if !ok {
			return "", false, fmt.Errorf("str.%s: argument %d must be a string, not %s", name, i+1, typeName(args[i]))
		}
		return a.S, true, nil
	}
	switch name {
	case "strip", "lstrip", "rstrip":
		fn = func(e *evaluator, args []Value, _ map[string]Value) (Value, error) {
			chars, ok, err := strArg(args, 0)
			if err != nil {
				return nil, err
			}
			return strip(s, name, chars, ok), e.scan(s.S + chars)
		}
	case "upper", "lower", "title", "capitalize":
		fn = func(e *evaluator, _ []Value, _ map[string]Value) (Value, error) { return e.str(caseMap(s, name)) }
	case "startswith", "endswith":
		fn = func(e *evaluator, args []Value, _ map[string]Value) (Value, error) {
			if len(args) != 1 {
				return nil, fmt.Errorf("str.%s takes one argument", name)
			}
			var prefixes []Value
			switch a := args[0].(type) {
			case Str:
				prefixes = []Value{a}
			case []Value:
				prefixes = a
			default:
				return nil, fmt.Errorf("str.%s needs a string or a tuple of strings", name)
			}
			for _, p := range prefixes {
				ps, ok := p.(Str)
				if !ok {
					return nil, fmt.Errorf("str.%s needs a string or a tuple of strings", name)
				}
				if err := e.cost(1 + len(ps.S)/64); err != nil {
					return nil, err
				}
				if name == "startswith" && strings.HasPrefix(s.S, ps.S) || name == "endswith" && strings.HasSuffix(s.S, ps.S) {
					return true, nil
				}
			}
			return false, nil
		}
	case "split", "rsplit":
		fn = func(e *evaluator, args []Value, kw map[string]Value) (Value, error) {
			if v, ok := kw["sep"]; ok && len(args) == 0 {
				args = []Value{v}
			}
			sep, ok, err := strArg(args, 0)
			if err != nil {
				return nil, err
			}
			limit := int64(-1)
			if len(args) > 1 {
				limit = toInt(args[1])
			} else if v, ok := kw["maxsplit"]; ok {
				limit = toInt(v)
			}
			if ok && sep == "" {
				return nil, errors.New("str.split: empty separator")
			}
			if err := e.scan(s.S); err != nil {
				return nil, err
			}
			parts := split(s, sep, ok, limit, name == "rsplit")
			return e.list(parts)
		}
	case "replace":
		fn = func(e *evaluator, args []Value, _ map[string]Value) (Value, error) {
			if len(args) < 2 {
				return nil, errors.New("str.replace takes two strings")
			}
			old, ok1 := args[0].(Str)
			nw, ok2 := args[1].(Str)
			if !ok1 || !ok2 {
				return nil, errors.New("str.replace takes two strings")
			}
			count := int64(-1)
			if len(args) > 2 {
				count = toInt(args[2])
			}
			return e.replace(s, old, nw, count)
		}
	case "find", "rfind", "count":
		fn = func(e *evaluator, args []Value, _ map[string]Value) (Value, error) {
			sub, ok, err := strArg(args, 0)
			if err != nil || !ok {
				return nil, fmt.Errorf("str.%s takes a string", name)
			}
			if err := e.scan(s.S); err != nil {
				return nil, err
			}
			var i int
			switch name {
			case "count":
				return int64(strings.Count(s.S, sub)), nil
			case "find":
				i = strings.Index(s.S, sub)
			default:
				i = strings.LastIndex(s.S, sub)
			}
			if i < 0 {
				return int64(-1), nil
			}
			return int64(utf8.RuneCountInString(s.S[:i])), nil
		}
	case "join":
		fn = func(e *evaluator, args []Value, _ map[string]Value) (Value, error) {
			if len(args) != 1 {
				return nil, errors.New("str.join takes one argument")
			}
			return e.join(args[0], s, "")
		}
	case "isdigit", "isalpha", "isspace", "isalnum", "isupper", "islower":
		fn = func(e *evaluator, _ []Value, _ map[string]Value) (Value, error) { return strIs(s.S, name), e.scan(s.S) }
	default:
		return nil, false
	}
	return &Func{"str." + name, fn}, true
}

func strIs(s, name string) bool {
	if s == "" {
		return false
	}
	cased := false
	for _, r := range s {
		ok := true
		switch name {
		case "isdigit":
			ok = unicode.IsDigit(r)
		case "isalpha":
			ok = unicode.IsLetter(r)
		case "isspace":
			ok = pySpace(r)
		case "isalnum":
			ok = unicode.IsLetter(r) || unicode.IsDigit(r)
		case "isupper":
			ok = !unicode.IsLower(r)
			cased = cased || unicode.IsUpper(r)
		case "islower":
			ok = !unicode.IsUpper(r)
			cased = cased || unicode.IsLower(r)
		}
		if !ok {
			return false
		}
	}
	return cased || name != "isupper" && name != "islower"
}

func strip(s Str, how, chars string, custom bool) Str {
	cut := pySpace
	if custom { // a set: chars may be long
		var ascii [utf8.RuneSelf]bool
		other := map[rune]bool{}
		for _, r := range chars {
			if r < utf8.RuneSelf {
				ascii[r] = true
			} else {
				other[r] = true
			}
		}
		cut = func(r rune) bool {
			if r < utf8.RuneSelf {
				return ascii[r]
			}
			return other[r]
		}
	}
	i, j := 0, len(s.S)
	if how != "rstrip" {
		i = len(s.S) - len(strings.TrimLeftFunc(s.S, cut))
	}
	if how != "lstrip" {
		j = len(strings.TrimRightFunc(s.S[i:], cut)) + i
	}
	return s.slice(i, j)
}

func caseMap(s Str, how string) Str {
	var r string
	switch how {
	case "upper":
		r = strings.ToUpper(s.S)
	case "lower":
		r = strings.ToLower(s.S)
	case "capitalize":
		first, n := utf8.DecodeRuneInString(s.S)
		if n == 0 {
			return s
		}
		r = string(unicode.ToUpper(first)) + strings.ToLower(s.S[n:])
	case "title":
		var b strings.Builder
		prev := false // the previous rune was cased
		for _, c := range s.S {
			if prev {
				b.WriteRune(unicode.ToLower(c))
			} else {
				b.WriteRune(unicode.ToTitle(c))
			}
			prev = unicode.IsLetter(c)
		}
		r = b.String()
	}
	if len(r) == len(s.S) {
		return Str{S: r, Plain: s.Plain}
	}
	return derived(r, s)
}

// split is Python's str.split (rsplit) with sep (none: runs of white space).
func split(s Str, sep string, hasSep bool, limit int64, right bool) []Value {
	var spans [][2]int
	if !hasSep {
		i := 0
		for {
			for i < len(s.S) {
				r, n := utf8.DecodeRuneInString(s.S[i:])
				if !pySpace(r) {
					break
				}
				i += n
			}
			if i >= len(s.S) {
				break
			}
			j := i
			for j < len(s.S) {
				r, n := utf8.DecodeRuneInString(s.S[j:])
				if pySpace(r) {
					break
				}
				j += n
			}
			spans = append(spans, [2]int{i, j})
			i = j
		}
		if limit >= 0 && int64(len(spans)) > limit {
			// The rest keeps its white space on the far side, as in Python.
			if right {
				k := len(spans) - int(limit)
				spans = append([][2]int{{0, spans[k-1][1]}}, spans[k:]...)
			} else {
				spans = append(spans[:limit], [2]int{spans[limit][0], len(s.S)})
			}
		}
	} else if right {
		j := len(s.S)
		for n := int64(0); limit < 0 || n < limit; n++ {
			k := strings.LastIndex(s.S[:j], sep)
			if k < 0 {
				break
			}
			spans = append(spans, [2]int{k + len(sep), j})
			j = k
		}
		spans = append(spans, [2]int{0, j})
		slices.Reverse(spans)
	} else {
		i := 0
		for n := int64(0); limit < 0 || n < limit; n++ {
			k := strings.Index(s.S[i:], sep)
			if k < 0 {
				break
			}
			spans = append(spans, [2]int{i, i + k})
			i += k + len(sep)
		}
		spans = append(spans, [2]int{i, len(s.S)})
	}
	out := make([]Value, len(spans))
	for i, sp := range spans {
		out[i] = s.slice(sp[0], sp[1])
	}
	return out
}

func (e *evaluator) replace(s, old, nw Str, count int64) (Value, error) {
	var out output
	if old.S == "" {
		return nil, errors.New("replace: an empty string to replace is not supported")
	}
	if err := e.scan(s.S); err != nil {
		return nil, err
	}
	i := 0
	for n := int64(0); count < 0 || n < count; n++ {
		k := strings.Index(s.S[i:], old.S)
		if k < 0 {
			break
		}
		out.add(s.slice(i, i+k))
		if out.b.Len()+len(nw.S) > e.lim.Output {
			return nil, &LimitError{"output", int64(e.lim.Output)}
		}
		out.add(nw)
		i += k + len(old.S)
	}
	out.add(s.slice(i, len(s.S)))
	return e.str(out.str())
}

func (e *evaluator) join(v Value, sep Str, attribute string) (Value, error) {
	items, err := e.iterate(v)
	if err != nil {
		return nil, err
	}
	var out output
	for i, it := range items {
		if attribute != "" {
			if it, err = attr(it, attribute); err != nil {
				return nil, err
			}
		}
		if i > 0 {
			out.add(sep)
		}
		if out.b.Len() > e.lim.Output {
			return nil, &LimitError{"output", int64(e.lim.Output)}
		}
		out.add(e.toStr(it))
	}
	return e.str(out.str())
}

// filter applies f (whose own x is already v) to v.
func (e *evaluator) filter(f *filterX, v Value, sc *scope) (Value, error) {
	args, kw, err := e.args(f.args, f.kw, f.kws, sc)
	if err != nil {
		return nil, err
	}
	arg := func(i int, name string) (Value, bool) {
		if i < len(args) {
			return args[i], true
		}
		a, ok := kw[name]
		return a, ok
	}
	switch f.name {
	case "trim":
		chars, ok := arg(0, "chars")
		cs, _ := chars.(Str)
		str := e.toStr(v)
		return strip(str, "strip", cs.S, ok && chars != nil), e.scan(str.S + cs.S)
	case "length", "count":
		switch x := v.(type) {
		case Str:
			return int64(utf8.RuneCountInString(x.S)), e.scan(x.S)
		case []Value:
			return int64(len(x)), nil
		case *Dict:
			return int64(len(x.keys)), nil
		case undefined:
			return int64(0), nil
		}
		return nil, fmt.Errorf("%s has no length", typeName(v))
	case "string":
		return e.str(e.toStr(v))
	case "upper", "lower", "title", "capitalize":
		return e.str(caseMap(e.toStr(v), f.name))
	case "default", "d":
		def, _ := arg(0, "default_value")
		b, _ := arg(1, "boolean")
		if _, ok := v.(undefined); ok || truthy(b) && !truthy(v) {
			if def == nil {
				return text(""), nil
			}
			return def, nil
		}
		return v, nil
	case "first", "last":
		items, err := e.iterate(v)
		if err != nil {
			return nil, err
		}
		if len(items) == 0 {
			return undefined{}, nil
		}
		if f.name == "first" {
			return items[0], nil
		}
		return items[len(items)-1], nil
	case "join":
		sep, _ := arg(0, "d")
		if sep == nil {
			sep = text("")
		}
		at, ok := arg(1, "attribute")
		name := ""
		if ok {
			name = e.toStr(at).S
		}
		return e.join(v, e.toStr(sep), name)
	case "replace":
		if len(args) < 2 {
			return nil, errors.New("replace takes two strings")
		}
		count := int64(-1)
		if c, ok := arg(2, "count"); ok {
			count = toInt(c)
		}
		return e.replace(e.toStr(v), e.toStr(args[0]), e.toStr(args[1]), count)
	case "list":
		items, err := e.iterate(v)
		if err != nil {
			return nil, err
		}
		return e.list(append([]Value(nil), items...))
	case "reverse":
		if s, ok := v.(Str); ok {
			return e.slice(&sliceX{x: &constX{s}, step: &constX{int64(-1)}}, sc)
		}
		items, err := e.iterate(v)
		if err != nil {
			return nil, err
		}
		out := slices.Clone(items)
		slices.Reverse(out)
		return e.list(out)
	case "items":
		d, ok := v.(*Dict)
		if !ok {
			if _, u := v.(undefined); u {
				return []Value{}, nil
			}
			return nil, fmt.Errorf("items needs a mapping, not %s", typeName(v))
		}
		return e.list(dictItems(d))
	case "int":
		switch x := v.(type) {
		case float64:
			if math.IsNaN(x) || math.Abs(x) > 9e18 {
				return int64(0), nil
			}
			return int64(x), nil
		case Str:
			n, err := strconv.ParseInt(strings.TrimSpace(x.S), 10, 64)
			if err != nil {
				if f, err := strconv.ParseFloat(strings.TrimSpace(x.S), 64); err == nil && math.Abs(f) < 9e18 {
					return int64(f), nil
				}
				d, _ := arg(0, "default")
				if d == nil {
					d = int64(0)
				}
				return d, nil
			}
			return n, nil
		}
		return toInt(v), nil
	case "float":
		if s, ok := v.(Str); ok {
			x, err := strconv.ParseFloat(strings.TrimSpace(s.S), 64)
			if err != nil {
				return 0.0, nil
			}
			return x, nil
		}
		return toFloat(v), nil
	case "abs":
		switch x := v.(type) {
		case int64:
			if x == math.MinInt64 {
				return nil, errOverflow
			}
			return max(x, -x), nil
		case float64:
			return math.Abs(x), nil
		}
		return nil, fmt.Errorf("bad operand for abs: %s", typeName(v))
	case "round":
		prec, _ := arg(0, "precision")
		p := math.Pow(10, float64(toInt(prec)))
		return math.Round(toFloat(v)*p) / p, nil
	case "tojson":
		ind, _ := arg(0, "indent")
		var b strings.Builder
		plain, err := e.json(&b, v, int(toInt(ind)), 0)
		if err != nil {
			return nil, err
		}
		return e.str(derived(b.String(), plain))
	case "safe", "e", "escape":
		if f.name == "safe" {
			return v, nil
		}
		s := e.toStr(v)
		r := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;", "'", "&#39;").Replace(s.S)
		return e.str(derived(r, s))
	case "indent":
		width, ok := arg(0, "width")
		if !ok {
			width = int64(4)
		}
		first, _ := arg(1, "first")
		blank, _ := arg(2, "blank")
		return e.indent(e.toStr(v), width, truthy(first), truthy(blank))
	case "select", "reject", "selectattr", "rejectattr", "map":
		return e.selectMap(f.name, v, args, kw, sc)
	case "unique":
		items, err := e.iterate(v)
		if err != nil {
			return nil, err
		}
		var out []Value
		for _, it := range items {
			seen := false
			for _, o := range out {
				if seen, err = e.equal(o, it); seen || err != nil {
					break
				}
			}
			if err != nil {
				return nil, err
			}
			if !seen {
				out = append(out, it)
			}
		}
		return e.list(out)
	case "sort", "dictsort":
		return e.sort(f.name, v, arg)
	case "sum", "max", "min":
		items, err := e.iterate(v)
		if err != nil {
			return nil, err
		}
		if at, ok := kw["attribute"]; ok {
			for i, it := range items {
				if items[i], err = attr(it, e.toStr(at).S); err != nil {
					return nil, err
				}
			}
		}
		if f.name != "sum" {
			if len(items) == 0 {
				return undefined{}, nil
			}
			best := items[0]
			for _, it := range items[1:] {
				c, err := e.compare(it, best)
				if err != nil {
					return nil, err
				}
				if f.name == "max" && c > 0 || f.name == "min" && c < 0 {
					best = it
				}
			}
			return best, nil
		}
		var total Value = int64(0)
		for _, it := range items {
			if total, err = e.binary("+", total, it); err != nil {
				return nil, err
			}
		}
		return total, nil
	case "wordcount":
		str := e.toStr(v)
		return int64(len(strings.FieldsFunc(str.S, pySpace))), e.scan(str.S)
	}
	return nil, fmt.Errorf("unknown filter %q", f.name)
}

func (e *evaluator) indent(s Str, width Value, first, blank bool) (Value, error) {
	pad := text(strings.Repeat(" ", int(min(max(toInt(width), 0), 256))))
	if w, ok := width.(Str); ok {
		pad = w
	}
	lines := split(s, "\n", true, -1, false)
	var out output
	for i, l := range lines {
		ls := l.(Str)
		if i > 0 {
			out.add(text("\n"))
		}
		if (i > 0 || first) && (blank || strings.TrimFunc(ls.S, pySpace) != "") {
			out.add(pad)
		}
		if out.b.Len() > e.lim.Output {
			return nil, &LimitError{"output", int64(e.lim.Output)}
		}
		out.add(ls)
	}
	return e.str(out.str())
}

func (e *evaluator) selectMap(name string, v Value, args []Value, kw map[string]Value, sc *scope) (Value, error) {
	items, err := e.iterate(v)
	if err != nil {
		return nil, err
	}
	var out []Value
	for _, it := range items {
		if err := e.step(); err != nil {
			return nil, err
		}
		subject, rest := it, args
		if name == "selectattr" || name == "rejectattr" {
			if len(args) == 0 {
				return nil, fmt.Errorf("%s needs an attribute", name)
			}
			if subject, err = attr(it, e.toStr(args[0]).S); err != nil {
				return nil, err
			}
			rest = args[1:]
		}
		if name == "map" {
			if at, ok := kw["attribute"]; ok {
				w, err := attr(it, e.toStr(at).S)
				if err != nil {
					return nil, err
				}
				if _, u := w.(undefined); u {
					if d, ok := kw["default"]; ok {
						w = d
					}
				}
				out = append(out, w)
				continue
			}
			if len(args) == 0 {
				return nil, errors.New("map needs a filter or an attribute")
			}
			f := &filterX{name: e.toStr(args[0]).S}
			for _, a := range args[1:] {
				f.args = append(f.args, &constX{a})
			}
			w, err := e.filter(f, it, sc)
			if err != nil {
				return nil, err
			}
			out = append(out, w)
			continue
		}
		ok := truthy(subject)
		if len(rest) > 0 {
			if ok, err = e.test(e.toStr(rest[0]).S, subject, rest[1:]); err != nil {
				return nil, err
			}
		}
		if ok == (name == "select" || name == "selectattr") {
			out = append(out, it)
		}
	}
	return e.list(out)
}

func (e *evaluator) sort(name string, v Value, arg func(int, string) (Value, bool)) (Value, error) {
	var items []Value
	if name == "dictsort" {
		d, ok := v.(*Dict)
		if !ok {
			return nil, fmt.Errorf("dictsort needs a mapping, not %s", typeName(v))
		}
		items = dictItems(d)
	} else {
		var err error
		if items, err = e.iterate(v); err != nil {
			return nil, err
		}
		items = slices.Clone(items)
	}
	rev, _ := arg(0, "reverse")
	at, _ := arg(2, "attribute")
	if err := e.grow(16 * len(items)); err != nil {
		return nil, err
	}
	if err := e.cost(len(items) * bits.Len(uint(len(items)))); err != nil { // sorting's comparisons
		return nil, err
	}
	// The keys, made once: strings compare case-insensitively, as
	// Jinja2's sort and dictsort do by default.
	type keyed struct{ key, item Value }
	ks := make([]keyed, len(items))
	for i, x := range items {
		k := x
		switch a, ok := at.(Str); {
		case name == "dictsort":
			k = x.([]Value)[0]
		case ok:
			k, _ = attr(x, a.S)
		}
		if s, ok := k.(Str); ok {
			if err := e.grow(len(s.S)); err != nil {
				return nil, err
			}
			k = text(strings.ToLower(s.S))
		}
		ks[i] = keyed{k, x}
	}
	var err error
	bytes := 0
	for _, k := range ks {
		if s, ok := k.key.(Str); ok {
			bytes += len(s.S)
		}
	}
	if err := e.cost(bytes / 64 * bits.Len(uint(len(ks)))); err != nil { // comparing long keys
		return nil, err
	}
	sort.SliceStable(ks, func(i, j int) bool {
		c, cerr := compare(ks[i].key, ks[j].key)
		if cerr != nil {
			err = cerr
		}
		if truthy(rev) {
			return c > 0
		}
		return c < 0
	})
	for i := range ks {
		items[i] = ks[i].item
	}
	return items, err
}

// json writes v as Python's json.dumps(v, ensure_ascii=False, indent)
// does; it returns a string that had plain spans, if any.
func (e *evaluator) json(b *strings.Builder, v Value, indent, level int) (Str, error) {
	if err := e.step(); err != nil {
		return Str{}, err
	}
	if b.Len() > e.lim.Output {
		return Str{}, &LimitError{"output", int64(e.lim.Output)}
	}
	if level > maxNest {
		return Str{}, errors.New("tojson: too deeply nested")
	}
	if indent > e.lim.Output/(level+1) {
		return Str{}, &LimitError{"output", int64(e.lim.Output)}
	}
	var plain Str
	newline := func(l int) {
		if indent > 0 {
			b.WriteByte('\n')
			b.WriteString(strings.Repeat(" ", indent*l))
		}
	}
	sep := ", "
	if indent > 0 {
		sep = ","
	}
	switch x := v.(type) {
	case nil, undefined:
		b.WriteString("null")
	case bool:
		b.WriteString(map[bool]string{true: "true", false: "false"}[x])
	case int64:
		b.WriteString(strconv.FormatInt(x, 10))
	case float64:
		switch {
		case math.IsNaN(x):
			b.WriteString("NaN")
		case math.IsInf(x, 1):
			b.WriteString("Infinity")
		case math.IsInf(x, -1):
			b.WriteString("-Infinity")
		default:
			b.WriteString(formatFloat(x))
		}
	case Str:
		jsonString(b, x.S)
		if x.Plain != nil {
			plain = x
		}
	case []Value:
		if len(x) == 0 {
			b.WriteString("[]")
			break
		}
		b.WriteByte('[')
		for i, it := range x {
			if i > 0 {
				b.WriteString(sep)
			}
			newline(level + 1)
			p, err := e.json(b, it, indent, level+1)
			if err != nil {
				return Str{}, err
			}
			if p.Plain != nil {
				plain = p
			}
		}
		newline(level)
		b.WriteByte(']')
	case *Dict:
		if len(x.keys) == 0 {
			b.WriteString("{}")
			break
		}
		b.WriteByte('{')
		for i, k := range x.keys {
			if i > 0 {
				b.WriteString(sep)
			}
			newline(level + 1)
			jsonString(b, k)
			if ks := x.key(k); ks.Plain != nil {
				plain = ks
			}
			b.WriteString(": ")
			p, err := e.json(b, x.m[k], indent, level+1)
			if err != nil {
				return Str{}, err
			}
			if p.Plain != nil {
				plain = p
			}
		}
		newline(level)
		b.WriteByte('}')
	default:
		return Str{}, fmt.Errorf("tojson: cannot encode %s", typeName(v))
	}
	return plain, nil
}

func jsonString(b *strings.Builder, s string) {
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		default:
			if r < 0x20 {
				fmt.Fprintf(b, `\u%04x`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
}

func (e *evaluator) test(name string, v Value, args []Value) (bool, error) {
	one := func() (Value, error) {
		if len(args) != 1 {
			return nil, fmt.Errorf("test %q takes one argument", name)
		}
		return args[0], nil
	}
	switch name {
	case "defined", "undefined":
		_, u := v.(undefined)
		return u == (name == "undefined"), nil
	case "none":
		return v == nil, nil
	case "boolean":
		_, ok := v.(bool)
		return ok, nil
	case "true", "false":
		b, ok := v.(bool)
		return ok && b == (name == "true"), nil
	case "integer":
		_, ok := v.(int64)
		return ok, nil
	case "float":
		_, ok := v.(float64)
		return ok, nil
	case "number":
		return isNumber(v), nil
	case "string":
		_, ok := v.(Str)
		return ok, nil
	case "mapping":
		_, ok := v.(*Dict)
		return ok, nil
	case "sequence", "iterable":
		switch v.(type) {
		case Str, []Value, *Dict:
			return true, nil
		}
		return false, nil
	case "callable":
		_, ok := v.(*Func)
		return ok, nil
	case "even", "odd":
		if !isInt(v) {
			return false, fmt.Errorf("test %q needs an integer", name)
		}
		return toInt(v)%2 == 0 == (name == "even"), nil
	case "divisibleby":
		a, err := one()
		if err != nil || !isInt(a) || toInt(a) == 0 || !isInt(v) {
			return false, errors.New("divisibleby needs two integers, the divisor not zero")
		}
		return toInt(v)%toInt(a) == 0, nil
	case "eq", "equalto", "==", "sameas", "ne", "!=":
		a, err := one()
		if err != nil {
			return false, err
		}
		ok, err := e.equal(v, a)
		return ok == (name != "ne" && name != "!="), err
	case "lt", "le", "gt", "ge", "<", "<=", ">", ">=", "greaterthan", "lessthan":
		a, err := one()
		if err != nil {
			return false, err
		}
		c, err := e.compare(v, a)
		switch name {
		case "lt", "<", "lessthan":
			return c < 0, err
		case "le", "<=":
			return c <= 0, err
		case "gt", ">", "greaterthan":
			return c > 0, err
		}
		return c >= 0, err
	case "in":
		a, err := one()
		if err != nil {
			return false, err
		}
		return e.contains(a, v)
	case "lower", "upper":
		s, ok := v.(Str)
		return ok && strIs(s.S, "is"+name), nil
	}
	return false, fmt.Errorf("unknown test %q", name)
}
