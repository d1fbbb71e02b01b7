package tokenizer

import (
	"encoding/json"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/tscale/engine/internal/testmodels"
)

func TestStories260KOnceUponATime(t *testing.T) {
	tok := openPath(t, filepath.Join("models", "stories260K.gguf"))
	require.Equal(t, "llama", tok.Model())
	require.Equal(t, 512, tok.VocabSize())
	require.Equal(t, int32(1), tok.BOS())
	require.Equal(t, int32(2), tok.EOS())
	require.True(t, tok.AddBOS())
	require.False(t, tok.AddEOS())
	require.True(t, tok.IsEOG(2))
	ids := tok.Encode("Once upon a time", AddSpecial)
	require.Equal(t, []int32{1, 403, 407, 261, 378}, ids) // llama.cpp, ../shared/README.md
	// As llama.cpp: the first token's leading space is removed, but that
	// first token is the BOS here (and removeSpecial keeps the space too).
	require.Equal(t, " Once upon a time", tok.Decode(ids))
	require.Equal(t, "Once upon a time", tok.Decode(ids[1:]))
	require.Equal(t, " Once upon a time", tok.Detokenize(ids, true, false))
	require.Equal(t, "<s> Once upon a time", tok.Detokenize(ids, false, true))
}

// goldenFile is the part of testdata/golden/*.json (llama.cpp's reference
// runs, see scripts/ref) that concerns the tokenizer.
type goldenFile struct {
	ModelFile string `json:"model_file"`
	Cases     []struct {
		Prompt       string  `json:"prompt"`
		PromptTokens []int32 `json:"prompt_tokens"`
		Tokens       []int32 `json:"tokens"`
		Text         string  `json:"text"`
		TextAlone    string  `json:"text_alone"`
	} `json:"cases"`
}

// TestGolden checks prompt tokens and the text of greedy continuations
// against llama.cpp's (node-llama-cpp) reference runs. stories260K comes
// from ../shared; the other models only when scripts/fetch-model.sh has put
// them in its cache.
func TestGolden(t *testing.T) {
	cache := testmodels.CacheDir()
	for _, name := range []string{"stories260K", "smollm2-135m-instruct", "gemma3-270m"} {
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "golden", name+".json"))
			if err != nil {
				t.Skipf("no golden file: %v", err)
			}
			var g goldenFile
			require.NoError(t, json.Unmarshal(data, &g))
			var tok *Tokenizer
			if name == "stories260K" {
				tok = openPath(t, filepath.Join("models", "stories260K.gguf"))
			} else {
				path := filepath.Join(cache, g.ModelFile)
				if _, err := os.Stat(path); err != nil {
					t.Skipf("%s not fetched (scripts/fetch-model.sh %s): %v", path, name, err)
				}
				tok = openAbs(t, path)
			}
			require.NotEmpty(t, g.Cases)
			for _, c := range g.Cases {
				require.Equal(t, c.PromptTokens, tok.Encode(c.Prompt, AddSpecial), "prompt %q", c.Prompt)
				require.Equal(t, c.TextAlone, tok.Decode(c.Tokens))
				s := tok.NewStreamAfter(c.PromptTokens)
				var b strings.Builder
				for _, id := range c.Tokens {
					b.WriteString(s.Add(id))
				}
				b.WriteString(s.Flush())
				require.Equal(t, c.Text, b.String(), "continuation of %q", c.Prompt)
			}
		})
	}
}

