package gguf

import (
	"bytes"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tscale/engine/quant"
)

// shared is ../shared seen from the repository root.
const shared = "../../../shared"

// openShared opens a file under ../shared, skipping the test when absent.
func openShared(t testing.TB, rel string) *File {
	t.Helper()
	path := filepath.Join(shared, rel)
	if _, err := os.Stat(path); err != nil {
		t.Skipf("%s not available (../shared is not checked out): %v", path, err)
	}
	f, err := Open(path)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, f.Close()) })
	return f
}

// roundTrip writes w and parses the result.
func roundTrip(t *testing.T, w *Writer) (*File, []byte) {
	t.Helper()
	var buf bytes.Buffer
	n, err := w.WriteTo(&buf)
	require.NoError(t, err)
	require.Equal(t, int64(buf.Len()), n)
	f, err := Parse(buf.Bytes(), "roundtrip.gguf")
	require.NoError(t, err)
	return f, buf.Bytes()
}

func TestRoundTripValues(t *testing.T) {
	tests := []struct {
		name  string
		in    any // as passed to Set
		typ   ValueType
		value any // as Parse returns it
	}{
		{"uint8", uint8(200), Uint8, uint8(200)},
		{"int8", int8(-100), Int8, int8(-100)},
		{"uint16", uint16(60000), Uint16, uint16(60000)},
		{"int16", int16(-30000), Int16, int16(-30000)},
		{"uint32", uint32(4000000000), Uint32, uint32(4000000000)},
		{"int32", int32(-2000000000), Int32, int32(-2000000000)},
		{"float32", float32(1e-5), Float32, float32(1e-5)},
		{"bool true", true, Bool, true},
		{"bool false", false, Bool, false},
		{"string", "héllo\x00world", String, "héllo\x00world"},
		{"empty string", "", String, ""},
		{"uint64", uint64(math.MaxUint64), Uint64, uint64(math.MaxUint64)},
		{"int64", int64(math.MinInt64), Int64, int64(math.MinInt64)},
		{"float64", math.Pi, Float64, math.Pi},
		{"int is int64", -7, Int64, int64(-7)},
		{"[]uint8", []uint8{0, 1, 255}, Array, []uint8{0, 1, 255}},
		{"[]int8", []int8{-128, 127}, Array, []int8{-128, 127}},
		{"[]uint16", []uint16{1, 65535}, Array, []uint16{1, 65535}},
		{"[]int16", []int16{-1, 2}, Array, []int16{-1, 2}},
		{"[]uint32", []uint32{3, 4}, Array, []uint32{3, 4}},
		{"[]int32", []int32{-5, 6}, Array, []int32{-5, 6}},
		{"[]float32", []float32{0.5, -1.25, float32(math.Inf(1))}, Array, []float32{0.5, -1.25, float32(math.Inf(1))}},
		{"[]bool", []bool{true, false, true}, Array, []bool{true, false, true}},
		{"[]string", []string{"a", "", "<s>"}, Array, []string{"a", "", "<s>"}},
		{"[]uint64", []uint64{math.MaxUint64}, Array, []uint64{math.MaxUint64}},
		{"[]int64", []int64{math.MinInt64, 0}, Array, []int64{math.MinInt64, 0}},
		{"[]float64", []float64{1e300}, Array, []float64{1e300}},
		{"[]int is []int64", []int{1, -2}, Array, []int64{1, -2}},
		{"empty array", []uint32{}, Array, []uint32{}},
		{"array of arrays", []any{[]int32{1, 2}, []string{"x"}, []int{3}}, Array, []any{[]int32{1, 2}, []string{"x"}, []int64{3}}},
		{"array of array of arrays", []any{[]any{[]bool{true}}, []any{}}, Array, []any{[]any{[]bool{true}}, []any{}}},
	}
	w := NewWriter()
	for _, tt := range tests {
		require.NoError(t, w.Set(tt.name, tt.in), tt.name)
	}
	require.NoError(t, w.AddTensor("t", quant.F32, []int64{2}, make([]byte, 8)))
	f, _ := roundTrip(t, w)
	require.Equal(t, uint32(3), f.Version)
	require.Len(t, f.KVs, len(tests))
	for i, tt := range tests {
		require.Equal(t, KV{Key: tt.name, Type: tt.typ, Value: tt.value}, f.KVs[i], tt.name)
		kv, ok := f.Get(tt.name)
		require.True(t, ok)
		require.Equal(t, tt.value, kv.Value)
	}
}

