package cuda

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tscale/engine/backend"
)

// TestPlanCascade: which sequences of a batch share which leading blocks.
func TestPlanCascade(t *testing.T) {
	a := backend.Attn{Heads: 4, KVHeads: 2, HeadDim: 8}
	const bs = 4
	for _, c := range []struct {
		name   string
		pos    []int32 // one token per sequence unless seq is set
		seq    []int32
		tables [][]int32
		window int
		sets   []int32 // nil: no cascade
	}{
		{name: "one sequence", pos: []int32{9}, tables: [][]int32{{0, 1, 2}}},
		{name: "nothing shared", pos: []int32{9, 9}, tables: [][]int32{{0, 1, 2}, {3, 4, 5}}},
		{name: "first blocks differ", pos: []int32{9, 9}, tables: [][]int32{{0, 1, 2}, {3, 1, 2}}},
		{name: "two share two blocks", pos: []int32{9, 10}, tables: [][]int32{{0, 1, 2}, {0, 1, 5}},
			sets: []int32{0, 8, 0, 0, 2, 1, 8, 10, 0, 2, 1, 0, 8, 11, 1, 3, 1, 0}},
		{name: "the common run ends", pos: []int32{9, 10, 11}, tables: [][]int32{{0, 1, 2}, {0, 1, 5}, {0, 6, 7}},
			sets: []int32{0, 4, 0, 0, 3, 1, 4, 10, 0, 3, 1, 0, 4, 11, 1, 4, 1, 0, 4, 12, 2, 5, 1, 0}},
		{name: "not past the token's block", pos: []int32{5, 9}, tables: [][]int32{{0, 1, 2}, {0, 1, 2}},
			sets: []int32{0, 4, 0, 0, 2, 1, 4, 6, 0, 2, 1, 0, 4, 10, 1, 3, 1, 0}},
		{name: "two groups and a lone one", pos: []int32{9, 9, 9, 9, 9}, tables: [][]int32{{0, 1, 2}, {3, 4, 5}, {0, 1, 6}, {3, 4, 7}, {8, 9, 10}},
			sets: []int32{0, 8, 0, 0, 2, 1, 0, 8, 1, 2, 2, 1, 0, 0, 0, 4, 1, 1,
				8, 10, 0, 5, 1, 0, 8, 10, 1, 6, 1, 0, 8, 10, 2, 7, 1, 0, 8, 10, 3, 8, 1, 0, 0, 10, 4, 9, 1, 0}},
		{name: "window past position 0", pos: []int32{9, 9}, tables: [][]int32{{0, 1, 2}, {0, 1, 5}}, window: 9},
		{name: "window over position 0", pos: []int32{9, 9}, tables: [][]int32{{0, 1, 2}, {0, 1, 5}}, window: 10,
			sets: []int32{0, 8, 0, 0, 2, 1, 8, 10, 0, 2, 1, 0, 8, 10, 1, 3, 1, 0}},
		{name: "prefill of a lone sequence", pos: []int32{6, 4, 5, 9}, seq: []int32{0, 0, 0, 1}, tables: [][]int32{{0, 1, 2}, {3, 4, 5}},
			sets: []int32{0, 7, 0, 0, 3, 1, 0, 0, 0, 3, 3, 0, 0, 0, 0, 6, 1, 1, 0, 10, 1, 7, 1, 0}},
		{name: "prefill in a window", pos: []int32{6, 4, 5}, seq: []int32{0, 0, 0}, tables: [][]int32{{0, 1, 2}}, window: 3,
			sets: []int32{2, 7, 0, 0, 3, 1, 0, 0, 0, 3, 3, 0}},
		{name: "a chunk of prefill", pos: []int32{9, 8, 9}, seq: []int32{0, 1, 1}, tables: [][]int32{{0, 1, 2}, {0, 1, 5}},
			sets: []int32{0, 8, 0, 0, 3, 1, 8, 10, 0, 3, 1, 0, 8, 9, 1, 4, 1, 0, 8, 10, 1, 5, 1, 0}},
	} {
		t.Run(c.name, func(t *testing.T) {
			seq := c.seq
			if seq == nil {
				for i := range c.pos {
					seq = append(seq, int32(i))
				}
			}
			at := a
			at.Window = c.window
			bt := &backend.Batch{Tokens: make([]int32, len(c.pos)), Pos: c.pos, Seq: seq, Blocks: c.tables}
			p := planCascade(bt, at, bs, 256, cascStates)
			if c.sets == nil {
				require.Nil(t, p)
				return
			}
			require.NotNil(t, p)
			require.Equal(t, c.sets, p.sets)
			require.Equal(t, 1, p.z)
			// Every token once in a set of each kind; each set's range read once.
			in := make([][2]int, len(c.pos))
			var bytes int64
			for i := 0; i < len(p.sets); i += cascSet {
				for _, tk := range p.toks[p.sets[i+3] : p.sets[i+3]+p.sets[i+4]] {
					in[tk][p.sets[i+5]]++
				}
				bytes += int64(p.sets[i+1]-p.sets[i]) * 2 * 8 * 2 * 2
			}
			for tk := range in {
				require.Equal(t, [2]int{1, 1}, in[tk], "token %d: own and prefix sets", tk)
			}
			require.Equal(t, bytes, p.bytes)
		})
	}
}

