//go:build cudaemu

package emu

import (
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tscale/engine/backend"
	"github.com/tscale/engine/backend/cpu"
	"github.com/tscale/engine/quant"
)

// Attention's error bounds, each over a batch: max, the largest |got-want|
// of a head's output over that output's RMS; l2, ‖got-want‖/‖want‖. The CPU
// rounds the normalised softmax weights to F16 before the V sum (ggml's
// non-flash path). The exact mode does too, so only the order of the float
// sums differs, which now and then rounds a weight to the other F16
// neighbour (an error of an F16 step of that weight: up to 1.2e-3 of max
// measured, 1e-5 of l2); the online softmax cannot round them at all, and
// every weight differs by up to half an F16 step (measured: max 1.4e-3, l2
// 2e-4).
var attnTol = map[bool]struct{ max, l2 float64 }{
	true:  {3e-3, 2e-4},
	false: {4e-3, 1e-3},
}

type attnCase struct {
	name                   string
	heads, kvHeads, hd, bs int
	window                 int
	softcap                float32
	sinks                  bool
	qScale                 float32 // sharper softmaxes
	lens                   []int   // prefill lengths of the sequences
	long                   bool    // not under -short
}

// attnVariant is one launch: G query heads per block, warps per block,
// splits of the positions (> 1: attention_combine_f32 merges them), mode.
type attnVariant struct {
	g, warps, splits int
	exact            bool
}

func TestAttentionKernel(t *testing.T) {
	for _, c := range []attnCase{
		{name: "hd 64, MHA", heads: 4, kvHeads: 4, hd: 64, bs: 16, qScale: 1, lens: []int{21, 5, 10}},
		{name: "hd 128, GQA 2, window, softcap", heads: 4, kvHeads: 2, hd: 128, bs: 8, window: 9, softcap: 1.5,
			qScale: 3, lens: []int{19, 3, 12}},
		{name: "hd 48, GQA 4, window, sinks", heads: 8, kvHeads: 2, hd: 48, bs: 4, window: 6, sinks: true,
			qScale: 2, lens: []int{13, 6, 9}},
		{name: "hd 16, GQA 8, softcap, sinks", heads: 8, kvHeads: 1, hd: 16, bs: 3, softcap: 2, sinks: true,
			qScale: 2, lens: []int{10, 4, 7}},
		{name: "hd 8, GQA 2 (stories260K's shape)", heads: 8, kvHeads: 4, hd: 8, bs: 16, qScale: 1, lens: []int{17, 2}},
		{name: "hd 256, GQA 2, long", heads: 4, kvHeads: 2, hd: 256, bs: 16, qScale: 2, lens: []int{150, 37}, long: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.long && testing.Short() {
				t.Skip("long sequences: not under -short")
			}
			bothOrders(t, func(t *testing.T) { testAttention(t, c) })
		})
	}
}

