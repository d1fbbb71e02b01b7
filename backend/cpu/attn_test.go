package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tscale/engine/backend"
	"github.com/tscale/engine/quant"
)

// refAttention is the straightforward serial attention the optimized
// Attention must reproduce bit for bit: per token and head, scores in
// element order, a float64 softmax sum, and values accumulated in float64
// position by position. With an F16 cache q and the softmax weights are
// rounded to F16 first.
func refAttention(dst, q, k, v backend.Tensor, kvc backend.KVCache, bt *backend.Batch, a backend.Attn) {
	c := kvc.(*kvCache)
	d, qt, kt, vt := ten(dst), ten(q), ten(k), ten(v)
	bs, kvDim, hd, l := c.spec.BlockSize, c.spec.KVDim, a.HeadDim, a.Layer
	for i := 0; i < bt.Len(); i++ {
		p := int(bt.Pos[i])
		o := int(bt.Blocks[bt.Seq[i]][p/bs])*c.stride + (p%bs)*kvDim
		if c.k16 != nil {
			for j, x := range kt.row(i) {
				c.k16[l][o+j] = toHalf(x)
			}
			for j, x := range vt.row(i) {
				c.v16[l][o+j] = toHalf(x)
			}
		} else {
			copy(c.k32[l][o:o+kvDim], kt.row(i))
			copy(c.v32[l][o:o+kvDim], vt.row(i))
		}
	}
	group := a.Heads / a.KVHeads
	var sinks []float32
	if a.Sinks != nil {
		sinks = wgt(a.Sinks).f32
	}
	row := func(c16 [][]uint16, c32 [][]float32, o int) []float32 {
		r := make([]float32, hd)
		for e := range r {
			if c16 != nil {
				r[e] = half[c16[l][o+e]]
			} else {
				r[e] = c32[l][o+e]
			}
		}
		return r
	}
	for i := 0; i < bt.Len(); i++ {
		p := int(bt.Pos[i])
		first := 0
		if a.Window > 0 {
			first = max(0, p-a.Window+1)
		}
		table := bt.Blocks[bt.Seq[i]]
		for h := 0; h < a.Heads; h++ {
			kvOff := (h / group) * hd
			qh := append([]float32(nil), qt.row(i)[h*hd:(h+1)*hd]...)
			if c.k16 != nil {
				for e := range qh {
					qh[e] = half[toHalf(qh[e])]
				}
			}
			n := p - first + 1
			scores := make([]float32, n)
			m := float32(math.Inf(-1))
			for j := range scores {
				pp := first + j
				kr := row(c.k16, c.k32, int(table[pp/bs])*c.stride+(pp%bs)*kvDim+kvOff)
				var sc float32
				for e, x := range qh {
					sc += x * kr[e]
				}
				sc *= a.Scale
				if a.Softcap > 0 {
					sc = a.Softcap * float32(math.Tanh(float64(sc/a.Softcap)))
				}
				scores[j] = sc
				m = max(m, sc)
			}
			if sinks != nil {
				m = max(m, sinks[h])
			}
			var sum float64
			for j := range scores {
				scores[j] = float32(math.Exp(float64(scores[j] - m)))
				sum += float64(scores[j])
			}
			if sinks != nil {
				sum += float64(float32(math.Exp(float64(sinks[h] - m))))
			}
			inv := float32(1 / sum)
			acc := make([]float64, hd)
			for j := range scores {
				pp := first + j
				vr := row(c.v16, c.v32, int(table[pp/bs])*c.stride+(pp%bs)*kvDim+kvOff)
				w := scores[j] * inv
				if c.k16 != nil {
					w = half[toHalf(w)]
				}
				for e, x := range vr {
					acc[e] += float64(w * x)
				}
			}
			for e, x := range acc {
				d.row(i)[h*hd+e] = float32(x)
			}
		}
	}
}

