package gguf

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"sort"

	"github.com/tscale/engine/quant"
)

var le = binary.LittleEndian

// Smallest encodings, used to reject counts that cannot fit in the bytes
// left before anything is allocated from them.
const (
	minKV     = 8 + 4 + 1         // empty key, type, 1-byte value
	minTensor = 8 + 4 + 8 + 4 + 8 // empty name, n_dims, one dim, type, offset
)

// Parse validates and decodes a GGUF file held in data; name is used in
// error messages and as File.Path. Tensor data slices alias data.
func Parse(data []byte, name string) (*File, error) {
	p := &parser{data: data}
	f, err := p.file()
	if err != nil {
		return nil, fmt.Errorf("gguf %s: %w", name, err)
	}
	f.Path = name
	f.data = data
	return f, nil
}

type parser struct {
	data []byte
	off  int
}

// take returns the next n bytes.
func (p *parser) take(n int) ([]byte, error) {
	if n < 0 || n > len(p.data)-p.off {
		return nil, fmt.Errorf("need %d bytes at offset %d, file has %d: %w", n, p.off, len(p.data), ErrTruncated)
	}
	b := p.data[p.off : p.off+n]
	p.off += n
	return b, nil
}

func (p *parser) left() int { return len(p.data) - p.off }

func (p *parser) u32() (uint32, error) {
	b, err := p.take(4)
	if err != nil {
		return 0, err
	}
	return le.Uint32(b), nil
}

func (p *parser) u64() (uint64, error) {
	b, err := p.take(8)
	if err != nil {
		return 0, err
	}
	return le.Uint64(b), nil
}

func (p *parser) str() (string, error) {
	at := p.off
	n, err := p.u64()
	if err != nil {
		return "", err
	}
	if n > uint64(p.left()) {
		return "", fmt.Errorf("string length %d at offset %d runs past end of file (%d bytes left): %w", n, at, p.left(), ErrTruncated)
	}
	b, _ := p.take(int(n))
	return string(b), nil
}

func (p *parser) file() (*File, error) {
	magic, err := p.take(4)
	if err != nil {
		return nil, fmt.Errorf("magic: %w", err)
	}
	if string(magic) != "GGUF" {
		return nil, fmt.Errorf("bad magic %q, want \"GGUF\": %w", magic, ErrFormat)
	}
	v, err := p.u32()
	if err != nil {
		return nil, fmt.Errorf("version: %w", err)
	}
	switch {
	case v == 1:
		return nil, fmt.Errorf("version 1 not supported (only 2 and 3): %w", ErrVersion)
	case v&0xffff == 0 && (bits.ReverseBytes32(v) == 2 || bits.ReverseBytes32(v) == 3):
		return nil, fmt.Errorf("big-endian file (version %d) not supported: %w", bits.ReverseBytes32(v), ErrVersion)
	case v != 2 && v != 3:
		return nil, fmt.Errorf("version %d not supported (only 2 and 3): %w", v, ErrVersion)
	}
	nt, err := p.u64()
	if err != nil {
		return nil, fmt.Errorf("tensor_count: %w", err)
	}
	nkv, err := p.u64()
	if err != nil {
		return nil, fmt.Errorf("kv_count: %w", err)
	}
	if nkv > uint64(p.left()/minKV) {
		return nil, fmt.Errorf("kv_count %d too large for the %d bytes left: %w", nkv, p.left(), ErrTruncated)
	}
	if nt > uint64(p.left()/minTensor) {
		return nil, fmt.Errorf("tensor_count %d too large for the %d bytes left: %w", nt, p.left(), ErrTruncated)
	}

	f := &File{
		Version:   v,
		KVs:       make([]KV, 0, nkv),
		Tensors:   make([]TensorInfo, 0, nt),
		Alignment: DefaultAlignment,
		kv:        make(map[string]int, nkv),
		tensor:    make(map[string]int, nt),
	}
	for i := range int(nkv) {
		kv, err := p.kv()
		if err != nil {
			return nil, fmt.Errorf("kv %d %q: %w", i, kv.Key, err)
		}
		if j, dup := f.kv[kv.Key]; dup {
			return nil, fmt.Errorf("kv %d: duplicate key %q (first at kv %d): %w", i, kv.Key, j, ErrFormat)
		}
		f.kv[kv.Key] = i
		f.KVs = append(f.KVs, kv)
	}
	if kv, ok := f.Get("general.alignment"); ok {
		a, ok := kv.Value.(uint32)
		if !ok {
			return nil, fmt.Errorf("general.alignment has type %s, want uint32: %w", kv.Type, ErrFormat)
		}
		if a == 0 || a&(a-1) != 0 {
			return nil, fmt.Errorf("general.alignment %d is not a power of two: %w", a, ErrFormat)
		}
		f.Alignment = uint64(a)
	}

	for i := range int(nt) {
		t, err := p.tensor()
		if err != nil {
			return nil, fmt.Errorf("tensor %d %q: %w", i, t.Name, err)
		}
		if j, dup := f.tensor[t.Name]; dup {
			return nil, fmt.Errorf("tensor %d: duplicate tensor name %q (first at tensor %d): %w", i, t.Name, j, ErrFormat)
		}
		f.tensor[t.Name] = i
		f.Tensors = append(f.Tensors, t)
	}

	// The data section starts at the next multiple of the alignment. A file
	// without tensors may end before it (llama.cpp's vocab files do).
	f.DataOffset = int64(alignUp(uint64(p.off), f.Alignment))
	return f, f.checkRanges(int64(len(p.data)))
}

