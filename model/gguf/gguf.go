// Package gguf reads and writes GGUF files (versions 2 and 3), the model
// format of llama.cpp: a header of typed key/value metadata and tensor
// descriptions, followed by an aligned data section with the tensor bytes.
//
// Open memory-maps a file and validates all of it up front (header, every
// value, every tensor's type, shape and byte range), so code that uses a
// *File never has to bounds-check tensor data itself.
package gguf

import (
	"errors"
	"fmt"
	"math"

	"github.com/tscale/engine/quant"
)

// Sentinel errors; every error from Open and Parse wraps one of them.
var (
	ErrTruncated   = errors.New("truncated file")
	ErrFormat      = errors.New("invalid format")
	ErrVersion     = errors.New("unsupported version")
	ErrUnknownType = errors.New("unknown type")
)

// ValueType is the type of a metadata value, numbered as in the GGUF spec.
type ValueType uint32

const (
	Uint8   ValueType = 0
	Int8    ValueType = 1
	Uint16  ValueType = 2
	Int16   ValueType = 3
	Uint32  ValueType = 4
	Int32   ValueType = 5
	Float32 ValueType = 6
	Bool    ValueType = 7
	String  ValueType = 8
	Array   ValueType = 9
	Uint64  ValueType = 10
	Int64   ValueType = 11
	Float64 ValueType = 12
)

var typeNames = [...]string{"uint8", "int8", "uint16", "int16", "uint32", "int32",
	"float32", "bool", "string", "array", "uint64", "int64", "float64"}

func (t ValueType) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return fmt.Sprintf("value_type(%d)", uint32(t))
}

// size is the encoded size of a fixed-size type, 0 for string and array.
func (t ValueType) size() int {
	switch t {
	case Uint8, Int8, Bool:
		return 1
	case Uint16, Int16:
		return 2
	case Uint32, Int32, Float32:
		return 4
	case Uint64, Int64, Float64:
		return 8
	}
	return 0
}

func (t ValueType) valid() bool { return t <= Float64 }

// DefaultAlignment is the data alignment when general.alignment is absent.
const DefaultAlignment = 32

// MaxDims is the most dimensions a tensor may have (GGML_MAX_DIMS).
const MaxDims = 4

// maxDepth bounds array nesting: [] of [] of ... to this many levels.
const maxDepth = 8

// KV is one metadata entry. Value holds uint8, int8, uint16, int16, uint32,
// int32, float32, bool, string, uint64, int64 or float64; an Array holds the
// matching typed slice ([]uint8 ... []float64, []bool, []string), and an
// array of arrays holds []any whose elements are such slices (or []any).
type KV struct {
	Key   string
	Type  ValueType
	Value any
}

// TensorInfo describes one tensor of a file.
type TensorInfo struct {
	Name   string
	Shape  []int64 // GGML order: Shape[0] is the contiguous (innermost) dimension
	Type   quant.Type
	Offset uint64 // relative to the start of the data section
	Size   int64  // bytes
}