// FuzzPlanCascade: for any batch, a plan shares only blocks that every
// token of a prefix set has in its table below its own position, gives
// each token one set of each kind whose ranges, clipped to the token's
// own, cover exactly its causal positions (its window's) once, and counts
// each set's range once.
func FuzzPlanCascade(f *testing.F) {
	f.Add([]byte{3, 9, 0, 0, 1, 2, 10, 0, 0, 1, 5}, uint8(4), uint8(0))
	f.Add([]byte{2, 5, 1, 1, 7, 9, 1, 1, 7, 13, 2, 1, 7, 8}, uint8(2), uint8(12))
	f.Fuzz(func(t *testing.T, data []byte, bs, window uint8) {
		if bs == 0 || len(data) == 0 {
			return
		}
		// data: a count of sequences, then per token: pos, seq, blocks
		// (4 small ids: tables of 4 blocks from a pool of 8).
		nseq := int(data[0])%6 + 1
		tables := make([][]int32, nseq)
		for s := range tables {
			for j := 0; j < 4; j++ {
				tables[s] = append(tables[s], int32((s*7+j*3)%8))
			}
		}
		bt := &backend.Batch{Blocks: tables}
		for i := 1; i+2 < len(data) && bt.Len() < 32; i += 3 {
			s := int(data[i+1]) % nseq
			tables[s][data[i+2]%4] = int32(data[i+2] / 4 % 8)
			pos := int32(int(data[i]) % (4 * int(bs)))
			bt.Tokens, bt.Pos, bt.Seq = append(bt.Tokens, 0), append(bt.Pos, pos), append(bt.Seq, int32(s))
		}
		a := backend.Attn{Heads: 4, KVHeads: 2, HeadDim: 8, Window: int(window)}
		p := planCascade(bt, a, int(bs), 3, 1<<10) // sets of at most 3 tokens
		if p == nil {
			return
		}
		first := func(tk int32) int {
			if a.Window > 0 {
				return max(0, int(bt.Pos[tk])-a.Window+1)
			}
			return 0
		}
		kinds := make([][2]int, bt.Len())
		spans := make([][][2]int, bt.Len()) // per token, its sets' ranges clipped to its own
		var bytes int64
		for i := 0; i < len(p.sets); i += cascSet {
			lo, hi, seq, kind := int(p.sets[i]), int(p.sets[i+1]), int(p.sets[i+2]), p.sets[i+5]
			require.LessOrEqual(t, 0, lo)
			require.LessOrEqual(t, lo, hi)
			bytes += int64(hi-lo) * 2 * 8 * 2 * 2
			for _, tk := range p.toks[p.sets[i+3] : p.sets[i+3]+p.sets[i+4]] {
				kinds[tk][kind]++
				pos, own := int(bt.Pos[tk]), int(bt.Seq[tk])
				clo, chi := max(lo, first(tk)), min(hi, pos+1)
				if clo < chi {
					spans[tk] = append(spans[tk], [2]int{clo, chi})
				}
				if own != seq && hi > lo { // a shared prefix: whole blocks below the token's own
					require.Zero(t, lo)
					require.Zero(t, hi%int(bs))
					require.Less(t, hi-1, pos/int(bs)*int(bs), "token %d: its own block is shared", tk)
					require.LessOrEqual(t, first(tk), lo, "token %d: a prefix before its window", tk)
				}
				for j := 0; j*int(bs) < chi; j++ {
					require.Equal(t, tables[seq][j], tables[own][j], "token %d: block %d not its own", tk, j)
				}
			}
		}
		for tk := range kinds {
			require.Equal(t, [2]int{1, 1}, kinds[tk], "token %d: own and prefix sets", tk)
			// Its sets cover exactly its causal (window) range, once.
			covered := 0
			for x, a := range spans[tk] {
				covered += a[1] - a[0]
				for _, b := range spans[tk][x+1:] {
					require.True(t, a[1] <= b[0] || b[1] <= a[0], "token %d: ranges %v and %v overlap", tk, a, b)
				}
			}
			require.Equal(t, int(bt.Pos[tk])+1-first(int32(tk)), covered, "token %d: positions covered", tk)
		}
		require.Equal(t, bytes, p.bytes)
		require.GreaterOrEqual(t, p.z, 1)
	})
}
