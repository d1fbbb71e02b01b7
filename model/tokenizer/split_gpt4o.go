package tokenizer

// The o200k ("gpt-4o") pre-tokenizer. Its tokenizer.json regex is
//
//	[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|...)?|
//	[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|...)?|
//	\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+
//
// llama.cpp has no hand-written version of it. It rewrites the case classes
// as ((?=[\p{L}])([^a-z]))* and ((?=[\p{L}])([^A-Z]))+ and runs the regex
// through std::regex on a "collapsed" text in which every non-ASCII code
// point is one byte standing for its category (all letters are the same
// byte, all numbers another, white space becomes \v). So the only case
// information left is ASCII's: a non-ASCII letter counts as upper and as
// lower case, and marks are no longer part of words. splitGPT4o reproduces
// the matches std::regex finds on that text (ECMAScript: the first
// alternative that matches wins, greedy loops backtrack).

// o200k character classes as the collapsed std::regex sees them.
const (
	oOther  = iota // [^\s\p{L}\p{N}]
	oUpper         // A-Z
	oLower         // a-z
	oLetter        // a non-ASCII letter: matches both [^a-z] and [^A-Z]
	oDigit         // 0-9 and non-ASCII \p{N}
	oSpace         // \s: ASCII white space, and non-ASCII White_Space (collapsed to \v)
)

func o200kClass(r rune) uint8 {
	switch {
	case r >= 'A' && r <= 'Z':
		return oUpper
	case r >= 'a' && r <= 'z':
		return oLower
	case r >= '0' && r <= '9':
		return oDigit
	}
	f := cptFlags(r)
	switch {
	case f&fSpace != 0: // before the category, as llama.cpp's collapse
		return oSpace
	case r < 0x80:
		return oOther
	case f&fLetter != 0:
		return oLetter
	case f&fNumber != 0:
		return oDigit
	}
	return oOther
}

// splitGPT4o is llama.cpp's GPT4O pre-tokenizer ("gpt-4o", "llama4",
// "minimax-m2", ...). Every code point starts some match, so the fragments
// are exactly the matches.
func splitGPT4o(cpts []rune, lens []int) []int {
	var cls []uint8
	return eachFragment(cpts, lens, func(seg []rune, out []int) []int {
		cls = cls[:0]
		for _, r := range seg {
			cls = append(cls, o200kClass(r))
		}
		for pos := 0; pos < len(seg); {
			end := o200kMatch(seg, cls, pos)
			out = append(out, end-pos)
			pos = end
		}
		return out
	})
}

// o200kMatch returns the end of the match that starts at i.
func o200kMatch(seg []rune, cls []uint8, i int) int {
	n := len(seg)
	c, r := cls[i], seg[i]
	isNL := func(r rune) bool { return r == '\r' || r == '\n' }

	// Alternatives 1 and 2: [^\r\n\p{L}\p{N}]? then letters. Taking the
	// optional code point can only help: without it the match would start
	// at a non-letter.
	j := i
	if c == oOther || c == oSpace && !isNL(r) {
		j++
	}
	if end := o200kWord(cls, j); end > j {
		return end + o200kContraction(seg, end)
	}

	switch c {
	case oDigit: // \p{N}{1,3}
		end := i
		for end < n && end-i < 3 && cls[end] == oDigit {
			end++
		}
		return end
	case oOther, oSpace:
		// " ?[^\s\p{L}\p{N}]+[\r\n/]*"
		j := i
		if r == ' ' && i+1 < n && cls[i+1] == oOther {
			j++
		}
		if cls[j] == oOther {
			end := j
			for end < n && cls[end] == oOther {
				end++
			}
			for end < n && (isNL(seg[end]) || seg[end] == '/') {
				end++
			}
			return end
		}
	}

	// White space. \s*[\r\n]+ backtracks to the last \r or \n of the run;
	// \s+(?!\S) leaves the run's last code point to what follows; a lone
	// white space code point before a non-space is \s+.
	end, nl := i, -1
	for end < n && cls[end] == oSpace {
		if isNL(seg[end]) {
			nl = end
		}
		end++
	}
	switch {
	case nl >= 0:
		return nl + 1
	case end-i > 1 && end < n:
		return end - 1
	}
	return end
}

// o200kWord matches the letter part of alternatives 1 and 2 at j and
// returns its end (j when neither matches):
//
//	alt 1: [^a-z letters]* [^A-Z letters]+   (greedy, with backtracking)
//	alt 2: [^a-z letters]+ [^A-Z letters]*
func o200kWord(cls []uint8, j int) int {
	n := len(cls)
	k := j // the greedy [^a-z letters]* run: upper case and non-ASCII letters
	for k < n && (cls[k] == oUpper || cls[k] == oLetter) {
		k++
	}
	if k < n && cls[k] == oLower {
		for k < n && (cls[k] == oLower || cls[k] == oLetter) {
			k++
		}
		return k
	}
	// Backtracking alternative 1 gives the run back up to its last
	// non-ASCII letter, which then is the [^A-Z letters]+ part.
	for m := k - 1; m >= j; m-- {
		if cls[m] == oLetter {
			return m + 1
		}
	}
	return k // alternative 2: ASCII capitals only (or nothing)
}

// o200kContraction returns the length of '[sS]|'[tT]|'[rR][eE]|'[vV][eE]|
// '[mM]|'[lL][lL]|'[dD] at seg[i:] (0 if none): ASCII case only.
func o200kContraction(seg []rune, i int) int {
	if i+1 >= len(seg) || seg[i] != '\'' {
		return 0
	}
	low := func(k int) rune {
		if k >= len(seg) {
			return -1
		}
		if r := seg[k]; r >= 'A' && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return seg[k]
	}
	switch a, b := low(i+1), low(i+2); {
	case a == 's' || a == 't' || a == 'm' || a == 'd':
		return 2
	case a == 'r' && b == 'e' || a == 'v' && b == 'e' || a == 'l' && b == 'l':
		return 3
	}
	return 0
}