// TestAttentionMatchesRef checks Attention against refAttention bit for bit
// over prefill and decode batches of several sequences, for both cache
// types, head layouts, windows, soft-capping, sinks and thread counts.
func TestAttentionMatchesRef(t *testing.T) {
	for _, tc := range []struct {
		typ                    quant.Type
		heads, kvHeads, hd, bs int
		window                 int
		softcap                float32
		sinks                  bool
		threads                int
	}{
		{quant.F16, 9, 3, 64, 16, 0, 0, false, 2},
		{quant.F16, 4, 1, 256, 16, 5, 0, false, 2},
		{quant.F16, 8, 8, 8, 4, 0, 0, false, 1},
		{quant.F16, 6, 2, 24, 8, 0, 30, true, 3},
		{quant.F32, 4, 2, 40, 16, 0, 0, false, 2},
		{quant.F32, 4, 4, 64, 16, 7, 50, true, 4},
		{quant.F16, 2, 1, 12, 4, 0, 0, true, 8},
	} {
		t.Run(fmt.Sprintf("%s/h%d-kv%d-d%d-w%d-cap%g-sinks%v-t%d", tc.typ, tc.heads, tc.kvHeads, tc.hd, tc.window, tc.softcap, tc.sinks, tc.threads), func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(tc.hd), uint64(tc.heads)))
			be := New(tc.threads)
			spec := backend.KVSpec{Layers: 2, KVDim: tc.kvHeads * tc.hd, Blocks: 32, BlockSize: tc.bs, Type: tc.typ}
			got, err := be.NewKV(spec)
			require.NoError(t, err)
			want, err := be.NewKV(spec)
			require.NoError(t, err)
			a := backend.Attn{Layer: 1, Heads: tc.heads, KVHeads: tc.kvHeads, HeadDim: tc.hd, Scale: 1 / float32(math.Sqrt(float64(tc.hd))), Window: tc.window, Softcap: tc.softcap}
			if tc.sinks {
				w, err := be.Upload("sinks", quant.F32, []int64{int64(tc.heads)}, f32bytes(randn(r, tc.heads)))
				require.NoError(t, err)
				a.Sinks = w
			}
			// Three sequences with scattered block tables: prompts of
			// different lengths in one batch, then decode steps together.
			tables := [][]int32{{3, 17, 5, 9, 30, 1, 12, 20}, {0, 8, 2, 25, 14, 6, 19, 27}, {4, 22, 11, 16, 7, 28, 31, 10}}
			lens := []int{min(37, 8*tc.bs-8), 1, min(21, 8*tc.bs-8)}
			run := func(b *backend.Batch) {
				n := b.Len()
				q := fill(be, n, tc.heads*tc.hd, randn(r, n*tc.heads*tc.hd))
				k := fill(be, n, tc.kvHeads*tc.hd, randn(r, n*tc.kvHeads*tc.hd))
				v := fill(be, n, tc.kvHeads*tc.hd, randn(r, n*tc.kvHeads*tc.hd))
				dg, dw := be.Alloc(n, tc.heads*tc.hd), be.Alloc(n, tc.heads*tc.hd)
				be.Attention(dg, q, k, v, got, b, a)
				refAttention(dw, q, k, v, want, b, a)
				for i, x := range data(dw) {
					require.Equal(t, math.Float32bits(x), math.Float32bits(data(dg)[i]), "row %d col %d", i/(tc.heads*tc.hd), i%(tc.heads*tc.hd))
				}
			}
			pre := &backend.Batch{Blocks: tables}
			for s, n := range lens {
				for p := 0; p < n; p++ {
					pre.Tokens = append(pre.Tokens, 0)
					pre.Pos = append(pre.Pos, int32(p))
					pre.Seq = append(pre.Seq, int32(s))
				}
			}
			run(pre)
			for step := 0; step < 6; step++ {
				dec := &backend.Batch{Blocks: tables}
				for s := range lens {
					if s == 1 && step%2 == 1 {
						continue // batches of different shapes
					}
					dec.Tokens = append(dec.Tokens, 0)
					dec.Pos = append(dec.Pos, int32(lens[s]))
					dec.Seq = append(dec.Seq, int32(s))
					lens[s]++
				}
				run(dec)
			}
			gc, wc := got.(*kvCache), want.(*kvCache)
			require.Equal(t, wc.k16, gc.k16)
			require.Equal(t, wc.v16, gc.v16)
			require.Equal(t, wc.k32, gc.k32)
			require.Equal(t, wc.v32, gc.v32)
		})
	}
}

