package grammar

import (
	"encoding/json"
	"math/rand/v2"
	"testing"
)

// FuzzParseGBNF: any source either fails with an error or gives a grammar
// whose generated strings match it; nothing panics or hangs.
func FuzzParseGBNF(f *testing.F) {
	for _, c := range []string{
		`root ::= "a" | [b-c]+ x` + "\nx ::= (\"d\"{1,3})?",
		`root ::= [^"\\] . "\x41\u00e9"*`,
		`root ::= root "a" | "b"`,
		"root ::= (\n \"a\" |\n \"b\"\n) # c",
		`root ::= "a"{2,1}`,
	} {
		f.Add(c)
	}
	f.Fuzz(func(t *testing.T, src string) {
		g, err := ParseGBNF(src)
		if err != nil {
			return
		}
		rng := rand.New(rand.NewPCG(1, 2))
		for i := 0; i < 3; i++ {
			s, ok := generate(g, rng, 30)
			if !ok || !g.Match(s) {
				t.Fatalf("generated %q (complete %v) does not match", s, ok)
			}
		}
	})
}

// FuzzJSONSchema: any schema either fails with an error or gives a grammar
// whose generated documents are valid JSON.
func FuzzJSONSchema(f *testing.F) {
	for _, c := range schemaCases {
		f.Add([]byte(c.schema))
	}
	f.Fuzz(func(t *testing.T, schema []byte) {
		g, err := JSONSchema(schema)
		if err != nil {
			return
		}
		rng := rand.New(rand.NewPCG(1, 2))
		for i := 0; i < 3; i++ {
			s, ok := generate(g, rng, 40)
			if !ok || !g.Match(s) || !json.Valid([]byte(s)) {
				t.Fatalf("generated %q (complete %v) is not a matching JSON document", s, ok)
			}
		}
	})
}

// FuzzRegex: any expression either fails or compiles to a grammar whose
// generated strings match it.
func FuzzRegex(f *testing.F) {
	for _, c := range regexCases {
		f.Add(c.expr)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		g, err := Regex(expr)
		if err != nil {
			return
		}
		rng := rand.New(rand.NewPCG(1, 2))
		s, ok := generate(g, rng, 30)
		if !ok || !g.Match(s) {
			t.Fatalf("generated %q (complete %v) does not match", s, ok)
		}
	})
}
