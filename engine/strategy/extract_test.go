package strategy

import (
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestExtractors(t *testing.T) {
	for _, tc := range []struct {
		name string
		ext  Extractor
		text string
		want string
		ok   bool
	}{
		{"last of several", LastNumber, "2 apples and 3 pears make 5 fruits.", "5", true},
		{"thousands", LastNumber, "The total is 1,000.", "1000", true},
		{"millions with decimals", LastNumber, "It costs $1,234,567.50 in all", "1234567.5", true},
		{"trailing zeros", LastNumber, "x = 3.50", "3.5", true},
		{"integer-valued decimal", LastNumber, "so 2.0", "2", true},
		{"leading zeros", LastNumber, "code 007", "7", true},
		{"negative", LastNumber, "the answer is -12", "-12", true},
		{"minus zero", LastNumber, "-0.0", "0", true},
		{"range is not negative", LastNumber, "pages 3-5", "5", true},
		{"bare fraction", LastNumber, "about .25", "0.25", true},
		{"list is not thousands", LastNumber, "1,2,3", "3", true},
		{"no number", LastNumber, "no digits here", "", false},
		{"boxed", Boxed, `so \boxed{42}.`, "42", true},
		{"last boxed", Boxed, `\boxed{1} then \boxed{ 2 }`, "2", true},
		{"nested", Boxed, `\boxed{\frac{1}{2}}`, `\frac{1}{2}`, true},
		{"unbalanced", Boxed, `\boxed{\frac{1}{2}`, "", false},
		{"no box", Boxed, "42", "", false},
		{"regex group", Regex(regexp.MustCompile(`answer: (\w+)`)), "answer: no. answer: yes", "yes", true},
		{"regex whole", Regex(regexp.MustCompile(`[A-D]\)`)), "A) or C)", "C)", true},
		{"regex none", Regex(regexp.MustCompile(`x(\d)`)), "y1", "", false},
		{"func", Func(func(s string) (string, bool) { return s[:1], s != "" }), "abc", "a", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := tc.ext.Extract(tc.text)
			require.Equal(t, tc.ok, ok)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestParseExtractor(t *testing.T) {
	for _, tc := range []struct {
		spec, text, want, err string
	}{
		{spec: "last_number", text: "1 and 2", want: "2"},
		{spec: "boxed", text: `\boxed{x}`, want: "x"},
		{spec: "regex:=(\\d+)", text: "a=1 b=22", want: "22"},
		{spec: "regex:(", err: "missing closing )"},
		{spec: "first_word", err: `unknown extractor "first_word"`},
	} {
		e, err := ParseExtractor(tc.spec)
		if tc.err != "" {
			require.ErrorContains(t, err, tc.err)
			continue
		}
		require.NoError(t, err)
		got, _ := e.Extract(tc.text)
		require.Equal(t, tc.want, got, tc.spec)
	}
}