var allTypes = []quant.Type{quant.F32, quant.F16, quant.Q4_0, quant.Q4_1, quant.Q5_0, quant.Q5_1,
	quant.Q8_0, quant.Q8_1, quant.Q2_K, quant.Q3_K, quant.Q4_K, quant.Q5_K, quant.Q6_K, quant.Q8_K,
	quant.I8, quant.I16, quant.I32, quant.I64, quant.F64, quant.BF16, quant.MXFP4}

func TestRoundTripTensors(t *testing.T) {
	for _, align := range []uint32{0, 1, 64, 4096} { // 0: default
		w := NewWriter()
		if align != 0 {
			require.NoError(t, w.Set("general.alignment", align))
		}
		rng := rand.New(rand.NewPCG(1, uint64(align)))
		data := map[string][]byte{}
		for i, typ := range allTypes {
			shape := []int64{int64(typ.BlockSize()) * int64(i%3+1), 3}[:1+i%2]
			rows := int64(1)
			if len(shape) > 1 {
				rows = shape[1]
			}
			row, err := quant.RowBytes(typ, shape[0])
			require.NoError(t, err)
			b := make([]byte, row*rows)
			for j := range b {
				b[j] = byte(rng.Uint32())
			}
			data[typ.String()] = b
			require.NoError(t, w.AddTensor(typ.String(), typ, shape, b))
		}
		require.NoError(t, w.AddTensor("4d", quant.F16, []int64{3, 1, 2, 5}, make([]byte, 2*3*2*5)))

		f, raw := roundTrip(t, w)
		want := uint64(align)
		if align == 0 {
			want = DefaultAlignment
		}
		require.Equal(t, want, f.Alignment)
		require.Zero(t, f.DataOffset%int64(want))
		require.Zero(t, int64(len(raw))%int64(want), "file ends padded")
		require.Len(t, f.Tensors, len(allTypes)+1)
		for i, typ := range allTypes {
			ti, ok := f.Tensor(typ.String())
			require.True(t, ok)
			require.Same(t, &f.Tensors[i], ti)
			require.Equal(t, typ, ti.Type)
			require.Zero(t, ti.Offset%want)
			require.Equal(t, int64(len(data[typ.String()])), ti.Size, typ.String())
			require.Equal(t, data[typ.String()], f.Data(ti), typ.String())
		}
		ti, ok := f.Tensor("4d")
		require.True(t, ok)
		require.Equal(t, []int64{3, 1, 2, 5}, ti.Shape)
		require.Equal(t, int64(30), ti.Elems())
		require.Equal(t, int64(60), ti.Size)
	}
}

// TestVersion2 reads a version 2 file: the same layout as version 3, which
// only added big-endian files (rejected here).
func TestVersion2(t *testing.T) {
	w := NewWriter()
	require.NoError(t, w.Set("general.architecture", "llama"))
	require.NoError(t, w.AddTensor("t", quant.Q8_0, []int64{32, 2}, bytes.Repeat([]byte{7}, 68)))
	_, raw := roundTrip(t, w)
	raw = bytes.Clone(raw)
	le.PutUint32(raw[4:], 2)
	f, err := Parse(raw, "v2.gguf")
	require.NoError(t, err)
	require.Equal(t, uint32(2), f.Version)
	require.Equal(t, "llama", f.Arch())
	ti, ok := f.Tensor("t")
	require.True(t, ok)
	require.Equal(t, bytes.Repeat([]byte{7}, 68), f.Data(ti))
}

