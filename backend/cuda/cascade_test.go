//go:build cudaemu

package cuda

import (
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tscale/engine/backend"
	"github.com/tscale/engine/backend/cuda/emu"
	"github.com/tscale/engine/quant"
)

// cascTol bounds the cascade's difference from the plain exact kernel, as
// a head's largest |difference| over its RMS: both round the normalised
// weights to F16 and sum in another order, so now and then a weight rounds
// to the other F16 neighbour (one F16 step of a weight, ~1e-3).
const cascTol = 2e-3

type cascCase struct {
	name               string
	heads, kvHeads, hd int
	n, prompt, bs      int
	window             int
	softcap            float32
	sinks              bool
	splitAt            int // positions per split (> 1 split: 2Z slots)
	lone               int // sequences of their own in the batch
	states             int // shared bytes for a set's query states (0: the default)
	reads              int // prefix reads: one per set
}

// TestCascadeAttention: N samples forked from one prompt decode with
// cascade attention (the prompt's full blocks read once per step for all)
// as with the plain kernel and as the CPU, and the bytes-read counter
// shows the shared blocks once plus each sample's own positions.
func TestCascadeAttention(t *testing.T) {
	for _, c := range []cascCase{
		{name: "N=16, stories260K's shape", heads: 8, kvHeads: 4, hd: 8, n: 16, prompt: 23, bs: 4, splitAt: 256, reads: 1},
		{name: "N=4, splits, sinks, softcap", heads: 4, kvHeads: 2, hd: 32, n: 4, prompt: 37, bs: 8, splitAt: 8, sinks: true, softcap: 20, reads: 1},
		{name: "N=3 and two lone, window", heads: 4, kvHeads: 4, hd: 16, n: 3, prompt: 12, bs: 4, window: 40, splitAt: 5, lone: 2, reads: 1},
		// 32 KiB hold 31 query states of 258 floats: 7 samples of 4 heads.
		{name: "N=16, hd 256, GQA 4: sets of 7", heads: 8, kvHeads: 2, hd: 256, n: 16, prompt: 9, bs: 4, splitAt: 256,
			states: 32 << 10, reads: 3},
		// The default 96 KiB: one set, over 48 KiB of dynamic shared memory.
		{name: "N=16, hd 256, GQA 4: one set", heads: 8, kvHeads: 2, hd: 256, n: 16, prompt: 9, bs: 4, splitAt: 256, reads: 1},
	} {
		for _, rev := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s, reverse %v", c.name, rev), func(t *testing.T) {
				// Threads in descending order too: a missing barrier shows.
				emu.SetReverseOrder(rev)
				defer emu.SetReverseOrder(false)
				testCascade(t, c)
			})
		}
	}
}

