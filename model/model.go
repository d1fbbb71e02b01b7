// Package model turns a GGUF file into a runnable transformer. Each
// architecture family lives in its own package and registers a loader here
// (as database/sql drivers do); model code is written only against the
// backend interface, so every backend runs it unchanged.
package model

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"

	"github.com/tscale/engine/backend"
	"github.com/tscale/engine/model/gguf"
)

// Model is a loaded transformer whose weights live on a backend.
type Model interface {
	// Hyper returns the model's hyperparameters.
	Hyper() Hyper
	// KVSpec sizes a KV cache of the given number of blocks for this model.
	KVSpec(blocks, blockSize int) backend.KVSpec
	// Forward runs one batch through the model, storing its keys and values
	// in kv, and returns the logits of the listed batch rows (one row each).
	Forward(b *backend.Batch, kv backend.KVCache, logitRows []int) (backend.Tensor, error)
}

// Hyper holds the hyperparameters common to decoder-only transformers.
type Hyper struct {
	Arch     string
	Vocab    int
	Context  int // trained context length
	Dim      int // embedding length
	Layers   int
	Heads    int
	KVHeads  int
	HeadDim  int
	FFN      int
	Experts  int // 0 for dense models
	ExpertsK int // experts used per token
}

// Loader builds a model of one architecture from a GGUF file.
type Loader func(f *gguf.File, be backend.Backend) (Model, error)

var (
	mu      sync.RWMutex
	loaders = map[string]Loader{}
)

// Register makes an architecture (the GGUF general.architecture value)
// loadable. It panics on a duplicate, which is a programming error.
func Register(arch string, l Loader) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := loaders[arch]; dup {
		panic("model: architecture registered twice: " + arch)
	}
	loaders[arch] = l
}

// Supported lists the registered architectures, sorted.
func Supported() []string {
	mu.RLock()
	defer mu.RUnlock()
	var s []string
	for a := range loaders {
		s = append(s, a)
	}
	slices.Sort(s)
	return s
}

// Load builds the model that f's general.architecture names.
func Load(f *gguf.File, be backend.Backend) (Model, error) {
	arch := f.Arch()
	if arch == "" {
		return nil, fmt.Errorf("%s: general.architecture is missing", f.Path)
	}
	mu.RLock()
	l, ok := loaders[arch]
	mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%s: architecture %q is not supported (supported: %s)", f.Path, arch, strings.Join(Supported(), ", "))
	}
	return l(f, be)
}

// Meta reads architecture-prefixed hyperparameters from a GGUF file and
// remembers the first error, so loaders can read many keys and check once.
type Meta struct {
	F    *gguf.File
	Arch string
	Err  error
}

// NewMeta returns a reader for f's keys under its architecture prefix.
func NewMeta(f *gguf.File) *Meta { return &Meta{F: f, Arch: f.Arch()} }

func (m *Meta) fail(format string, args ...any) {
	if m.Err == nil {
		m.Err = fmt.Errorf("%s: "+format, append([]any{m.F.Path}, args...)...)
	}
}

// Bad records that {arch}.key holds v, which is not valid; why says what
// a valid value is. Loaders use it so every metadata error names its key.
func (m *Meta) Bad(key string, v any, why string) {
	m.fail("%s.%s = %v: %s", m.Arch, key, v, why)
}

// Int reads {arch}.key as an int; when def is nil the key is required. A
// per-layer array is read as its value when every layer has the same one.
func (m *Meta) Int(key string, def ...int) int {
	full := m.Arch + "." + key
	kv, present := m.F.Get(full)
	if v, ok := m.F.Int(full); ok {
		if v < 0 || v > 1<<40 {
			m.fail("%s = %d is out of range", full, v)
			return 0
		}
		return int(v)
	}
	if a, ok := m.F.Int32s(full); ok {
		if len(a) == 0 || a[0] < 0 || slices.ContainsFunc(a, func(x int32) bool { return x != a[0] }) {
			m.Bad(key, a, "want one value >= 0 for every layer (per-layer values are not supported)")
			return 0
		}
		return int(a[0])
	}
	if present {
		m.fail("%s has type %s, want an integer", full, kv.Type)
		return 0
	}
	if len(def) > 0 {
		return def[0]
	}
	m.fail("required key %s is missing", full)
	return 0
}

