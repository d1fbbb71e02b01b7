package grammar

import (
	"math/rand/v2"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"
)

var regexCases = []struct {
	expr    string
	yes, no []string
}{
	{`abc`, []string{"abc"}, []string{"ab", "abcd", "xabc"}},
	{`^(a|b)$`, []string{"a", "b"}, []string{"ab"}},
	{`[a-c]+x?`, []string{"a", "abcx", "cc"}, []string{"", "x", "ad"}},
	{`(ab){2,3}`, []string{"abab", "ababab"}, []string{"ab", "abababab"}},
	{`a{3}`, []string{"aaa"}, []string{"aa", "aaaa"}},
	{`a{2,}`, []string{"aa", "aaaaaa"}, []string{"a"}},
	{`(?i)hello`, []string{"hello", "HeLLo"}, []string{"helo"}},
	{`.`, []string{"a", "é", "日"}, []string{"\n", ""}},
	{`(?s).`, []string{"\n"}, nil},
	{`\d+\.\d*`, []string{"1.", "12.5"}, []string{".5", "a.1"}},
	{`\p{Greek}+`, []string{"αβ"}, []string{"ab"}},
	{`[^a-z]`, []string{"A", "1", "日"}, []string{"a", "q"}},
	{`x*`, []string{"", "xxx"}, []string{"y"}},
	{`(a|ab)(c|bcd)`, []string{"ac", "abcd", "abc"}, []string{"ab"}},
	{`"[^"]*"`, []string{`""`, `"a b"`}, []string{`"a"b"`}},
}

func TestRegexMatch(t *testing.T) {
	for _, c := range regexCases {
		g, err := Regex(c.expr)
		require.NoError(t, err, c.expr)
		for _, s := range c.yes {
			require.True(t, g.Match(s), "%s %q", c.expr, s)
		}
		for _, s := range c.no {
			require.False(t, g.Match(s), "%s %q", c.expr, s)
		}
	}
}

// TestRegexAgainstGo: on random strings over a small alphabet and on
// strings generated from the grammar, Match agrees with Go's regexp.
func TestRegexAgainstGo(t *testing.T) {
	exprs := []string{`(a|ab)(c|bcd)(d*)`, `[ab]{2,4}c?`, `(a+b+)+`, `a(b|c)*d`, `(?i)ab|c`, `(aa|a)*b`, `[^b]b{0,2}`, `(x?y?){2}`}
	alpha := []rune("abcdxyAB日")
	rng := rand.New(rand.NewPCG(3, 4))
	n := 3000
	if testing.Short() {
		n = 500
	}
	for _, expr := range exprs {
		g, err := Regex(expr)
		require.NoError(t, err)
		ref := regexp.MustCompile(`^(?:` + expr + `)$`)
		for i := 0; i < n; i++ {
			var b []rune
			for k := rng.IntN(8); k > 0; k-- {
				b = append(b, alpha[rng.IntN(len(alpha))])
			}
			s := string(b)
			require.Equal(t, ref.MatchString(s), g.Match(s), "%s %q", expr, s)
		}
		for i := 0; i < n/10; i++ {
			s, ok := generate(g, rng, 20)
			require.True(t, ok)
			require.True(t, ref.MatchString(s), "%s %q", expr, s)
		}
	}
}

func TestRegexErrors(t *testing.T) {
	for expr, want := range map[string]string{
		`a\bb`:    "word boundaries",
		`a^b`:     "anchors",
		`a(b`:     "missing closing )",
		`a{5000}`: "invalid repeat count",
	} {
		_, err := Regex(expr)
		require.Error(t, err, expr)
		require.Contains(t, err.Error(), want, expr)
	}
	_, err := Regex(`[^\x00-\x{10FFFF}]`)
	require.ErrorIs(t, err, ErrEmpty)
}