func testCascade(t *testing.T, c cascCase) {
	p := newPair(t, 11)
	p.g.cascSplit = c.splitAt
	if c.states > 0 {
		p.g.cascStates = c.states
	}
	kvd := c.kvHeads * c.hd
	nseq := c.n + c.lone
	per := (c.prompt+8)/c.bs + 1
	spec := backend.KVSpec{Layers: 2, KVDim: kvd, Blocks: per * (nseq + 1), BlockSize: c.bs, Type: quant.F16}
	ck, err := p.c.NewKV(spec)
	require.NoError(t, err)
	gk, err := p.g.NewKV(spec)
	require.NoError(t, err)
	a := backend.Attn{Layer: 1, Heads: c.heads, KVHeads: c.kvHeads, HeadDim: c.hd,
		Scale: 1 / float32(math.Sqrt(float64(c.hd))), Window: c.window, Softcap: c.softcap}
	ca, ga := a, a
	if c.sinks {
		ca.Sinks, ga.Sinks = p.weight(t, quant.F32, []int64{int64(c.heads)}, p.randn(c.heads))
	}
	// Sequence 0 is the prompt, 1..n-1 its forks (full blocks shared,
	// the partial one copied), then the lone ones: prompts of their own.
	tables := make([][]int32, nseq)
	next := int32(0)
	for s := range tables {
		for j := 0; j < per; j++ {
			tables[s] = append(tables[s], next)
			next++
		}
	}
	full := c.prompt / c.bs
	worst := 0.0
	// run attends bt on the CPU, on the device with cascade and again
	// without (the KV rows written again, the same values), and gives
	// the outputs and the cascade call's counters.
	run := func(bt *backend.Batch) (cd, gd, pd backend.Tensor, st Stats) {
		n, qd := bt.Len(), c.heads*c.hd
		cq, gq := p.rnd(n, qd)
		ckk, gkk := p.rnd(n, kvd)
		cv, gv := p.rnd(n, kvd)
		cd, gd = p.out(n, qd)
		pd = p.g.Alloc(n, qd)
		p.c.Attention(cd, cq, ckk, cv, ck, bt, ca)
		s0 := p.g.Stats()
		p.g.Attention(gd, gq, gkk, gv, gk, bt, ga)
		st = p.g.Stats()
		st.KVBytes -= s0.KVBytes
		st.Launches -= s0.Launches
		p.g.SetCascade(false)
		p.g.Attention(pd, gq, gkk, gv, gk, bt, ga)
		p.g.SetCascade(true)
		return cd, gd, pd, st
	}
	pre := &backend.Batch{Blocks: tables}
	for s := 0; s < nseq; s++ {
		if s > 0 && s < c.n {
			continue
		}
		for i := 0; i < c.prompt; i++ {
			pre.Tokens, pre.Pos, pre.Seq = append(pre.Tokens, 0), append(pre.Pos, int32(i)), append(pre.Seq, int32(s))
		}
	}
	// The prompts' prefill: a chunk of each sequence, flash-style (sets of
	// the tokens whose states fit, each reading 0..its last position).
	p.g.Reset()
	cd, gd, pd, st := run(pre)
	p.check(t, cd, gd, attnTol, "prefill: cascade against the CPU")
	p.check(t, cd, pd, attnTol, "prefill: plain against the CPU")
	e := rowErr(read(p.g, pd), read(p.g, gd), c.hd)
	require.LessOrEqual(t, e, cascTol, "prefill: cascade against plain, per head")
	worst = max(worst, e)
	states := p.g.cascStates
	perSet := states / (4 * (c.hd + 2)) / (c.heads / c.kvHeads)
	var prefill int64
	for end := perSet; ; end += perSet {
		prefill += int64(min(end, c.prompt))
		if end >= c.prompt {
			break
		}
	}
	require.Equal(t, int64(1+c.lone)*prefill*int64(kvd)*2*2, st.KVBytes, "prefill: KV bytes")
	for s := 1; s < c.n; s++ {
		copy(tables[s], tables[0][:full])
		if c.prompt%c.bs != 0 {
			ck.CopyBlock(int(tables[s][full]), int(tables[0][full]))
			gk.CopyBlock(int(tables[s][full]), int(tables[0][full]))
		}
	}
	for step := 0; step < 3; step++ {
		bt := &backend.Batch{Blocks: tables}
		var suffix int64
		for s := 0; s < nseq; s++ {
			pos := c.prompt + step
			bt.Tokens, bt.Pos, bt.Seq = append(bt.Tokens, 0), append(bt.Pos, int32(pos)), append(bt.Seq, int32(s))
			if s < c.n {
				suffix += int64(pos - full*c.bs + 1)
			} else {
				suffix += int64(pos + 1)
			}
		}
		p.g.Reset()
		cd, gd, pd, st := run(bt)
		p.check(t, cd, gd, attnTol, fmt.Sprintf("step %d: cascade against the CPU", step))
		p.check(t, cd, pd, attnTol, fmt.Sprintf("step %d: plain against the CPU", step))
		e := rowErr(read(p.g, pd), read(p.g, gd), c.hd)
		require.LessOrEqual(t, e, cascTol, "step %d: cascade against plain, per head", step)
		worst = max(worst, e)
		// Shared blocks once (per set), then each sample's own positions, K and V.
		require.Equal(t, (int64(c.reads*full*c.bs)+suffix)*int64(kvd)*2*2, st.KVBytes, "step %d: KV bytes", step)
		require.Equal(t, int64(4), st.Launches, "kv_write, 2 cascade passes, sum")
	}
	t.Logf("cascade against plain: worst %.2g of a head's RMS", worst)
}

