package grammar

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// JSONSchema compiles a JSON Schema into a grammar of the compact JSON
// documents it accepts (a little whitespace allowed between tokens).
// Supported: type (and type lists), properties, required,
// additionalProperties, enum, const, items, prefixItems, minItems,
// maxItems, anyOf, oneOf (as anyOf), allOf of one schema, $ref into $defs
// or definitions (recursion included), minLength, maxLength, pattern and
// the formats date, time, date-time, uuid and email. Properties come in
// the schema's order; an object without additionalProperties allows no
// others (OpenAI's strict mode). Other keywords give an *UnsupportedError.
func JSONSchema(schema []byte) (*Grammar, error) {
	return cached("schema\x00"+string(schema), func() (*Grammar, error) { return compileSchema(schema) })
}

func compileSchema(schema []byte) (*Grammar, error) {
	src, err := SchemaGBNF(schema, "root")
	if err != nil {
		return nil, err
	}
	return compileGBNF(src)
}

var jsonObject = sync.OnceValue(func() *Grammar {
	g, err := JSONSchema([]byte(`{"type":"object"}`))
	if err != nil {
		panic(err) // a fixed schema: cannot fail
	}
	return g
})

// JSONObject is any JSON object (response_format json_object).
func JSONObject() *Grammar { return jsonObject() }

// SchemaGBNF returns GBNF rules defining rule as the JSON documents schema
// accepts, for embedding in a larger grammar; helper rules are named
// rule+"-"...
func SchemaGBNF(schema []byte, rule string) (string, error) {
	if rule == "" || strings.IndexFunc(rule, func(r rune) bool { return r > 0x7F || !isWord(byte(r)) }) >= 0 {
		return "", fmt.Errorf("rule name %q: use letters, digits, - and _", rule)
	}
	doc, err := decodeOrdered(schema)
	if err != nil {
		return "", fmt.Errorf("JSON Schema: %w", err)
	}
	c := &scomp{prefix: rule, root: doc, refs: map[string]string{}, bad: map[string]bool{}}
	body := c.schema(doc)
	if len(c.bad) > 0 {
		kw := make([]string, 0, len(c.bad))
		for k := range c.bad {
			kw = append(kw, k)
		}
		sort.Strings(kw)
		return "", &UnsupportedError{Keywords: kw}
	}
	if c.err != nil {
		return "", c.err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s ::= %s\n", rule, body)
	for _, r := range c.rules {
		b.WriteString(r)
	}
	return b.String(), nil
}

// obj is a JSON object with its keys in document order.
type obj struct {
	keys []string
	vals map[string]any
}

func (o *obj) get(k string) (any, bool) { v, ok := o.vals[k]; return v, ok }

// decodeOrdered decodes JSON keeping object key order; numbers stay
// json.Number so that const and enum keep their exact text.
func decodeOrdered(data []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	v, err := decodeValue(d, 0)
	if err != nil {
		return nil, err
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, fmt.Errorf("data after the schema")
	}
	return v, nil
}

func decodeValue(d *json.Decoder, depth int) (any, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("nested deeper than %d", maxDepth)
	}
	t, err := d.Token()
	if err != nil {
		return nil, err
	}
	switch t {
	case json.Delim('{'):
		o := &obj{vals: map[string]any{}}
		for d.More() {
			kt, err := d.Token()
			if err != nil {
				return nil, err
			}
			k := kt.(string)
			v, err := decodeValue(d, depth+1)
			if err != nil {
				return nil, err
			}
			if _, dup := o.vals[k]; dup {
				return nil, fmt.Errorf("duplicate key %q", k)
			}
			o.keys = append(o.keys, k)
			o.vals[k] = v
		}
		_, err := d.Token()
		return o, err
	case json.Delim('['):
		var a []any
		for d.More() {
			v, err := decodeValue(d, depth+1)
			if err != nil {
				return nil, err
			}
			a = append(a, v)
		}
		_, err := d.Token()
		return a, err
	}
	return t, nil
}

