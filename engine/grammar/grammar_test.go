package grammar

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestGBNFMatch(t *testing.T) {
	cases := []struct {
		name, src string
		yes, no   []string
	}{
		{"literal", `root ::= "ab"`, []string{"ab"}, []string{"", "a", "abc"}},
		{"alt", `root ::= "a" | "bc"`, []string{"a", "bc"}, []string{"b", "abc"}},
		{"group rep", `root ::= ("a" "b"?)+`, []string{"a", "ab", "aab", "aba"}, []string{"", "b", "abb"}},
		{"star", `root ::= "x"*`, []string{"", "x", "xxxx"}, []string{"y"}},
		{"bounded", `root ::= [0-9]{2,3}`, []string{"12", "123"}, []string{"1", "1234", "ab"}},
		{"exact", `root ::= "a"{3}`, []string{"aaa"}, []string{"aa", "aaaa"}},
		{"at least", `root ::= "a"{2,}`, []string{"aa", "aaaaa"}, []string{"a"}},
		{"class", `root ::= [a-cx]`, []string{"a", "b", "c", "x"}, []string{"d", "ab"}},
		{"negated", `root ::= [^a]`, []string{"b", "é", "日"}, []string{"a", ""}},
		{"unicode", `root ::= [α-ω]+`, []string{"αβγ", "ω"}, []string{"a", "Α"}},
		{"escapes", `root ::= "\x41\u00e9\n\t\"\\" [\]\-]`, []string{"Aé\n\t\"\\]", "Aé\n\t\"\\-"}, []string{"A"}},
		{"any", `root ::= . .`, []string{"ab", "日本"}, []string{"a", "abc"}},
		{"rules", "root ::= a b # comment\na ::= \"x\"\nb ::= ( \"y\" |\n  \"z\" )\n", []string{"xy", "xz"}, []string{"x", "xyz"}},
		{"recursion", "root ::= \"(\" root \")\" | \"\"", []string{"", "()", "(())"}, []string{"(", "())"}},
		{"multiline", "root ::=\n  \"a\"\n  | \"b\"", nil, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g, err := ParseGBNF(c.src)
			if c.name == "multiline" {
				require.Error(t, err) // a rule ends at the line end, as in llama.cpp
				return
			}
			require.NoError(t, err)
			for _, s := range c.yes {
				require.True(t, g.Match(s), "%q", s)
			}
			for _, s := range c.no {
				require.False(t, g.Match(s), "%q", s)
			}
		})
	}
}

func TestGBNFErrors(t *testing.T) {
	cases := []struct{ src, want string }{
		{`root ::= foo`, `1:10: undefined rule "foo"`},
		{"root ::= \"a\"\nx ::= \"b", `2:7: unterminated literal`},
		{`root ::= [a`, `1:10: unterminated character class`},
		{`root ::= "a" )`, `1:14: expected end of line`},
		{`root ::= * "a"`, `1:10: '*' without an element`},
		{`root ::= "\q"`, `1:11: unknown escape \q`},
		{`root ::= root "a" | "b"`, `left recursion through rule "root"`},
		{`root ::= ("a"?)*`, `left recursion`},
		{`root ::= "a"{3,2}`, `max below min`},
		{`a ::= "x"`, `no rule "root"`},
		{`root ::= "a" <think>`, `token references`},
		{"root ::= \"a\"\nroot ::= \"b\"", `rule "root" defined twice`},
	}
	for _, c := range cases {
		_, err := ParseGBNF(c.src)
		require.Error(t, err, c.src)
		require.Contains(t, err.Error(), c.want, c.src)
	}
}

func TestEmpty(t *testing.T) {
	for _, src := range []string{`root ::= "a" root`, `root ::= []`, `root ::= [^\x00-\U0010FFFF]`} {
		_, err := ParseGBNF(src)
		require.ErrorIs(t, err, ErrEmpty, src)
	}
}

// nested is r0 ::= r1 r1, ... down to a nullable r<depth>: an ambiguous
// grammar with 2^depth parse stacks.
func nested(depth int) string {
	src := "root ::= r0 \"!\"\n"
	for i := 0; i < depth; i++ {
		src += fmt.Sprintf("r%d ::= r%d r%d\n", i, i+1, i+1)
	}
	return src + fmt.Sprintf("r%d ::= \"x\"?\n", depth)
}