// PosInt is Int for values that must be positive.
func (m *Meta) PosInt(key string, def ...int) int {
	v := m.Int(key, def...)
	if v <= 0 {
		m.Bad(key, v, "must be positive")
	}
	return v
}

// Float reads {arch}.key as a float32; when def is nil the key is required.
// It rejects NaN and infinities (also a float64 beyond float32's range);
// PosFloat also rejects values <= 0.
func (m *Meta) Float(key string, def ...float32) float32 {
	v, ok := m.float(key, def)
	if ok && !finite(v) {
		m.Bad(key, v, "must be a finite number")
	}
	return float32(v)
}

// PosFloat reads {arch}.key as a float32 that must be positive and finite
// (as norm epsilons, RoPE bases and scaling factors must).
func (m *Meta) PosFloat(key string, def ...float32) float32 {
	v, ok := m.float(key, def)
	if ok && (!finite(v) || float32(v) <= 0) {
		m.Bad(key, v, "must be a positive finite number")
	}
	return float32(v)
}

// float reads {arch}.key, or def[0]; ok is false when it failed.
func (m *Meta) float(key string, def []float32) (float64, bool) {
	full := m.Arch + "." + key
	kv, present := m.F.Get(full)
	if v, ok := m.F.Float(full); ok {
		return v, true
	}
	if present {
		m.fail("%s has type %s, want a number", full, kv.Type)
		return 0, false
	}
	if len(def) > 0 {
		return float64(def[0]), true
	}
	m.fail("required key %s is missing", full)
	return 0, false
}

// finite reports whether v is a number that float32 holds finitely.
func finite(v float64) bool {
	return !math.IsNaN(v) && !math.IsInf(float64(float32(v)), 0)
}

// String reads {arch}.key, or def when absent.
func (m *Meta) String(key, def string) string {
	full := m.Arch + "." + key
	if v, ok := m.F.String(full); ok {
		return v
	}
	if kv, ok := m.F.Get(full); ok {
		m.fail("%s has type %s, want a string", full, kv.Type)
	}
	return def
}

// Weights uploads tensors by name and remembers the first error.
type Weights struct {
	F   *gguf.File
	BE  backend.Backend
	Err error
}

// Get uploads tensor name, which must exist and have the given shape
// (GGML order); a nil shape skips the shape check.
func (w *Weights) Get(name string, shape ...int64) backend.Weight {
	t, ok := w.F.Tensor(name)
	if !ok {
		if w.Err == nil {
			w.Err = fmt.Errorf("%s: tensor %s is missing", w.F.Path, name)
		}
		return nil
	}
	return w.upload(t, shape)
}

// Opt uploads tensor name if present, or returns nil.
func (w *Weights) Opt(name string, shape ...int64) backend.Weight {
	t, ok := w.F.Tensor(name)
	if !ok {
		return nil
	}
	return w.upload(t, shape)
}

func (w *Weights) upload(t *gguf.TensorInfo, shape []int64) backend.Weight {
	if w.Err != nil {
		return nil
	}
	if shape != nil && !slices.Equal(shape, t.Shape) {
		w.Err = fmt.Errorf("%s: tensor %s has shape %v, want %v", w.F.Path, t.Name, t.Shape, shape)
		return nil
	}
	wt, err := w.BE.Upload(t.Name, t.Type, t.Shape, w.F.Data(t))
	if err != nil {
		w.Err = fmt.Errorf("%s: %w", w.F.Path, err)
		return nil
	}
	return wt
}