func TestAccessors(t *testing.T) {
	w := NewWriter()
	for k, v := range map[string]any{
		"u8": uint8(7), "i16": int16(-3), "u64big": uint64(math.MaxUint64), "i64": int64(-1 << 40),
		"f32": float32(0.5), "f64": 2.5, "s": "str", "b": true,
		"ss": []string{"a", "b"}, "fs": []float32{1.5, 2}, "ds": []float64{0.25},
		"is": []int8{-1, 2}, "us": []uint64{1, math.MaxUint64}, "i32s": []int32{math.MinInt32},
		"bs": []bool{true}, "aa": []any{[]int32{1}},
		"general.architecture": "llama",
	} {
		require.NoError(t, w.Set(k, v))
	}
	f, _ := roundTrip(t, w)

	uintTests := []struct {
		key  string
		want uint64
		ok   bool
	}{{"u8", 7, true}, {"i16", 0, false}, {"u64big", math.MaxUint64, true}, {"i64", 0, false}, {"f32", 0, false}, {"s", 0, false}, {"missing", 0, false}}
	for _, tt := range uintTests {
		got, ok := f.Uint(tt.key)
		require.Equal(t, tt.ok, ok, tt.key)
		require.Equal(t, tt.want, got, tt.key)
	}
	intTests := []struct {
		key  string
		want int64
		ok   bool
	}{{"u8", 7, true}, {"i16", -3, true}, {"u64big", 0, false}, {"i64", -1 << 40, true}, {"f64", 0, false}, {"b", 0, false}}
	for _, tt := range intTests {
		got, ok := f.Int(tt.key)
		require.Equal(t, tt.ok, ok, tt.key)
		require.Equal(t, tt.want, got, tt.key)
	}
	floatTests := []struct {
		key  string
		want float64
		ok   bool
	}{{"f32", 0.5, true}, {"f64", 2.5, true}, {"i16", -3, true}, {"u64big", math.MaxUint64, true}, {"s", 0, false}, {"b", 0, false}}
	for _, tt := range floatTests {
		got, ok := f.Float(tt.key)
		require.Equal(t, tt.ok, ok, tt.key)
		require.Equal(t, tt.want, got, tt.key)
	}

	s, ok := f.String("s")
	require.True(t, ok)
	require.Equal(t, "str", s)
	_, ok = f.String("u8")
	require.False(t, ok)
	b, ok := f.Bool("b")
	require.True(t, ok)
	require.True(t, b)
	_, ok = f.Bool("u8")
	require.False(t, ok)
	ss, ok := f.Strings("ss")
	require.True(t, ok)
	require.Equal(t, []string{"a", "b"}, ss)
	_, ok = f.Strings("fs")
	require.False(t, ok)
	require.Equal(t, "llama", f.Arch())

	float32sTests := []struct {
		key  string
		want []float32
		ok   bool
	}{{"fs", []float32{1.5, 2}, true}, {"ds", []float32{0.25}, true}, {"is", []float32{-1, 2}, true},
		{"ss", nil, false}, {"bs", nil, false}, {"aa", nil, false}, {"f32", nil, false}}
	for _, tt := range float32sTests {
		got, ok := f.Float32s(tt.key)
		require.Equal(t, tt.ok, ok, tt.key)
		require.Equal(t, tt.want, got, tt.key)
	}
	int32sTests := []struct {
		key  string
		want []int32
		ok   bool
	}{{"is", []int32{-1, 2}, true}, {"i32s", []int32{math.MinInt32}, true},
		{"us", nil, false}, {"fs", nil, false}, {"ss", nil, false}}
	for _, tt := range int32sTests {
		got, ok := f.Int32s(tt.key)
		require.Equal(t, tt.ok, ok, tt.key)
		require.Equal(t, tt.want, got, tt.key)
	}

	_, ok = f.Tensor("nope")
	require.False(t, ok)
	require.Nil(t, f.Data(&TensorInfo{Offset: 1 << 40, Size: 4}))
	require.Empty(t, (&File{}).Arch())
}