func TestSpecialTokens(t *testing.T) {
	t.Run("llama-bpe", func(t *testing.T) {
		tok := openVocab(t, "llama-bpe")
		require.Equal(t, "gpt2", tok.Model())
		require.Equal(t, "llama-bpe", tok.Pre())
		require.True(t, tok.AddBOS()) // llama3 pre-tokenizers add BOS by default
		bos, ok := tok.TokenID("<|begin_of_text|>")
		require.True(t, ok)
		require.Equal(t, bos, tok.BOS())
		eot, ok := tok.TokenID("<|eot_id|>")
		require.True(t, ok)
		require.Equal(t, eot, tok.EOT())
		require.True(t, tok.IsEOG(eot))
		require.True(t, tok.IsEOG(tok.EOS()))
		require.False(t, tok.IsEOG(bos))
		hello := tok.Encode("Hello")
		require.Equal(t, []int32{9906}, hello) // from the vectors

		text := "<|begin_of_text|>Hello<|eot_id|>"
		require.Equal(t, []int32{bos, 9906, eot}, tok.Encode(text, ParseSpecial))
		require.Equal(t, []int32{bos, bos, 9906, eot}, tok.Encode(text, AddSpecial, ParseSpecial))
		plain := tok.Encode(text)
		require.NotContains(t, plain, bos)
		require.Equal(t, text, tok.Decode(plain))
		require.Equal(t, "Hello", tok.Decode([]int32{bos, 9906, eot}))
		require.Equal(t, text, tok.Detokenize([]int32{bos, 9906, eot}, false, true))
		require.Equal(t, "<|eot_id|>", tok.Piece(eot))
	})
	t.Run("phi-3", func(t *testing.T) {
		tok := openVocab(t, "phi-3")
		user, ok := tok.TokenID("<|user|>")
		require.True(t, ok)
		end, _ := tok.TokenID("<|end|>")
		require.True(t, tok.IsEOG(end))
		require.True(t, tok.IsEOG(tok.EOS()))
		// Phi-3's special tokens strip the white space after them, and the
		// text after a special token gets SPM's space prefix.
		require.Equal(t, []int32{user, 15043, end}, tok.Encode("<|user|>\nHello<|end|>", ParseSpecial))
		require.Equal(t, []int32{1, user, 15043}, tok.Encode("<|user|> Hello", AddSpecial, ParseSpecial))
	})
	t.Run("gpt-2", func(t *testing.T) {
		tok := openVocab(t, "gpt-2")
		require.False(t, tok.AddBOS())
		require.Equal(t, int32(50256), tok.EOS())
		require.True(t, tok.IsEOG(50256))
		require.Equal(t, []int32{15496, 50256}, tok.Encode("Hello<|endoftext|>", ParseSpecial))
		require.Equal(t, []int32{15496}, tok.Encode("Hello", AddSpecial))
	})
}

// TestRoundTrip checks Decode(Encode(s)) on the vector inputs: the text
// comes back, after llama.cpp's space clean-up for the BPE vocabularies
// that use it.
func TestRoundTrip(t *testing.T) {
	for _, name := range vocabFiles {
		t.Run(name, func(t *testing.T) {
			tok := openVocab(t, name)
			for _, v := range readVectors(t, name) {
				want := v.text
				if tok.cleanSpaces {
					want = string(cleanSpaces([]byte(v.text)))
				}
				require.Equal(t, want, tok.Decode(tok.Encode(v.text)), "input %q", v.text)
			}
		})
	}
}

// TestBPEVocabRoundTrip is llama.cpp's test-tokenizer-1-bpe: every token's
// text, and every code point, survive detokenize(tokenize(x)).
func TestBPEVocabRoundTrip(t *testing.T) {
	for _, name := range []string{"gpt-2", "llama-bpe"} {
		t.Run(name, func(t *testing.T) {
			tok := openVocab(t, name)
			for id := range int32(tok.VocabSize()) {
				s := tok.Detokenize([]int32{id}, false, true)
				if !utf8.ValidString(s) {
					continue // llama.cpp skips what its UTF-8 decoder rejects
				}
				ids := tok.Encode(s, ParseSpecial)
				require.Equal(t, s, tok.Detokenize(ids, false, true), "token %d", id)
			}
			step := rune(1)
			if testing.Short() {
				step = 97
			}
			for r := rune(0); r < 0x110000; r += step {
				if r >= 0xd800 && r <= 0xdfff || r >= 0x40000 && r <= 0xe0000 {
					continue
				}
				s := string(r)
				require.Equal(t, s, tok.Detokenize(tok.Encode(s), false, true), "code point %U", r)
			}
		})
	}
}