// Elems is the number of elements of t.
func (t *TensorInfo) Elems() int64 {
	n := int64(1)
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// File is a parsed GGUF file. Tensor bytes from Data point into the file's
// memory mapping and are valid until Close.
type File struct {
	Path       string
	Version    uint32
	KVs        []KV         // in file order
	Tensors    []TensorInfo // in file order
	Alignment  uint64
	DataOffset int64 // absolute offset of the data section

	kv      map[string]int
	tensor  map[string]int
	data    []byte
	release func() error
}

// Close releases the file's memory mapping; tensor data becomes invalid.
func (f *File) Close() error {
	f.data = nil
	if f.release == nil {
		return nil
	}
	r := f.release
	f.release = nil
	return r()
}

// Get returns the entry for key.
func (f *File) Get(key string) (KV, bool) {
	i, ok := f.kv[key]
	if !ok {
		return KV{}, false
	}
	return f.KVs[i], true
}

// String returns a string value.
func (f *File) String(key string) (string, bool) {
	kv, _ := f.Get(key)
	s, ok := kv.Value.(string)
	return s, ok
}

// Bool returns a bool value.
func (f *File) Bool(key string) (bool, bool) {
	kv, _ := f.Get(key)
	b, ok := kv.Value.(bool)
	return b, ok
}

// Int returns a value of any integer type that fits in int64.
func (f *File) Int(key string) (int64, bool) {
	kv, _ := f.Get(key)
	return toInt(kv.Value)
}

// Uint returns a non-negative value of any integer type.
func (f *File) Uint(key string) (uint64, bool) {
	kv, _ := f.Get(key)
	if u, ok := kv.Value.(uint64); ok {
		return u, true
	}
	i, ok := toInt(kv.Value)
	if !ok || i < 0 {
		return 0, false
	}
	return uint64(i), true
}

// Float returns a value of any numeric type.
func (f *File) Float(key string) (float64, bool) {
	kv, _ := f.Get(key)
	return toFloat(kv.Value)
}

// Strings returns an array of strings.
func (f *File) Strings(key string) ([]string, bool) {
	kv, _ := f.Get(key)
	s, ok := kv.Value.([]string)
	return s, ok
}

// Float32s returns any numeric array converted to a new []float32.
func (f *File) Float32s(key string) ([]float32, bool) {
	kv, _ := f.Get(key)
	switch a := kv.Value.(type) {
	case []uint8:
		return floats(a), true
	case []int8:
		return floats(a), true
	case []uint16:
		return floats(a), true
	case []int16:
		return floats(a), true
	case []uint32:
		return floats(a), true
	case []int32:
		return floats(a), true
	case []uint64:
		return floats(a), true
	case []int64:
		return floats(a), true
	case []float32:
		return floats(a), true
	case []float64:
		return floats(a), true
	}
	return nil, false
}

// Int32s returns any integer array converted to a new []int32; it fails
// when an element does not fit in int32.
func (f *File) Int32s(key string) ([]int32, bool) {
	kv, _ := f.Get(key)
	var out []int32
	switch a := kv.Value.(type) {
	case []uint8:
		out = int32s(a)
	case []int8:
		out = int32s(a)
	case []uint16:
		out = int32s(a)
	case []int16:
		out = int32s(a)
	case []uint32:
		out = int32s(a)
	case []int32:
		out = int32s(a)
	case []uint64:
		out = int32s(a)
	case []int64:
		out = int32s(a)
	}
	return out, out != nil
}

// Arch returns general.architecture, or "".
func (f *File) Arch() string {
	s, _ := f.String("general.architecture")
	return s
}

// Tensor returns the tensor called name.
func (f *File) Tensor(name string) (*TensorInfo, bool) {
	i, ok := f.tensor[name]
	if !ok {
		return nil, false
	}
	return &f.Tensors[i], true
}

// Data returns t's bytes: a slice of the mapping, not a copy, so it must
// not be written to or used after Close. It returns nil for a tensor that
// does not lie inside this file.
func (f *File) Data(t *TensorInfo) []byte {
	start := uint64(f.DataOffset) + t.Offset
	end := start + uint64(t.Size)
	if f.DataOffset < 0 || t.Size < 0 || start < t.Offset || end < start || end > uint64(len(f.data)) {
		return nil
	}
	return f.data[start:end:end]
}

func toInt(v any) (int64, bool) {
	switch x := v.(type) {
	case uint8:
		return int64(x), true
	case int8:
		return int64(x), true
	case uint16:
		return int64(x), true
	case int16:
		return int64(x), true
	case uint32:
		return int64(x), true
	case int32:
		return int64(x), true
	case uint64:
		if x > math.MaxInt64 {
			return 0, false
		}
		return int64(x), true
	case int64:
		return x, true
	}
	return 0, false
}

func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case float32:
		return float64(x), true
	case float64:
		return x, true
	case uint64:
		return float64(x), true
	}
	i, ok := toInt(v)
	return float64(i), ok
}

type integer interface {
	~uint8 | ~int8 | ~uint16 | ~int16 | ~uint32 | ~int32 | ~uint64 | ~int64
}

func floats[S integer | ~float32 | ~float64](a []S) []float32 {
	out := make([]float32, len(a))
	for i, v := range a {
		out[i] = float32(v)
	}
	return out
}

// int32s converts a, or returns nil when an element does not fit.
func int32s[S integer](a []S) []int32 {
	out := make([]int32, len(a))
	for i, v := range a {
		x := int32(v)
		if S(x) != v || (x < 0) != (v < 0) {
			return nil
		}
		out[i] = x
	}
	return out
}
