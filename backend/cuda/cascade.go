package cuda

import (
	"cmp"
	"os"
	"slices"

	"github.com/tscale/engine/backend"
)

// Cascade (shared-prefix) attention: sequences of a batch whose block
// tables start with the same blocks read those blocks once per step for
// all their queries (kernels/attention.cu, attention_cascade_f16), then
// each token its own positions; the partial softmaxes merge by
// log-sum-exp. Found from the batch's block tables alone, on by default.
// The same kernels take prefill chunks (several tokens of a sequence):
// the chunk's range read once for its tokens, each masked to its past.

// Option configures a Backend.
type Option func(*Backend)

// WithCascade turns cascade attention on (the default) or off. The
// environment variable ENGINE_CUDA_CASCADE=0 turns it off for Open.
func WithCascade(on bool) Option { return func(b *Backend) { b.noCascade = !on } }

// SetCascade turns cascade attention on or off from the next Attention.
func (b *Backend) SetCascade(on bool) { b.t.do(func() { b.noCascade = !on }) }

func envOptions() []Option {
	if os.Getenv("ENGINE_CUDA_CASCADE") == "0" {
		return []Option{WithCascade(false)}
	}
	return nil
}

// Launch shape of attention_cascade_f16.
const (
	cascSet     = 6        // int32 per query set (CASC_SET)
	cascTile    = 4096     // tile rows × head size: 16 KiB of F16 K and V
	cascStates  = 96 << 10 // shared bytes for a set's query states (default; sm_80 allows 163 KiB a block)
	cascSplitAt = 256      // positions per split of a set's range (default)
	cascMaxZ    = 32       // splits at most
	cascBlocks  = 512      // blocks that fill a GPU (132 SMs on an H200): no more splits beyond
)

// cascade is one batch's plan for one window.
type cascade struct {
	sets  []int32 // cascSet per set: lo, hi, seq, tok0, ntok, kind (1: prefix)
	toks  []int32 // token indexes, sets' runs
	z     int     // splits of every set's range
	nq    int     // the most query vectors of a set
	tile  int     // positions per tile
	bytes int64   // KV bytes read: each set's range once
}

type cascKey struct {
	bt                            *backend.Batch
	window, heads, kvHeads, headD int
}

