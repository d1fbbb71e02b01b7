//go:build cudaemu

package emu

import (
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/stretchr/testify/require"
)

// splitTol bounds split-KV decode (flash-decoding: attention_f16_g* over
// splits, merged by attention_combine_f32) against the same kernel
// unsplit, as a head's largest |difference| over its RMS: both are the
// online softmax, only the order of the rescaled float sums differs
// (measured ≤ 1e-6).
const splitTol = 1e-5

// TestAttentionSplitKV: decode over long contexts split 2 to 64 ways (more
// splits than a short sequence's positions: empty splits) gives the
// unsplit result, with GQA, a window, a softcap and sinks.
func TestAttentionSplitKV(t *testing.T) {
	for _, c := range []struct {
		name               string
		heads, kvHeads, hd int
		bs, window         int
		softcap            float32
		sinks              bool
		lens               []int
	}{
		{name: "hd 64, GQA 4", heads: 8, kvHeads: 2, hd: 64, bs: 16, lens: []int{300, 97, 5}},
		{name: "hd 128, window, softcap, sinks", heads: 4, kvHeads: 2, hd: 128, bs: 8, window: 100, softcap: 2,
			sinks: true, lens: []int{260, 3}},
	} {
		t.Run(c.name, func(t *testing.T) {
			bothOrders(t, func(t *testing.T) {
				testSplitKV(t, c.heads, c.kvHeads, c.hd, c.bs, c.window, c.softcap, c.sinks, c.lens)
			})
		})
	}
}

func testSplitKV(t *testing.T, heads, kvHeads, hd, bs, window int, softcap float32, sinks bool, lens []int) {
	r := rand.New(rand.NewSource(int64(hd + heads)))
	kvDim, group := kvHeads*hd, heads/kvHeads
	// Each sequence's blocks, shuffled; the cache written by kv_write_f16.
	var tables [][]int32
	nb := 0
	for _, l := range lens {
		nb += l/bs + 1
	}
	perm := r.Perm(nb)
	var pos, seq []int32
	for s, l := range lens {
		var tb []int32
		for j := 0; j <= l/bs; j++ {
			tb, perm = append(tb, int32(perm[0])), perm[1:]
		}
		tables = append(tables, tb)
		for p := 0; p < l; p++ {
			pos, seq = append(pos, int32(p)), append(seq, int32(s))
		}
	}
	kc, vc := dev(t, poisonedHalves(nb*bs*kvDim)), dev(t, poisonedHalves(nb*bs*kvDim))
	flat, stride := kvTables(tables)
	tabP := dev(t, flat)
	n := len(pos)
	require.NoError(t, Launch("kv_write_f16", Dim3{uint32(n), 1, 1}, Dim3{64, 1, 1}, 0,
		Ptr(kc), Ptr(vc), Ptr(dev(t, randn(r, n*kvDim))), Ptr(dev(t, randn(r, n*kvDim))), Ptr(dev(t, pos)), Ptr(dev(t, seq)),
		Ptr(tabP), I64(int64(kvDim)), I64(int64(bs)), I64(int64(stride))))
	// One decode query per sequence at its last position.
	var dpos, dseq []int32
	for s, l := range lens {
		dpos, dseq = append(dpos, int32(l-1)), append(dseq, int32(s))
	}
	m, qd := len(lens), heads*hd
	q := randn(r, m*qd)
	for i := range q {
		q[i] *= 2 // sharper softmaxes
	}
	qP, posP, seqP := dev(t, q), dev(t, dpos), dev(t, dseq)
	var sinksP DevPtr
	if sinks {
		sinksP = dev(t, randn(r, heads))
	}
	gmax := 8
	for group%gmax != 0 {
		gmax /= 2
	}
	run := func(g, warps, splits int) []float32 {
		out := dev(t, nans(m*qd))
		var part DevPtr
		if splits > 1 {
			part = dev(t, nans(m*heads*splits*(hd+2)))
		}
		require.NoError(t, Launch(fmt.Sprintf("attention_f16_g%d", g), Dim3{uint32(kvHeads * group / g), uint32(m), uint32(splits)},
			Dim3{uint32(32 * warps), 1, 1}, uint32(warps*g*(hd+2)*4),
			Ptr(out), Ptr(qP), Ptr(kc), Ptr(vc), Ptr(posP), Ptr(seqP), Ptr(tabP), Ptr(sinksP), Ptr(part),
			I64(int64(heads)), I64(int64(kvHeads)), I64(int64(hd)), I64(int64(bs)), I64(int64(stride)),
			I64(int64(window)), F64(float64(1/math.Sqrt(float64(hd)))), F64(float64(softcap)), I64(0)))
		if splits > 1 {
			require.NoError(t, Launch("attention_combine_f32", Dim3{uint32(heads), uint32(m), 1}, Dim3{64, 1, 1}, 0,
				Ptr(out), Ptr(part), Ptr(sinksP), I64(int64(heads)), I64(int64(hd)), I64(int64(splits))))
		}
		return back[float32](out, m*qd)
	}
	want := run(1, 4, 1)
	worst := 0.0
	for _, v := range []struct{ g, warps, splits int }{{1, 4, 2}, {gmax, 4, 3}, {gmax, 2, 8}, {1, 1, 64}} {
		e := maxRowErr(want, run(v.g, v.warps, v.splits), hd)
		require.LessOrEqual(t, e, splitTol, "G %d, %d warps, %d splits against unsplit", v.g, v.warps, v.splits)
		worst = max(worst, e)
	}
	t.Logf("split against unsplit: worst %.2g of a head's RMS", worst)
}
