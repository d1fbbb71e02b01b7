package engine

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tscale/engine/engine/sample"
	"github.com/tscale/engine/model/tokenizer"
)

func openStories(t testing.TB, opts ...Option) *Engine {
	t.Helper()
	p := findModel("stories260K.gguf")
	if p == "" {
		t.Skip("../shared/models/stories260K.gguf not found")
	}
	e, err := Open(p, append([]Option{WithContext(512)}, opts...)...)
	require.NoError(t, err)
	return e
}

// prompt200 is a 200-token prompt of ordinary text.
func prompt200(t testing.TB, e *Engine) []int32 {
	text := ""
	for i := 0; i < 40; i++ {
		text += "Lily and Tom went to the park to play with a big red ball. "
	}
	ids := e.Tokenizer().Encode(text, tokenizer.AddSpecial)
	require.GreaterOrEqual(t, len(ids), 200)
	return ids[:200]
}

var warm = sample.Params{Temperature: 0.9, TopK: 40, TopP: 0.95}

// TestForkIsExact: N samples with seeds s..s+N-1 give exactly the tokens of
// N separate single-sample runs with those seeds.
func TestForkIsExact(t *testing.T) {
	for _, name := range []string{"stories260K.gguf", "SmolLM2-135M-Instruct.Q4_1.gguf"} {
		t.Run(name, func(t *testing.T) {
			p := findModel(name)
			if p == "" {
				t.Skipf("%s not found", name)
			}
			if testing.Short() && name != "stories260K.gguf" {
				t.Skip("slow under -short")
			}
			e, err := Open(p, WithContext(256))
			require.NoError(t, err)
			defer e.Close()
			ids := e.Tokenizer().Encode("Once upon a time, there was a", tokenizer.AddSpecial)
			n, maxNew, seed := 8, 24, uint64(1000)
			if testing.Short() {
				n, maxNew = 4, 16
			}
			req := Request{Prompt: ids, N: n, MaxTokens: maxNew, Sampling: warm, Seed: seed, IgnoreEOG: true}
			res, err := e.Generate(context.Background(), req, nil)
			require.NoError(t, err)
			distinct := map[string]bool{}
			for i := 0; i < n; i++ {
				one := req
				one.N, one.Seed = 1, seed+uint64(i)
				alone, err := e.Generate(context.Background(), one, nil)
				require.NoError(t, err)
				require.Equal(t, alone.Samples[0].Tokens, res.Samples[i].Tokens, "sample %d", i)
				require.Equal(t, alone.Samples[0].Text, res.Samples[i].Text)
				require.Equal(t, FinishLength, res.Samples[i].Finish)
				distinct[res.Samples[i].Text] = true
			}
			require.Greater(t, len(distinct), 1, "samples should differ at temperature 0.9")
		})
	}
}

// TestSharedPromptBlocks: 16 samples of a 200-token prompt hold the
// prompt's 12 full blocks once, plus their own blocks from the partial one on.
func TestSharedPromptBlocks(t *testing.T) {
	e := openStories(t, WithPrefixCache(false))
	defer e.Close()
	ids := prompt200(t, e)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := e.Stream(ctx, Request{Prompt: ids, N: 16, MaxTokens: 100, Sampling: warm, IgnoreEOG: true})
	require.NoError(t, err)
	seen := map[int]int{}
	for ev := range ch {
		seen[ev.Sample]++
		if len(seen) < 16 || seen[ev.Sample] < 3 {
			continue
		}
		// Inspect between two steps: every sample is at the same length.
		var used, want int
		e.do(func() {
			used = e.kvm.Used()
			r := e.running[0]
			bs := e.blockSize
			shared := len(ids) / bs // full prompt blocks, shared by all
			want = shared
			for _, u := range r.units {
				want += (u.seq.Len() - shared*bs + bs - 1) / bs
			}
		})
		// 12 shared full blocks + each sample's own blocks (its copy of
		// the partial prompt block and any after it), e.g. 12 + 16 = 28
		// while the samples are shorter than 208 tokens.
		require.Equal(t, want, used)
		require.GreaterOrEqual(t, used, 12+16)
		cancel()
		break
	}
	for range ch {
	}
	require.Eventually(t, func() bool { return e.Stats().KV.Used == 0 }, time.Second, 5*time.Millisecond)
}

// TestPrefixCache: a second request with the same 200-token prefix prefills
// only the new tokens and gives the output it gives without the cache.
func TestPrefixCache(t *testing.T) {
	e := openStories(t)
	defer e.Close()
	cold := openStories(t, WithPrefixCache(false))
	defer cold.Close()
	ids := prompt200(t, e)
	first := Request{Prompt: ids, MaxTokens: 8}
	_, err := e.Generate(context.Background(), first, nil)
	require.NoError(t, err)

	suffix := e.Tokenizer().Encode(" Then they went home.")
	second := Request{Prompt: append(append([]int32{}, ids...), suffix...), MaxTokens: 16}
	before := e.Stats()
	res, err := e.Generate(context.Background(), second, nil)
	require.NoError(t, err)
	after := e.Stats()
	require.Equal(t, 192, res.CachedTokens, "12 full blocks of 16 reused")
	// Computed: the new prompt tokens, then one per generated token but the last.
	require.Equal(t, len(second.Prompt)-192+len(res.Samples[0].Tokens)-1, after.BatchTokens-before.BatchTokens)
	require.Greater(t, after.KV.HitTokens, before.KV.HitTokens)

	want, err := cold.Generate(context.Background(), second, nil)
	require.NoError(t, err)
	require.Equal(t, want.Samples[0].Tokens, res.Samples[0].Tokens)
	require.Zero(t, want.CachedTokens)
}