// encode writes v as compact JSON (keys in their order).
func encode(b *strings.Builder, v any) {
	switch v := v.(type) {
	case *obj:
		b.WriteByte('{')
		for i, k := range v.keys {
			if i > 0 {
				b.WriteByte(',')
			}
			encode(b, k)
			b.WriteByte(':')
			encode(b, v.vals[k])
		}
		b.WriteByte('}')
	case []any:
		b.WriteByte('[')
		for i, x := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			encode(b, x)
		}
		b.WriteByte(']')
	case json.Number:
		b.WriteString(v.String())
	default:
		j, _ := json.Marshal(v) // string, bool, nil
		b.Write(j)
	}
}

// scomp compiles one schema into GBNF rules.
type scomp struct {
	prefix string
	root   any
	rules  []string
	n      int
	refs   map[string]string // $ref -> rule
	prims  map[string]bool
	bad    map[string]bool
	err    error
	depth  int
}

// Keywords that only annotate.
var annotations = map[string]bool{
	"title": true, "description": true, "default": true, "examples": true, "$schema": true,
	"$id": true, "$comment": true, "deprecated": true, "readOnly": true, "writeOnly": true,
	"$defs": true, "definitions": true, "strict": true, "name": true,
}

var handled = map[string]bool{
	"type": true, "properties": true, "required": true, "additionalProperties": true,
	"enum": true, "const": true, "items": true, "prefixItems": true, "minItems": true,
	"maxItems": true, "anyOf": true, "oneOf": true, "allOf": true, "$ref": true,
	"minLength": true, "maxLength": true, "pattern": true, "format": true,
}

func (c *scomp) fail(format string, args ...any) string {
	if c.err == nil {
		c.err = fmt.Errorf("JSON Schema: "+format, args...)
	}
	return `""`
}

// add defines a new helper rule and returns its name.
func (c *scomp) add(body string) string {
	c.n++
	name := fmt.Sprintf("%s-%d", c.prefix, c.n)
	c.rules = append(c.rules, fmt.Sprintf("%s ::= %s\n", name, body))
	return name
}

// prim returns the rule for a shared primitive, defining it once.
func (c *scomp) prim(kind string) string {
	name := c.prefix + "-" + kind
	if c.prims == nil {
		c.prims = map[string]bool{}
	}
	if c.prims[kind] {
		return name
	}
	c.prims[kind] = true
	p := c.prefix + "-"
	var body string
	switch kind {
	case "ws": // bounded, so that a model cannot loop on whitespace
		body = `( " " | "\n" [ \t]{0,16} )?`
	case "char":
		body = `[^"\\\x00-\x1F] | "\\" ( ["\\/bfnrt] | "u" [0-9a-fA-F]{4} )`
	case "string":
		body = `"\"" ` + c.prim("char") + `* "\""`
	case "integer":
		body = `"-"? ( "0" | [1-9] [0-9]{0,15} )`
	case "number":
		body = c.prim("integer") + ` ( "." [0-9]{1,16} )? ( [eE] [-+]? [0-9]{1,3} )?`
	case "boolean":
		body = `"true" | "false"`
	case "null":
		body = `"null"`
	case "value":
		body = p + "object | " + p + "array | " + c.prim("string") + " | " + c.prim("number") + " | " + c.prim("boolean") + " | " + c.prim("null")
		c.prim("object")
		c.prim("array")
	case "object":
		ws, kv := c.prim("ws"), c.prim("string")+" "+p+"ws \":\" "+p+"ws "+p+"value"
		body = `"{" ` + ws + ` ( ` + kv + ` ( ` + ws + ` "," ` + ws + ` ` + kv + ` )* )? ` + ws + ` "}"`
	case "array":
		ws := c.prim("ws")
		body = `"[" ` + ws + ` ( ` + p + `value ( ` + ws + ` "," ` + ws + ` ` + p + `value )* )? ` + ws + ` "]"`
	case "date":
		// Days per month; February stops at 28 (29 needs the year).
		body = `[0-9]{4} "-" ( ( "0" [13578] | "1" [02] ) "-" ( "0" [1-9] | [12] [0-9] | "3" [01] ) | ( "0" [469] | "11" ) "-" ( "0" [1-9] | [12] [0-9] | "30" ) | "02-" ( "0" [1-9] | "1" [0-9] | "2" [0-8] ) )`
	case "time":
		body = `( [01] [0-9] | "2" [0-3] ) ":" [0-5] [0-9] ":" [0-5] [0-9] ( "." [0-9]{1,9} )? ( "Z" | [+-] ( [01] [0-9] | "2" [0-3] ) ":" [0-5] [0-9] )`
	case "date-time":
		body = c.prim("date") + ` "T" ` + c.prim("time")
	case "uuid":
		h := "[0-9a-fA-F]"
		body = h + "{8} \"-\" " + h + "{4} \"-\" " + h + "{4} \"-\" " + h + "{4} \"-\" " + h + "{12}"
	case "email":
		// A common subset of RFC 5321: dot-separated atoms, then domain
		// labels that neither start nor end with a hyphen.
		atom, label := `[a-zA-Z0-9_%+-]{1,15}`, `[a-zA-Z0-9] ( [a-zA-Z0-9-]{0,30} [a-zA-Z0-9] )?`
		body = atom + ` ( "." ` + atom + ` ){0,3} "@" ` + label + ` ( "." ` + label + ` ){1,4}`
	}
	c.rules = append(c.rules, fmt.Sprintf("%s ::= %s\n", name, body))
	return name
}

