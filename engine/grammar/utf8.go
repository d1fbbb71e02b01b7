package grammar

import "unicode/utf8"

// utf8Seqs appends the byte-range sequences whose concatenations encode
// exactly the runes lo..hi (surrogates excluded): each sequence is one
// encoding length and one range per byte, the usual split of a rune range
// at the points where the encoded prefix changes.
func utf8Seqs(out [][][2]byte, lo, hi rune) [][][2]byte {
	if lo > hi {
		return out
	}
	if lo <= 0xD7FF && hi >= 0xD800 || lo >= 0xD800 && lo <= 0xDFFF {
		// Cut the surrogates out.
		out = utf8Seqs(out, lo, min(hi, 0xD7FF))
		return utf8Seqs(out, max(lo, 0xE000), hi)
	}
	for _, m := range []rune{0x7F, 0x7FF, 0xFFFF} {
		if lo <= m && hi > m {
			out = utf8Seqs(out, lo, m)
			return utf8Seqs(out, m+1, hi)
		}
	}
	if hi <= 0x7F {
		return append(out, [][2]byte{{byte(lo), byte(hi)}})
	}
	for i := 1; i < utf8.UTFMax; i++ {
		m := rune(1)<<(6*i) - 1
		if lo&^m != hi&^m {
			if lo&m != 0 {
				out = utf8Seqs(out, lo, lo|m)
				return utf8Seqs(out, (lo|m)+1, hi)
			}
			if hi&m != m {
				out = utf8Seqs(out, lo, hi&^m-1)
				return utf8Seqs(out, hi&^m, hi)
			}
		}
	}
	var a, b [utf8.UTFMax]byte
	n := utf8.EncodeRune(a[:], lo)
	utf8.EncodeRune(b[:], hi)
	seq := make([][2]byte, n)
	for i := range seq {
		seq[i] = [2]byte{a[i], b[i]}
	}
	return append(out, seq)
}

// negate returns the runes not in rs (rs sorted and merged).
func negate(rs []rng) []rng {
	var out []rng
	next := rune(0)
	for _, r := range rs {
		if r.lo > next {
			out = append(out, rng{next, r.lo - 1})
		}
		next = max(next, r.hi+1)
	}
	if next <= utf8.MaxRune {
		out = append(out, rng{next, utf8.MaxRune})
	}
	return out
}

// normalize sorts and merges ranges.
func normalize(rs []rng) []rng {
	rs = append([]rng(nil), rs...)
	for i := 1; i < len(rs); i++ { // insertion sort: classes are short
		for j := i; j > 0 && rs[j].lo < rs[j-1].lo; j-- {
			rs[j], rs[j-1] = rs[j-1], rs[j]
		}
	}
	var out []rng
	for _, r := range rs {
		if r.lo > r.hi {
			continue
		}
		if n := len(out); n > 0 && r.lo <= out[n-1].hi+1 {
			out[n-1].hi = max(out[n-1].hi, r.hi)
			continue
		}
		out = append(out, r)
	}
	return out
}