// TestAmbiguous: a grammar with exponentially many parse stacks fails with
// ErrTooComplex, quickly, instead of exhausting memory; a small one works.
func TestAmbiguous(t *testing.T) {
	g, err := ParseGBNF(nested(4))
	require.NoError(t, err)
	require.True(t, g.Match("!"))
	require.True(t, g.Match("xxx!"))
	require.False(t, g.Match(strings.Repeat("x", 17)+"!"))
	_, err = ParseGBNF(nested(40))
	require.ErrorIs(t, err, ErrTooComplex)
}

func TestCompileCache(t *testing.T) {
	a, err := JSONSchema([]byte(`{"type":"integer"}`))
	require.NoError(t, err)
	b, err := JSONSchema([]byte(`{"type":"integer"}`))
	require.NoError(t, err)
	require.Same(t, a, b)
	for i := 0; i < cacheGrammars+1; i++ {
		_, err := Regex(fmt.Sprintf("a{%d}", i))
		require.NoError(t, err)
	}
	c, err := JSONSchema([]byte(`{"type":"integer"}`))
	require.NoError(t, err)
	require.NotSame(t, a, c, "evicted")
	require.True(t, c.Match("12"))
	compiled.Lock()
	require.LessOrEqual(t, compiled.lru.Len(), cacheGrammars)
	compiled.Unlock()
}

// jsonGBNF is JSON written in the multi-line style of llama.cpp's grammar
// files: rules over several lines inside groups, comments, classes with
// escapes.
const jsonGBNF = `# a JSON value
root   ::= value
value  ::= object | array | string | number | ("true" | "false" | "null") ws

object ::=
  "{" ws (
            string ":" ws value
    ("," ws string ":" ws value)*
  )? "}" ws

array  ::=
  "[" ws (
            value
    ("," ws value)*
  )? "]" ws

string ::=
  "\"" (
    [^"\\\x7F\x00-\x1F] |
    "\\" (["\\/bfnrt] | "u" [0-9a-fA-F]{4}) # escapes
  )* "\"" ws

number ::= ("-"? ([0-9] | [1-9] [0-9]{0,15})) ("." [0-9]+)? ([eE] [-+]? [0-9]{1,3})? ws

ws ::= | " " | "\n" [ \t]{0,20}
`

// TestGBNFJSON: the JSON grammar accepts documents json.Valid accepts and
// everything it generates is valid JSON.
func TestGBNFJSON(t *testing.T) {
	g, err := ParseGBNF(jsonGBNF)
	require.NoError(t, err)
	for _, s := range []string{`{}`, `[1, -2.5e3, "a\u00e9\n", {"k": [true, null]}]`, "{\n  \"a\": 1\n}", `"日本"`} {
		require.True(t, g.Match(s), s)
		require.True(t, json.Valid([]byte(s)), s)
	}
	for _, s := range []string{`{"a" 1}`, `[1,]`, `01`, `"a`, `{"a":1}}`} {
		require.False(t, g.Match(s), s)
	}
	rng := rand.New(rand.NewPCG(11, 12))
	for i := 0; i < 200; i++ {
		s, ok := generate(g, rng, 200)
		require.True(t, ok)
		require.True(t, json.Valid([]byte(s)), "%q", s)
	}
}

// TestConstraintPerVocab: one constraint per grammar and vocabulary (the
// only cache a server needs besides the compile cache), and Check says
// whether the vocabulary can spell a first token.
func TestConstraintPerVocab(t *testing.T) {
	v, _ := testVocab()
	w := NewVocab([]string{"x", "y"}, nil)
	g, err := Regex(`ab+`)
	require.NoError(t, err)
	require.Same(t, g.Constraint(v), g.Constraint(v))
	require.NotSame(t, g.Constraint(v), g.Constraint(w))
	g2, err := Regex(`ab+`)
	require.NoError(t, err)
	require.Same(t, g.Constraint(v), g2.Constraint(v), "the compile cache hands back the same grammar")
	require.NoError(t, g.Check(v))
	require.ErrorIs(t, g.Check(w), ErrEmpty, "no token of w starts with a")
	require.ErrorIs(t, g.Check(w), ErrEmpty, "the answer is kept")
}
