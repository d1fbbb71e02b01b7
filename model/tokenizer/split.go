package tokenizer

import "unicode"

// A splitter refines a segmentation of cpts: lens holds the lengths (in code
// points) of consecutive fragments, and each fragment is split further on its
// own, exactly as one regex of llama.cpp's unicode_regex_split does. A
// pre-tokenizer is a list of splitters applied in order.
type splitter func(cpts []rune, lens []int) []int

// eachFragment runs split on every fragment, which sees only its own code
// points (the regexes never look across fragment borders).
func eachFragment(cpts []rune, lens []int, split func(seg []rune, out []int) []int) []int {
	out := make([]int, 0, len(lens))
	start := 0
	for _, n := range lens {
		out = split(cpts[start:start+n], out)
		start += n
	}
	return out
}

// flagAt returns the flags of seg[i], or 0 outside seg.
func flagAt(seg []rune, i int) flags {
	if i < 0 || i >= len(seg) {
		return 0
	}
	return cptFlags(seg[i])
}

func cptAt(seg []rune, i int) rune {
	if i < 0 || i >= len(seg) {
		return -1
	}
	return seg[i]
}

func isWord(f flags) bool { return f&(fSpace|fLetter|fNumber) != 0 }

// contraction returns 2 or 3 when seg[i:] starts with 's 't 'm 'd or 're 've
// 'll (case-folded when fold), else 0.
func contraction(seg []rune, i int, fold bool) int {
	if seg[i] != '\'' || i+1 >= len(seg) {
		return 0
	}
	low := func(r rune) rune {
		if fold {
			return unicode.ToLower(r)
		}
		return r
	}
	a := low(seg[i+1])
	if a == 's' || a == 't' || a == 'm' || a == 'd' {
		return 2
	}
	if i+2 < len(seg) {
		b := low(seg[i+2])
		if a == 'r' && b == 'e' || a == 'v' && b == 'e' || a == 'l' && b == 'l' {
			return 3
		}
	}
	return 0
}

// splitGPT2 implements 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+|
// ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ (llama.cpp's custom gpt2 splitter).
func splitGPT2(cpts []rune, lens []int) []int {
	return eachFragment(cpts, lens, func(seg []rune, out []int) []int {
		prev := 0
		emit := func(end int) {
			if end > prev {
				out = append(out, end-prev)
			}
			prev = end
		}
		for pos := 0; pos < len(seg); {
			c := seg[pos]
			f := cptFlags(c)
			if n := contraction(seg, pos, false); n > 0 {
				pos += n
				emit(pos)
				continue
			}
			f2 := f
			if c == ' ' {
				f2 = flagAt(seg, pos+1)
			}
			// " ?" then a run of one class: letters, numbers or other.
			var in func(flags) bool
			switch {
			case f2&fLetter != 0:
				in = func(f flags) bool { return f&fLetter != 0 }
			case f2&fNumber != 0:
				in = func(f flags) bool { return f&fNumber != 0 }
			case !isWord(f2) && f2 != 0:
				in = func(f flags) bool { return !isWord(f) && f != 0 }
			}
			if in != nil {
				if c == ' ' {
					pos++
				}
				for in(flagAt(seg, pos)) {
					pos++
				}
				emit(pos)
				continue
			}
			ws := 0
			for flagAt(seg, pos+ws)&fSpace != 0 {
				ws++
			}
			switch {
			case ws > 1 && pos+ws < len(seg): // \s+(?!\S): leave the last space to the next word
				pos += ws - 1
			case ws > 0:
				pos += ws
			default:
				pos++
			}
			emit(pos)
		}
		return out
	})
}