func TestWriterErrors(t *testing.T) {
	tests := []struct {
		name string
		do   func(w *Writer) error
		want string
	}{
		{"unsupported type", func(w *Writer) error { return w.Set("k", struct{}{}) }, `set "k": unsupported value type struct {}`},
		{"uint array", func(w *Writer) error { return w.Set("k", []uint{1}) }, "unsupported value type []uint"},
		{"scalar in array of arrays", func(w *Writer) error { return w.Set("k", []any{[]int8{1}, 2}) }, "element 1 is a int, not a slice"},
		{"alignment type", func(w *Writer) error { return w.Set("general.alignment", 64) }, "not a uint32 power of two"},
		{"alignment value", func(w *Writer) error { return w.Set("general.alignment", uint32(48)) }, "48 (uint32) is not a uint32 power of two"},
		{"too deep", func(w *Writer) error {
			var v any = []int8{1}
			for range maxDepth {
				v = []any{v}
			}
			return w.Set("k", v)
		}, "nested deeper than 8"},
		{"size", func(w *Writer) error { return w.AddTensor("x", quant.F32, []int64{4}, make([]byte, 15)) }, `"x": F32 [4] needs 16 bytes, got 15`},
		{"block", func(w *Writer) error { return w.AddTensor("x", quant.Q4_K, []int64{128}, nil) }, "not a multiple of the block size 256"},
		{"unknown type", func(w *Writer) error { return w.AddTensor("x", 99, []int64{1}, nil) }, "tensor type 99: unknown type"},
		{"no dims", func(w *Writer) error { return w.AddTensor("x", quant.F32, nil, nil) }, "0 dims, want 1 to 4"},
		{"bad dim", func(w *Writer) error { return w.AddTensor("x", quant.F32, []int64{2, 0}, nil) }, "bad shape [2 0]"},
		{"duplicate", func(w *Writer) error {
			require.NoError(t, w.AddTensor("x", quant.F32, []int64{1}, make([]byte, 4)))
			return w.AddTensor("x", quant.F32, []int64{1}, make([]byte, 4))
		}, `"x": duplicate name`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.do(NewWriter())
			require.Error(t, err)
			require.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestSetReplaces(t *testing.T) {
	w := NewWriter()
	require.NoError(t, w.Set("a", uint32(1)))
	require.NoError(t, w.Set("b", "x"))
	require.NoError(t, w.Set("a", "now a string"))
	f, _ := roundTrip(t, w)
	require.Equal(t, []KV{{"a", String, "now a string"}, {"b", String, "x"}}, f.KVs)
}

func TestWriteFileOpen(t *testing.T) {
	w := NewWriter()
	require.NoError(t, w.Set("general.architecture", "test"))
	data := []byte{1, 2, 3, 4, 5, 6, 7, 8}
	require.NoError(t, w.AddTensor("w", quant.I8, []int64{4, 2}, data))
	path := filepath.Join(t.TempDir(), "x.gguf")
	require.NoError(t, w.WriteFile(path))
	f, err := Open(path)
	require.NoError(t, err)
	require.Equal(t, path, f.Path)
	require.Equal(t, "test", f.Arch())
	ti, ok := f.Tensor("w")
	require.True(t, ok)
	require.Equal(t, data, f.Data(ti))
	require.NoError(t, f.Close())
	require.NoError(t, f.Close(), "second Close is a no-op")

	_, err = Open(filepath.Join(t.TempDir(), "missing.gguf"))
	require.ErrorIs(t, err, os.ErrNotExist)

	empty := filepath.Join(t.TempDir(), "empty.gguf")
	require.NoError(t, os.WriteFile(empty, nil, 0o644))
	_, err = Open(empty)
	require.ErrorIs(t, err, ErrTruncated)
	require.Contains(t, err.Error(), "empty.gguf: magic: need 4 bytes")
}

func TestOpenStories260K(t *testing.T) {
	f := openShared(t, "models/stories260K.gguf")
	require.Equal(t, uint32(3), f.Version)
	require.Equal(t, "llama", f.Arch())
	// Expected values below were read with the reference Python reader
	// (pip package gguf, GGUFReader).
	for key, want := range map[string]uint64{
		"llama.embedding_length": 64, "llama.block_count": 5, "llama.context_length": 2048,
		"llama.attention.head_count": 8, "llama.attention.head_count_kv": 4,
	} {
		got, ok := f.Uint(key)
		require.True(t, ok, key)
		require.Equal(t, want, got, key)
	}
	eps, ok := f.Float("llama.attention.layer_norm_rms_epsilon")
	require.True(t, ok)
	require.Equal(t, float64(float32(1e-5)), eps)
	tokens, ok := f.Strings("tokenizer.ggml.tokens")
	require.True(t, ok)
	require.Len(t, tokens, 512)
	require.Equal(t, []string{"<unk>", "<s>", "</s>", "<0x00>"}, tokens[:4])
	types, ok := f.Int32s("tokenizer.ggml.token_type")
	require.True(t, ok)
	require.Equal(t, []int32{2, 3, 3, 6, 6}, types[:5])

	require.Len(t, f.Tensors, 48)
	require.Equal(t, int64(14176), f.DataOffset)
	emb, ok := f.Tensor("token_embd.weight")
	require.True(t, ok)
	require.Equal(t, []int64{64, 512}, emb.Shape)
	require.Equal(t, quant.F32, emb.Type)
	require.Len(t, f.Data(emb), 64*512*4)
	require.Equal(t, []float32{-0.29474878, 0.5618956, 0.17542253}, f32s(f.Data(emb)[:12]))
	norm, ok := f.Tensor("output_norm.weight")
	require.True(t, ok)
	require.Equal(t, []float32{2.458309, 1.3673227, 1.7504382, 1.1078318}, f32s(f.Data(norm)[:16]))
	last := f.Tensors[len(f.Tensors)-1]
	fi, err := os.Stat(f.Path)
	require.NoError(t, err)
	require.LessOrEqual(t, f.DataOffset+int64(last.Offset)+last.Size, fi.Size())
}

func f32s(b []byte) []float32 {
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(le.Uint32(b[4*i:]))
	}
	return out
}

func TestOpenVocab(t *testing.T) {
	f := openShared(t, "testdata/vocab/ggml-vocab-llama-spm.gguf")
	require.Empty(t, f.Tensors)
	tokens, ok := f.Strings("tokenizer.ggml.tokens")
	require.True(t, ok)
	require.Len(t, tokens, 32000)
	require.Equal(t, "ied", tokens[1000])
	scores, ok := f.Float32s("tokenizer.ggml.scores")
	require.True(t, ok)
	require.Len(t, scores, 32000)
	require.Equal(t, float32(-741), scores[1000])
	model, _ := f.String("tokenizer.ggml.model")
	require.Equal(t, "llama", model)
	bos, ok := f.Bool("tokenizer.ggml.add_bos_token")
	require.True(t, ok)
	require.True(t, bos)
	n, ok := f.Uint("llama.vocab_size")
	require.True(t, ok)
	require.Equal(t, uint64(32000), n)
}

// TestRewriteShared re-encodes real files (written by llama.cpp's tools)
// with Writer: the result must be the original, byte for byte.
func TestRewriteShared(t *testing.T) {
	for _, rel := range []string{
		"models/stories260K.gguf",
		"models/stories260K-moe4x.gguf",
		"testdata/vocab/ggml-vocab-llama-spm.gguf",
		"testdata/vocab/ggml-vocab-gpt-2.gguf",
	} {
		t.Run(rel, func(t *testing.T) {
			f := openShared(t, rel)
			w := NewWriter()
			for _, kv := range f.KVs {
				require.NoError(t, w.Set(kv.Key, kv.Value))
			}
			for i := range f.Tensors {
				ti := &f.Tensors[i]
				require.NoError(t, w.AddTensor(ti.Name, ti.Type, ti.Shape, f.Data(ti)))
			}
			_, got := roundTrip(t, w)
			want, err := os.ReadFile(f.Path)
			require.NoError(t, err)
			require.True(t, bytes.Equal(want, got), "rewritten file differs from %s", rel)
		})
	}
}

func BenchmarkOpenStories260K(b *testing.B) {
	path := filepath.Join(shared, "models/stories260K.gguf")
	if _, err := os.Stat(path); err != nil {
		b.Skipf("%s not available: %v", path, err)
	}
	for b.Loop() {
		f, err := Open(path)
		if err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
}
