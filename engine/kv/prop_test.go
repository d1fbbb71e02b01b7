package kv

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestRandomOps runs thousands of random operations per configuration,
// checking every invariant after each, then frees everything.
func TestRandomOps(t *testing.T) {
	steps := 4000
	if testing.Short() {
		steps = 1000
	}
	for _, c := range []struct {
		blocks, bs int
		opts       []Option
	}{
		{14, 4, nil},
		{16, 16, nil},
		{8, 1, nil},
		{9, 3, nil},
		{12, 4, []Option{WithPrefixCache(false)}},
		{12, 2, []Option{withHash(weakHash)}},
		{12, 4, []Option{withHash(func(uint64, []int32) uint64 { return 42 })}},
	} {
		t.Run(fmt.Sprintf("blocks%d_bs%d_opts%d", c.blocks, c.bs, len(c.opts)), func(t *testing.T) {
			var copies, noSpace, badAppends int
			var st Stats
			for seed := range uint64(3) {
				d := newSim(c.blocks, c.bs, seed, c.opts...)
				for i := range steps {
					kind, a, b := byte(d.rng.IntN(256)), byte(d.rng.IntN(256)), byte(d.rng.IntN(256))
					require.NoError(t, d.op(kind, a, b), "seed %d step %d op %d", seed, i, kind%8)
					require.NoError(t, d.verify(), "seed %d after step %d op %d", seed, i, kind%8)
				}
				copies, noSpace, badAppends = copies+d.copies, noSpace+d.noSpace, badAppends+d.badAppends
				s := d.m.Stats()
				st.HitTokens, st.Evictions = st.HitTokens+s.HitTokens, st.Evictions+s.Evictions
				require.NoError(t, d.drain(), "seed %d", seed)
			}
			// The random runs must have reached the paths they are meant to test.
			if c.bs > 1 { // a block of one token is never partly filled
				require.Positive(t, copies, "copy on write never ran")
			}
			require.Positive(t, noSpace, "ErrNoSpace never happened")
			require.Positive(t, badAppends, "no unreserved Append was tried")
			if c.opts == nil {
				require.Positive(t, st.HitTokens, "random prompts share documents, some must hit")
				require.Positive(t, st.Evictions, "no cached block was evicted")
			}
		})
	}
}

// FuzzOps decodes bytes into a configuration and an operation sequence:
// data[0] block size, data[1] pool size, data[2] flags (cache off, weak
// hash), then (op, sequence, size) triples.
func FuzzOps(f *testing.F) {
	f.Add([]byte{3, 10, 0, 0, 0, 20, 1, 0, 30, 2, 0, 30, 3, 0, 0, 1, 1, 5, 2, 1, 5, 5, 0, 0, 0, 1, 9})
	f.Add([]byte{0, 3, 2, 0, 1, 7, 1, 0, 9, 2, 0, 9, 5, 0, 0, 0, 1, 7, 1, 1, 9, 4, 0, 0})
	f.Add([]byte{15, 6, 1, 0, 2, 40, 1, 0, 40, 2, 0, 40, 3, 0, 0, 1, 1, 3, 1, 0, 3})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 3 {
			return
		}
		bs := []int{1, 2, 3, 4, 16}[int(data[0])%5]
		var opts []Option
		if data[2]&1 != 0 {
			opts = append(opts, WithPrefixCache(false))
		}
		if data[2]&2 != 0 {
			opts = append(opts, withHash(weakHash))
		}
		d := newSim(1+int(data[1])%40, bs, uint64(data[0])<<8|uint64(data[1]), opts...)
		ops := data[3:]
		for i := 0; i+2 < len(ops) && i < 3*2000; i += 3 {
			if err := d.op(ops[i], ops[i+1], ops[i+2]); err != nil {
				t.Fatalf("op %d (%d): %v", i/3, ops[i]%8, err)
			}
			if err := d.verify(); err != nil {
				t.Fatalf("after op %d (%d): %v", i/3, ops[i]%8, err)
			}
		}
		if err := d.drain(); err != nil {
			t.Fatal(err)
		}
	})
}