// splitLlama3 implements (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|
// \p{N}{1,digits}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+ after
// llama.cpp's custom llama3 splitter; digits is 3 for Llama 3 and 1 for
// Qwen2 (whose \p{N} regex llama.cpp runs through std::regex with the same
// result). letter is the class of word characters: fLetter, or
// fLetter|fMark for Qwen3.5's [\p{L}\p{M}]+.
func splitLlama3(digits int, letter flags) splitter {
	word := letter | fSpace | fNumber
	return func(cpts []rune, lens []int) []int {
		return eachFragment(cpts, lens, func(seg []rune, out []int) []int {
			prev := 0
			emit := func(end int) {
				if end > prev {
					out = append(out, end-prev)
				}
				prev = end
			}
			for pos := 0; pos < len(seg); {
				c := seg[pos]
				f := cptFlags(c)
				if n := contraction(seg, pos, true); n > 0 {
					pos += n
					emit(pos)
					continue
				}
				// [^\r\n\p{L}\p{N}]?\p{L}+
				if !(c == '\r' || c == '\n' || f&fNumber != 0) {
					if f&letter != 0 || flagAt(seg, pos+1)&letter != 0 {
						pos++
						for flagAt(seg, pos)&letter != 0 {
							pos++
						}
						emit(pos)
						continue
					}
				}
				// \p{N}{1,digits}
				if f&fNumber != 0 {
					ini := pos
					for flagAt(seg, pos)&fNumber != 0 {
						pos++
						if pos-ini >= digits {
							emit(pos)
							ini = pos
						}
					}
					emit(pos)
					continue
				}
				// " ?[^\s\p{L}\p{N}]+[\r\n]*"; like llama.cpp, the guard tests
				// the first code point's flags, not the one after the space.
				f2 := f
				if c == ' ' {
					f2 = flagAt(seg, pos+1)
				}
				if f2&word == 0 && f != 0 {
					if c == ' ' {
						pos++
					}
					for f2&word == 0 && f2 != 0 {
						pos++
						f2 = flagAt(seg, pos)
					}
					for r := cptAt(seg, pos); r == '\r' || r == '\n'; r = cptAt(seg, pos) {
						pos++
					}
					emit(pos)
					continue
				}
				ws, lastNL := 0, 0
				for flagAt(seg, pos+ws)&fSpace != 0 {
					if r := seg[pos+ws]; r == '\r' || r == '\n' {
						lastNL = pos + ws + 1
					}
					ws++
				}
				switch {
				case lastNL > 0: // \s*[\r\n]+
					pos = lastNL
				case ws > 1 && pos+ws < len(seg): // \s+(?!\S)
					pos += ws - 1
				case ws > 0:
					pos += ws
				default:
					pos++
				}
				emit(pos)
			}
			return out
		})
	}
}

// splitMatches emulates one std::regex split of llama.cpp: matches are
// found leftmost-first and do not overlap; both the matches and the text
// between them become fragments. match returns the length of a match at
// seg[i] (0 for none).
func splitMatches(match func(seg []rune, i int) int) splitter {
	return func(cpts []rune, lens []int) []int {
		return eachFragment(cpts, lens, func(seg []rune, out []int) []int {
			gap := 0
			for i := 0; i < len(seg); {
				n := match(seg, i)
				if n == 0 {
					i++
					gap++
					continue
				}
				if gap > 0 {
					out = append(out, gap)
					gap = 0
				}
				out = append(out, n)
				i += n
			}
			if gap > 0 {
				out = append(out, gap)
			}
			return out
		})
	}
}

// runOf matches one or more code points accepted by in.
func runOf(in func(r rune) bool) splitter {
	return splitMatches(func(seg []rune, i int) int {
		n := 0
		for i+n < len(seg) && in(seg[i+n]) {
			n++
		}
		return n
	})
}

// oneOf matches a single code point accepted by in.
func oneOf(in func(r rune) bool) splitter {
	return splitMatches(func(seg []rune, i int) int {
		if in(seg[i]) {
			return 1
		}
		return 0
	})
}

func isNumber(r rune) bool { return cptFlags(r)&fNumber != 0 }