// TestFlashPrefill: prefill chunks through the cascade kernels (a set of a
// sequence's tokens over the chunk's range, each query masked to its past
// and window) against the plain kernel and the CPU: a long prompt in two
// chunks beside another sequence's decode, with a window, sinks and a
// softcap; sets cut at 8 KiB of states (several per chunk); splits.
func TestFlashPrefill(t *testing.T) {
	for _, window := range []int{0, 20} {
		t.Run(fmt.Sprintf("window %d", window), func(t *testing.T) {
			p := newPair(t, 3)
			p.g.cascSplit, p.g.cascStates = 16, 8<<10
			const heads, kvHeads, hd, bs = 4, 2, 32, 8
			kvd := kvHeads * hd
			spec := backend.KVSpec{Layers: 1, KVDim: kvd, Blocks: 16, BlockSize: bs, Type: quant.F16}
			ck, err := p.c.NewKV(spec)
			require.NoError(t, err)
			gk, err := p.g.NewKV(spec)
			require.NoError(t, err)
			a := backend.Attn{Heads: heads, KVHeads: kvHeads, HeadDim: hd, Scale: 0.3, Window: window, Softcap: 15}
			ca, ga := a, a
			ca.Sinks, ga.Sinks = p.weight(t, quant.F32, []int64{heads}, p.randn(heads))
			tables := [][]int32{{3, 9, 0, 12, 5, 14, 7, 1, 10, 2}, {4, 6, 8, 11, 13, 15}}
			// Sequence 1 has 5 cached positions (a first step), then decodes
			// beside sequence 0's prompt of 70 in chunks of 40 and 30.
			steps := []struct{ lo, hi, dec int }{{0, 40, -1}, {40, 70, 5}}
			pre := &backend.Batch{Blocks: tables}
			for i := 0; i < 5; i++ {
				pre.Tokens, pre.Pos, pre.Seq = append(pre.Tokens, 0), append(pre.Pos, int32(i)), append(pre.Seq, 1)
			}
			batches := []*backend.Batch{pre}
			for _, s := range steps {
				bt := &backend.Batch{Blocks: tables}
				for i := s.hi - 1; i >= s.lo; i-- { // out of order
					bt.Tokens, bt.Pos, bt.Seq = append(bt.Tokens, 0), append(bt.Pos, int32(i)), append(bt.Seq, 0)
				}
				if s.dec >= 0 {
					bt.Tokens, bt.Pos, bt.Seq = append(bt.Tokens, 0), append(bt.Pos, int32(s.dec)), append(bt.Seq, 1)
				}
				batches = append(batches, bt)
			}
			for i, bt := range batches {
				n := bt.Len()
				p.g.Reset()
				cq, gq := p.rnd(n, heads*hd)
				ckk, gkk := p.rnd(n, kvd)
				cv, gv := p.rnd(n, kvd)
				cd, gd := p.out(n, heads*hd)
				pd := p.g.Alloc(n, heads*hd)
				p.c.Attention(cd, cq, ckk, cv, ck, bt, ca)
				s0 := p.g.Stats()
				p.g.Attention(gd, gq, gkk, gv, gk, bt, ga)
				s1 := p.g.Stats()
				p.g.SetCascade(false)
				p.g.Attention(pd, gq, gkk, gv, gk, bt, ga)
				p.g.SetCascade(true)
				require.Equal(t, int64(4), s1.Launches-s0.Launches, "step %d: kv_write, 2 cascade passes, sum", i)
				p.check(t, cd, gd, attnTol, fmt.Sprintf("step %d: flash-style against the CPU", i))
				p.check(t, cd, pd, attnTol, fmt.Sprintf("step %d: plain against the CPU", i))
				e := rowErr(read(p.g, pd), read(p.g, gd), hd)
				require.LessOrEqual(t, e, cascTol, "step %d: flash-style against plain", i)
				flash, plain := s1.KVBytes-s0.KVBytes, p.g.Stats().KVBytes-s1.KVBytes
				require.Less(t, flash, plain, "step %d: KV bytes", i)
				t.Logf("step %d: %d tokens, KV bytes %d (plain: %d), flash-style against plain %.2g", i, n, flash, plain, e)
			}
		})
	}
}