func testAttention(t *testing.T, c attnCase) {
	r := rand.New(rand.NewSource(int64(13 + c.hd + c.heads)))
	be := cpu.New(1)
	const layers, l = 2, 1
	kvDim, group := c.kvHeads*c.hd, c.heads/c.kvHeads
	gmax := 1
	for _, g := range []int{8, 4, 2} {
		if group%g == 0 {
			gmax = g
			break
		}
	}
	variants := []attnVariant{{1, 4, 1, true}, {gmax, 2, 1, true}, {gmax, 3, 1, false}, {gmax, 4, 3, false}, {1, 1, 2, false}}

	// Sequences, plus one forked from sequence 0 later; each owns a run of
	// shuffled blocks (tables out of order).
	nseq := len(c.lens) + 1
	per := (maxInt(c.lens)+16)/c.bs + 1
	blocks := nseq * per
	perm := r.Perm(blocks)
	tables := make([][]int32, nseq)
	for s := range tables {
		for _, b := range perm[s*per : (s+1)*per] {
			tables[s] = append(tables[s], int32(b))
		}
	}
	kvc, err := be.NewKV(backend.KVSpec{Layers: layers, KVDim: kvDim, Blocks: blocks, BlockSize: c.bs, Type: quant.F16})
	require.NoError(t, err)
	pool := layers * blocks * c.bs * kvDim
	kc, vc := dev(t, poisonedHalves(pool)), dev(t, poisonedHalves(pool))
	layerOff := DevPtr(2 * l * blocks * c.bs * kvDim)
	a := backend.Attn{Layer: l, Heads: c.heads, KVHeads: c.kvHeads, HeadDim: c.hd, Scale: float32(1 / math.Sqrt(float64(c.hd))),
		Window: c.window, Softcap: c.softcap}
	var sinksP DevPtr
	if c.sinks {
		s := randn(r, c.heads)
		for i := range s {
			s[i] *= 2
		}
		a.Sinks, err = be.Upload("sinks", quant.F32, []int64{int64(c.heads)}, f32bytes(s))
		require.NoError(t, err)
		sinksP = dev(t, s)
	}

	lens := make([]int, nseq) // cached positions per sequence
	worst, worst2 := map[bool]float64{}, map[bool]float64{}
	// step runs one batch of counts[s] new tokens of each sequence s, rows
	// shuffled, on the CPU and through every variant.
	step := func(name string, counts []int) {
		var pos, seq []int32
		for s, n := range counts {
			for p := lens[s]; p < lens[s]+n; p++ {
				pos, seq = append(pos, int32(p)), append(seq, int32(s))
			}
			lens[s] += n
		}
		r.Shuffle(len(pos), func(i, j int) { pos[i], pos[j], seq[i], seq[j] = pos[j], pos[i], seq[j], seq[i] })
		n, qd := len(pos), c.heads*c.hd
		q, k, v := randn(r, n*qd), randn(r, n*kvDim), randn(r, n*kvDim)
		for i := range q {
			q[i] *= c.qScale
		}
		want := be.Alloc(n, qd)
		bt := &backend.Batch{Tokens: make([]int32, n), Pos: pos, Seq: seq, Blocks: tables}
		be.Attention(want, cpuTensor(t, be, n, qd, q), cpuTensor(t, be, n, kvDim, k), cpuTensor(t, be, n, kvDim, v), kvc, bt, a)
		exp := cpuRows(be, want)

		flat, stride := kvTables(tables)
		posP, seqP, tabP := dev(t, pos), dev(t, seq), dev(t, flat)
		require.NoError(t, Launch("kv_write_f16", Dim3{uint32(n), 1, 1}, Dim3{64, 1, 1}, 0,
			Ptr(kc+layerOff), Ptr(vc+layerOff), Ptr(dev(t, k)), Ptr(dev(t, v)), Ptr(posP), Ptr(seqP), Ptr(tabP),
			I64(int64(kvDim)), I64(int64(c.bs)), I64(int64(stride))))
		qP := dev(t, q)
		for _, vr := range variants {
			out := dev(t, nans(n*qd))
			var part DevPtr
			if vr.splits > 1 {
				part = dev(t, nans(n*c.heads*vr.splits*(c.hd+2)))
			}
			shared := uint32(vr.warps * vr.g * (c.hd + 2) * 4)
			kernel := fmt.Sprintf("attention_f16_g%d", vr.g)
			require.NoError(t, Launch(kernel, Dim3{uint32(c.kvHeads * group / vr.g), uint32(n), uint32(vr.splits)},
				Dim3{uint32(32 * vr.warps), 1, 1}, shared,
				Ptr(out), Ptr(qP), Ptr(kc+layerOff), Ptr(vc+layerOff), Ptr(posP), Ptr(seqP), Ptr(tabP), Ptr(sinksP), Ptr(part),
				I64(int64(c.heads)), I64(int64(c.kvHeads)), I64(int64(c.hd)), I64(int64(c.bs)), I64(int64(stride)),
				I64(int64(c.window)), F64(float64(a.Scale)), F64(float64(c.softcap)), I64(map[bool]int64{true: 1}[vr.exact])))
			if vr.splits > 1 {
				require.NoError(t, Launch("attention_combine_f32", Dim3{uint32(c.heads), uint32(n), 1}, Dim3{32, 1, 1}, 0,
					Ptr(out), Ptr(part), Ptr(sinksP), I64(int64(c.heads)), I64(int64(c.hd)), I64(int64(vr.splits))))
			}
			got := back[float32](out, n*qd)
			e, e2 := maxRowErr(exp, got, c.hd), relL2(exp, got)
			tol := attnTol[vr.exact]
			require.LessOrEqual(t, e, tol.max, "%s: %+v", name, vr)
			require.LessOrEqual(t, e2, tol.l2, "%s: %+v", name, vr)
			worst[vr.exact] = max(worst[vr.exact], e)
			worst2[vr.exact] = max(worst2[vr.exact], e2)
		}
	}
	active := func(n int) []int { // n tokens of each live sequence
		counts := make([]int, nseq)
		for s := range counts {
			if lens[s] > 0 {
				counts[s] = n
			}
		}
		return counts
	}
	step("prefill", append(append([]int{}, c.lens...), 0))
	step("decode", active(1))
	chunk := active(1)
	chunk[1] = 7
	step("chunked prefill with decodes", chunk)

	// Fork sequence 0: share its full blocks, copy its partial one (CopyBlock).
	f, b := nseq-1, lens[0]/c.bs
	copy(tables[f], tables[0][:b])
	kvc.CopyBlock(int(tables[f][b]), int(tables[0][b]))
	require.NoError(t, Launch("copy_block_f16", Dim3{1, layers, 2}, Dim3{64, 1, 1}, 0, Ptr(kc), Ptr(vc),
		I64(int64(tables[f][b])), I64(int64(tables[0][b])), I64(int64(blocks)), I64(int64(c.bs*kvDim))))
	lens[f] = lens[0]
	step("decode after a fork", active(1))
	step("decode", active(1))
	t.Logf("worst error: exact max %.2g l2 %.2g, online max %.2g l2 %.2g", worst[true], worst2[true], worst[false], worst2[false])
}

