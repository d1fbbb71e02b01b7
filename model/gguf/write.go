package gguf

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"os"

	"github.com/tscale/engine/quant"
)

// Writer builds a GGUF version 3 file from metadata and tensors.
type Writer struct {
	kvs     []KV
	keys    map[string]int
	tensors []wtensor
	names   map[string]bool
}

type wtensor struct {
	info TensorInfo
	data []byte
}

// NewWriter returns an empty Writer.
func NewWriter() *Writer {
	return &Writer{keys: map[string]int{}, names: map[string]bool{}}
}

// Set adds key with a value whose GGUF type follows from its Go type:
// uint8, int8, uint16, int16, uint32, int32, float32, bool, string, uint64,
// int64 and float64 map to the type of that name, and a slice of one of
// them to an array of it. int is stored as int64 and []int as an array of
// int64. []any is an array of arrays: every element must be a slice itself.
// Setting a key again replaces its value in place. general.alignment must
// be a uint32 power of two.
func (w *Writer) Set(key string, value any) error {
	t, v, err := normalize(value, 0)
	if err != nil {
		return fmt.Errorf("gguf: set %q: %w", key, err)
	}
	if key == "general.alignment" {
		a, ok := v.(uint32)
		if !ok || a == 0 || a&(a-1) != 0 {
			return fmt.Errorf("gguf: set %q: %v (%T) is not a uint32 power of two", key, value, value)
		}
	}
	kv := KV{Key: key, Type: t, Value: v}
	if i, ok := w.keys[key]; ok {
		w.kvs[i] = kv
		return nil
	}
	w.keys[key] = len(w.kvs)
	w.kvs = append(w.kvs, kv)
	return nil
}

// normalize returns the GGUF type of v and v as Parse would return it.
func normalize(v any, depth int) (ValueType, any, error) {
	switch x := v.(type) {
	case int:
		return Int64, int64(x), nil
	case []int:
		out := make([]int64, len(x))
		for i, e := range x {
			out[i] = int64(e)
		}
		return Array, out, nil
	case []any:
		if depth >= maxDepth {
			return 0, nil, fmt.Errorf("arrays nested deeper than %d levels", maxDepth)
		}
		out := make([]any, len(x))
		for i, e := range x {
			t, ev, err := normalize(e, depth+1)
			if err != nil {
				return 0, nil, err
			}
			if t != Array {
				return 0, nil, fmt.Errorf("array of arrays: element %d is a %T, not a slice", i, e)
			}
			out[i] = ev
		}
		return Array, out, nil
	}
	if t, ok := scalarType(v); ok {
		return t, v, nil
	}
	if _, ok := elemType(v); ok {
		if depth >= maxDepth {
			return 0, nil, fmt.Errorf("arrays nested deeper than %d levels", maxDepth)
		}
		return Array, v, nil
	}
	return 0, nil, fmt.Errorf("unsupported value type %T", v)
}

func scalarType(v any) (ValueType, bool) {
	switch v.(type) {
	case uint8:
		return Uint8, true
	case int8:
		return Int8, true
	case uint16:
		return Uint16, true
	case int16:
		return Int16, true
	case uint32:
		return Uint32, true
	case int32:
		return Int32, true
	case float32:
		return Float32, true
	case bool:
		return Bool, true
	case string:
		return String, true
	case uint64:
		return Uint64, true
	case int64:
		return Int64, true
	case float64:
		return Float64, true
	}
	return 0, false
}

// elemType is the element type of an array value.
func elemType(v any) (ValueType, bool) {
	switch v.(type) {
	case []uint8:
		return Uint8, true
	case []int8:
		return Int8, true
	case []uint16:
		return Uint16, true
	case []int16:
		return Int16, true
	case []uint32:
		return Uint32, true
	case []int32:
		return Int32, true
	case []float32:
		return Float32, true
	case []bool:
		return Bool, true
	case []string:
		return String, true
	case []uint64:
		return Uint64, true
	case []int64:
		return Int64, true
	case []float64:
		return Float64, true
	case []any:
		return Array, true
	}
	return 0, false
}

// AddTensor adds a tensor; data must hold exactly the tensor's bytes and is
// kept, not copied, until the file is written.
func (w *Writer) AddTensor(name string, typ quant.Type, shape []int64, data []byte) error {
	if w.names[name] {
		return fmt.Errorf("gguf: add tensor %q: duplicate name", name)
	}
	if !typ.Known() {
		return fmt.Errorf("gguf: add tensor %q: tensor type %d: %w", name, uint32(typ), ErrUnknownType)
	}
	if len(shape) == 0 || len(shape) > MaxDims {
		return fmt.Errorf("gguf: add tensor %q: %d dims, want 1 to %d", name, len(shape), MaxDims)
	}
	elems := int64(1)
	for _, d := range shape {
		if d <= 0 || d > math.MaxInt64/elems {
			return fmt.Errorf("gguf: add tensor %q: bad shape %v", name, shape)
		}
		elems *= d
	}
	size, err := tensorSize(typ, shape)
	if err != nil {
		return fmt.Errorf("gguf: add tensor %q: %w", name, err)
	}
	if int64(len(data)) != size {
		return fmt.Errorf("gguf: add tensor %q: %s %v needs %d bytes, got %d", name, typ, shape, size, len(data))
	}
	w.names[name] = true
	w.tensors = append(w.tensors, wtensor{
		info: TensorInfo{Name: name, Shape: append([]int64(nil), shape...), Type: typ, Size: size},
		data: data,
	})
	return nil
}