// checkRanges checks that every tensor's bytes are aligned, inside the
// file and disjoint from the others.
func (f *File) checkRanges(fileSize int64) error {
	avail := uint64(max(fileSize-f.DataOffset, 0))
	for i := range f.Tensors {
		t := &f.Tensors[i]
		if t.Offset%f.Alignment != 0 {
			return fmt.Errorf("tensor %q: offset %d is not a multiple of the alignment %d: %w", t.Name, t.Offset, f.Alignment, ErrFormat)
		}
		if t.Offset > avail || uint64(t.Size) > avail-t.Offset {
			return fmt.Errorf("tensor %q: data [%d, +%d) at offset %d runs past end of file (data section has %d bytes): %w",
				t.Name, t.Offset, t.Size, f.DataOffset, avail, ErrTruncated)
		}
	}
	order := make([]*TensorInfo, len(f.Tensors))
	for i := range f.Tensors {
		order[i] = &f.Tensors[i]
	}
	sort.Slice(order, func(i, j int) bool { return order[i].Offset < order[j].Offset })
	for i := 1; i < len(order); i++ {
		a, b := order[i-1], order[i]
		if a.Offset+uint64(a.Size) > b.Offset {
			return fmt.Errorf("tensors %q [%d, +%d) and %q [%d, +%d) overlap: %w", a.Name, a.Offset, a.Size, b.Name, b.Offset, b.Size, ErrFormat)
		}
	}
	return nil
}

func alignUp(n, a uint64) uint64 { return (n + a - 1) / a * a }

func (p *parser) kv() (KV, error) {
	var kv KV
	var err error
	if kv.Key, err = p.str(); err != nil {
		return kv, fmt.Errorf("key: %w", err)
	}
	t, err := p.u32()
	if err != nil {
		return kv, fmt.Errorf("value type: %w", err)
	}
	kv.Type = ValueType(t)
	kv.Value, err = p.value(kv.Type, 0)
	return kv, err
}

// value decodes one value of type t; depth counts enclosing arrays.
func (p *parser) value(t ValueType, depth int) (any, error) {
	switch t {
	case String:
		return p.str()
	case Array:
		return p.array(depth + 1)
	}
	if !t.valid() {
		return nil, fmt.Errorf("value type %d: %w", uint32(t), ErrUnknownType)
	}
	b, err := p.take(t.size())
	if err != nil {
		return nil, fmt.Errorf("%s value: %w", t, err)
	}
	return scalar(t, b)
}

// scalar decodes a fixed-size value from b.
func scalar(t ValueType, b []byte) (any, error) {
	switch t {
	case Uint8:
		return b[0], nil
	case Int8:
		return int8(b[0]), nil
	case Uint16:
		return le.Uint16(b), nil
	case Int16:
		return int16(le.Uint16(b)), nil
	case Uint32:
		return le.Uint32(b), nil
	case Int32:
		return int32(le.Uint32(b)), nil
	case Float32:
		return math.Float32frombits(le.Uint32(b)), nil
	case Uint64:
		return le.Uint64(b), nil
	case Int64:
		return int64(le.Uint64(b)), nil
	case Float64:
		return math.Float64frombits(le.Uint64(b)), nil
	case Bool:
		if b[0] > 1 {
			return nil, fmt.Errorf("bool value %d is not 0 or 1: %w", b[0], ErrFormat)
		}
		return b[0] == 1, nil
	}
	return nil, fmt.Errorf("value type %d: %w", uint32(t), ErrUnknownType)
}

