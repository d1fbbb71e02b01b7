package grammar

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/require"
)

// schemaCases: each schema with documents it accepts and rejects. The
// accepted ones are also checked against a reference validator.
var schemaCases = []struct {
	name, schema string
	yes, no      []string
}{
	{"string", `{"type":"string"}`, []string{`""`, `"a\"b\\c\u00e9"`, `"日本"`}, []string{`"a`, `'a'`, `"` + "\n" + `"`, `1`}},
	{"integer", `{"type":"integer"}`, []string{`0`, `-12`, `1234567890`}, []string{`01`, `1.5`, `-`, `+1`}},
	{"number", `{"type":"number"}`, []string{`0`, `-1.25`, `3e10`, `2.5E-3`}, []string{`.5`, `1.`, `1e`, `NaN`}},
	{"boolean null", `{"type":["boolean","null"]}`, []string{`true`, `false`, `null`}, []string{`0`, `"true"`}},
	{"enum", `{"enum":["a",1,null,{"x":[1,2]}]}`, []string{`"a"`, `1`, `null`, `{"x":[1,2]}`}, []string{`"b"`, `2`}},
	{"const", `{"const":"fixed"}`, []string{`"fixed"`}, []string{`"other"`}},
	{"object", `{"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"string"}},"required":["a"]}`,
		[]string{`{"a":1}`, `{"a":1,"b":"x"}`, `{ "a" : 1 , "b" : "x" }`, "{\n  \"a\": 1\n}"},
		[]string{`{}`, `{"b":"x"}`, `{"a":"1"}`, `{"a":1,"c":2}`, `{"b":"x","a":1}`, `{"a":1,}`}},
	{"optional only", `{"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"integer"}}}`,
		[]string{`{}`, `{"a":1}`, `{"b":2}`, `{"a":1,"b":2}`}, []string{`{,"b":2}`, `{"a":1"b":2}`}},
	{"additional", `{"type":"object","properties":{"a":{"type":"integer"}},"required":["a"],"additionalProperties":{"type":"boolean"}}`,
		[]string{`{"a":1}`, `{"a":1,"x":true,"y":false}`}, []string{`{"a":1,"x":1}`}},
	{"any object", `{"type":"object"}`, []string{`{}`, `{"k":[1,{"z":null}],"j":"s"}`}, []string{`[]`, `{"k"}`}},
	{"array", `{"type":"array","items":{"type":"integer"},"minItems":1,"maxItems":3}`,
		[]string{`[1]`, `[1,2,3]`, `[ 1 , 2 ]`}, []string{`[]`, `[1,2,3,4]`, `[1,]`, `["a"]`}},
	{"array min", `{"type":"array","items":{"type":"boolean"},"minItems":2}`, []string{`[true,false]`, `[true,true,true,true]`}, []string{`[true]`}},
	{"tuple", `{"type":"array","prefixItems":[{"type":"string"},{"type":"integer"}],"items":false}`,
		[]string{`[]`, `["a"]`, `["a",1]`}, []string{`["a",1,2]`, `[1]`}},
	{"anyOf", `{"anyOf":[{"type":"integer"},{"type":"string","maxLength":2}]}`, []string{`1`, `"ab"`}, []string{`"abc"`, `true`}},
	{"ref", `{"$defs":{"p":{"type":"object","properties":{"n":{"type":"string"}},"required":["n"]}},"type":"array","items":{"$ref":"#/$defs/p"}}`,
		[]string{`[]`, `[{"n":"a"},{"n":"b"}]`}, []string{`[{}]`}},
	{"recursive", `{"$defs":{"t":{"type":"object","properties":{"kids":{"type":"array","items":{"$ref":"#/$defs/t"}}},"required":["kids"]}},"$ref":"#/$defs/t"}`,
		[]string{`{"kids":[]}`, `{"kids":[{"kids":[{"kids":[]}]}]}`}, []string{`{"kids":[{}]}`}},
	{"lengths", `{"type":"string","minLength":2,"maxLength":3}`, []string{`"ab"`, `"abc"`, `"\n日"`}, []string{`"a"`, `"abcd"`}},
	{"pattern", `{"type":"string","pattern":"^[a-z]+-[0-9]{2}$"}`, []string{`"ab-12"`}, []string{`"ab-1"`, `"AB-12"`, `"ab-123"`}},
	{"pattern unanchored", `{"type":"string","pattern":"x[0-9]"}`, []string{`"x1"`, `"aax2bb"`}, []string{`"x"`, `"ab"`}},
	{"pattern quote", `{"type":"string","pattern":"^a.b$"}`, []string{`"a\"b"`, `"a\\b"`, `"a-b"`}, []string{`"a"b"`}},
	{"date", `{"type":"string","format":"date"}`, []string{`"2024-02-28"`, `"2023-11-30"`}, []string{`"2024-02-29"`, `"2024-11-31"`, `"2024-13-01"`, `"24-01-01"`}},
	{"date-time", `{"type":"string","format":"date-time"}`, []string{`"2024-02-28T23:59:59Z"`, `"2024-01-31T10:00:00.123+02:00"`}, []string{`"2024-02-29 10:00:00Z"`}},
	{"uuid", `{"type":"string","format":"uuid"}`, []string{`"123e4567-e89b-12d3-a456-426614174000"`}, []string{`"123e4567e89b12d3a456426614174000"`}},
	{"email", `{"type":"string","format":"email"}`, []string{`"a.b@example.com"`}, []string{`"ab"`, `"a@b"`}},
	{"true", `true`, []string{`1`, `{"a":[]}`}, []string{`{`}},
	{"allOf one", `{"allOf":[{"type":"integer"}]}`, []string{`3`}, []string{`"3"`}},
}

