package grammar

import (
	"fmt"
	"regexp/syntax"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Regex compiles a Go (RE2) regular expression that the whole output must
// match: ^ and $ at its ends are implied and allowed; anchors elsewhere and
// word boundaries are not supported.
func Regex(expr string) (*Grammar, error) {
	return cached("regex\x00"+expr, func() (*Grammar, error) { return compileRegex(expr) })
}

func compileRegex(expr string) (*Grammar, error) {
	body, err := regexGBNF(expr, false, true)
	if err != nil {
		return nil, err
	}
	return compileGBNF("root ::= " + body + "\n")
}

// regexGBNF translates expr into one GBNF expression. In JSON mode the
// text sits inside a JSON string: quote, backslash and control characters
// are written as JSON escapes. whole: the match is the whole text (else,
// as JSON Schema's pattern, anywhere in it unless anchored).
func regexGBNF(expr string, json, whole bool) (string, error) {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return "", fmt.Errorf("regex: %w", err)
	}
	re = re.Simplify()
	subs := []*syntax.Regexp{re}
	if re.Op == syntax.OpConcat {
		subs = re.Sub
	}
	anchoredStart, anchoredEnd := whole, whole
	if len(subs) > 0 && isBegin(subs[0]) {
		subs, anchoredStart = subs[1:], true
	}
	if len(subs) > 0 && isEnd(subs[len(subs)-1]) {
		subs, anchoredEnd = subs[:len(subs)-1], true
	}
	e := &remit{json: json}
	var parts []string
	if !anchoredStart {
		parts = append(parts, e.class([]rng{{0, utf8.MaxRune}})+"*")
	}
	for _, s := range subs {
		parts = append(parts, e.emit(s))
	}
	if !anchoredEnd {
		parts = append(parts, e.class([]rng{{0, utf8.MaxRune}})+"*")
	}
	if e.err != nil {
		return "", e.err
	}
	if len(parts) == 0 {
		return `""`, nil
	}
	return "(" + strings.Join(parts, " ") + ")", nil
}

func isBegin(re *syntax.Regexp) bool {
	return re.Op == syntax.OpBeginText || re.Op == syntax.OpBeginLine
}

func isEnd(re *syntax.Regexp) bool {
	return re.Op == syntax.OpEndText || re.Op == syntax.OpEndLine
}

type remit struct {
	json bool
	err  error
}

func (e *remit) emit(re *syntax.Regexp) string {
	switch re.Op {
	case syntax.OpNoMatch:
		return "[]"
	case syntax.OpEmptyMatch:
		return `""`
	case syntax.OpLiteral:
		var parts []string
		for _, r := range re.Rune {
			if re.Flags&syntax.FoldCase != 0 {
				rs := []rng{{r, r}}
				for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
					rs = append(rs, rng{f, f})
				}
				parts = append(parts, e.class(normalize(rs)))
			} else {
				parts = append(parts, e.lit(string(r)))
			}
		}
		return "(" + strings.Join(parts, " ") + ")"
	case syntax.OpCharClass:
		var rs []rng
		for i := 0; i+1 < len(re.Rune); i += 2 {
			rs = append(rs, rng{re.Rune[i], re.Rune[i+1]})
		}
		return e.class(normalize(rs))
	case syntax.OpAnyCharNotNL:
		return e.class(negate([]rng{{'\n', '\n'}}))
	case syntax.OpAnyChar:
		return e.class([]rng{{0, utf8.MaxRune}})
	case syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText, syntax.OpEndText:
		e.fail("anchors (^, $, \\A, \\z) inside the expression")
	case syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		e.fail("word boundaries (\\b, \\B)")
	case syntax.OpCapture:
		return e.emit(re.Sub[0])
	case syntax.OpStar:
		return "(" + e.emit(re.Sub[0]) + ")*"
	case syntax.OpPlus:
		return "(" + e.emit(re.Sub[0]) + ")+"
	case syntax.OpQuest:
		return "(" + e.emit(re.Sub[0]) + ")?"
	case syntax.OpRepeat:
		if re.Max < 0 {
			return fmt.Sprintf("(%s){%d,}", e.emit(re.Sub[0]), re.Min)
		}
		return fmt.Sprintf("(%s){%d,%d}", e.emit(re.Sub[0]), re.Min, re.Max)
	case syntax.OpConcat, syntax.OpAlternate:
		parts := make([]string, len(re.Sub))
		for i, s := range re.Sub {
			parts[i] = e.emit(s)
		}
		sep := " "
		if re.Op == syntax.OpAlternate {
			sep = " | "
		}
		return "(" + strings.Join(parts, sep) + ")"
	default:
		e.fail(re.Op.String())
	}
	return `""`
}

