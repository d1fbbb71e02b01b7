package chattmpl

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The scanner splits a template into text and tags with the white-space
// rules Hugging Face renders chat templates with: trim_blocks (the first
// newline after a block tag or comment goes), lstrip_blocks (spaces and
// tabs before a block tag or comment at the start of a line go), and the
// "-" markers that strip all white space on their side.

type segKind int

const (
	segText segKind = iota
	segExpr         // {{ ... }}
	segStmt         // {% ... %}
)

type segment struct {
	kind segKind
	text string  // segText
	toks []token // the tag's tokens
	line int
}

type tokKind int

const (
	tName tokKind = iota
	tStr
	tInt
	tFloat
	tOp
	tEOF
)

type token struct {
	kind tokKind
	s    string // name, operator or string value
	i    int64
	f    float64
}

func (t token) String() string {
	switch t.kind {
	case tStr:
		return strconv.Quote(t.s)
	case tInt:
		return strconv.FormatInt(t.i, 10)
	case tFloat:
		return formatFloat(t.f)
	case tEOF:
		return "end of tag"
	}
	return t.s
}

// pySpace is Python's str.isspace.
func pySpace(r rune) bool { return unicode.IsSpace(r) || r >= 0x1c && r <= 0x1f }

func scan(src string) ([]segment, error) {
	var segs []segment
	start := 0         // of the text not yet emitted
	line, seen := 1, 0 // the line at byte seen
	emit := func(s string) {
		if s != "" {
			segs = append(segs, segment{kind: segText, text: s})
		}
	}
	for i := 0; ; {
		j := strings.IndexByte(src[i:], '{')
		if j < 0 || i+j+1 >= len(src) {
			emit(src[start:])
			return segs, nil
		}
		j += i
		c := src[j+1]
		if c != '{' && c != '%' && c != '#' {
			i = j + 1
			continue
		}
		line += strings.Count(src[seen:j], "\n")
		seen = j
		k := j + 2
		var left byte
		if k < len(src) && (src[k] == '-' || src[k] == '+') {
			left = src[k]
			k++
		}
		txt := src[start:j]
		switch {
		case left == '-':
			txt = strings.TrimRightFunc(txt, pySpace)
		case c != '{' && left != '+':
			l := strings.LastIndexByte(txt, '\n') + 1
			if (l > 0 || start == 0 || src[start-1] == '\n') && strings.Trim(txt[l:], " \t") == "" {
				txt = txt[:l]
			}
		}
		var end int
		var trim bool
		var toks []token
		if c == '#' {
			e := strings.Index(src[k:], "#}")
			if e < 0 {
				return nil, fmt.Errorf("line %d: unclosed comment", line)
			}
			trim = e > 0 && src[k+e-1] == '-'
			end = k + e + 2
		} else {
			var err error
			toks, end, trim, err = lexTag(src, k, c)
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", line, err)
			}
		}
		if c == '%' && len(toks) == 1 && toks[0].kind == tName && toks[0].s == "raw" {
			emit(txt)
			raw, e, err := rawBlock(src, end, trim)
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", line, err)
			}
			emit(raw)
			end, trim, c = e.end, e.trim, '%'
		} else {
			emit(txt)
			kind := segStmt
			if c == '{' {
				kind = segExpr
			}
			if c != '#' {
				segs = append(segs, segment{kind: kind, toks: toks, line: line})
			}
		}
		switch {
		case trim:
			rest := strings.TrimLeftFunc(src[end:], pySpace)
			end = len(src) - len(rest)
		case c != '{' && end < len(src) && src[end] == '\n':
			end++
		}
		start, i = end, end
	}
}

type tagEnd struct {
	end  int
	trim bool
}

// rawBlock returns the text of a {% raw %} block whose tag ended at i, and
// where its {% endraw %} ends.
func rawBlock(src string, i int, trimmed bool) (string, tagEnd, error) {
	if trimmed {
		i = len(src) - len(strings.TrimLeftFunc(src[i:], pySpace))
	} else if i < len(src) && src[i] == '\n' {
		i++
	}
	for j := i; ; {
		k := strings.Index(src[j:], "{%")
		if k < 0 {
			return "", tagEnd{}, fmt.Errorf("unclosed raw block")
		}
		k += j
		p := k + 2
		left := p < len(src) && src[p] == '-'
		if left || p < len(src) && src[p] == '+' {
			p++
		}
		rest := strings.TrimLeft(src[p:], " \t\n\r")
		if strings.HasPrefix(rest, "endraw") {
			rest = strings.TrimLeft(rest[len("endraw"):], " \t\n\r")
			trim := strings.HasPrefix(rest, "-%}")
			if trim || strings.HasPrefix(rest, "%}") {
				txt := src[i:k]
				if left {
					txt = strings.TrimRightFunc(txt, pySpace)
				}
				end := len(src) - len(rest) + 2
				if trim {
					end++
				}
				return txt, tagEnd{end, trim}, nil
			}
		}
		j = k + 2
	}
}

