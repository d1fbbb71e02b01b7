package cpu

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestFork runs fork, parallel and dynamic through the worker pool and its
// fallbacks: no goroutine started on use, every index exactly once, nested
// and concurrent calls, calls after the workers have parked, a panic in
// the caller's share, and a helper slower than the caller's spin.
func TestFork(t *testing.T) {
	// The pool exists from package init: using it starts no goroutine
	// (the engine and server tests count goroutines for leaks).
	base := runtime.NumGoroutine()
	fork(runtime.GOMAXPROCS(0), func(int) {})
	require.Equal(t, base, runtime.NumGoroutine())

	check := func(k int) {
		hits := make([]atomic.Int32, k)
		fork(k, func(i int) { hits[i].Add(1) })
		for i := range hits {
			require.Equal(t, int32(1), hits[i].Load(), "k %d index %d", k, i)
		}
	}
	for k := 1; k <= 9; k++ {
		check(k)
	}
	time.Sleep(2 * spinFor) // workers park; the next call wakes them
	check(2)

	// Nested: the inner calls find the pool busy and start goroutines.
	var n atomic.Int32
	parallel(2, 100, 1, func(lo, hi int) {
		parallel(2, hi-lo, 1, func(lo, hi int) { n.Add(int32(hi - lo)) })
	})
	require.Equal(t, int32(100), n.Load())

	// Concurrent callers (several backends at once).
	var wg sync.WaitGroup
	var total atomic.Int64
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := 0; r < 200; r++ {
				dynamic(2, 10, func() func(int) { return func(i int) { total.Add(int64(i)) } })
			}
		}()
	}
	wg.Wait()
	require.Equal(t, int64(4*200*45), total.Load())

	// A panic in the caller's share surfaces after the helpers finish, and
	// the pool stays usable. (The uneven shares above may have started a
	// contention back-off, which runs shares on the caller: end it.)
	busy.until.Store(0)
	var late atomic.Bool
	require.Panics(t, func() {
		fork(2, func(i int) {
			if i == 0 {
				panic("boom")
			}
			time.Sleep(time.Millisecond)
			late.Store(true)
		})
	})
	require.True(t, late.Load())
	check(2)

	// A helper that outlasts the caller's spin: the caller parks and is
	// woken when it finishes.
	busy.until.Store(0)
	var slow atomic.Bool
	fork(2, func(i int) {
		if i == 1 {
			time.Sleep(5 * spinFor)
			slow.Store(true)
		}
	})
	require.True(t, slow.Load())
	check(2)
}

// TestContentionBackoff checks the back-off rule on a synthetic clock: a
// gap stops spinning for minBackoff, gaps in quick succession double it up
// to maxBackoff, and a calm spell starts it small again.
func TestContentionBackoff(t *testing.T) {
	var c contention
	ms := time.Millisecond
	require.True(t, c.spun(ms, ms+time.Microsecond), "short polls keep spinning")
	require.False(t, c.spun(ms, ms+gapLimit+1), "a gap stops spinning")
	require.Equal(t, minBackoff, time.Duration(c.backoff.Load()))
	at := ms + gapLimit + 1
	require.False(t, c.spun(at+ms, at+ms+1), "nobody spins during the back-off")
	require.True(t, c.spun(at+minBackoff, at+minBackoff+1), "spinning resumes after it")

	// Repeated gaps double the period, capped.
	for range 20 {
		at = time.Duration(c.until.Load()) + ms
		c.spun(at, at+gapLimit+1)
	}
	require.Equal(t, maxBackoff, time.Duration(c.backoff.Load()))

	// After a calm spell the next gap starts small again.
	at = time.Duration(c.until.Load()) + 3*maxBackoff
	c.spun(at, at+gapLimit+1)
	require.Equal(t, minBackoff, time.Duration(c.backoff.Load()))
}

// TestForkBacksOffUnderContention runs forks while more goroutines than Ps
// are busy: the spinners get descheduled, notice it and back off, and every
// fork still completes.
func TestForkBacksOffUnderContention(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("needs GOMAXPROCS >= 2")
	}
	before := busy.gaps.Load()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 * runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				for i := 0; i < 1e5; i++ {
				}
			}
		}()
	}
	var n atomic.Int64
	deadline := time.Now().Add(5 * time.Second)
	for busy.gaps.Load() == before && time.Now().Before(deadline) {
		parallel(2, 1000, 1, func(lo, hi int) { n.Add(int64(hi - lo)) })
	}
	close(stop)
	wg.Wait()
	require.Greater(t, busy.gaps.Load(), before, "no descheduled spin noticed in 5 s of contention")
	require.Zero(t, n.Load()%1000)
}

// TestForkSerialWhenContended: during a back-off fork runs every share on
// the calling goroutine, each exactly once; a helper far slower than the
// caller's share starts one.
func TestForkSerialWhenContended(t *testing.T) {
	busy.noteGap(now())
	defer busy.until.Store(0)
	var mu sync.Mutex
	var order []int
	fork(2, func(i int) {
		mu.Lock()
		order = append(order, i)
		mu.Unlock()
	})
	require.Equal(t, []int{0, 1}, order, "in order on the caller")

	busy.until.Store(0)
	before := busy.gaps.Load()
	var started atomic.Bool
	fork(2, func(i int) {
		if i == 1 {
			started.Store(true)
			time.Sleep(2 * gapLimit)
			return
		}
		for !started.Load() { // the helper, not the caller, takes share 1
			runtime.Gosched()
		}
	})
	require.Greater(t, busy.gaps.Load(), before, "a late helper starts a back-off")
}

// TestForkCallerTakesUnstartedShares: a share no helper has started when
// the caller is done with its own runs on the caller (each share once),
// so a helper held off its core costs no waiting.
func TestForkCallerTakesUnstartedShares(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("needs GOMAXPROCS >= 2")
	}
	busy.until.Store(0)
	// Occupy the helper: a fork whose share 1 blocks until released,
	// run from another goroutine (the pool lock is per fork, so take
	// the worker directly).
	w := workers.ws[0]
	release := make(chan struct{})
	blocker := &share{fn: func(int) { <-release }, i: 1}
	w.post(blocker)
	for blocker.state.Load() != shareTaken {
		runtime.Gosched()
	}
	var hits [2]atomic.Int32
	done := make(chan struct{})
	go func() {
		defer close(done)
		fork(2, func(i int) { hits[i].Add(1) })
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("fork waited for a helper that never started its share")
	}
	close(release)
	for blocker.state.Load() != shareDone {
		runtime.Gosched()
	}
	require.Equal(t, int32(1), hits[0].Load())
	require.Equal(t, int32(1), hits[1].Load())
	// The worker skips the stale share and serves the next fork.
	var again [2]atomic.Int32
	fork(2, func(i int) { again[i].Add(1) })
	require.Equal(t, int32(1), again[0].Load())
	require.Equal(t, int32(1), again[1].Load())
}