func (e *remit) fail(what string) {
	if e.err == nil {
		e.err = fmt.Errorf("regex: %s not supported", what)
	}
}

// jsonUnsafe are the runes a JSON string cannot hold unescaped.
var jsonUnsafe = []rng{{0, 0x1F}, {'"', '"'}, {'\\', '\\'}}

// lit is a GBNF literal for s; in JSON mode with JSON escapes.
func (e *remit) lit(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		if e.json {
			switch {
			case r == '"' || r == '\\':
				b.WriteString(`\\`)
			case r < 0x20:
				fmt.Fprintf(&b, `\\u%04x`, r)
				continue
			}
		}
		b.WriteString(gbnfRune(r, false))
	}
	b.WriteByte('"')
	return b.String()
}

// class is a GBNF class for rs; in JSON mode the runes JSON must escape
// are allowed as their escapes.
func (e *remit) class(rs []rng) string {
	var esc []string
	if e.json {
		var keep []rng
		for _, r := range rs {
			keep = append(keep, r)
			for _, u := range jsonUnsafe {
				for c := max(r.lo, u.lo); c <= min(r.hi, u.hi); c++ {
					esc = append(esc, e.lit(string(c)))
				}
			}
		}
		rs = subtract(keep, jsonUnsafe)
	}
	var b strings.Builder
	b.WriteByte('[')
	for _, r := range rs {
		b.WriteString(gbnfRune(r.lo, true))
		if r.hi > r.lo {
			b.WriteByte('-')
			b.WriteString(gbnfRune(r.hi, true))
		}
	}
	b.WriteByte(']')
	if len(esc) == 0 {
		return b.String()
	}
	return "(" + b.String() + " | " + strings.Join(esc, " | ") + ")"
}

// subtract returns the runes of rs not in cut (both sorted).
func subtract(rs, cut []rng) []rng {
	var out []rng
	for _, r := range normalize(rs) {
		lo := r.lo
		for _, c := range cut {
			if c.hi < lo || c.lo > r.hi {
				continue
			}
			if c.lo > lo {
				out = append(out, rng{lo, c.lo - 1})
			}
			lo = c.hi + 1
		}
		if lo <= r.hi {
			out = append(out, rng{lo, r.hi})
		}
	}
	return out
}

// gbnfRune writes r for a GBNF literal or class.
func gbnfRune(r rune, class bool) string {
	switch {
	case r == '"' || r == '\\':
		return `\` + string(r)
	case class && (r == ']' || r == '[' || r == '-' || r == '^'):
		return `\` + string(r)
	case r == '\n':
		return `\n`
	case r == '\r':
		return `\r`
	case r == '\t':
		return `\t`
	case r < 0x20 || r == 0x7F:
		return fmt.Sprintf(`\x%02X`, r)
	case r >= 0xD800 && r <= 0xDFFF:
		return `\uFFFD` // unreachable: ranges exclude surrogates
	case r > 0xFFFF:
		return fmt.Sprintf(`\U%08X`, r)
	case r >= 0x80:
		return fmt.Sprintf(`\u%04X`, r)
	}
	return string(r)
}
