package tokenizer

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tscale/engine/internal/testmodels"
	"github.com/tscale/engine/model/gguf"
)

// gptossPath is gpt-oss's tokenizer.json from scripts/fetch-model.sh
// gpt-oss-vocab; $GPTOSS_TOKENIZER may name another copy.
func gptossPath() (string, error) {
	path := testmodels.GPTOSSTokenizer()
	_, err := os.Stat(path)
	return path, err
}

func gptossJSON(tb testing.TB) string {
	tb.Helper()
	if testing.Short() {
		// Building the 201k-token vocabulary takes ~1 s, ~8 s with -race.
		tb.Skip("gpt-oss vocabulary: skipped in -short mode")
	}
	path, err := gptossPath()
	if err != nil {
		tb.Skipf("gpt-oss tokenizer.json not found (run scripts/fetch-model.sh gpt-oss-vocab): %v", err)
	}
	return path
}

// gptossVocabSize is config.json's vocab_size of gpt-oss-20b and -120b.
const gptossVocabSize = 201088

// gptossGGUF builds the vocabulary-only GGUF of gpt-oss with tokenizer
// metadata from HFToGGUF and pre-tokenizer pre. The architecture keys are
// gpt-oss-20b's; llama.cpp needs them to load the file, the tokenizer does
// not read them. scripts/ref/vocab-gptoss.mjs tokenizes this same file with
// llama.cpp.
func gptossGGUF(tb testing.TB, pre string) []byte {
	tb.Helper()
	path := gptossJSON(tb)
	tj, err := os.ReadFile(path)
	require.NoError(tb, err)
	cfg, err := os.ReadFile(filepath.Join(filepath.Dir(path), "tokenizer_config.json"))
	require.NoError(tb, err)
	kvs, err := HFToGGUF(HFInput{Tokenizer: tj, Config: cfg, VocabSize: gptossVocabSize, Pre: pre})
	require.NoError(tb, err)

	w := gguf.NewWriter()
	set := func(k string, v any) { require.NoError(tb, w.Set(k, v)) }
	set("general.architecture", "gpt-oss")
	set("general.name", "gpt-oss vocab")
	for _, kv := range []struct {
		k string
		v uint32
	}{
		{"context_length", 131072}, {"embedding_length", 2880}, {"block_count", 24},
		{"feed_forward_length", 2880}, {"attention.head_count", 64}, {"attention.head_count_kv", 8},
		{"attention.key_length", 64}, {"attention.value_length", 64}, {"expert_count", 32},
		{"expert_used_count", 4}, {"expert_feed_forward_length", 2880}, {"attention.sliding_window", 128},
		{"vocab_size", gptossVocabSize},
	} {
		set("gpt-oss."+kv.k, kv.v)
	}
	set("gpt-oss.rope.freq_base", float32(150000))
	set("gpt-oss.attention.layer_norm_rms_epsilon", float32(1e-5))
	for _, kv := range kvs {
		set(kv.Key, kv.Value)
	}
	var b bytes.Buffer
	_, err = w.WriteTo(&b)
	require.NoError(tb, err)
	return b.Bytes()
}

var (
	gptossOnce sync.Once
	gptossTok  *Tokenizer
	gptossSum  string
	gptossErr  error
)

// openGptOss returns the gpt-oss tokenizer read back from its GGUF, and
// the GGUF's sha256; it is built once per test binary.
func openGptOss(tb testing.TB) (*Tokenizer, string) {
	tb.Helper()
	gptossJSON(tb) // skip before the Once when the file is absent
	gptossOnce.Do(func() {
		data := gptossGGUF(tb, "gpt-4o")
		sum := sha256.Sum256(data)
		gptossSum = hex.EncodeToString(sum[:])
		f, err := gguf.Parse(data, "gpt-oss-vocab.gguf")
		if err != nil {
			gptossErr = err
			return
		}
		gptossTok, gptossErr = FromGGUF(f)
	})
	require.NoError(tb, gptossErr)
	require.NotNil(tb, gptossTok)
	return gptossTok, gptossSum
}

// TestWriteGptOssVocab writes the vocabulary-only GGUFs that
// scripts/make-golden.sh hands to llama.cpp, one per pre-tokenizer name
// of llama.cpp's GPT4O type, into $GPTOSS_VOCAB_OUT (skipped without it).
func TestWriteGptOssVocab(t *testing.T) {
	dir := os.Getenv("GPTOSS_VOCAB_OUT")
	if dir == "" {
		t.Skip("set GPTOSS_VOCAB_OUT to a directory to write gpt-oss-vocab-PRE.gguf files (scripts/make-golden.sh does)")
	}
	for _, pre := range gpt4oNames {
		require.NoError(t, os.WriteFile(filepath.Join(dir, "gpt-oss-vocab-"+pre+".gguf"), gptossGGUF(t, pre), 0o644))
	}
}