func refValidator(t *testing.T, schema string) *jsonschema.Schema {
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(schema))
	require.NoError(t, err)
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	require.NoError(t, c.AddResource("s.json", doc))
	s, err := c.Compile("s.json")
	require.NoError(t, err)
	return s
}

func validates(s *jsonschema.Schema, doc string) error {
	v, err := jsonschema.UnmarshalJSON(strings.NewReader(doc))
	if err != nil {
		return err
	}
	return s.Validate(v)
}

func TestJSONSchemaMatch(t *testing.T) {
	for _, c := range schemaCases {
		t.Run(c.name, func(t *testing.T) {
			g, err := JSONSchema([]byte(c.schema))
			require.NoError(t, err)
			ref := refValidator(t, c.schema)
			for _, s := range c.yes {
				require.True(t, g.Match(s), "%s", s)
				require.NoError(t, validates(ref, s), "reference rejects %s", s)
			}
			for _, s := range c.no {
				require.False(t, g.Match(s), "%s", s)
			}
		})
	}
}

// TestJSONSchemaGenerated: random documents generated from each schema's
// grammar are valid JSON that the reference validator accepts.
func TestJSONSchemaGenerated(t *testing.T) {
	n := 200
	if testing.Short() {
		n = 30
	}
	for _, c := range schemaCases {
		t.Run(c.name, func(t *testing.T) {
			g, err := JSONSchema([]byte(c.schema))
			require.NoError(t, err)
			ref := refValidator(t, c.schema)
			rng := rand.New(rand.NewPCG(1, uint64(len(c.name))))
			for i := 0; i < n; i++ {
				s, ok := generate(g, rng, 300)
				require.True(t, ok, "every state can complete: %q", s)
				require.True(t, g.Match(s))
				require.True(t, json.Valid([]byte(s)), "%q", s)
				require.NoError(t, validates(ref, s), "%q", s)
			}
		})
	}
}

