// Package testmodels says where tests find the model files that
// scripts/fetch-model.sh downloads (they are never part of the repository).
package testmodels

import (
	"os"
	"path/filepath"
)

// CacheDir is the folder scripts/fetch-model.sh keeps models in:
// $ENGINE_CACHE/models, or ~/.cache/tscale/models.
func CacheDir() string {
	cache := os.Getenv("ENGINE_CACHE")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache", "tscale")
	}
	return filepath.Join(cache, "models")
}

// GPTOSSTokenizer is gpt-oss's tokenizer.json (with tokenizer_config.json
// beside it): $GPTOSS_TOKENIZER, or the copy `scripts/fetch-model.sh
// gpt-oss-vocab` caches. The file may be absent.
func GPTOSSTokenizer() string {
	if p := os.Getenv("GPTOSS_TOKENIZER"); p != "" {
		return p
	}
	return filepath.Join(CacheDir(), "gpt-oss-vocab", "tokenizer.json")
}
