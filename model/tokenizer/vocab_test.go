package tokenizer

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tscale/engine/model/gguf"
)

// shared is ../shared seen from the repository root.
var shared = filepath.Join("..", "..", "..", "shared")

var vocabFiles = []string{"llama-spm", "phi-3", "gpt-2", "llama-bpe"}

var (
	vocabMu    sync.Mutex
	vocabCache = map[string]*Tokenizer{}
)

// openPath loads a tokenizer from a GGUF file under ../shared, skipping the
// test when the file is absent.
func openPath(tb testing.TB, rel string) *Tokenizer {
	tb.Helper()
	vocabMu.Lock()
	defer vocabMu.Unlock()
	if tok, ok := vocabCache[rel]; ok {
		return tok
	}
	path := filepath.Join(shared, rel)
	if _, err := os.Stat(path); err != nil {
		tb.Skipf("%s not found (../shared is absent): %v", path, err)
	}
	f, err := gguf.Open(path)
	require.NoError(tb, err)
	defer f.Close()
	tok, err := FromGGUF(f)
	require.NoError(tb, err)
	vocabCache[rel] = tok
	return tok
}

func openVocab(tb testing.TB, name string) *Tokenizer {
	return openPath(tb, filepath.Join("testdata", "vocab", "ggml-vocab-"+name+".gguf"))
}

type vector struct {
	text string
	ids  []int32
}

// readVectors reads a .inp/.out pair the way llama.cpp's test-tokenizer-0
// does: inputs are separated by "\n__ggml_vocab_test__\n" (so each input
// keeps all but the newline before the separator), outputs are one line of
// space-separated ids each.
func readVectors(t *testing.T, name string) []vector {
	t.Helper()
	return readVectorFiles(t, filepath.Join(shared, "testdata", "vocab", "ggml-vocab-"+name+".gguf"))
}

func readVectorFiles(t *testing.T, base string) []vector {
	t.Helper()
	inp, err := os.ReadFile(base + ".inp")
	require.NoError(t, err)
	outp, err := os.ReadFile(base + ".out")
	require.NoError(t, err)

	const sep = "\n__ggml_vocab_test__\n"
	raw := string(inp)
	var texts []string
	for pos := 0; pos < len(raw); {
		next := strings.Index(raw[pos:], sep)
		if next < 0 {
			texts = append(texts, raw[pos:])
			break
		}
		texts = append(texts, raw[pos:pos+next])
		pos += next + len(sep)
	}
	lines := strings.Split(strings.TrimSuffix(string(outp), "\n"), "\n")
	require.Len(t, lines, len(texts), "%s: inputs and outputs differ in number", base)

	vs := make([]vector, len(texts))
	for i, text := range texts {
		vs[i].text = text
		for _, f := range strings.Fields(lines[i]) {
			id, err := strconv.Atoi(f)
			require.NoError(t, err)
			vs[i].ids = append(vs[i].ids, int32(id))
		}
	}
	return vs
}

func TestVocabVectors(t *testing.T) {
	for _, name := range vocabFiles {
		t.Run(name, func(t *testing.T) {
			tok := openVocab(t, name)
			checkVectors(t, tok, readVectors(t, name))
		})
	}
}

func checkVectors(t *testing.T, tok *Tokenizer, vs []vector) {
	t.Helper()
	require.NotEmpty(t, vs)
	for _, v := range vs {
		got := tok.Encode(v.text)
		if len(v.ids) == 0 {
			require.Empty(t, got, "input %q", v.text)
			continue
		}
		require.Equal(t, v.ids, got, "input %q", v.text)
	}
}

// TestExtraVocabVectors runs every ggml-vocab-*.gguf with .inp/.out in
// $TOKENIZER_VOCAB_DIR (e.g. llama.cpp's models/ directory), skipping the
// vocabularies whose model or pre-tokenizer this package does not support.
func TestExtraVocabVectors(t *testing.T) {
	dir := os.Getenv("TOKENIZER_VOCAB_DIR")
	if dir == "" {
		t.Skip("set TOKENIZER_VOCAB_DIR to a directory of ggml-vocab-*.gguf(.inp/.out) files, e.g. llama.cpp/models")
	}
	inps, err := filepath.Glob(filepath.Join(dir, "ggml-vocab-*.gguf.inp"))
	require.NoError(t, err)
	require.NotEmpty(t, inps, "no ggml-vocab-*.gguf.inp in %s", dir)
	for _, inp := range inps {
		base := strings.TrimSuffix(inp, ".inp")
		t.Run(filepath.Base(base), func(t *testing.T) {
			f, err := gguf.Open(base)
			require.NoError(t, err)
			defer f.Close()
			tok, err := FromGGUF(f)
			if err != nil && strings.Contains(err.Error(), "unsupported") {
				t.Skip(err)
			}
			require.NoError(t, err)
			checkVectors(t, tok, readVectorFiles(t, base))
		})
	}
}

// openAbs loads a tokenizer from any GGUF file.
func openAbs(tb testing.TB, path string) *Tokenizer {
	tb.Helper()
	f, err := gguf.Open(path)
	require.NoError(tb, err)
	defer f.Close()
	tok, err := FromGGUF(f)
	require.NoError(tb, err)
	return tok
}