// relL2 is ‖got-want‖/‖want‖ (+Inf for a NaN in got).
func relL2(want, got []float32) float64 {
	var d, w float64
	for i := range want {
		if got[i] != got[i] {
			return math.Inf(1)
		}
		d += (float64(got[i]) - float64(want[i])) * (float64(got[i]) - float64(want[i]))
		w += float64(want[i]) * float64(want[i])
	}
	return math.Sqrt(d / w)
}

func maxInt(x []int) int {
	m := 0
	for _, v := range x {
		m = max(m, v)
	}
	return m
}

// nans are n float32 NaNs: outputs are poisoned before each launch.
func nans(n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(math.NaN())
	}
	return x
}

// TestAttentionKernelRejects checks that unsupported launches fail (a trap,
// CUDA_ERROR_LAUNCH_FAILED) instead of writing wrong values.
func TestAttentionKernelRejects(t *testing.T) {
	out, q := dev(t, nans(64)), dev(t, randn(rand.New(rand.NewSource(1)), 64))
	kc, vc := dev(t, make([]uint16, 4*64)), dev(t, make([]uint16, 4*64))
	pos, seq, tab := dev(t, []int32{1}), dev(t, []int32{0}), dev(t, []int32{0})
	part := dev(t, nans(2*66))
	for _, c := range []struct {
		name              string
		hd, splits, exact int
	}{{"exact over splits", 64, 2, 1}, {"odd head size", 63, 1, 0}, {"head size over 256", 258, 1, 0}} {
		err := Launch("attention_f16_g1", Dim3{1, 1, uint32(c.splits)}, Dim3{32, 1, 1}, uint32(c.hd+2)*4,
			Ptr(out), Ptr(q), Ptr(kc), Ptr(vc), Ptr(pos), Ptr(seq), Ptr(tab), 0, Ptr(part),
			I64(1), I64(1), I64(int64(c.hd)), I64(4), I64(1), I64(0), F64(0.125), F64(0), I64(int64(c.exact)))
		var e *Error
		require.ErrorAs(t, err, &e, c.name)
		require.Equal(t, 719, e.Code, c.name)
	}
}