func TestStreamByteFallback(t *testing.T) {
	for _, tc := range []struct {
		vocab, text string
	}{
		{"llama-spm", "🦙 llamas 日本語のテキスト 😶‍🌫️ done"},
		{"phi-3", "😁 ?我想在apple工作1314151天～"},
		{"gpt-2", "🦙 llamas 日本語のテキスト 😶‍🌫️ done"},
		{"llama-bpe", "កាន់តែពិសេសអាចខលចេញ 🚀"},
	} {
		t.Run(tc.vocab, func(t *testing.T) {
			tok := openVocab(t, tc.vocab)
			ids := tok.Encode(tc.text)
			if tok.kind == spm {
				// The emoji is not in the SPM vocabulary: it must come as bytes.
				b0, ok := tok.TokenID("<0xF0>")
				require.True(t, ok)
				require.Contains(t, ids, b0)
			}
			s := tok.NewStream()
			var chunks []string
			for _, id := range ids {
				chunks = append(chunks, s.Add(id))
			}
			chunks = append(chunks, s.Flush())
			for _, c := range chunks {
				require.True(t, utf8.ValidString(c), "chunk %q", c)
			}
			require.Equal(t, tok.Decode(ids), strings.Join(chunks, ""))
			require.Equal(t, tc.text, strings.Join(chunks, ""))
		})
	}
}

// TestStreamCleanSpaces feeds random ids rich in spaces, quotes and
// punctuation: the stream must match Decode's clean-up exactly.
func TestStreamCleanSpaces(t *testing.T) {
	tok := openVocab(t, "gpt-2")
	require.True(t, tok.cleanSpaces)
	var pool []int32
	for _, w := range []string{"'", "s", "t", "re", "ve", "m", "?", "!", ".", ",", "a", "Ġ", "Ġ'", "'s", "Ġ?", "Ġ,", "ll", "d"} {
		id, ok := tok.TokenID(w)
		require.True(t, ok, w)
		pool = append(pool, id)
	}
	rng := rand.New(rand.NewSource(1))
	for range 2000 {
		ids := make([]int32, 1+rng.Intn(12))
		for i := range ids {
			ids[i] = pool[rng.Intn(len(pool))]
		}
		s := tok.NewStream()
		var b strings.Builder
		for _, id := range ids {
			b.WriteString(s.Add(id))
		}
		b.WriteString(s.Flush())
		require.Equal(t, tok.Decode(ids), b.String(), "ids %v", ids)

		split := rng.Intn(len(ids))
		s = tok.NewStreamAfter(ids[:split])
		b.Reset()
		for _, id := range ids[split:] {
			b.WriteString(s.Add(id))
		}
		b.WriteString(s.Flush())
		head, all := tok.Decode(ids[:split]), tok.Decode(ids)
		if strings.HasPrefix(all, head) {
			require.Equal(t, all[len(head):], b.String(), "ids %v after %d", ids, split)
		}
	}
}

func TestStreamInvalidBytes(t *testing.T) {
	tok := openVocab(t, "llama-spm")
	b := func(x string) int32 {
		id, ok := tok.TokenID(x)
		require.True(t, ok, x)
		return id
	}
	s := tok.NewStream()
	require.Equal(t, "", s.Add(b("<0xE2>")))
	require.Equal(t, "", s.Add(b("<0x82>")))
	require.Equal(t, "€", s.Add(b("<0xAC>")))
	require.Equal(t, "\uFFFDA", s.Add(b("<0xFF>"))+s.Add(b("<0x41>")))
	require.Equal(t, "", s.Add(b("<0xF0>")))
	require.Equal(t, "\uFFFD", s.Flush())
}