func TestJSONSchemaErrors(t *testing.T) {
	cases := []struct{ schema, want string }{
		{`{"type":"integer","minimum":3}`, "unsupported JSON Schema keywords: minimum"},
		{`{"type":"object","patternProperties":{},"minProperties":1}`, "unsupported JSON Schema keywords: minProperties, patternProperties"},
		{`{"properties":{"a":{"not":{}}}}`, "unsupported JSON Schema keywords: not"},
		{`{"type":"string","format":"hostname"}`, "format: hostname"},
		{`{"type":"foo"}`, `unknown type "foo"`},
		{`{"$ref":"http://x/y"}`, "only local references"},
		{`{"$ref":"#/$defs/missing"}`, `no "$defs"`},
		{`{"type":"object","properties":{"a":{}},"required":["b"]}`, `required property "b"`},
		{`{"type":`, "JSON Schema"},
		{`{"enum":[]}`, "enum must be a non-empty array"},
		{`{"type":"array","minItems":-1}`, "non-negative"},
		{`{"$ref":"#"}`, "admits nothing"},
	}
	for _, c := range cases {
		_, err := JSONSchema([]byte(c.schema))
		require.Error(t, err, c.schema)
		require.Contains(t, err.Error(), c.want, c.schema)
	}
	_, err := JSONSchema([]byte(`{"type":"integer","maximum":3,"multipleOf":2}`))
	var ue *UnsupportedError
	require.True(t, errors.As(err, &ue))
	require.Equal(t, []string{"maximum", "multipleOf"}, ue.Keywords)
	_, err = JSONSchema([]byte(`false`))
	require.ErrorIs(t, err, ErrEmpty)
}

func TestSchemaGBNFEmbeds(t *testing.T) {
	rules, err := SchemaGBNF([]byte(`{"type":"object","properties":{"x":{"type":"integer"}},"required":["x"]}`), "args")
	require.NoError(t, err)
	for _, line := range strings.Split(strings.TrimSpace(rules), "\n") {
		require.True(t, strings.HasPrefix(line, "args ::=") || strings.HasPrefix(line, "args-"), line)
	}
	g, err := ParseGBNF(`root ::= "<call>" args "</call>"` + "\n" + rules)
	require.NoError(t, err)
	require.True(t, g.Match(`<call>{"x":12}</call>`))
	_, err = SchemaGBNF([]byte(`{}`), "bad name")
	require.Error(t, err)
}

func TestJSONObject(t *testing.T) {
	g := JSONObject()
	require.Same(t, g, JSONObject())
	for _, s := range []string{`{}`, `{"a":1}`, `{"a":{"b":[1,"x",null,true]}}`} {
		require.True(t, g.Match(s), s)
	}
	for _, s := range []string{`[]`, `1`, `{"a"}`, `{"a":1}x`} {
		require.False(t, g.Match(s), s)
	}
}

// generate walks g's matcher byte by byte at random (printable ASCII
// preferred) for up to limit bytes, stopping at random where the text may
// end, then finishes along a shortest completion. ok is false when there is
// none: a state that cannot reach the end, which pruning should exclude.
func generate(g *Grammar, rng *rand.Rand, limit int) (string, bool) {
	p := g.prog
	s := p.start()
	var out []byte
	var cand []byte
	var weight []float64
	for n := rng.IntN(limit + 1); len(out) < n; {
		if p.accepting(s) && rng.Float64() < 0.2 {
			return string(out), true
		}
		cand, weight = cand[:0], weight[:0]
		total := 0.0
		for c := 0; c < 256; c++ {
			if p.step(s, byte(c)) < 0 {
				continue
			}
			w := 0.05
			if c >= 0x20 && c < 0x7F {
				w = 1
			}
			cand, weight = append(cand, byte(c)), append(weight, w)
			total += w
		}
		if len(cand) == 0 {
			break
		}
		r := rng.Float64() * total
		i := 0
		for ; i < len(cand)-1 && r >= weight[i]; i++ {
			r -= weight[i]
		}
		out = append(out, cand[i])
		s = p.step(s, cand[i])
	}
	tail, ok := complete(p, s)
	return string(append(out, tail...)), ok
}

// complete is a shortest byte string from state s to an accepting state
// (breadth first over the matcher's states).
func complete(p *prog, s int32) ([]byte, bool) {
	type from struct {
		prev int32
		c    byte
	}
	seen := map[int32]from{s: {-1, 0}}
	queue := []int32{s}
	for len(queue) > 0 && len(seen) < 100000 {
		q := queue[0]
		queue = queue[1:]
		if p.accepting(q) {
			var path []byte
			for ; q != s; q = seen[q].prev {
				path = append(path, seen[q].c)
			}
			slices.Reverse(path)
			return path, true
		}
		for c := 0; c < 256; c++ {
			if n := p.step(q, byte(c)); n >= 0 {
				if _, ok := seen[n]; !ok {
					seen[n] = from{q, byte(c)}
					queue = append(queue, n)
				}
			}
		}
	}
	return nil, false
}