func (p *parser) array(depth int) (any, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("arrays nested deeper than %d levels: %w", maxDepth, ErrFormat)
	}
	t32, err := p.u32()
	if err != nil {
		return nil, fmt.Errorf("array element type: %w", err)
	}
	et := ValueType(t32)
	if !et.valid() {
		return nil, fmt.Errorf("array element type %d: %w", t32, ErrUnknownType)
	}
	n, err := p.u64()
	if err != nil {
		return nil, fmt.Errorf("array length: %w", err)
	}
	least := et.size()
	switch et {
	case String:
		least = 8
	case Array:
		least = 4 + 8
	}
	if n > uint64(p.left()/least) {
		return nil, fmt.Errorf("array of %d %s needs at least %d bytes per element, %d bytes left: %w", n, et, least, p.left(), ErrTruncated)
	}
	switch et {
	case String:
		out := make([]string, n)
		for i := range out {
			if out[i], err = p.str(); err != nil {
				return nil, fmt.Errorf("array element %d: %w", i, err)
			}
		}
		return out, nil
	case Array:
		out := make([]any, n)
		for i := range out {
			if out[i], err = p.array(depth + 1); err != nil {
				return nil, fmt.Errorf("array element %d: %w", i, err)
			}
		}
		return out, nil
	}
	b, _ := p.take(int(n) * least)
	switch et {
	case Uint8:
		return append([]uint8{}, b...), nil
	case Int8:
		return decode(b, 1, func(b []byte) int8 { return int8(b[0]) }), nil
	case Uint16:
		return decode(b, 2, le.Uint16), nil
	case Int16:
		return decode(b, 2, func(b []byte) int16 { return int16(le.Uint16(b)) }), nil
	case Uint32:
		return decode(b, 4, le.Uint32), nil
	case Int32:
		return decode(b, 4, func(b []byte) int32 { return int32(le.Uint32(b)) }), nil
	case Float32:
		return decode(b, 4, func(b []byte) float32 { return math.Float32frombits(le.Uint32(b)) }), nil
	case Uint64:
		return decode(b, 8, le.Uint64), nil
	case Int64:
		return decode(b, 8, func(b []byte) int64 { return int64(le.Uint64(b)) }), nil
	case Float64:
		return decode(b, 8, func(b []byte) float64 { return math.Float64frombits(le.Uint64(b)) }), nil
	}
	// Bool
	out := make([]bool, n)
	for i, c := range b {
		if c > 1 {
			return nil, fmt.Errorf("array element %d: bool value %d is not 0 or 1: %w", i, c, ErrFormat)
		}
		out[i] = c == 1
	}
	return out, nil
}

// decode splits b into size-byte elements and decodes each with fn.
func decode[T any](b []byte, size int, fn func([]byte) T) []T {
	out := make([]T, len(b)/size)
	for i := range out {
		out[i] = fn(b[i*size:])
	}
	return out
}

func (p *parser) tensor() (TensorInfo, error) {
	var t TensorInfo
	var err error
	if t.Name, err = p.str(); err != nil {
		return t, fmt.Errorf("name: %w", err)
	}
	nd, err := p.u32()
	if err != nil {
		return t, fmt.Errorf("n_dims: %w", err)
	}
	if nd == 0 || nd > MaxDims {
		return t, fmt.Errorf("n_dims %d, want 1 to %d: %w", nd, MaxDims, ErrFormat)
	}
	t.Shape = make([]int64, nd)
	elems := int64(1)
	for i := range t.Shape {
		d, err := p.u64()
		if err != nil {
			return t, fmt.Errorf("dim %d: %w", i, err)
		}
		if d == 0 || d > math.MaxInt64 {
			return t, fmt.Errorf("dim %d is %d, want 1 to 2^63-1: %w", i, d, ErrFormat)
		}
		if int64(d) > math.MaxInt64/elems {
			return t, fmt.Errorf("shape %v...: element count overflows int64: %w", append(t.Shape[:i:i], int64(d)), ErrFormat)
		}
		t.Shape[i] = int64(d)
		elems *= int64(d)
	}
	typ, err := p.u32()
	if err != nil {
		return t, fmt.Errorf("type: %w", err)
	}
	t.Type = quant.Type(typ)
	if !t.Type.Known() {
		return t, fmt.Errorf("tensor type %d: %w", typ, ErrUnknownType)
	}
	if t.Size, err = tensorSize(t.Type, t.Shape); err != nil {
		return t, err
	}
	if t.Offset, err = p.u64(); err != nil {
		return t, fmt.Errorf("offset: %w", err)
	}
	return t, nil
}

// tensorSize returns the bytes of a tensor. GGML stores whole blocks per
// row, so the row length Shape[0] must be a multiple of the block size.
func tensorSize(typ quant.Type, shape []int64) (int64, error) {
	overflow := func() error {
		return fmt.Errorf("%s shape %v: byte size overflows int64: %w", typ, shape, ErrFormat)
	}
	if shape[0]/int64(typ.BlockSize()) > math.MaxInt64/int64(typ.TypeSize()) {
		return 0, overflow()
	}
	size, err := quant.RowBytes(typ, shape[0])
	if err != nil {
		return 0, fmt.Errorf("shape %v: %v: %w", shape, err, ErrFormat)
	}
	for _, d := range shape[1:] {
		if size > math.MaxInt64/d {
			return 0, overflow()
		}
		size *= d
	}
	return size, nil
}
