package strategy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Extractor pulls the final answer out of a completion; ok is false when
// the text has none (the sample abstains from the vote).
type Extractor interface {
	Extract(text string) (answer string, ok bool)
}

// Func adapts a function to an Extractor.
type Func func(text string) (string, bool)

// Extract calls f.
func (f Func) Extract(text string) (string, bool) { return f(text) }

var (
	// LastNumber extracts the last number of the text, normalised so that
	// equal values vote together: thousands separators dropped ("1,000" →
	// "1000"), trailing fractional zeros dropped ("3.50" → "3.5", "2.0" →
	// "2"), leading zeros dropped, "-0" → "0".
	LastNumber Extractor = Func(lastNumber)
	// Boxed extracts the content of the last \boxed{...}, nested braces
	// included, trimmed of spaces.
	Boxed Extractor = Func(boxed)
)

// number matches grouped thousands first so "1,000" is one number while
// "1,2,3" is three.
var number = regexp.MustCompile(`-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|-?\.\d+`)

func lastNumber(text string) (string, bool) {
	locs := number.FindAllStringIndex(text, -1)
	if len(locs) == 0 {
		return "", false
	}
	l := locs[len(locs)-1]
	s := text[l[0]:l[1]]
	neg := strings.HasPrefix(s, "-")
	if neg && l[0] > 0 && isAlnum(text[l[0]-1]) {
		neg = false // "3-5" is a range or a subtraction, not minus five
	}
	s = strings.TrimPrefix(s, "-")
	s = strings.ReplaceAll(s, ",", "")
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	s = strings.TrimLeft(s, "0")
	if s == "" || strings.HasPrefix(s, ".") {
		s = "0" + s
	}
	if neg && s != "0" {
		s = "-" + s
	}
	return s, true
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func boxed(text string) (string, bool) {
	const open = `\boxed{`
	i := strings.LastIndex(text, open)
	if i < 0 {
		return "", false
	}
	body := text[i+len(open):]
	depth := 1
	for j := 0; j < len(body); j++ {
		switch body[j] {
		case '{':
			depth++
		case '}':
			if depth--; depth == 0 {
				return strings.TrimSpace(body[:j]), true
			}
		}
	}
	return "", false // unbalanced: the sample was cut off
}

// Regex extracts the first capture group of re's last match (the whole
// match when re has no group), trimmed of spaces.
func Regex(re *regexp.Regexp) Extractor {
	return Func(func(text string) (string, bool) {
		m := re.FindAllStringSubmatch(text, -1)
		if len(m) == 0 {
			return "", false
		}
		last := m[len(m)-1]
		if len(last) > 1 {
			return strings.TrimSpace(last[1]), true
		}
		return strings.TrimSpace(last[0]), true
	})
}

// JSONField extracts the value at a dotted path ("answer", "result.items.0")
// of a completion that is one JSON document (as a JSON-constrained one
// is); an empty path is the whole document. A string gives its text, any
// other value its compact JSON with object keys sorted, so equal values
// vote together. A missing field or text that is not JSON abstains.
func JSONField(path string) Extractor {
	var parts []string
	if path != "" {
		parts = strings.Split(path, ".")
	}
	return Func(func(text string) (string, bool) {
		d := json.NewDecoder(strings.NewReader(text))
		d.UseNumber()
		var v any
		if err := d.Decode(&v); err != nil || d.More() {
			return "", false
		}
		for _, p := range parts {
			switch x := v.(type) {
			case map[string]any:
				var ok bool
				if v, ok = x[p]; !ok {
					return "", false
				}
			case []any:
				i, err := strconv.Atoi(p)
				if err != nil || i < 0 || i >= len(x) {
					return "", false
				}
				v = x[i]
			default:
				return "", false
			}
		}
		if s, ok := v.(string); ok {
			return s, true
		}
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			return "", false
		}
		return strings.TrimSuffix(b.String(), "\n"), true
	})
}

// ParseExtractor reads an extractor spec: "last_number", "boxed",
// "regex:EXPR" or "json:PATH" (JSONField).
func ParseExtractor(spec string) (Extractor, error) {
	switch {
	case spec == "last_number":
		return LastNumber, nil
	case spec == "boxed":
		return Boxed, nil
	case strings.HasPrefix(spec, "regex:"):
		re, err := regexp.Compile(strings.TrimPrefix(spec, "regex:"))
		if err != nil {
			return nil, fmt.Errorf("extractor %q: %w", spec, err)
		}
		return Regex(re), nil
	case strings.HasPrefix(spec, "json:"):
		return JSONField(strings.TrimPrefix(spec, "json:")), nil
	}
	return nil, fmt.Errorf("unknown extractor %q (want last_number, boxed, regex:EXPR or json:PATH)", spec)
}