func (c *scomp) schema(s any) string {
	if c.depth++; c.depth > maxDepth {
		return c.fail("nested deeper than %d", maxDepth)
	}
	defer func() { c.depth-- }()
	switch s := s.(type) {
	case bool:
		if s {
			return c.prim("value")
		}
		return "[]" // false: nothing
	case *obj:
		return c.object(s)
	}
	return c.fail("a schema must be an object or a boolean")
}

func (c *scomp) object(s *obj) string {
	for _, k := range s.keys {
		if !handled[k] && !annotations[k] {
			c.bad[k] = true
		}
	}
	if r, ok := s.get("$ref"); ok {
		return c.ref(r)
	}
	if v, ok := s.get("const"); ok {
		var b strings.Builder
		encode(&b, v)
		return jsonLit(b.String())
	}
	if v, ok := s.get("enum"); ok {
		list, ok := v.([]any)
		if !ok || len(list) == 0 {
			return c.fail("enum must be a non-empty array")
		}
		alts := make([]string, len(list))
		for i, x := range list {
			var b strings.Builder
			encode(&b, x)
			alts[i] = jsonLit(b.String())
		}
		return "( " + strings.Join(alts, " | ") + " )"
	}
	for _, k := range []string{"anyOf", "oneOf"} {
		if v, ok := s.get(k); ok {
			list, ok := v.([]any)
			if !ok || len(list) == 0 {
				return c.fail("%s must be a non-empty array", k)
			}
			alts := make([]string, len(list))
			for i, x := range list {
				alts[i] = c.schema(x)
			}
			return "( " + strings.Join(alts, " | ") + " )"
		}
	}
	if v, ok := s.get("allOf"); ok {
		list, ok := v.([]any)
		if !ok || len(list) != 1 {
			c.bad["allOf (of more than one schema)"] = true
			return `""`
		}
		return c.schema(list[0])
	}
	var types []string
	switch t, _ := s.get("type"); t := t.(type) {
	case nil:
		switch {
		case has(s, "properties", "additionalProperties"):
			types = []string{"object"}
		case has(s, "items", "prefixItems", "minItems", "maxItems"):
			types = []string{"array"}
		case has(s, "minLength", "maxLength", "pattern", "format"):
			types = []string{"string"}
		default:
			return c.prim("value")
		}
	case string:
		types = []string{t}
	case []any:
		for _, x := range t {
			name, ok := x.(string)
			if !ok {
				return c.fail("type must be a string or an array of strings")
			}
			types = append(types, name)
		}
	default:
		return c.fail("type must be a string or an array of strings")
	}
	alts := make([]string, 0, len(types))
	for _, t := range types {
		switch t {
		case "object":
			alts = append(alts, c.props(s))
		case "array":
			alts = append(alts, c.array(s))
		case "string":
			alts = append(alts, c.str(s))
		case "number", "integer", "boolean", "null":
			alts = append(alts, c.prim(t))
		default:
			return c.fail("unknown type %q", t)
		}
	}
	if len(alts) == 0 {
		return "[]"
	}
	return "( " + strings.Join(alts, " | ") + " )"
}

