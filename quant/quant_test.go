package quant

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// Types with reference vectors in testdata/ (made by scripts/quant_vectors.py).
var refTypes = []Type{F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_K, MXFP4}

// vectors is one testdata/<TYPE>.qv file: named byte records.
type vectors struct {
	rows, n int
	rec     map[string][]byte
}

func loadVectors(t *testing.T, typ Type) vectors {
	t.Helper()
	v := vectors{rec: loadRecords(t, filepath.Join("testdata", typ.String()+".qv"))}
	v.rows = int(binary.LittleEndian.Uint32(v.rec["rows"]))
	v.n = int(binary.LittleEndian.Uint32(v.rec["n"]))
	return v
}

// loadRecords reads a .qv file: records of u8 key length, key, u32 LE byte
// length, bytes.
func loadRecords(t *testing.T, path string) map[string][]byte {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err, "regenerate with scripts/quant_vectors.py or quant/testdata/mxfp4_x86.py")
	rec := map[string][]byte{}
	for len(data) > 0 {
		k := int(data[0])
		require.GreaterOrEqual(t, len(data), 1+k+4, "%s: truncated record header", path)
		key := string(data[1 : 1+k])
		size := int(binary.LittleEndian.Uint32(data[1+k:]))
		data = data[5+k:]
		require.GreaterOrEqual(t, len(data), size, "%s: record %q truncated", path, key)
		rec[key] = data[:size]
		data = data[size:]
	}
	return rec
}