func (w *Writer) alignment() uint64 {
	if i, ok := w.keys["general.alignment"]; ok {
		return uint64(w.kvs[i].Value.(uint32))
	}
	return DefaultAlignment
}

// WriteTo writes a version 3 file: header, metadata, tensor infos, then
// each tensor's data padded to the alignment (general.alignment, default 32).
// It lays files out as llama.cpp does: rewriting a file read by Parse with
// the same metadata and tensors in the same order reproduces it byte for byte.
func (w *Writer) WriteTo(out io.Writer) (int64, error) {
	align := w.alignment()
	var off uint64
	for i := range w.tensors {
		t := &w.tensors[i].info
		t.Offset = off
		off = alignUp(off+uint64(t.Size), align)
	}

	e := &encoder{w: bufio.NewWriterSize(out, 1<<20)}
	e.raw([]byte("GGUF"))
	e.u32(3)
	e.u64(uint64(len(w.tensors)))
	e.u64(uint64(len(w.kvs)))
	for _, kv := range w.kvs {
		e.str(kv.Key)
		e.u32(uint32(kv.Type))
		e.value(kv.Value)
	}
	for _, t := range w.tensors {
		e.str(t.info.Name)
		e.u32(uint32(len(t.info.Shape)))
		for _, d := range t.info.Shape {
			e.u64(uint64(d))
		}
		e.u32(uint32(t.info.Type))
		e.u64(t.info.Offset)
	}
	// Like llama.cpp's vocab-only files, a file without tensors ends unpadded.
	if len(w.tensors) > 0 {
		e.pad(align)
	}
	for _, t := range w.tensors {
		e.raw(t.data)
		e.pad(align)
	}
	if e.err == nil {
		e.err = e.w.Flush()
	}
	return e.n, e.err
}

// WriteFile writes the file to path.
func (w *Writer) WriteFile(path string) error {
	fh, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("gguf: %w", err)
	}
	_, err = w.WriteTo(fh)
	if cerr := fh.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("gguf: write %s: %w", path, err)
	}
	return nil
}

// encoder writes little-endian values, keeping the first error and the
// number of bytes written.
type encoder struct {
	w   *bufio.Writer
	n   int64
	err error
	buf [8]byte
}

func (e *encoder) raw(b []byte) {
	if e.err != nil {
		return
	}
	n, err := e.w.Write(b)
	e.n += int64(n)
	e.err = err
}

func (e *encoder) u8(v uint8)   { e.raw([]byte{v}) }
func (e *encoder) u16(v uint16) { e.raw(le.AppendUint16(e.buf[:0], v)) }
func (e *encoder) u32(v uint32) { e.raw(le.AppendUint32(e.buf[:0], v)) }
func (e *encoder) u64(v uint64) { e.raw(le.AppendUint64(e.buf[:0], v)) }

func (e *encoder) str(s string) {
	e.u64(uint64(len(s)))
	if e.err == nil {
		n, err := e.w.WriteString(s)
		e.n += int64(n)
		e.err = err
	}
}

func (e *encoder) pad(align uint64) {
	if n := alignUp(uint64(e.n), align) - uint64(e.n); n > 0 {
		e.raw(make([]byte, n))
	}
}

// value writes v, which normalize has already checked.
func (e *encoder) value(v any) {
	switch x := v.(type) {
	case uint8:
		e.u8(x)
	case int8:
		e.u8(uint8(x))
	case uint16:
		e.u16(x)
	case int16:
		e.u16(uint16(x))
	case uint32:
		e.u32(x)
	case int32:
		e.u32(uint32(x))
	case float32:
		e.u32(math.Float32bits(x))
	case bool:
		if x {
			e.u8(1)
		} else {
			e.u8(0)
		}
	case string:
		e.str(x)
	case uint64:
		e.u64(x)
	case int64:
		e.u64(uint64(x))
	case float64:
		e.u64(math.Float64bits(x))
	case []uint8:
		e.array(Uint8, len(x))
		e.raw(x)
	case []int8:
		writeAll(e, Int8, x)
	case []uint16:
		writeAll(e, Uint16, x)
	case []int16:
		writeAll(e, Int16, x)
	case []uint32:
		writeAll(e, Uint32, x)
	case []int32:
		writeAll(e, Int32, x)
	case []float32:
		writeAll(e, Float32, x)
	case []bool:
		writeAll(e, Bool, x)
	case []string:
		writeAll(e, String, x)
	case []uint64:
		writeAll(e, Uint64, x)
	case []int64:
		writeAll(e, Int64, x)
	case []float64:
		writeAll(e, Float64, x)
	case []any:
		writeAll(e, Array, x)
	default:
		if e.err == nil {
			e.err = errors.New("gguf: internal error: unnormalized value")
		}
	}
}

func (e *encoder) array(t ValueType, n int) {
	e.u32(uint32(t))
	e.u64(uint64(n))
}

func writeAll[T any](e *encoder, t ValueType, a []T) {
	e.array(t, len(a))
	for _, v := range a {
		e.value(v)
	}
}
