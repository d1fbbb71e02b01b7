package engine

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tscale/engine/model/tokenizer"
)

// TestTooManySamples: more samples than the queue can ever hold fail at
// once with ErrTooManySamples, even on an idle engine; a queue that is only
// full for now still gives ErrQueueFull.
func TestTooManySamples(t *testing.T) {
	e := openStories(t, WithMaxQueue(4))
	defer e.Close()
	ok := e.Tokenizer().Encode("Once upon a time", tokenizer.AddSpecial)
	_, err := e.Stream(context.Background(), Request{Prompt: ok, N: 5})
	require.ErrorIs(t, err, ErrTooManySamples)
	require.ErrorContains(t, err, "5 samples, the queue holds at most 4")

	// Fill the pool with a Seq so that requests queue, then the queue.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := e.NewSeq(ctx, ok[:1])
	require.NoError(t, err)
	defer s.Close()
	e.do(func() { _, err = e.kvm.Reserve(s.u.seq, (1+e.kvm.Available())*e.blockSize-1) })
	require.NoError(t, err)
	ch, err := e.Stream(ctx, Request{Prompt: ok, N: 3})
	require.NoError(t, err)
	_, err = e.Stream(ctx, Request{Prompt: ok, N: 2})
	require.ErrorIs(t, err, ErrQueueFull)
	require.NotErrorIs(t, err, ErrTooManySamples)
	cancel()
	for range ch {
	}
}

// TestNoSpaceUpFront: with a 512-token context and 40 blocks of 16, a
// request whose samples can never all fit is rejected by Stream with the
// blocks it needs, before any event; one right at the limit runs alone
// without a preemption and completes. The peak is the prompt's 12 full
// blocks plus each sample's own blocks up to prompt+MaxTokens-1 tokens.
func TestNoSpaceUpFront(t *testing.T) {
	modes := []bool{true, false} // the check is the same; the runs differ
	if testing.Short() {
		modes = modes[1:]
	}
	for _, cache := range modes {
		e := openStories(t, WithKVBlocks(40), WithPrefixCache(cache))
		ids := prompt200(t, e) // 12 full blocks and 8 tokens
		for _, tc := range []struct {
			n, max, need int
		}{
			{28, 9, 40},    // 12 + 28×1: at the limit
			{29, 9, 41},    // one block over
			{4, 105, 40},   // 12 + 4×7 (304 tokens = 19 blocks)
			{4, 106, 44},   // 305 tokens: each sample one block more
			{16, 312, 332}, // the case: 16 samples to the end of the context
		} {
			req := Request{Prompt: ids, N: tc.n, MaxTokens: tc.max, Sampling: warm, IgnoreEOG: true}
			require.Equal(t, tc.need, e.peakBlocks(&req), "%+v", tc)
			if tc.need <= 40 && tc.max > 9 && testing.Short() {
				continue // one run at the limit is enough under -short
			}
			e.ResetKVPeak()
			before := e.Stats()
			res, err := e.Generate(context.Background(), req, nil)
			if tc.need > 40 {
				require.ErrorIs(t, err, ErrNoSpace, "%+v", tc)
				require.Nil(t, res, "no event: rejected by Stream")
				require.ErrorContains(t, err, "KV blocks of 16 tokens at once, the pool has 40")
				continue
			}
			require.NoError(t, err, "%+v", tc)
			for _, s := range res.Samples {
				require.Equal(t, FinishLength, s.Finish)
				require.Len(t, s.Tokens, tc.max)
			}
			require.Equal(t, before.Preemptions, e.Stats().Preemptions, "alone at the limit: no preemption")
			require.Equal(t, tc.need, e.Stats().KVPeak, "the peak is exact")
		}
		require.Zero(t, e.Stats().KV.Used)
		e.Close()
	}
}

// TestAtLimitUnderPressure: requests right at the pool's limit, competing
// with each other, are preempted and re-forked from one prefilled prompt
// (with and without the prefix cache to hold it) and still complete, each
// sample equal to its solo run, with no blocks left in use. Context 128 and
// 10 blocks of 16; the 24-token prompt has 1 full block and 8 tokens.
func TestAtLimitUnderPressure(t *testing.T) {
	modes := []bool{true, false}
	if testing.Short() {
		modes = modes[1:] // without the cache: every re-fork prefills the prompt again
	}
	for _, cache := range modes {
		t.Run(fmt.Sprintf("prefix cache %v", cache), func(t *testing.T) { atLimitUnderPressure(t, cache) })
	}
}

func atLimitUnderPressure(t *testing.T, cache bool) {
	e := openStories(t, WithContext(128), WithKVBlocks(10), WithPrefixCache(cache), WithStepTokens(32))
	defer e.Close()
	ref := openStories(t, WithContext(128))
	defer ref.Close()
	ids := prompt200(t, e)[:24]
	reqs := []Request{
		{Prompt: ids, N: 3, MaxTokens: 41, Sampling: warm, Seed: 1, IgnoreEOG: true},      // 1 + 3×3 = 10
		{Prompt: ids[:20], N: 2, MaxTokens: 20, Sampling: warm, Seed: 2, IgnoreEOG: true}, // 1 + 2×2 = 5
		{Prompt: ids, N: 9, MaxTokens: 9, Sampling: warm, Seed: 3, IgnoreEOG: true},       // 1 + 9×1 = 10
	}
	for i, want := range []int{10, 5, 10} {
		require.Equal(t, want, e.peakBlocks(&reqs[i]))
	}
	// Queued back to back from one goroutine, so they are admitted in order
	// 0, 1, 2 and all want blocks at once, however fast the engine runs.
	chans := make([]<-chan Event, len(reqs))
	for i := range reqs {
		ch, err := e.Stream(context.Background(), reqs[i])
		require.NoError(t, err)
		chans[i] = ch
	}
	for i, r := range reqs {
		got := make([][]int32, r.N)
		for ev := range chans[i] {
			require.NoError(t, ev.Err, "request %d sample %d", i, ev.Sample)
			if ev.Token >= 0 {
				got[ev.Sample] = append(got[ev.Sample], ev.Token)
			}
		}
		alone, err := ref.Generate(context.Background(), r, nil)
		require.NoError(t, err)
		for s := range alone.Samples {
			require.Equal(t, alone.Samples[s].Tokens, got[s], "request %d sample %d", i, s)
		}
	}
	st := e.Stats()
	t.Logf("%d steps, %d tokens, %d preemptions", st.Steps, st.BatchTokens, st.Preemptions)
	require.Positive(t, st.Preemptions, "the pool should force preemption")
	require.Zero(t, st.KV.Used)
	require.Zero(t, st.HostBytes)
}