// BenchmarkAttention times one layer's attention for a 128-token prefill
// and for one decode token after it, in SmolLM2's (9 heads over 3 KV heads
// of 64) and Gemma 3 270M's (4 heads over 1 KV head of 256) shapes.
func BenchmarkAttention(b *testing.B) {
	for _, sh := range []struct {
		name               string
		heads, kvHeads, hd int
	}{{"smollm2", 9, 3, 64}, {"gemma3", 4, 1, 256}} {
		for _, n := range []int{128, 1} {
			b.Run(fmt.Sprintf("%s/tokens=%d", sh.name, n), func(b *testing.B) {
				r := rand.New(rand.NewPCG(1, 2))
				be := New(2)
				kvc, err := be.NewKV(backend.KVSpec{Layers: 1, KVDim: sh.kvHeads * sh.hd, Blocks: 16, BlockSize: 16, Type: quant.F16})
				require.NoError(b, err)
				bt := &backend.Batch{Blocks: [][]int32{{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}}}
				for p := 128 - n; p < 128; p++ {
					bt.Tokens = append(bt.Tokens, 0)
					bt.Pos = append(bt.Pos, int32(p))
					bt.Seq = append(bt.Seq, 0)
				}
				q := fill(be, n, sh.heads*sh.hd, randn(r, n*sh.heads*sh.hd))
				k := fill(be, n, sh.kvHeads*sh.hd, randn(r, n*sh.kvHeads*sh.hd))
				v := fill(be, n, sh.kvHeads*sh.hd, randn(r, n*sh.kvHeads*sh.hd))
				dst := be.Alloc(n, sh.heads*sh.hd)
				a := backend.Attn{Heads: sh.heads, KVHeads: sh.kvHeads, HeadDim: sh.hd, Scale: 0.125}
				for b.Loop() {
					be.Attention(dst, q, k, v, kvc, bt, a)
				}
			})
		}
	}
}

// TestF16Kernels checks the F16 row conversions (AVX2/F16C on amd64)
// against the scalar toHalf and half table: every F16 value, a spread of
// float32 bit patterns (NaNs, infinities, subnormals, halfway cases), and
// odd lengths that leave a scalar tail.
func TestF16Kernels(t *testing.T) {
	h := make([]uint16, 1<<16)
	for i := range h {
		h[i] = uint16(i)
	}
	f := make([]float32, len(h))
	decodeF16(f, h)
	for i := range h {
		require.Equal(t, math.Float32bits(half[i]), math.Float32bits(f[i]), "%04x", i)
	}
	var src []float32
	for b := uint64(0); b < 1<<32; b += 65521 {
		src = append(src, math.Float32frombits(uint32(b)))
	}
	for _, b := range []uint32{0x7f800000, 0xff800000, 0x7fc00000, 0x7f800001, 0x477fefff, 0x477ff000, 0x33000000, 0x33000001, 0x387fc000, 0x38800000, 0x80000001} {
		src = append(src, math.Float32frombits(b))
	}
	for _, n := range []int{len(src), 7, 13, 1} {
		dst := make([]uint16, n)
		encodeF16(dst, src[:n])
		for i, x := range src[:n] {
			require.Equal(t, toHalf(x), dst[i], "%08x", math.Float32bits(x))
		}
	}
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{64, 256, 13, 5} {
		v, v16 := randn(r, n), make([]uint16, n)
		encodeF16(v16, v)
		wt := float32(r.NormFloat64())
		got, got16, want := make([]float64, n), make([]float64, n), make([]float64, n)
		for i := range want {
			got[i] = r.NormFloat64()
			got16[i], want[i] = got[i], got[i]
		}
		addScaled(got, wt, v)
		addScaledF16(got16, wt, v16)
		for i := range want {
			require.Equal(t, want[i]+float64(wt*v[i]), got[i])
			require.Equal(t, want[i]+float64(wt*half[v16[i]]), got16[i])
		}
	}
}

