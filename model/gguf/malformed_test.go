package gguf

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tscale/engine/quant"
)

// enc builds GGUF bytes by hand, independently of Writer, so tests can
// produce any malformed layout.
type enc []byte

func (e enc) u32(v uint32) enc { return binary.LittleEndian.AppendUint32(e, v) }
func (e enc) u64(v uint64) enc { return binary.LittleEndian.AppendUint64(e, v) }
func (e enc) str(s string) enc { return append(e.u64(uint64(len(s))), s...) }

// header starts a file: magic, version, tensor and kv counts.
func header(version uint32, tensors, kvs uint64) enc {
	return enc("GGUF").u32(version).u64(tensors).u64(kvs)
}

// tinfo appends a tensor info.
func (e enc) tinfo(name string, typ uint32, offset uint64, dims ...uint64) enc {
	e = e.str(name).u32(uint32(len(dims)))
	for _, d := range dims {
		e = e.u64(d)
	}
	return e.u32(typ).u64(offset)
}

// data pads to 32 and appends n data bytes.
func (e enc) data(n int) enc {
	for len(e)%32 != 0 {
		e = append(e, 0)
	}
	return append(e, make([]byte, n)...)
}

// nested returns an array value nested depth levels deep around []uint8{}.
func nested(depth int) enc {
	var e enc
	for range depth - 1 {
		e = e.u32(uint32(Array)).u64(1)
	}
	return e.u32(uint32(Uint8)).u64(0)
}

func TestMalformed(t *testing.T) {
	f32 := uint32(quant.F32)
	kvFile := func(key string, typ ValueType, value enc) enc {
		return append(header(3, 0, 1).str(key).u32(uint32(typ)), value...)
	}
	tests := []struct {
		name string
		file enc
		err  error
		want string
	}{
		{"empty", enc{}, ErrTruncated, "magic: need 4 bytes at offset 0, file has 0"},
		{"wrong magic", enc("GGML").u32(3).u64(0).u64(0), ErrFormat, `bad magic "GGML", want "GGUF"`},
		{"no version", enc("GGUF"), ErrTruncated, "version: need 4 bytes at offset 4"},
		{"version 1", header(1, 0, 0), ErrVersion, "version 1 not supported"},
		{"version 99", header(99, 0, 0), ErrVersion, "version 99 not supported (only 2 and 3)"},
		{"big endian", enc("GGUF").u32(3 << 24).u64(0).u64(0), ErrVersion, "big-endian file (version 3) not supported"},
		{"no kv_count", enc("GGUF").u32(3).u64(0), ErrTruncated, "kv_count: need 8 bytes at offset 16"},
		{"absurd kv_count", header(3, 0, math.MaxUint64), ErrTruncated, "kv_count 18446744073709551615 too large for the 0 bytes left"},
		{"absurd tensor_count", header(3, 1<<40, 0), ErrTruncated, "tensor_count 1099511627776 too large"},
		{"huge key length", header(3, 0, 1).u64(math.MaxUint64).u32(0).u64(0), ErrTruncated,
			`kv 0 "": key: string length 18446744073709551615 at offset 24 runs past end of file (12 bytes left)`},
		{"huge string value", kvFile("s", String, enc{}.u64(1<<50)), ErrTruncated, `kv 0 "s": string length 1125899906842624`},
		{"bad value type", kvFile("k", 13, enc{}.u64(0)), ErrUnknownType, `kv 0 "k": value type 13: unknown type`},
		{"short value", kvFile("k", Uint64, enc{1, 2, 3}), ErrTruncated, `kv 0 "k": uint64 value: need 8 bytes`},
		{"bool 2", kvFile("k", Bool, enc{2}), ErrFormat, `kv 0 "k": bool value 2 is not 0 or 1`},
		{"bad array type", kvFile("k", Array, enc{}.u32(42).u64(0)), ErrUnknownType, `kv 0 "k": array element type 42: unknown type`},
		{"huge array", kvFile("k", Array, enc{}.u32(uint32(Uint32)).u64(1<<61)), ErrTruncated,
			`kv 0 "k": array of 2305843009213693952 uint32 needs at least 4 bytes per element, 0 bytes left`},
		{"huge string array", kvFile("k", Array, enc{}.u32(uint32(String)).u64(3).u64(0).u64(0)), ErrTruncated,
			`array of 3 string needs at least 8 bytes per element, 16 bytes left`},
		{"string array element", kvFile("k", Array, enc{}.u32(uint32(String)).u64(2).str("a").u64(99)), ErrTruncated,
			`kv 0 "k": array element 1: string length 99`},
		{"bool array", kvFile("k", Array, append(enc{}.u32(uint32(Bool)).u64(3), 1, 0, 7)), ErrFormat,
			`kv 0 "k": array element 2: bool value 7 is not 0 or 1`},
		{"nested too deep", kvFile("k", Array, nested(maxDepth+1)), ErrFormat, "arrays nested deeper than 8 levels"},
		{"duplicate key", append(append(header(3, 0, 2).str("a").u32(uint32(Uint8)), 1).str("a").u32(uint32(Uint8)), 2), ErrFormat,
			`kv 1: duplicate key "a" (first at kv 0)`},
		{"alignment type", kvFile("general.alignment", Uint64, enc{}.u64(64)), ErrFormat, "general.alignment has type uint64, want uint32"},
		{"alignment 48", kvFile("general.alignment", Uint32, enc{}.u32(48)), ErrFormat, "general.alignment 48 is not a power of two"},
		{"alignment 0", kvFile("general.alignment", Uint32, enc{}.u32(0)), ErrFormat, "general.alignment 0 is not a power of two"},
		{"n_dims 0", header(3, 1, 0).tinfo("t", f32, 0).data(0), ErrFormat, `tensor 0 "t": n_dims 0, want 1 to 4`},
		{"n_dims 5", header(3, 1, 0).tinfo("t", f32, 0, 1, 1, 1, 1, 1).data(4), ErrFormat, `tensor 0 "t": n_dims 5, want 1 to 4`},
		{"dim 0", header(3, 1, 0).tinfo("t", f32, 0, 4, 0).data(0), ErrFormat, `tensor 0 "t": dim 1 is 0, want 1 to 2^63-1`},
		{"dim negative", header(3, 1, 0).tinfo("t", f32, 0, 1<<63).data(0), ErrFormat, `dim 0 is 9223372036854775808`},
		{"dims overflow", header(3, 1, 0).tinfo("t", f32, 0, 1<<32, 1<<32).data(0), ErrFormat,
			`tensor 0 "t": shape [4294967296 4294967296]...: element count overflows int64`},
		{"size overflow", header(3, 1, 0).tinfo("t", uint32(quant.F64), 0, 1<<61).data(0), ErrFormat,
			`tensor 0 "t": F64 shape [2305843009213693952]: byte size overflows int64`},
		{"unknown tensor type", header(3, 1, 0).tinfo("t", 99, 0, 4).data(16), ErrUnknownType, `tensor 0 "t": tensor type 99: unknown type`},
		{"block multiple", header(3, 1, 0).tinfo("t", uint32(quant.Q4_0), 0, 16, 2).data(36), ErrFormat,
			`tensor 0 "t": shape [16 2]: Q4_0: 16 elements is not a multiple of the block size 32`},
		{"offset out of range", header(3, 1, 0).tinfo("t", f32, 1<<40, 4).data(16), ErrTruncated,
			`tensor "t": data [1099511627776, +16) at offset 64 runs past end of file (data section has 16 bytes)`},
		{"offset+size overflow", header(3, 1, 0).tinfo("t", f32, math.MaxUint64-31, 8).data(32), ErrTruncated, `tensor "t": data [18446744073709551584, +32)`},
		{"data cut short", header(3, 1, 0).tinfo("t", f32, 0, 8).data(31), ErrTruncated, `tensor "t": data [0, +32) at offset 64 runs past end of file (data section has 31 bytes)`},
		{"misaligned offset", header(3, 1, 0).tinfo("t", f32, 4, 4).data(64), ErrFormat, `tensor "t": offset 4 is not a multiple of the alignment 32`},
		{"duplicate tensor", header(3, 2, 0).tinfo("t", f32, 0, 4).tinfo("t", f32, 32, 4).data(64), ErrFormat,
			`tensor 1: duplicate tensor name "t" (first at tensor 0)`},
		{"overlap", header(3, 2, 0).tinfo("a", f32, 0, 16).tinfo("b", f32, 32, 4).data(96), ErrFormat,
			`tensors "a" [0, +64) and "b" [32, +16) overlap`},
		{"truncated tensor info", append(header(3, 1, 0).str("t").u32(4).u64(4).u64(1).u64(1), 0, 0, 0), ErrTruncated,
			`tensor 0 "t": dim 3: need 8 bytes at offset 61, file has 64`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.file, "bad.gguf")
			require.ErrorIs(t, err, tt.err)
			require.Contains(t, err.Error(), "gguf bad.gguf: ")
			require.Contains(t, err.Error(), tt.want)
		})
	}
}