func has(s *obj, keys ...string) bool {
	for _, k := range keys {
		if _, ok := s.get(k); ok {
			return true
		}
	}
	return false
}

// jsonLit is a GBNF literal for the JSON text j.
func jsonLit(j string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range j {
		b.WriteString(gbnfRune(r, false))
	}
	b.WriteByte('"')
	return b.String()
}

// ref compiles a $ref to "#" or "#/..." (a JSON pointer into the schema)
// as a rule of its own, so recursive schemas become recursive rules.
func (c *scomp) ref(r any) string {
	ref, ok := r.(string)
	if !ok || ref != "#" && !strings.HasPrefix(ref, "#/") {
		return c.fail("$ref %v: only local references (#/$defs/...) are supported", r)
	}
	if name, ok := c.refs[ref]; ok {
		return name
	}
	target := c.root
	if ref != "#" {
		for _, part := range strings.Split(ref[2:], "/") {
			part = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
			switch t := target.(type) {
			case *obj:
				v, ok := t.get(part)
				if !ok {
					return c.fail("$ref %q: no %q", ref, part)
				}
				target = v
			case []any:
				i, err := strconv.Atoi(part)
				if err != nil || i < 0 || i >= len(t) {
					return c.fail("$ref %q: no %q", ref, part)
				}
				target = t[i]
			default:
				return c.fail("$ref %q: no %q", ref, part)
			}
		}
	}
	c.n++
	name := fmt.Sprintf("%s-ref%d", c.prefix, c.n)
	c.refs[ref] = name
	c.rules = append(c.rules, "") // keep its place; filled below
	at := len(c.rules) - 1
	c.rules[at] = fmt.Sprintf("%s ::= %s\n", name, c.schema(target))
	return name
}

func (c *scomp) props(s *obj) string {
	ws := c.prim("ws")
	var names []string
	schemas := map[string]any{}
	if v, ok := s.get("properties"); ok {
		p, ok := v.(*obj)
		if !ok {
			return c.fail("properties must be an object")
		}
		names = p.keys
		schemas = p.vals
	}
	req := map[string]bool{}
	if v, ok := s.get("required"); ok {
		list, ok := v.([]any)
		if !ok {
			return c.fail("required must be an array of strings")
		}
		for _, x := range list {
			name, ok := x.(string)
			if !ok {
				return c.fail("required must be an array of strings")
			}
			if _, ok := schemas[name]; !ok {
				return c.fail("required property %q is not in properties", name)
			}
			req[name] = true
		}
	}
	// Extra properties: any when additionalProperties is true or a
	// schema, or when the object declares no properties at all.
	var extra string
	switch ap, ok := s.get("additionalProperties"); {
	case !ok && len(names) == 0, ap == true:
		extra = c.prim("value")
	case ok && ap != false:
		extra = c.schema(ap)
	}
	kvs := make([]string, len(names))
	for i, n := range names {
		var b strings.Builder
		encode(&b, n)
		kvs[i] = c.add(jsonLit(b.String()) + " " + ws + ` ":" ` + ws + " " + c.schema(schemas[n]))
	}
	extraKV := ""
	if extra != "" {
		extraKV = c.add(c.prim("string") + " " + ws + ` ":" ` + ws + " " + extra)
	}
	// first(i): the properties from i on, none written yet; rest(i): some
	// were, so each starts with a comma. Optional ones may be skipped.
	comma := ws + ` "," ` + ws + " "
	rest := make([]string, len(names)+1)
	first := make([]string, len(names)+1)
	if extraKV != "" {
		rest[len(names)] = c.add("( " + comma + extraKV + " )*")
		first[len(names)] = c.add("( " + extraKV + " " + rest[len(names)] + " )?")
	} else {
		rest[len(names)] = `""`
		first[len(names)] = `""`
	}
	for i := len(names) - 1; i >= 0; i-- {
		if req[names[i]] {
			rest[i] = c.add(comma + kvs[i] + " " + rest[i+1])
			first[i] = c.add(kvs[i] + " " + rest[i+1])
		} else {
			rest[i] = c.add("( " + comma + kvs[i] + " )? " + rest[i+1])
			first[i] = c.add(kvs[i] + " " + rest[i+1] + " | " + first[i+1])
		}
	}
	return `( "{" ` + ws + " " + first[0] + " " + ws + ` "}" )`
}

