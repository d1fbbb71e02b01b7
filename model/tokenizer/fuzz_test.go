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
	if _, err := gptossPath(); err == nil && !testing.Short() { // gpt-oss (gpt-4o pre-tokenizer) when fetched
		tok, _ := openGptOss(f)
		toks = append(toks, tok)
	}
	f.Fuzz(func(t *testing.T, s string, addSpecial, parseSpecial bool) {
		for _, tok := range toks {
			ids := tok.Encode(s, AddSpecial.If(addSpecial), ParseSpecial.If(parseSpecial))
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
			ids = tok.Encode(s)
			want := s
			if tok.cleanSpaces {
				want = string(cleanSpaces([]byte(s)))
			}
			require.Equal(t, want, tok.Decode(ids), "%s: %q", tok.pre, s)
		}
	})
}

// FuzzSplitGPT4o: the gpt-4o splitter never panics, its fragments are
// non-empty and cover the input, and no fragment spans a border of the
// fragments it was given.
func FuzzSplitGPT4o(f *testing.F) {
	for _, s := range []string{"", "DON'T I'm they'RE", "ÀB ÉCOLE naïve", "a/b\n/", " \r\n \u00a0 x", "1234567", "cafe\u0301'S"} {
		f.Add(s, uint8(0))
	}
	f.Fuzz(func(t *testing.T, s string, cut uint8) {
		cpts := decodeCpts(s, nil)
		lens := []int{len(cpts)}
		if c := int(cut); c > 0 && c < len(cpts) {
			lens = []int{c, len(cpts) - c}
		}
		out := splitGPT4o(cpts, lens)
		sum := 0
		borders := map[int]bool{}
		for _, n := range lens[:len(lens)-1] {
			sum += n
			borders[sum] = true
		}
		sum = 0
		for _, n := range out {
			require.Positive(t, n)
			for k := 1; k < n; k++ {
				require.False(t, borders[sum+k], "fragment %d+%d crosses a border", sum, n)
			}
			sum += n
		}
		require.Equal(t, len(cpts), sum)
	})
}