// gpt4oNames are the tokenizer.ggml.pre names llama.cpp runs with the
// GPT4O regex; "gpt-4o" is gpt-oss's own.
var gpt4oNames = []string{"gpt-4o", "llama4", "kanana2", "talkie", "minimax-m2"}

// gptossGolden is testdata/vocab-gptoss/gpt-oss.json: llama.cpp's
// tokenization of texts with the GGUF gptossGGUF builds, and Hugging Face
// tokenizers' (scripts/make-golden.sh).
type gptossGolden struct {
	GGUFSha256 string   `json:"gguf_sha256"`
	SameAs     []string `json:"same_as_gpt4o"`
	NInp       int      `json:"n_inp"`
	BOS        int32    `json:"bos"`
	EOS        int32    `json:"eos"`
	AddBOS     bool     `json:"add_bos"`
	EOG        []int32  `json:"eog"`
	Cases      []struct {
		Text           string  `json:"text"`
		IDs            []int32 `json:"ids"`             // parse_special=false
		IDsSpecial     []int32 `json:"ids_special"`     // parse_special=true
		Decoded        string  `json:"decoded"`         // detokenize(ids), special tokens not rendered
		DecodedSpecial string  `json:"decoded_special"` // detokenize(ids_special), rendered
		HF             []int32 `json:"hf_ids"`
	} `json:"cases"`
}

func readGptOssGolden(t *testing.T) *gptossGolden {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "vocab-gptoss", "gpt-oss.json"))
	require.NoError(t, err)
	var g gptossGolden
	require.NoError(t, json.Unmarshal(data, &g))
	require.NotEmpty(t, g.Cases)
	return &g
}

// TestGptOssGolden: the GGUF built here is byte for byte the one llama.cpp
// read, and every text tokenizes and detokenizes to llama.cpp's result.
func TestGptOssGolden(t *testing.T) {
	tok, sum := openGptOss(t)
	g := readGptOssGolden(t)
	require.Equal(t, g.GGUFSha256, sum, "the gpt-oss GGUF built by HFToGGUF differs from the one llama.cpp tokenized; regenerate with scripts/make-golden.sh")
	require.Equal(t, gptossVocabSize, tok.VocabSize())
	require.Equal(t, g.BOS, tok.BOS())
	require.Equal(t, g.EOS, tok.EOS())
	require.Equal(t, g.AddBOS, tok.AddBOS())
	require.Equal(t, g.EOG, tok.EOG())
	require.Equal(t, []string{"llama4", "kanana2", "talkie", "minimax-m2"}, g.SameAs)
	for _, c := range g.Cases {
		ids := tok.Encode(c.Text)
		require.Equal(t, c.IDs, nonNil(ids), "text %q", c.Text)
		require.Equal(t, c.IDsSpecial, nonNil(tok.Encode(c.Text, ParseSpecial)), "text %q, parse_special", c.Text)
		require.Equal(t, c.Decoded, tok.Detokenize(c.IDs, false, false), "text %q", c.Text)
		require.Equal(t, c.DecodedSpecial, tok.Detokenize(c.IDsSpecial, false, true), "text %q", c.Text)
	}
}

func nonNil(ids []int32) []int32 {
	if ids == nil {
		return []int32{}
	}
	return ids
}

// TestGptOssRoundTrip: gpt-4o keeps spaces as they are, so every text
// (valid UTF-8) comes back from Decode(Encode(text)), also with special
// tokens parsed when they are rendered.
func TestGptOssRoundTrip(t *testing.T) {
	tok, _ := openGptOss(t)
	require.False(t, tok.cleanSpaces)
	for _, c := range readGptOssGolden(t).Cases {
		require.Equal(t, c.Text, tok.Decode(tok.Encode(c.Text)), "text %q", c.Text)
		require.Equal(t, c.Text, tok.Detokenize(tok.Encode(c.Text, ParseSpecial), false, true), "text %q", c.Text)
	}
}