// isSpaceRE is \s of std::regex after llama.cpp maps non-ASCII white space
// to \v: exactly the White_Space code points.
func isSpaceRE(r rune) bool { return cptFlags(r)&fSpace != 0 }

// optSpaceRun matches \s?[class]+ (std::regex backtracking included: a space
// not followed by the class is left alone).
func optSpaceRun(in func(r rune) bool) splitter {
	return splitMatches(func(seg []rune, i int) int {
		j := i
		if isSpaceRE(seg[j]) && j+1 < len(seg) && in(seg[j+1]) {
			j++
		}
		n := 0
		for j+n < len(seg) && in(seg[j+n]) {
			n++
		}
		if n == 0 {
			return 0
		}
		return j - i + n
	})
}

// trailingSpace matches \s+$ : the white space that ends a fragment.
func trailingSpace(cpts []rune, lens []int) []int {
	return eachFragment(cpts, lens, func(seg []rune, out []int) []int {
		k := len(seg)
		for k > 0 && isSpaceRE(seg[k-1]) {
			k--
		}
		if k > 0 {
			out = append(out, k)
		}
		if k < len(seg) {
			out = append(out, len(seg)-k)
		}
		return out
	})
}

// ranges is a set of inclusive code point ranges.
type ranges [][2]rune

func (rs ranges) has(r rune) bool {
	for _, x := range rs {
		if r >= x[0] && r <= x[1] {
			return true
		}
	}
	return false
}

// classOf turns a regex character class body such as "A-Za-z_" into ranges.
func classOf(body string) ranges {
	rs := []rune(body)
	var out ranges
	for i := 0; i < len(rs); i++ {
		if i+2 < len(rs) && rs[i+1] == '-' {
			out = append(out, [2]rune{rs[i], rs[i+2]})
			i += 2
			continue
		}
		out = append(out, [2]rune{rs[i], rs[i]})
	}
	return out
}

// inClass reports whether r is in rs as llama.cpp's std::wregex sees it:
// non-ASCII white space has been replaced by \v before matching.
func inClass(rs ranges) func(r rune) bool {
	return func(r rune) bool {
		if r > 0x7f && isSpaceRE(r) {
			return false
		}
		return rs.has(r)
	}
}

func isLetter(r rune) bool { return cptFlags(r)&fLetter != 0 }
func isPunct(r rune) bool  { return cptFlags(r)&fPunct != 0 }

// defaultPunct is [\p{P}\$\+<=>\^~\|] as llama.cpp's collapsed std::regex
// sees it: \p{P} plus a fixed ASCII list (no backquote).
func defaultPunct(r rune) bool {
	switch r {
	case '$', '+', '<', '=', '>', '^', '~', '|':
		return true
	}
	return isPunct(r)
}

// falconPunct is [\p{P}\$\+<=>\^~\|`]: defaultPunct plus the backquote.
func falconPunct(r rune) bool { return r == '`' || defaultPunct(r) }

// threeDigits matches [0-9][0-9][0-9].
func threeDigits(seg []rune, i int) int {
	if i+3 <= len(seg) && isASCIIDigit(seg[i]) && isASCIIDigit(seg[i+1]) && isASCIIDigit(seg[i+2]) {
		return 3
	}
	return 0
}

func isASCIIDigit(r rune) bool { return r >= '0' && r <= '9' }

// DeepSeek LLM's pre-tokenizer classes, as written in its tokenizer.json
// (and copied by llama.cpp): cased letters, ASCII/full-width punctuation,
// and CJK/Hangul blocks.
var (
	deepseekLetters = classOf("A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-ώᾀ-ᾴᾶ-ᾼιῂ-ῄῆ-ῌῐ-ΐῖ-Ίῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤΩℨK-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃")
	deepseekPunct   = classOf("!-/:-~！-／：-～‘-‟　-。")
	deepseekCJK     = classOf("一-龥ࠀ-一가-퟿")
)