// TestSchedulerUnderPressure: 200 (16 under -short) concurrent requests of
// mixed lengths with a KV budget far too small to hold them at once all
// complete, each equal to running it alone, with no leaked blocks or
// goroutines.
func TestSchedulerUnderPressure(t *testing.T) {
	goroutines := runtime.NumGoroutine()
	// Fewer and shorter requests under -short, which CI runs with -race,
	// in a smaller pool that they still over-fill (preemptions are
	// required below).
	blocks, maxNew, count, extra, ctx := 48, 40, 200, 6, 256
	if testing.Short() {
		blocks, maxNew, count, extra, ctx = 10, 12, 16, 3, 128
	}
	// 48 (10) blocks of 16 tokens: room for a few requests at a time.
	e := openStories(t, WithContext(ctx), WithKVBudget(0), WithBlockSize(16))
	perBlock := e.Stats().KVBytesPerBlock
	e.Close()
	e = openStories(t, WithContext(ctx), WithKVBudget(int64(blocks)*perBlock), WithStepTokens(64))
	defer e.Close()
	ref := openStories(t, WithContext(ctx))
	defer ref.Close()

	rng := rand.New(rand.NewPCG(9, 9))
	starts := []string{"Once upon a time", "Tom had a dog", "The sun was hot", "Lily saw a bird", "One day, Ben"}
	reqs := make([]Request, count)
	for i := range reqs {
		text := starts[rng.IntN(len(starts))]
		for j := rng.IntN(extra); j > 0; j-- {
			text += " and they played in the park"
		}
		reqs[i] = Request{
			Prompt: e.Tokenizer().Encode(text, tokenizer.AddSpecial), N: 1 + rng.IntN(3),
			MaxTokens: 4 + rng.IntN(maxNew), Sampling: warm, Seed: uint64(i),
		}
	}
	results := make([]*Result, len(reqs))
	var wg sync.WaitGroup
	errs := make(chan error, len(reqs))
	// Hold the loop while the requests line up, so that they all compete
	// from the first step whatever the machine's speed.
	release := make(chan struct{})
	go e.do(func() { <-release })
	for i := range reqs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			res, err := e.Generate(context.Background(), reqs[i], nil)
			if err != nil {
				errs <- fmt.Errorf("request %d: %w", i, err)
				return
			}
			results[i] = res
		}(i)
	}
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	st := e.Stats()
	t.Logf("%d requests: %d steps, %d preemptions", len(reqs), st.Steps, st.Preemptions)
	require.Positive(t, st.Preemptions, "the budget should force preemption")
	require.Zero(t, st.KV.Used, "blocks leaked")
	for i, r := range reqs {
		alone, err := ref.Generate(context.Background(), r, nil)
		require.NoError(t, err)
		for s := range alone.Samples {
			require.Equal(t, alone.Samples[s].Tokens, results[i].Samples[s].Tokens, "request %d sample %d", i, s)
			require.Equal(t, alone.Samples[s].Finish, results[i].Samples[s].Finish)
		}
	}
	e.Close()
	ref.Close()
	requireNoLeak(t, goroutines)
}

// TestCancelFreesBlocks: cancelling a running request frees its KV at once
// and ends its stream.
func TestCancelFreesBlocks(t *testing.T) {
	e := openStories(t)
	defer e.Close()
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := e.Stream(ctx, Request{Prompt: prompt200(t, e), N: 4, MaxTokens: 200, Sampling: warm, IgnoreEOG: true})
	require.NoError(t, err)
	<-ch
	require.Positive(t, e.Stats().KV.Used)
	cancel()
	for range ch {
	}
	require.Eventually(t, func() bool { return e.Stats().KV.Used == 0 }, time.Second, 5*time.Millisecond)
}

func TestBadRequests(t *testing.T) {
	e := openStories(t, WithContext(64), WithMaxQueue(4))
	defer e.Close()
	ok := e.Tokenizer().Encode("Once upon a time", tokenizer.AddSpecial)
	long := make([]int32, 64)
	for _, tc := range []struct {
		name string
		req  Request
		want string
	}{
		{"empty prompt", Request{}, "empty prompt"},
		{"prompt too long", Request{Prompt: long}, "does not fit the context"},
		{"max tokens too many", Request{Prompt: ok, MaxTokens: 100}, "does not fit the context"},
		{"token out of vocab", Request{Prompt: []int32{1, 9999}}, "outside the vocabulary"},
		{"negative n", Request{Prompt: ok, N: -1}, "negative"},
		{"more samples than the queue holds", Request{Prompt: ok, N: 5}, "too many samples"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.Generate(context.Background(), tc.req, nil)
			require.ErrorContains(t, err, tc.want)
		})
	}
	require.Zero(t, e.Stats().KV.Used)
}

// requireNoLeak waits up to two seconds for the goroutine count to drop back
// to before (polling here: require.Eventually runs its own goroutine).
func requireNoLeak(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<16)
		t.Fatalf("goroutines leaked: %d before, %d after\n%s", before, n, buf[:runtime.Stack(buf, true)])
	}
}