// TestMalformedValidControls checks that the builder produces valid files
// when nothing is wrong, so the failures above come from the one defect.
func TestMalformedValidControls(t *testing.T) {
	files := map[string]enc{
		"empty v2":   header(2, 0, 0),
		"one tensor": header(3, 1, 0).tinfo("t", uint32(quant.F32), 0, 8).data(32),
		"two tensors": header(3, 2, 0).tinfo("a", uint32(quant.F32), 0, 4, 2).
			tinfo("b", uint32(quant.Q4_0), 32, 32, 2).data(32 + 36),
		"nested 8": append(header(3, 0, 1).str("k").u32(uint32(Array)), nested(maxDepth)...),
	}
	for name, file := range files {
		f, err := Parse(file, name)
		require.NoError(t, err, name)
		require.Equal(t, len(file), len(f.data))
	}
}

// TestTruncatedReal cuts a real model file at many points: every cut
// before the end of the last tensor's data must fail as truncated.
func TestTruncatedReal(t *testing.T) {
	path := filepath.Join(shared, "models/stories260K.gguf")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Skipf("%s not available: %v", path, err)
	}
	f, err := Parse(data, "stories260K.gguf")
	require.NoError(t, err)
	end := 0
	for _, ti := range f.Tensors {
		end = max(end, int(f.DataOffset)+int(ti.Offset)+int(ti.Size))
	}
	var cuts []int
	for n := 0; n < int(f.DataOffset)+64; n++ { // every byte of the header
		cuts = append(cuts, n)
	}
	for n := int(f.DataOffset) + 64; n < end; n += 997 { // a sample of the data
		cuts = append(cuts, n)
	}
	cuts = append(cuts, end-1)
	for _, n := range cuts {
		_, err := Parse(data[:n], "cut.gguf")
		require.ErrorIs(t, err, ErrTruncated, "cut at %d", n)
		require.Contains(t, err.Error(), "gguf cut.gguf: ", "cut at %d", n)
	}
	_, err = Parse(data[:end], "cut.gguf")
	require.NoError(t, err, "a file cut after the last tensor's data is complete")
}