// hfDiffers lists the golden texts that Hugging Face's tokenizer (the
// official one) tokenizes differently from llama.cpp. All are combining
// marks: tokenizer.json's regex counts \p{M} as part of a word, llama.cpp's
// collapsed std::regex sees marks as punctuation-like "other" code points,
// so "स्ते" breaks at the virama and vowel signs. (llama.cpp also loses the
// case of non-ASCII letters, "ÀB" splits as "À" "B", but no golden text
// tokenizes differently because of that.) The Go tokenizer follows llama.cpp.
var hfDiffers = []string{
	"កាន់តែពិសេសអាចខលចេញ",
	"\n \n\n \n\n\n \t \t\t \t\n  \n   \n    \n     \n🚀 (normal) 😶\u200d🌫️ (multiple emojis concatenated) ✅ 🦙🦙 3 33 333 3333 33333 333333 3333333 33333333 3.3 3..3 3...3 កាន់តែពិសេសអាច😁 ?我想在apple工作1314151天～ ------======= нещо на Български ''''''```````\"\"\"\"......!!!!!!?????? I've been 'told he's there, 'RE you sure? 'M not sure I'll make it, 'D you like some tea? We'Ve a'lL",
	"नमस्ते",
}

func TestGptOssVsHF(t *testing.T) {
	g := readGptOssGolden(t)
	var differ []string
	for _, c := range g.Cases {
		require.NotNil(t, c.HF, "no hf_ids for %q: run scripts/ref/hf-gptoss.py", c.Text)
		if !slices.Equal(c.HF, c.IDsSpecial) {
			differ = append(differ, c.Text)
		}
	}
	require.Equal(t, hfDiffers, differ)
}

// TestGptOssSpecial: harmony's special tokens. llama.cpp makes <|start|>,
// <|message|>, <|channel|>, <|constrain|> and <|end|> user-defined, so they
// are found in text even without parse_special; <|return|>, <|call|> and
// <|endoftext|> are control tokens and end generation.
func TestGptOssSpecial(t *testing.T) {
	tok, _ := openGptOss(t)
	id := func(w string) int32 {
		i, ok := tok.TokenID(w)
		require.True(t, ok, w)
		return i
	}
	start, msg, end, ret := id("<|start|>"), id("<|message|>"), id("<|end|>"), id("<|return|>")
	require.Equal(t, []int32{200006, 200008, 200007, 200002}, []int32{start, msg, end, ret})
	user := tok.Encode("user")
	hi := tok.Encode("hi")
	want := slices.Concat([]int32{start}, user, []int32{msg}, hi, []int32{end})
	for _, parse := range []bool{false, true} {
		require.Equal(t, want, tok.Encode("<|start|>user<|message|>hi<|end|>", AddSpecial, ParseSpecial.If(parse)))
	}
	require.Equal(t, []int32{ret}, tok.Encode("<|return|>", ParseSpecial))
	require.NotEqual(t, []int32{ret}, tok.Encode("<|return|>"))
	require.True(t, tok.IsControl(ret))
	require.False(t, tok.IsControl(start))
	require.True(t, tok.IsEOG(ret))
	require.False(t, tok.IsEOG(end))
	require.Equal(t, "[PAD201087]", tok.Token(201087))
	require.Equal(t, "<|start|>userhi", tok.Decode(tok.Encode("<|start|>user<|return|>hi", ParseSpecial)))
}

// TestGptOssRandom checks the golden's random texts (a fixed-seed mix of
// the code points each branch of the regex cares about); $GPTOSS_GOLDEN
// may name a bigger file made with vocab-gptoss.mjs --random N.
func TestGptOssRandom(t *testing.T) {
	tok, _ := openGptOss(t)
	path := os.Getenv("GPTOSS_GOLDEN")
	if path == "" {
		path = filepath.Join("..", "..", "testdata", "vocab-gptoss", "gpt-oss.json")
	}
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var g struct {
		Random []struct {
			Text       string  `json:"text"`
			IDs        []int32 `json:"ids"`
			IDsSpecial []int32 `json:"ids_special"`
		} `json:"random"`
	}
	require.NoError(t, json.Unmarshal(data, &g))
	require.NotEmpty(t, g.Random)
	for _, c := range g.Random {
		require.Equal(t, c.IDs, nonNil(tok.Encode(c.Text)), "text %q", c.Text)
		require.Equal(t, c.IDsSpecial, nonNil(tok.Encode(c.Text, ParseSpecial)), "text %q", c.Text)
		require.Equal(t, c.Text, tok.Decode(c.IDs), "text %q", c.Text)
	}
}