// planCascade groups bt's sequences by their first block and, for each
// group of two or more, shares the longest common run of leading blocks
// that lies below every one of the group's tokens (a token's own position
// is never in a shared block). Nil when no group shares a block: the
// plain kernel is the same work. With a window, a sequence joins only
// while its window still covers position 0. splitAt is positions per
// split, states the shared bytes for a set's query states.
func planCascade(bt *backend.Batch, a backend.Attn, bs, splitAt, states int) *cascade {
	type seqInfo struct {
		toks   []int32
		minPos int32
		maxPos int32
	}
	seqs := make([]seqInfo, len(bt.Blocks))
	for i, s := range bt.Seq {
		si := &seqs[s]
		if len(si.toks) == 0 || bt.Pos[i] < si.minPos {
			si.minPos = bt.Pos[i]
		}
		si.maxPos = max(si.maxPos, bt.Pos[i])
		si.toks = append(si.toks, int32(i))
	}
	// Groups by first block, in order of first appearance.
	var groups [][]int
	byFirst := map[int32]int{}
	for s, si := range seqs {
		t := bt.Blocks[s]
		if len(si.toks) == 0 || len(t) == 0 || int(si.minPos) < bs || (a.Window > 0 && int(si.maxPos) >= a.Window) {
			continue
		}
		g, ok := byFirst[t[0]]
		if !ok {
			g = len(groups)
			byFirst[t[0]] = g
			groups = append(groups, nil)
		}
		groups[g] = append(groups[g], s)
	}
	c := &cascade{tile: max(1, min(64, cascTile/a.HeadDim))}
	group := a.Heads / a.KVHeads
	perSet := max(1, states/(4*(a.HeadDim+2))/group) // tokens per set
	prefix := make([]int, len(seqs))                 // shared positions per sequence
	add := func(lo, hi, seq int, toks []int32, kind int32) {
		for len(toks) > 0 {
			n := min(len(toks), perSet)
			c.sets = append(c.sets, int32(lo), int32(hi), int32(seq), int32(len(c.toks)), int32(n), kind)
			c.toks = append(c.toks, toks[:n]...)
			c.nq = max(c.nq, n*group)
			c.bytes += int64(hi-lo) * int64(a.KVHeads*a.HeadDim) * 2 * 2
			toks = toks[n:]
		}
	}
	for _, g := range groups {
		k := 0
		if len(g) > 1 {
			t0 := bt.Blocks[g[0]]
			k = len(t0)
			for _, s := range g {
				t := bt.Blocks[s]
				k = min(k, len(t), int(seqs[s].minPos)/bs)
				for j := 0; j < k; j++ {
					if t[j] != t0[j] {
						k = j
					}
				}
			}
		}
		if k == 0 {
			continue
		}
		var toks []int32
		for _, s := range g {
			prefix[s] = k * bs
			toks = append(toks, seqs[s].toks...)
		}
		add(0, k*bs, g[0], toks, 1)
	}
	// A sequence of its own with several tokens (a prefill chunk): its
	// tokens in position order, a set per perSet of them over their whole
	// causal range (each query masked to its past): flash-style, the range
	// read once per set instead of once per token. Their own slots: empty.
	first := func(p int32) int {
		if a.Window > 0 {
			return max(0, int(p)-a.Window+1)
		}
		return 0
	}
	chunked := make([]bool, len(seqs))
	var empty []int32
	for s, si := range seqs {
		if prefix[s] > 0 || len(si.toks) < 2 {
			continue
		}
		toks := slices.Clone(si.toks)
		slices.SortFunc(toks, func(x, y int32) int { return cmp.Compare(bt.Pos[x], bt.Pos[y]) })
		for len(toks) > 0 {
			n := min(len(toks), perSet)
			add(first(bt.Pos[toks[0]]), int(bt.Pos[toks[n-1]])+1, s, toks[:n], 1)
			toks = toks[n:]
		}
		chunked[s] = true
		empty = append(empty, si.toks...)
	}
	if len(c.sets) == 0 {
		return nil
	}
	add(0, 0, 0, empty, 0)
	var lone []int32 // other tokens with no shared prefix: their prefix slots are empty
	for s, si := range seqs {
		if prefix[s] == 0 && !chunked[s] {
			lone = append(lone, si.toks...)
		}
	}
	add(0, 0, 0, lone, 1)
	for i, p := range bt.Pos {
		s := int(bt.Seq[i])
		if !chunked[s] {
			add(max(prefix[s], first(p)), int(p)+1, s, []int32{int32(i)}, 0)
		}
	}
	longest := 0
	for i := 0; i < len(c.sets); i += cascSet {
		longest = max(longest, int(c.sets[i+1]-c.sets[i]))
	}
	if len(c.sets)/cascSet > 65535 { // grid.y
		return nil
	}
	// Splits only as far as the GPU needs blocks: part holds 2Z slots of
	// every (token, head).
	sets := len(c.sets) / cascSet
	c.z = max(1, min(cascMaxZ, longest/splitAt, (cascBlocks+a.KVHeads*sets-1)/(a.KVHeads*sets)))
	return c
}

// plan is bt's cascade plan for a's window, made once per forward; nil
// when cascade is off or nothing is shared.
func (b *Backend) plan(bt *backend.Batch, a backend.Attn, bs int) *cascade {
	if b.noCascade {
		return nil
	}
	k := cascKey{bt, a.Window, a.Heads, a.KVHeads, a.HeadDim}
	c, ok := b.plans[k]
	if !ok {
		c = planCascade(bt, a, bs, b.cascSplit, b.cascStates)
		b.plans[k] = c
	}
	return c
}

// shared is the dynamic shared memory of a cascade launch.
func (c *cascade) shared(hd int) uint32 { return uint32(c.nq*(hd+2)*4 + 2*c.tile*hd*2) }

// attendCascade is Attention's second half through plan c: the stats
// pass, the values pass and the sum of the slots (kernels/attention.cu).
func (b *Backend) attendCascade(c *cascade, dst, q, kc, vc, pos, tab DevPtr, w, n int, sinks DevPtr, kvBlock int, a backend.Attn) {
	b.st.KVBytes += c.bytes
	slots := 2 * c.z
	part := b.ar.alloc(int64(4 * n * a.Heads * slots * (a.HeadDim + 2)))
	sets, toks := b.ints(c.sets), b.ints(c.toks)
	grid := Dim3{uint32(a.KVHeads), uint32(len(c.sets) / cascSet), uint32(c.z)}
	for values := 0; values < 2; values++ {
		b.launch("attention_cascade_f16", grid, dim(32*attnWarps), c.shared(a.HeadDim),
			ptr(part), ptr(q), ptr(kc), ptr(vc), ptr(pos), ptr(sets), ptr(toks), ptr(tab), ptr(sinks),
			i64(a.Heads), i64(a.KVHeads), i64(a.HeadDim), i64(kvBlock), i64(w), i64(a.Window), i64(c.tile),
			f64(a.Scale), f64(a.Softcap), i64(values))
	}
	b.launch("attention_sum_f32", Dim3{uint32(a.Heads), uint32(n), 1}, block1D(a.HeadDim, 256), 0,
		ptr(dst), ptr(part), i64(a.Heads), i64(a.HeadDim), i64(slots))
}
