package tokenizer

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestEncodePlain checks that special tokens written in plain bytes stay
// ordinary text, that those around them are still matched, and that with
// nothing plain (or plain bytes holding no special token) the ids are
// Encode's.
func TestEncodePlain(t *testing.T) {
	tok := openVocab(t, "llama-bpe")
	bos, _ := tok.TokenID("<|begin_of_text|>")
	eot, _ := tok.TokenID("<|eot_id|>")
	text := "<|begin_of_text|>Hello<|eot_id|>x<|eot_id|>"
	none := func(int, int) bool { return false }
	require.Equal(t, tok.Encode(text, AddSpecial, ParseSpecial), tok.EncodePlain(text, none, AddSpecial))

	// The plain bytes are "Hello<|eot_id|>x": the first <|eot_id|> is
	// content, the last one the template's.
	lo, hi := len("<|begin_of_text|>"), len("<|begin_of_text|>Hello<|eot_id|>x")
	plain := func(i, j int) bool { return i < hi && lo < j }
	ids := tok.EncodePlain(text, plain)
	require.Equal(t, bos, ids[0])
	require.Equal(t, eot, ids[len(ids)-1])
	require.Equal(t, 1, countID(ids, eot), "%v", ids)
	require.Equal(t, append(append([]int32{bos}, tok.Encode("Hello<|eot_id|>x")...), eot), ids)
	require.Equal(t, text, tok.Detokenize(ids, false, true))

	// Plain text only next to a special token leaves it a token.
	plain = func(i, j int) bool { return i < len("<|begin_of_text|>Hello") && len("<|begin_of_text|>") < j }
	require.Equal(t, tok.Encode(text, ParseSpecial), tok.EncodePlain(text, plain))

	// Phi-3's tokens strip the white space after them (RSTRIP): the
	// offsets stay right past the stripped "\n", so that a token whose
	// last byte alone is plain stays text.
	phi := openVocab(t, "phi-3")
	user, _ := phi.TokenID("<|user|>")
	end, _ := phi.TokenID("<|end|>")
	text = "<|user|>\n<|end|> x<|end|>"
	last := len("<|user|>\n<|end|>") - 1
	plain = func(i, j int) bool { return i <= last && last < j }
	ids = phi.EncodePlain(text, plain)
	require.Equal(t, user, ids[0])
	require.Equal(t, end, ids[len(ids)-1])
	require.Equal(t, 1, countID(ids, end), "%v", ids)
	require.Equal(t, phi.Encode("<|user|>\nHello<|end|>", ParseSpecial), phi.EncodePlain("<|user|>\nHello<|end|>", func(i, j int) bool {
		return i < len("<|user|>\nHello") && len("<|user|>\n") < j
	}))
}

func countID(ids []int32, id int32) int {
	n := 0
	for _, x := range ids {
		if x == id {
			n++
		}
	}
	return n
}
