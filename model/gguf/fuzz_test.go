package gguf

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tscale/engine/quant"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite testdata/fuzz/FuzzParse from fuzzSeeds")

// fuzzSeeds are small files covering every value and several tensor types,
// plus broken variants, as starting points for FuzzParse.
func fuzzSeeds(t testing.TB) [][]byte {
	write := func(w *Writer) []byte {
		var buf bytes.Buffer
		_, err := w.WriteTo(&buf)
		require.NoError(t, err)
		return buf.Bytes()
	}
	empty := write(NewWriter())

	w := NewWriter()
	// A slice, not a map, so the seeds are the same on every run.
	for _, kv := range []KV{
		{Key: "u8", Value: uint8(1)},
		{Key: "i8", Value: int8(-1)},
		{Key: "u16", Value: uint16(2)},
		{Key: "i16", Value: int16(-2)},
		{Key: "u32", Value: uint32(3)},
		{Key: "i32", Value: int32(-3)},
		{Key: "f32", Value: float32(0.5)},
		{Key: "b", Value: true},
		{Key: "s", Value: "str"},
		{Key: "u64", Value: uint64(4)},
		{Key: "i64", Value: int64(-4)},
		{Key: "f64", Value: 0.25},
		{Key: "au8", Value: []uint8{1}},
		{Key: "ai8", Value: []int8{-1}},
		{Key: "au16", Value: []uint16{2}},
		{Key: "ai16", Value: []int16{-2}},
		{Key: "au32", Value: []uint32{3}},
		{Key: "ai32", Value: []int32{-3}},
		{Key: "af32", Value: []float32{1}},
		{Key: "ab", Value: []bool{false}},
		{Key: "as", Value: []string{"x", ""}},
		{Key: "au64", Value: []uint64{5}},
		{Key: "ai64", Value: []int64{-5}},
		{Key: "af64", Value: []float64{2}},
		{Key: "aa", Value: []any{[]int32{1}, []any{[]string{"y"}}}},
	} {
		require.NoError(t, w.Set(kv.Key, kv.Value))
	}
	require.NoError(t, w.AddTensor("f32", quant.F32, []int64{4, 2}, make([]byte, 32)))
	require.NoError(t, w.AddTensor("q4_0", quant.Q4_0, []int64{32}, make([]byte, 18)))
	all := write(w)

	w = NewWriter()
	require.NoError(t, w.Set("general.alignment", uint32(64)))
	require.NoError(t, w.Set("general.architecture", "llama"))
	require.NoError(t, w.AddTensor("a", quant.Q4_K, []int64{256}, make([]byte, 144)))
	require.NoError(t, w.AddTensor("b", quant.F16, []int64{3, 1, 1, 2}, make([]byte, 12)))
	aligned := write(w)

	v2 := bytes.Clone(aligned)
	v2[4] = 2

	return [][]byte{empty, all, aligned, v2, all[:len(all)/2], []byte("GGUF\x01\x00\x00\x00")}
}

func corpusFile(seed []byte) []byte {
	return fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", seed)
}

// TestFuzzCorpus keeps the committed seed corpus equal to fuzzSeeds; run
// `go test -run TestFuzzCorpus -update-corpus ./model/gguf` to rewrite it.
func TestFuzzCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzParse")
	for i, seed := range fuzzSeeds(t) {
		path := filepath.Join(dir, fmt.Sprintf("seed%d", i))
		if *updateCorpus {
			require.NoError(t, os.MkdirAll(dir, 0o755))
			require.NoError(t, os.WriteFile(path, corpusFile(seed), 0o644))
			continue
		}
		got, err := os.ReadFile(path)
		require.NoError(t, err, "run with -update-corpus to create it")
		require.Equal(t, string(corpusFile(seed)), string(got), "stale %s: run with -update-corpus", path)
	}
}

// FuzzParse checks that Parse never panics, that a file it accepts has all
// tensor data in range, and that Writer re-encodes it stably.
func FuzzParse(f *testing.F) {
	for _, seed := range fuzzSeeds(f) {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := Parse(data, "fuzz.gguf")
		if err != nil {
			return
		}
		w := NewWriter()
		for _, kv := range g.KVs {
			require.NoError(t, w.Set(kv.Key, kv.Value))
			g.Uint(kv.Key)
			g.Int(kv.Key)
			g.Float(kv.Key)
			g.Float32s(kv.Key)
			g.Int32s(kv.Key)
		}
		for i := range g.Tensors {
			ti := &g.Tensors[i]
			b := g.Data(ti)
			require.Len(t, b, int(ti.Size))
			require.NoError(t, w.AddTensor(ti.Name, ti.Type, ti.Shape, b))
		}
		var once bytes.Buffer
		_, err = w.WriteTo(&once)
		require.NoError(t, err)
		h, err := Parse(once.Bytes(), "rewrite.gguf")
		require.NoError(t, err)
		require.Equal(t, len(g.KVs), len(h.KVs))
		require.Equal(t, len(g.Tensors), len(h.Tensors))

		// Writing what was read back must give the same bytes (compared as
		// bytes so NaN values count as equal).
		w = NewWriter()
		for _, kv := range h.KVs {
			require.NoError(t, w.Set(kv.Key, kv.Value))
		}
		for i := range h.Tensors {
			ti := &h.Tensors[i]
			require.NoError(t, w.AddTensor(ti.Name, ti.Type, ti.Shape, h.Data(ti)))
		}
		var twice bytes.Buffer
		_, err = w.WriteTo(&twice)
		require.NoError(t, err)
		require.True(t, bytes.Equal(once.Bytes(), twice.Bytes()), "rewrite is not stable")
	})
}