func (v vectors) floats(key string) []float32 {
	b := v.rec[key]
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

// row returns row r of a record that holds v.rows equal rows.
func (v vectors) row(key string, r int) []byte {
	b := v.rec[key]
	w := len(b) / v.rows
	return b[r*w : (r+1)*w]
}

func sameFloat(a, b float32) bool {
	return a == b || (a != a && b != b) // NaN matches NaN
}

func TestDequantizeMatchesGGUFPy(t *testing.T) {
	for _, typ := range refTypes {
		t.Run(typ.String(), func(t *testing.T) {
			v := loadVectors(t, typ)
			for _, c := range []struct{ q, deq string }{{"q", "deq"}, {"rq", "rdeq"}} {
				want := v.floats(c.deq)
				got := make([]float32, len(want))
				require.NoError(t, Dequantize(typ, v.rec[c.q], got))
				for i := range want {
					// Same operations in the same order: the values must be identical.
					if !sameFloat(got[i], want[i]) {
						require.Failf(t, "mismatch", "%s element %d: got %v, want %v", c.q, i, got[i], want[i])
					}
				}
			}
		})
	}
}

func TestQuantizeMatchesGGML(t *testing.T) {
	for _, typ := range refTypes {
		t.Run(typ.String(), func(t *testing.T) {
			v := loadVectors(t, typ)
			src := v.floats("src")
			got := make([]byte, len(v.rec["q"]))
			require.NoError(t, Quantize(typ, src, got))
			require.Equal(t, v.rec["q"], got, "ggml quantize_row_%s_ref", typ)
			if pyq, ok := v.rec["pyq"]; ok {
				// gguf-py's quantizer agrees with ggml on these vectors (the
				// script reports any byte that differs), so demand equality.
				require.Equal(t, pyq, got, "gguf.quants.quantize")
			}
		})
	}
}

func TestActivationQuantizeMatchesGGML(t *testing.T) {
	for _, typ := range refTypes {
		v := loadVectors(t, typ)
		if _, ok := v.rec["actq"]; !ok {
			continue
		}
		vt := VecDotType(typ)
		t.Run(typ.String()+"/"+vt.String(), func(t *testing.T) {
			got := make([]byte, len(v.rec["actq"]))
			require.NoError(t, Quantize(vt, v.floats("act"), got))
			require.Equal(t, v.rec["actq"], got)
		})
	}
}

// fusedInRef lists the kernels that the prebuilt libggml-cpu (built with
// FMA and GCC's default -ffp-contract=fast) contracts: objdump shows
// vfmadd/vfnmadd/vfmsub in ggml_vec_dot_{q4_1,q5_1,q2_K,q4_K,q5_K}_*_generic.
// We follow the C source with every product rounded (as a non-FMA build
// does), so there the last bit may differ. The others are compared bit for bit.
var fusedInRef = map[Type]bool{Q4_1: true, Q5_1: true, Q2_K: true, Q4_K: true, Q5_K: true}

// dotMagnitude is sum |w_i x_i| over the dequantized rows: the scale of the
// rounding error any float32 evaluation of the dot can make.
func dotMagnitude(t *testing.T, typ Type, n int, w, x []byte) float64 {
	a, b := make([]float32, n), make([]float32, n)
	require.NoError(t, Dequantize(typ, w, a))
	require.NoError(t, Dequantize(VecDotType(typ), x, b))
	var mag float64
	for i := range a {
		mag += math.Abs(float64(a[i]) * float64(b[i]))
	}
	return mag
}

func TestVecDotMatchesGGML(t *testing.T) {
	for _, typ := range refTypes {
		v := loadVectors(t, typ)
		if _, ok := v.rec["dot"]; !ok {
			require.Nil(t, DotFunc(typ), "%s has no ggml dot product", typ)
			continue
		}
		t.Run(typ.String(), func(t *testing.T) {
			for _, c := range []struct{ w, dot string }{{"q", "dot"}, {"rq", "rdot"}} {
				want := v.floats(c.dot)
				for r := 0; r < v.rows; r++ {
					w, x := v.row(c.w, r), v.row("actq", r)
					got := VecDot(typ, v.n, w, x)
					if typ == MXFP4 {
						// The AVX2 kernel follows ggml's AVX2 order instead:
						// TestMXFP4MatchesGGMLx86 pins it.
						got = genericDot(typ)(v.n, w, x)
					}
					msg := fmt.Sprintf("%s row %d: got %v want %v", c.w, r, got, want[r])
					switch {
					case math.IsInf(float64(want[r]), 0) || want[r] != want[r]:
						require.True(t, sameFloat(got, want[r]), msg)
					case typ == F32 || typ == F16 || typ == BF16 || fusedInRef[typ]:
						// Float dots: ggml sums in one float64 chain, we in four.
						tol := 1e-6*dotMagnitude(t, typ, v.n, w, x) + 1e-30
						require.InDelta(t, want[r], got, tol, msg)
					default:
						// Same integer sums, same float operations in the same order.
						require.Equal(t, math.Float32bits(want[r]), math.Float32bits(got), msg)
					}
				}
			}
		})
	}
}

// TestVecDotMatchesDequantized checks each dot against the float64 dot of
// the dequantized rows: only float32 accumulation error may separate them.
func TestVecDotMatchesDequantized(t *testing.T) {
	for _, typ := range refTypes {
		f := DotFunc(typ)
		if f == nil {
			continue
		}
		t.Run(typ.String(), func(t *testing.T) {
			v := loadVectors(t, typ)
			vt := VecDotType(typ)
			for r := 0; r < v.rows; r++ {
				w := make([]float32, v.n)
				x := make([]float32, v.n)
				require.NoError(t, Dequantize(typ, v.row("q", r), w))
				require.NoError(t, Dequantize(vt, v.row("actq", r), x))
				var want, mag float64
				for i := range w {
					want += float64(w[i]) * float64(x[i])
					mag += math.Abs(float64(w[i]) * float64(x[i]))
				}
				if math.IsInf(mag, 0) || math.IsNaN(mag) {
					continue // F16/BF16 rows with deliberate overflow
				}
				got := f(v.n, v.row("q", r), v.row("actq", r))
				// Q8_1 carries s = d*sum(q) rounded to fp16, and ggml uses it for
				// the min term m*s: allow that rounding (2^-11 relative) per block.
				var sErr float64
				if vt == Q8_1 {
					wb, xb := v.row("q", r), v.row("actq", r)
					ws := typ.TypeSize()
					for i := 0; i < v.n/32; i++ {
						sErr += math.Abs(float64(half(wb[i*ws+2:]))*float64(half(xb[i*36+2:]))) / 2048
					}
				}
				// Otherwise only float32 rounding of the block sums separates them.
				require.InDelta(t, want, float64(got), 2e-6*mag+sErr+1e-6, "row %d", r)
			}
		})
	}
}

// roundTripBounds are ceilings on RMSE/RMS for N(0,1) data (64 super-blocks,
// fixed seed), about 10% above what the reference quantizers measured:
// F16 0.00021, BF16 0.00164, Q8_0/Q8_1 0.00537, Q8_K 0.00692, Q6_K 0.0175,
// Q5_0 0.0424, Q5_1 0.0379, Q5_K 0.0361, Q4_0 0.0861, Q4_1 0.0781,
// Q4_K 0.0711, MXFP4 0.115, Q3_K 0.152, Q2_K 0.294.
var roundTripBounds = []struct {
	t     Type
	bound float64
}{
	{F32, 0},
	{F16, 0.00024},
	{BF16, 0.0018},
	{Q8_0, 0.006},
	{Q8_1, 0.006},
	{Q8_K, 0.0076},
	{Q6_K, 0.0193},
	{Q5_0, 0.047},
	{Q5_1, 0.042},
	{Q5_K, 0.040},
	{Q4_0, 0.095},
	{Q4_1, 0.086},
	{Q4_K, 0.078},
	{MXFP4, 0.127},
	{Q3_K, 0.167},
	{Q2_K, 0.323},
}

func TestRoundTripError(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 64 * QK_K
	src := make([]float32, n)
	for i := range src {
		src[i] = float32(rng.NormFloat64())
	}
	for _, c := range roundTripBounds {
		t.Run(c.t.String(), func(t *testing.T) {
			size, err := RowBytes(c.t, n)
			require.NoError(t, err)
			q := make([]byte, size)
			out := make([]float32, n)
			require.NoError(t, Quantize(c.t, src, q))
			require.NoError(t, Dequantize(c.t, q, out))
			var se, ss float64
			for i := range src {
				d := float64(out[i] - src[i])
				se += d * d
				ss += float64(src[i]) * float64(src[i])
			}
			rel := math.Sqrt(se / ss)
			t.Logf("%s: relative RMSE %.5f", c.t, rel)
			require.LessOrEqual(t, rel, c.bound)
		})
	}
}

func TestBadInput(t *testing.T) {
	dst := make([]float32, 32)
	require.ErrorContains(t, Dequantize(Q4_0, make([]byte, 17), dst), "need 18 bytes, got 17")
	require.ErrorContains(t, Dequantize(Q4_K, make([]byte, 144), dst), "not a multiple of the block size 256")
	require.ErrorContains(t, Dequantize(I32, make([]byte, 128), dst), "no dequantizer for type I32")
	require.ErrorContains(t, Dequantize(Type(99), nil, nil), "type(99)")
	require.ErrorContains(t, Quantize(Q8_0, dst, make([]byte, 33)), "need 34 bytes, got 33")
	require.ErrorContains(t, Quantize(I8, dst, make([]byte, 32)), "no quantizer for type I8")

	w := make([]byte, 18)
	x := make([]byte, 34)
	require.True(t, math.IsNaN(float64(VecDot(Q4_0, 32, w[:17], x))), "short weight row")
	require.True(t, math.IsNaN(float64(VecDot(Q4_0, 32, w, x[:33]))), "short activation row")
	require.True(t, math.IsNaN(float64(VecDot(Q4_0, 31, w, x))), "partial block")
	require.True(t, math.IsNaN(float64(VecDot(Q4_0, -32, w, x))), "negative n")
	require.True(t, math.IsNaN(float64(VecDot(Q8_K, 256, w, x))), "no dot for Q8_K")
	require.Equal(t, float32(0), VecDot(Q4_0, 32, w, x), "zero blocks")
}

func TestVecDotType(t *testing.T) {
	for typ, want := range map[Type]Type{
		F32: F32, F16: F16, BF16: BF16,
		Q4_0: Q8_0, Q5_0: Q8_0, Q8_0: Q8_0, MXFP4: Q8_0,
		Q4_1: Q8_1, Q5_1: Q8_1,
		Q2_K: Q8_K, Q3_K: Q8_K, Q4_K: Q8_K, Q5_K: Q8_K, Q6_K: Q8_K,
	} {
		require.Equal(t, want, VecDotType(typ), "%s", typ)
		require.NotNil(t, DotFunc(typ), "%s", typ)
	}
}

// TestHalfConversions pins the scalar conversions on edge values.
func TestHalfConversions(t *testing.T) {
	cases := []struct {
		f    float32
		h    uint16
		back float32
	}{
		{1, 0x3c00, 1},
		{-2, 0xc000, -2},
		{65504, 0x7bff, 65504},
		{65520, 0x7c00, float32(math.Inf(1))}, // rounds up to Inf
		{5.960464477539063e-08, 0x0001, 5.960464477539063e-08},
		{2.9802322387695312e-08, 0x0000, 0}, // exact half of the smallest subnormal: ties to even
		{1.0009765625, 0x3c01, 1.0009765625},
		{1.00048828125, 0x3c00, 1}, // tie to even
	}
	for _, c := range cases {
		require.Equal(t, fmt.Sprintf("%#04x", c.h), fmt.Sprintf("%#04x", F32ToF16(c.f)), "F32ToF16(%v)", c.f)
		require.Equal(t, c.back, F16ToF32(c.h))
	}
	require.Equal(t, uint16(0x3f80), F32ToBF16(1))
	require.Equal(t, uint16(0x3f80), F32ToBF16(math.Float32frombits(0x3f808000)), "tie to even, down")
	require.Equal(t, uint16(0x3f82), F32ToBF16(math.Float32frombits(0x3f818000)), "tie to even, up")
	require.Equal(t, uint16(0x7fc1), F32ToBF16(math.Float32frombits(0x7f810000)), "NaN made quiet")
	require.Equal(t, float32(1), BF16ToF32(0x3f80))
	require.Equal(t, int32(2), nearestInt(2.5), "nearest_int ties to even")
	require.Equal(t, int32(-4), nearestInt(-3.5))
	require.Equal(t, float32(3), roundf(2.5), "roundf ties away from zero")
	require.Equal(t, float32(0.5), e8m0Half(127))
	require.Equal(t, math.Float32frombits(0x00200000), e8m0Half(0))
}
