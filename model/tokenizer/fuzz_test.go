package tokenizer

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

// FuzzEncode: any input encodes without panicking to in-range ids, and on
// valid UTF-8 the byte-level BPE vocabularies decode back to the input
// (after llama.cpp's space clean-up); the seed corpus is in
// testdata/fuzz/FuzzEncode.
func FuzzEncode(f *testing.F) {
	for _, s := range []string{"", "Hello world", " \t\n", "🦙.cpp 3333 ' era", "\xff\xe2\x82", "<|endoftext|><s>"} {
		f.Add(s, true, true)
	}
	var toks []*Tokenizer
	for _, name := range vocabFiles {
		toks = append(toks, openVocab(f, name))
	}
	f.Fuzz(func(t *testing.T, s string, addSpecial, parseSpecial bool) {
		for _, tok := range toks {
			ids := tok.Encode(s, addSpecial, parseSpecial)
			for _, id := range ids {
				require.True(t, id >= 0 && int(id) < tok.VocabSize(), "id %d", id)
			}
			out := tok.Decode(ids)
			stream := tok.NewStream()
			var b strings.Builder
			for _, id := range ids {
				b.WriteString(stream.Add(id))
			}
			b.WriteString(stream.Flush())
			require.True(t, utf8.ValidString(b.String()))
			if utf8.ValidString(out) {
				require.Equal(t, out, b.String())
			}
			if tok.kind != bpe || !utf8.ValidString(s) {
				continue
			}
			ids = tok.Encode(s, false, false)
			want := s
			if tok.cleanSpaces {
				want = string(cleanSpaces([]byte(s)))
			}
			require.Equal(t, want, tok.Decode(ids), "%s: %q", tok.pre, s)
		}
	})
}
