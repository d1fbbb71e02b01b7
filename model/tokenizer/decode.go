package tokenizer

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// makePiece is llama.cpp's token_to_piece(special=true) for a valid id.
func (t *Tokenizer) makePiece(id int32) string {
	a, text := t.attrs[id], t.tokens[id]
	switch {
	case a&(attrUnknown|attrControl|attrUserDefined) != 0:
		return text
	case a&attrNormal != 0:
		if t.kind == spm {
			return strings.ReplaceAll(text, "▁", " ")
		}
		return decodeByteLevel(text)
	case a&attrByte != 0:
		return string([]byte{hexByte(text)})
	}
	return "" // unused and undefined tokens render as nothing
}

// hexByte reads the XX of "<0xXX>" like llama.cpp (strtol on the two
// characters at offset 3: stops at the first non-hex digit).
func hexByte(text string) byte {
	if len(text) < 3 {
		return 0
	}
	var v byte
	for _, c := range []byte(text[3:min(5, len(text))]) {
		switch {
		case c >= '0' && c <= '9':
			v = v<<4 | (c - '0')
		case c >= 'a' && c <= 'f':
			v = v<<4 | (c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			v = v<<4 | (c - 'A' + 10)
		default:
			return v
		}
	}
	return v
}

// decodeByteLevel maps GPT-2 alphabet runes back to bytes; a rune outside
// the alphabet is written as llama.cpp does: "[UNK_BYTE_0x<hex><text>]".
func decodeByteLevel(text string) string {
	var b []byte
	for _, r := range decodeCpts(text, nil) {
		if c, ok := runeByte[r]; ok {
			b = append(b, c)
			continue
		}
		b = append(b, "[UNK_BYTE_0x"...)
		for _, c := range appendCpt(nil, r) {
			b = fmt.Appendf(b, "%02x", c)
		}
		b = append(b, text...)
		b = append(b, ']')
	}
	return string(b)
}

// piece returns the text of id; without special, control and unknown tokens
// give "" (llama_token_to_piece). Out-of-range ids give "".
func (t *Tokenizer) piece(id int32, special bool) string {
	if id < 0 || int(id) >= len(t.pieces) {
		return ""
	}
	if !special && t.attrs[id]&(attrUnknown|attrControl) != 0 {
		return ""
	}
	return t.pieces[id]
}

// Piece returns the text of one token as llama_token_to_piece(special=true):
// control tokens such as "<|eot_id|>" are rendered, so every id has a
// visible form; byte tokens give their single (possibly partial UTF-8) byte.
// Use Decode or a Stream for output text.
func (t *Tokenizer) Piece(id int32) string { return t.piece(id, true) }

// Decode turns ids into text like llama_detokenize(remove_special=false,
// unparse_special=false): control tokens vanish, SPM vocabularies drop the
// space that Encode prefixed to the first token, and BPE vocabularies that
// ask for it get llama.cpp's clean-up of spaces before punctuation. The
// result may hold invalid UTF-8 if the ids split a character.
func (t *Tokenizer) Decode(ids []int32) string {
	return t.Detokenize(ids, false, false)
}

// Detokenize is llama_detokenize: removeSpecial drops a leading BOS and a
// trailing EOS that Encode would add; unparseSpecial renders control tokens.
func (t *Tokenizer) Detokenize(ids []int32, removeSpecial, unparseSpecial bool) string {
	removeSpace := t.addSpacePrefix
	if removeSpecial && t.addBOS && len(ids) > 0 && ids[0] == t.bos {
		removeSpace = false
		ids = ids[1:]
	}
	if removeSpecial && t.addEOS && len(ids) > 0 && ids[len(ids)-1] == t.eos {
		ids = ids[:len(ids)-1]
	}
	var b []byte
	for _, id := range ids {
		p := t.piece(id, unparseSpecial)
		if removeSpace {
			p = strings.TrimPrefix(p, " ")
			removeSpace = false
		}
		b = append(b, p...)
	}
	if t.cleanSpaces {
		b = cleanSpaces(b)
	}
	return string(b)
}

// cleanSpaces is llama.cpp's clean_up_tokenization_spaces, three in-place
// passes ported literally (their quirks included): drop the space in
// " ?", " !", " .", " ,"; turn " ' " into "'"; drop the space in " 's",
// " 'm", " 're", " 've".
func cleanSpaces(text []byte) []byte {
	total := len(text)
	start := func() int {
		if total > 0 {
			return 1
		}
		return 0
	}

	n := total
	total = start()
	for i := 1; i < n; i++ {
		x := text[i]
		if text[i-1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ',') {
			total--
		}
		text[total] = x
		total++
	}

	n = total
	total = start()
	for i := 1; i < n; i++ {
		x := text[i]
		if x == '\'' && i+1 < n && text[i-1] == ' ' && text[i+1] == ' ' {
			total--
			i++
			text[i] = 0
		}
		text[total] = x
		total++
	}

	n = total
	total = start()
	for i := 1; i < n; i++ {
		x := text[i]
		if text[i-1] == ' ' && x == '\'' && i+1 < n {
			x1 := text[i+1]
			switch {
			case x1 == 't' || x1 == 'd':
			case x1 == 's' || x1 == 'm':
				total--
			case i+2 < n:
				x2 := text[i+2]
				if x1 == 'r' && x2 == 'e' || x1 == 'v' && x2 == 'e' {
					total--
				}
			}
		}
		text[total] = x
		total++
	}
	return text[:total]
}

// Stream decodes ids one at a time. The concatenation of everything it
// returns equals Decode of the ids added (NewStream) or the text they add
// after a prompt (NewStreamAfter), as long as that text is valid UTF-8. No
// returned chunk ever ends inside a UTF-8 sequence: bytes of an incomplete
// character (SPM <0xE2>-style byte tokens, partial bytes in BPE) are held
// back until the character completes, and bytes that can never form a
// character come out as U+FFFD. For generated text use NewStreamAfter: a
// plain NewStream, like Decode, drops the leading space of the first token
// of an SPM vocabulary.
type Stream struct {
	t     *Tokenizer
	first bool
	pend  []byte // raw text whose space clean-up still depends on what follows
	out   []byte // final text not yet returned
	skip  int    // cleaned bytes of pend that belong to the prompt
}

// NewStream starts an empty stream: its text is Decode of the ids it gets.
func (t *Tokenizer) NewStream() *Stream { return &Stream{t: t, first: true} }

// NewStreamAfter starts a stream for ids that continue prompt: its text is
// what they add to Decode(prompt), i.e. Decode(prompt+ids) without the
// Decode(prompt) prefix. The first id keeps its leading space, and the
// space clean-up of BPE vocabularies sees the end of the prompt.
func (t *Tokenizer) NewStreamAfter(prompt []int32) *Stream {
	s := t.NewStream()
	if len(prompt) == 0 {
		return s
	}
	s.first = false
	if !t.cleanSpaces {
		return s
	}
	// Keep the prompt's uncleaned tail as context and skip its cleaned text.
	for _, id := range prompt {
		s.pend = append(s.pend, t.piece(id, false)...)
		if r := cut(s.pend); r > 0 {
			s.pend = append(s.pend[:0], s.pend[r:]...)
		}
	}
	s.skip = len(cleanSpaces(append([]byte(nil), s.pend...)))
	return s
}

// cut returns the largest r such that cleanSpaces(text[:r]) does not depend
// on what follows: cleanSpaces only looks back one byte and ahead from a
// quote, so text can be cut after a byte that is neither a space nor a quote
// and is not preceded by a quote. It returns 0 when there is no such place.
func cut(text []byte) int {
	for r := len(text); r > 0; r-- {
		if c := text[r-1]; c != ' ' && c != '\'' && (r < 2 || text[r-2] != '\'') {
			return r
		}
	}
	return 0
}

// Add decodes one more id and returns the text that is now complete.
func (s *Stream) Add(id int32) string {
	p := s.t.piece(id, false)
	if s.first {
		if s.t.addSpacePrefix {
			p = strings.TrimPrefix(p, " ")
		}
		s.first = false
	}
	if !s.t.cleanSpaces {
		s.out = append(s.out, p...)
		return s.emit(false)
	}
	s.pend = append(s.pend, p...)
	if r := cut(s.pend); r > 0 {
		s.clean(r)
	}
	return s.emit(false)
}

// clean moves the cleaned s.pend[:r] to s.out, minus what the prompt of
// NewStreamAfter already showed.
func (s *Stream) clean(r int) {
	c := cleanSpaces(s.pend[:r])
	k := min(s.skip, len(c))
	s.skip -= k
	s.out = append(s.out, c[k:]...)
	s.pend = append(s.pend[:0], s.pend[r:]...)
}

// Flush returns whatever is left, with incomplete characters as U+FFFD.
func (s *Stream) Flush() string {
	if len(s.pend) > 0 {
		s.clean(len(s.pend))
	}
	return s.emit(true)
}

// emit returns the decodable prefix of s.out (all of it when final).
func (s *Stream) emit(final bool) string {
	var b strings.Builder
	i := 0
	for i < len(s.out) {
		if !final && !utf8.FullRune(s.out[i:]) {
			break // may still be completed by the next token
		}
		r, n := utf8.DecodeRune(s.out[i:])
		if r == utf8.RuneError && n <= 1 {
			b.WriteRune(utf8.RuneError)
			i++
			continue
		}
		b.Write(s.out[i : i+n])
		i += n
	}
	s.out = append(s.out[:0], s.out[i:]...)
	return b.String()
}