// TestScaleF16 checks the softmax's fused normalization and F16 rounding
// against the scalar form bit for bit, for every length mod 8, and that
// nothing past the row is written.
func TestScaleF16(t *testing.T) {
	var src []float32
	for b := uint64(0); b < 1<<32; b += 65521 {
		src = append(src, math.Float32frombits(uint32(b)))
	}
	for _, k := range []float32{1, 0.37, 3e-5, 7e4} {
		for _, n := range []int{len(src), 1, 3, 7, 8, 9, 15, 16, 17} {
			s := append(append([]float32(nil), src[:n]...), 42)
			scaleF16(s[:n], k)
			for i, x := range src[:n] {
				want := half[toHalf(x*k)]
				if want != want && s[i] != s[i] {
					continue
				}
				require.Equal(t, math.Float32bits(want), math.Float32bits(s[i]), "x %v k %v n %d", x, k, n)
			}
			require.Equal(t, float32(42), s[n])
		}
	}
}

// TestAttentionPrefillShared checks the prefill path whose keys are
// converted once for all tokens (sharedKeys: one sequence, 16+ tokens)
// against refAttention bit for bit, over two chunks of one prompt (the
// second attends to the first's rows too) and a decode step after them.
func TestAttentionPrefillShared(t *testing.T) {
	for _, tc := range []struct{ heads, kvHeads, hd, bs, threads int }{
		{8, 4, 8, 16, 1}, {8, 4, 8, 4, 2}, {9, 3, 64, 16, 2}, {3, 3, 16, 8, 3},
	} {
		t.Run(fmt.Sprintf("h%d-kv%d-d%d-bs%d-t%d", tc.heads, tc.kvHeads, tc.hd, tc.bs, tc.threads), func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(tc.hd), 7))
			be := New(tc.threads)
			spec := backend.KVSpec{Layers: 1, KVDim: tc.kvHeads * tc.hd, Blocks: 24, BlockSize: tc.bs, Type: quant.F16}
			got, err := be.NewKV(spec)
			require.NoError(t, err)
			want, err := be.NewKV(spec)
			require.NoError(t, err)
			a := backend.Attn{Heads: tc.heads, KVHeads: tc.kvHeads, HeadDim: tc.hd, Scale: 1 / float32(math.Sqrt(float64(tc.hd)))}
			table := [][]int32{{5, 0, 19, 3, 11, 7, 23, 2, 14, 9, 1, 17, 4, 21, 8, 12, 6, 20, 10, 15}}
			pos := 0
			for _, n := range []int{29, 19, 1} {
				b := &backend.Batch{Blocks: table}
				for range n {
					b.Tokens = append(b.Tokens, 0)
					b.Pos = append(b.Pos, int32(pos))
					b.Seq = append(b.Seq, 0)
					pos++
				}
				q := fill(be, n, tc.heads*tc.hd, randn(r, n*tc.heads*tc.hd))
				k := fill(be, n, tc.kvHeads*tc.hd, randn(r, n*tc.kvHeads*tc.hd))
				v := fill(be, n, tc.kvHeads*tc.hd, randn(r, n*tc.kvHeads*tc.hd))
				dg, dw := be.Alloc(n, tc.heads*tc.hd), be.Alloc(n, tc.heads*tc.hd)
				be.Attention(dg, q, k, v, got, b, a)
				refAttention(dw, q, k, v, want, b, a)
				for i, x := range data(dw) {
					require.Equal(t, math.Float32bits(x), math.Float32bits(data(dg)[i]), "chunk %d row %d col %d", n, i/(tc.heads*tc.hd), i%(tc.heads*tc.hd))
				}
			}
		})
	}
}
