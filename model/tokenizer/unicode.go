package tokenizer

import (
	"unicode"
	"unicode/utf8"
)

// flags are the Unicode properties the pre-tokenizers ask about; they
// mirror llama.cpp's unicode_cpt_flags. Every code point below 0x110000 has
// at least fDefined; zero means "outside the text" (or not a code point).
type flags uint8

const (
	fDefined flags = 1 << iota
	fNumber        // \p{N}
	fLetter        // \p{L}
	fSpace         // \s: the Unicode White_Space property
	fPunct         // \p{P}
	fSymbol        // \p{S}
	fMark          // \p{M}
)

var asciiFlags [128]flags

func init() {
	for r := range rune(128) {
		asciiFlags[r] = slowFlags(r)
	}
}

func slowFlags(r rune) flags {
	if r < 0 || r > unicode.MaxRune {
		return 0
	}
	f := fDefined
	switch {
	case unicode.IsLetter(r):
		f |= fLetter
	case unicode.IsNumber(r):
		f |= fNumber
	case unicode.IsPunct(r):
		f |= fPunct
	case unicode.IsSymbol(r):
		f |= fSymbol
	case unicode.IsMark(r):
		f |= fMark
	}
	if unicode.IsSpace(r) { // Go's IsSpace is exactly White_Space, as Python's regex \s
		f |= fSpace
	}
	return f
}

func cptFlags(r rune) flags {
	if r >= 0 && r < 128 {
		return asciiFlags[r]
	}
	return slowFlags(r)
}

// decodeCpts splits s into code points the way llama.cpp's
// unicode_cpts_from_utf8 does: it trusts the lead byte and only checks that
// continuation bytes look like 10xxxxxx, so overlong forms and surrogates
// decode; any other bad byte becomes U+FFFD and is skipped alone.
// Code points above U+10FFFF (which llama.cpp cannot re-encode and so fails
// on) also become U+FFFD.
func decodeCpts(s string, out []rune) []rune {
	for i := 0; i < len(s); {
		r, n := decodeCpt(s, i)
		out = append(out, r)
		i += n
	}
	return out
}

func decodeCpt(s string, i int) (rune, int) {
	c := s[i]
	cont := func(k int) bool { return i+k < len(s) && s[i+k]&0xc0 == 0x80 }
	switch {
	case c < 0x80:
		return rune(c), 1
	case c&0x40 == 0:
		return utf8.RuneError, 1
	case c&0x20 == 0:
		if !cont(1) {
			return utf8.RuneError, 1
		}
		return rune(c&0x1f)<<6 | rune(s[i+1]&0x3f), 2
	case c&0x10 == 0:
		if !cont(1) || !cont(2) {
			return utf8.RuneError, 1
		}
		return rune(c&0x0f)<<12 | rune(s[i+1]&0x3f)<<6 | rune(s[i+2]&0x3f), 3
	case c&0x08 == 0:
		if !cont(1) || !cont(2) || !cont(3) {
			return utf8.RuneError, 1
		}
		r := rune(c&0x07)<<18 | rune(s[i+1]&0x3f)<<12 | rune(s[i+2]&0x3f)<<6 | rune(s[i+3]&0x3f)
		if r > unicode.MaxRune {
			r = utf8.RuneError
		}
		return r, 4
	}
	return utf8.RuneError, 1
}

// appendCpt encodes r like llama.cpp's unicode_cpt_to_utf8, which (unlike
// Go's) writes surrogates as plain 3-byte sequences.
func appendCpt(b []byte, r rune) []byte {
	switch {
	case r < 0x80:
		return append(b, byte(r))
	case r < 0x800:
		return append(b, 0xc0|byte(r>>6), 0x80|byte(r&0x3f))
	case r < 0x10000:
		return append(b, 0xe0|byte(r>>12), 0x80|byte(r>>6&0x3f), 0x80|byte(r&0x3f))
	}
	return append(b, 0xf0|byte(r>>18), 0x80|byte(r>>12&0x3f), 0x80|byte(r>>6&0x3f), 0x80|byte(r&0x3f))
}

// utf8Len is llama.cpp's unicode_len_utf8: the sequence length announced by
// a lead byte (1 for continuation bytes).
func utf8Len(c byte) int {
	return [16]int{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4}[c>>4]
}

// GPT-2's byte-level alphabet: every byte maps to a printable rune so BPE
// merges never see raw control bytes or spaces.
var (
	byteRune [256]rune
	runeByte = map[rune]byte{}
)

func init() {
	n := 0
	for b := range 256 {
		if b >= 0x21 && b <= 0x7e || b >= 0xa1 && b <= 0xac || b >= 0xae {
			byteRune[b] = rune(b)
		} else {
			byteRune[b] = rune(256 + n)
			n++
		}
		runeByte[byteRune[b]] = byte(b)
	}
}