// TestHostBudget: a started request holds its host estimate; the next one
// waits for it although KV blocks are free, and one larger than the whole
// budget is rejected up front.
func TestHostBudget(t *testing.T) {
	probe := openStories(t)
	ids := probe.Tokenizer().Encode("Once upon a time", tokenizer.AddSpecial)
	// long runs to the end of the context, far longer than the test needs.
	long := Request{Prompt: ids, N: 2, Sampling: warm, IgnoreEOG: true}
	short := Request{Prompt: ids, N: 4, MaxTokens: 10, Sampling: warm, Seed: 7, IgnoreEOG: true}
	one, two := probe.hostBytes(&long), probe.hostBytes(&short)
	probe.Close()
	budget := one + two/2 // a fits, a and short do not
	require.Greater(t, one+two, budget)
	e := openStories(t, WithHostBudget(budget))
	defer e.Close()

	big := long
	big.N = 4
	_, err := e.Stream(context.Background(), big)
	require.ErrorIs(t, err, ErrTooManySamples)
	require.ErrorContains(t, err, "bytes of host memory, the budget is")

	ctx, cancel := context.WithCancel(context.Background())
	a, err := e.Stream(ctx, long)
	require.NoError(t, err)
	go func() {
		for range a {
		}
	}()
	bch, err := e.Stream(context.Background(), short)
	require.NoError(t, err)
	// Two steps after short was queued, admission has seen it.
	steps := e.Stats().Steps
	for e.Stats().Steps < steps+2 {
		time.Sleep(time.Millisecond)
	}
	var waiting, kvFree bool
	var held int64
	e.do(func() {
		waiting = len(e.waiting) == 1 && len(e.running) == 1
		kvFree = waiting && e.blocksNeeded(e.waiting[0]) <= e.kvm.Available()
		held = e.host
	})
	require.True(t, waiting, "the second request should wait while the first runs")
	require.True(t, kvFree, "KV blocks suffice: host memory holds it back")
	require.Equal(t, one, held)
	cancel()
	for ev := range bch {
		require.NoError(t, ev.Err)
	}
	require.Zero(t, e.Stats().HostBytes)
}

// TestKVStartupError: the start-up error quotes what was set.
func TestKVStartupError(t *testing.T) {
	p := findModel("stories260K.gguf")
	if p == "" {
		t.Skip("../shared/models/stories260K.gguf not found")
	}
	_, err := Open(p, WithContext(512), WithKVBlocks(10))
	require.ErrorContains(t, err, "10 KV blocks were set")
	require.ErrorContains(t, err, "one 512-token sequence needs 32")
	require.NotContains(t, err.Error(), "budget")

	_, err = Open(p, WithContext(512), WithKVBudget(1000))
	require.ErrorContains(t, err, "the KV budget of 1000 bytes gives 0 blocks")
	_, err = Open(p, WithContext(512), WithKVBlocks(-1))
	require.ErrorContains(t, err, "invalid options")
}

// TestMaxTokensOverflow: prompt + MaxTokens must not wrap past the check.
func TestMaxTokensOverflow(t *testing.T) {
	e := openStories(t, WithContext(64))
	defer e.Close()
	ok := e.Tokenizer().Encode("Once upon a time", tokenizer.AddSpecial)
	for _, m := range []int{math.MaxInt, math.MaxInt - len(ok) + 1, 1e9, 64} {
		_, err := e.Stream(context.Background(), Request{Prompt: ok, MaxTokens: m})
		require.ErrorIs(t, err, ErrTooLong, "MaxTokens %d", m)
	}
	_, err := e.Generate(context.Background(), Request{Prompt: ok, MaxTokens: 64 - len(ok)}, nil)
	require.NoError(t, err)
}

// TestMaxTokensFor: the largest MaxTokens Stream accepts for n samples,
// exactly at the KV limit (one more is rejected), capped by the context.
func TestMaxTokensFor(t *testing.T) {
	e, err := Open(modelPath(t, "stories260K.gguf"), WithContext(512), WithKVBlocks(40))
	require.NoError(t, err)
	defer e.Close()
	prompt := make([]int32, 200)
	for _, n := range []int{1, 4, 16, 28, 40} {
		m := e.MaxTokensFor(len(prompt), n)
		if n == 1 {
			require.Equal(t, 512-200, m, "one sample fits the whole context")
			continue
		}
		require.Positive(t, m, "n %d", n)
		require.LessOrEqual(t, e.peakBlocks(&Request{Prompt: prompt, N: n, MaxTokens: m}), 40)
		require.Greater(t, e.peakBlocks(&Request{Prompt: prompt, N: n, MaxTokens: m + 1}), 40, "n %d: %d is the largest", n, m)
	}
	require.Zero(t, e.MaxTokensFor(600, 1), "a prompt longer than the context")
}