func (c *scomp) array(s *obj) string {
	ws := c.prim("ws")
	comma := ws + ` "," ` + ws
	lo, hi := c.count(s, "minItems", 0), c.count(s, "maxItems", -1)
	if hi >= 0 && hi < lo {
		return "[]"
	}
	var tuple []string
	if v, ok := s.get("prefixItems"); ok {
		list, ok := v.([]any)
		if !ok {
			return c.fail("prefixItems must be an array")
		}
		for _, x := range list {
			tuple = append(tuple, c.schema(x))
		}
	}
	item := ""
	switch v, ok := s.get("items"); {
	case !ok && tuple == nil, v == true:
		item = c.prim("value")
	case ok && v != false:
		if _, isList := v.([]any); isList {
			return c.fail("items as an array: use prefixItems")
		}
		item = c.schema(v)
	}
	// Positions 0..len(tuple)-1 take the tuple's schemas, the rest item.
	at := func(i int) string {
		if i < len(tuple) {
			return tuple[i]
		}
		return item
	}
	if hi < 0 && item == "" {
		hi = len(tuple)
	}
	if item == "" && hi > len(tuple) {
		hi = len(tuple)
	}
	if lo > hi && hi >= 0 {
		return "[]"
	}
	// Elements i..: the tail after the first written one.
	var tail func(i int) string
	tail = func(i int) string {
		if hi >= 0 && i >= hi {
			return `""`
		}
		if i >= len(tuple) {
			minRest := max(0, lo-i)
			if hi < 0 {
				return fmt.Sprintf("( %s %s ){%d,}", comma, item, minRest)
			}
			return fmt.Sprintf("( %s %s ){%d,%d}", comma, item, minRest, hi-i)
		}
		next := comma + " " + at(i) + " " + tail(i+1)
		if i < lo {
			return next
		}
		return "( " + next + " )?"
	}
	body := at(0) + " " + tail(1)
	if hi == 0 {
		body = `""`
	} else if lo == 0 {
		body = "( " + body + " )?"
	}
	if hi > maxRepeat || lo > maxRepeat {
		return c.fail("minItems/maxItems over %d", maxRepeat)
	}
	return `( "[" ` + ws + " " + body + " " + ws + ` "]" )`
}

// count reads a non-negative integer keyword (def when absent).
func (c *scomp) count(s *obj, k string, def int) int {
	v, ok := s.get(k)
	if !ok {
		return def
	}
	n, isNum := v.(json.Number)
	i, err := strconv.Atoi(string(n))
	if !isNum || err != nil || i < 0 {
		c.fail("%s must be a non-negative integer", k)
		return def
	}
	if i > maxRepeat {
		c.fail("%s over %d", k, maxRepeat)
		return def
	}
	return i
}

func (c *scomp) str(s *obj) string {
	lo, hi := c.count(s, "minLength", 0), c.count(s, "maxLength", -1)
	pat, hasPat := s.get("pattern")
	f, hasFormat := s.get("format")
	if (hasPat || hasFormat) && (lo > 0 || hi >= 0) {
		c.bad["minLength/maxLength with pattern or format"] = true
		return `""`
	}
	switch {
	case hasPat:
		p, ok := pat.(string)
		if !ok {
			return c.fail("pattern must be a string")
		}
		body, err := regexGBNF(p, true, false)
		if err != nil {
			return c.fail("pattern %q: %v", p, err)
		}
		return `( "\"" ` + body + ` "\"" )`
	case hasFormat:
		name, _ := f.(string)
		switch name {
		case "date", "time", "date-time", "uuid", "email":
			return `( "\"" ` + c.prim(name) + ` "\"" )`
		}
		c.bad["format: "+fmt.Sprint(f)] = true
		return `""`
	case lo > 0 || hi >= 0:
		rep := fmt.Sprintf("{%d,}", lo)
		if hi >= 0 {
			rep = fmt.Sprintf("{%d,%d}", lo, hi)
		}
		return `( "\"" ` + c.prim("char") + rep + ` "\"" )`
	}
	return c.prim("string")
}