var ops = []string{"//", "**", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "<", ">", "=", "(", ")", "[", "]", "{", "}", ",", ".", ":", "|"}

// lexTag reads the tokens of a tag from i up to its closer ("}}" for
// c == '{', "%}" for '%'), returning where the closer ends and whether it
// had a "-".
func lexTag(src string, i int, c byte) ([]token, int, bool, error) {
	closer := "}}"
	if c == '%' {
		closer = "%}"
	}
	var toks []token
	depth := 0 // open brackets: "}}" inside a dict literal is not the closer
	for {
		for i < len(src) && strings.IndexByte(" \t\n\r", src[i]) >= 0 {
			i++
		}
		if i >= len(src) {
			return nil, 0, false, fmt.Errorf("unclosed tag")
		}
		if depth == 0 || c == '%' {
			if strings.HasPrefix(src[i:], closer) {
				return toks, i + 2, false, nil
			}
			if src[i] == '-' && strings.HasPrefix(src[i+1:], closer) {
				return toks, i + 3, true, nil
			}
		}
		ch := src[i]
		switch {
		case ch == '_' || ch < utf8.RuneSelf && unicode.IsLetter(rune(ch)):
			j := i
			for j < len(src) && (src[j] == '_' || src[j] < utf8.RuneSelf && (unicode.IsLetter(rune(src[j])) || unicode.IsDigit(rune(src[j])))) {
				j++
			}
			toks = append(toks, token{kind: tName, s: src[i:j]})
			i = j
		case ch >= '0' && ch <= '9':
			t, j, err := lexNumber(src, i)
			if err != nil {
				return nil, 0, false, err
			}
			toks = append(toks, t)
			i = j
		case ch == '\'' || ch == '"':
			s, j, err := lexString(src, i)
			if err != nil {
				return nil, 0, false, err
			}
			toks = append(toks, token{kind: tStr, s: s})
			i = j
		default:
			op := ""
			for _, o := range ops {
				if strings.HasPrefix(src[i:], o) {
					op = o
					break
				}
			}
			if op == "" {
				r, _ := utf8.DecodeRuneInString(src[i:])
				return nil, 0, false, fmt.Errorf("unexpected character %q", r)
			}
			switch op {
			case "(", "[", "{":
				depth++
			case ")", "]", "}":
				depth--
			}
			toks = append(toks, token{kind: tOp, s: op})
			i += len(op)
		}
	}
}

func lexNumber(src string, i int) (token, int, error) {
	j := i
	digits := func() {
		for j < len(src) && (src[j] >= '0' && src[j] <= '9' || src[j] == '_' && j+1 < len(src) && src[j+1] >= '0' && src[j+1] <= '9') {
			j++
		}
	}
	digits()
	float := false
	if j+1 < len(src) && src[j] == '.' && src[j+1] >= '0' && src[j+1] <= '9' {
		float = true
		j++
		digits()
	}
	if j < len(src) && (src[j] == 'e' || src[j] == 'E') {
		k := j + 1
		if k < len(src) && (src[k] == '+' || src[k] == '-') {
			k++
		}
		if k < len(src) && src[k] >= '0' && src[k] <= '9' {
			float = true
			j = k
			digits()
		}
	}
	s := strings.ReplaceAll(src[i:j], "_", "")
	if float {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return token{}, 0, fmt.Errorf("bad number %s", s)
		}
		return token{kind: tFloat, f: f}, j, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return token{}, 0, fmt.Errorf("integer %s out of range", s)
	}
	return token{kind: tInt, i: n}, j, nil
}

// lexString reads a quoted string with Python's escapes.
func lexString(src string, i int) (string, int, error) {
	q := src[i]
	var b strings.Builder
	for j := i + 1; j < len(src); j++ {
		ch := src[j]
		if ch == q {
			return b.String(), j + 1, nil
		}
		if ch != '\\' || j+1 >= len(src) {
			b.WriteByte(ch)
			continue
		}
		j++
		switch e := src[j]; e {
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case 'r':
			b.WriteByte('\r')
		case '0':
			b.WriteByte(0)
		case '\\', '\'', '"':
			b.WriteByte(e)
		case '\n':
		case 'x', 'u', 'U':
			n := map[byte]int{'x': 2, 'u': 4, 'U': 8}[e]
			if j+n >= len(src) {
				return "", 0, fmt.Errorf("bad escape in string")
			}
			r, err := strconv.ParseUint(src[j+1:j+1+n], 16, 32)
			if err != nil || r > unicode.MaxRune {
				return "", 0, fmt.Errorf("bad escape in string")
			}
			b.WriteRune(rune(r))
			j += n
		default:
			b.WriteByte('\\')
			b.WriteByte(e)
		}
	}
	return "", 0, fmt.Errorf("unterminated string")
}
