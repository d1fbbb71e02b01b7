package cpu

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// parallel splits [0, n) into at most threads contiguous chunks and runs fn
// on each, waiting for all. Work below minPer items per chunk is not split,
// since a hand-off costs more than a small loop.
func parallel(threads, n, minPer int, fn func(lo, hi int)) {
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	if minPer < 1 {
		minPer = 1
	}
	chunks := min(threads, n/minPer)
	if chunks <= 1 {
		fn(0, n)
		return
	}
	per := (n + chunks - 1) / chunks
	chunks = (n + per - 1) / per
	fork(chunks, func(c int) { fn(c*per, min(c*per+per, n)) })
}

// dynamic runs items [0, n) on up to threads goroutines that take them one
// at a time from a shared counter, for items of uneven cost. work is called
// once per goroutine and returns that goroutine's item function (so that
// each has its own scratch).
func dynamic(threads, n int, work func() func(i int)) {
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	workers := min(threads, n)
	if workers <= 1 {
		f := work()
		for i := 0; i < n; i++ {
			f(i)
		}
		return
	}
	var next atomic.Int64
	fork(workers, func(int) {
		f := work()
		for {
			i := int(next.Add(1)) - 1
			if i >= n {
				return
			}
			f(i)
		}
	})
}

// fork runs fn(0) .. fn(k-1) at once, fn(0) on the calling goroutine, and
// waits for all. Decoding runs hundreds of small products per token, each
// split over the threads: waking a parked goroutine for each (a futex
// round trip, tens of microseconds on a VM) left the other core idle for
// much of every product. So the helpers are long-lived workers that spin
// for a while after each job before they park. Workers exist only up to
// GOMAXPROCS-1, so spinning never takes a core from the caller; calls that
// find the pool busy (another backend, nested use) or need more helpers
// start goroutines as before.
//
// A helper's share is claimed by whoever starts it first: a caller done
// with its own share runs those no helper has started yet. A helper held
// off its core (another process on it) or still waking then costs no
// waiting: on a busy 2-core machine 2-thread prefill otherwise fell to a
// third of 1-thread speed.
func fork(k int, fn func(i int)) {
	if k <= 1 {
		fn(0)
		return
	}
	if k-1 <= runtime.GOMAXPROCS(0)-1 && workers.TryLock() {
		start := now()
		if !busy.calm(start) {
			// The helpers are not getting cores: a share handed to
			// one waits for its next time slice, so the caller does
			// all of them itself.
			workers.Unlock()
			for i := range k {
				fn(i)
			}
			return
		}
		for len(workers.ws) < k-1 {
			workers.ws = append(workers.ws, newWorker())
		}
		ws := workers.ws[:k-1]
		shares := make([]share, k-1)
		for i, w := range ws {
			shares[i].fn, shares[i].i = fn, i+1
			w.post(&shares[i])
		}
		// Also when a share panics, every share runs once and none
		// outlives the fork.
		defer workers.Unlock()
		var own time.Duration
		defer func() {
			// The helpers' shares are as large as the caller's: wait
			// for them by spinning up to half as long again.
			limit := max(spinFor, own/2)
			for i, w := range ws {
				shares[i].wait(w, limit)
				// The worker keeps pointing at its last share: drop the
				// closure (and the buffers it holds) of one the caller ran.
				shares[i].fn = nil
			}
			// A helper that finished far later than the caller's own
			// share took was descheduled (or its share was uneven).
			if t := now(); t-start-own > max(gapLimit, 2*own) {
				busy.noteGap(t)
			}
		}()
		defer func() {
			for i := range shares {
				if shares[i].state.CompareAndSwap(shareFree, shareDone) {
					fn(i + 1)
				}
			}
			own = now() - start
		}()
		fn(0)
		return
	}
	var wg sync.WaitGroup
	for i := 1; i < k; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(i)
		}()
	}
	fn(0)
	wg.Wait()
}

// workers is the process-wide pool behind fork; its lock is held for the
// whole of one fork.
var workers struct {
	sync.Mutex
	ws []*worker
}

// The pool starts with the package, not on first use, so that the number
// of goroutines stays constant around any use of the backend (tests check
// for leaked goroutines that way). It grows only if GOMAXPROCS does.
func init() {
	for range runtime.GOMAXPROCS(0) - 1 {
		workers.ws = append(workers.ws, newWorker())
	}
}

func newWorker() *worker {
	w := &worker{wake: make(chan struct{}, 1), finished: make(chan struct{}, 1)}
	go w.loop()
	return w
}

// spinFor is how long an idle worker polls for its next job before it
// parks: longer than the gaps between the products of a decode step.
const spinFor = 100 * time.Microsecond

// A share's states: nobody has started it, a helper runs it, it is done
// (or the caller took it).
const (
	shareFree int32 = iota
	shareTaken
	shareDone
)

// share is one helper's part of a fork.
type share struct {
	fn      func(i int)
	i       int
	state   atomic.Int32
	waiting atomic.Bool // the caller is parked on the worker's finished
}

type worker struct {
	cur      atomic.Pointer[share] // the latest share posted
	sleeping atomic.Bool           // parked on wake
	wake     chan struct{}
	finished chan struct{}
}

func (w *worker) post(sh *share) {
	w.cur.Store(sh)
	if w.sleeping.Load() {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}

// wait returns when share sh (posted to w) is done. It spins for up to
// limit first (the share is running and should end about when the
// caller's own did), then parks, so that a worker held off its core (more
// busy threads than cores) does not cost the caller its core too.
func (sh *share) wait(w *worker, limit time.Duration) {
	start := now()
	last := start
	for i := 0; sh.state.Load() != shareDone; i++ {
		if i%256 != 255 {
			continue
		}
		t := now()
		if busy.spun(last, t) && t-start < limit {
			last = t
			continue
		}
		sh.waiting.Store(true)
		// A stale wake-up only makes this loop check again.
		for sh.state.Load() != shareDone {
			<-w.finished
		}
		return
	}
}

func (w *worker) loop() {
	var seen *share
	for {
		start := now()
		last := start
		for i := 0; w.cur.Load() == seen; i++ {
			if i%256 != 255 {
				continue
			}
			t := now()
			if busy.spun(last, t) && t-start < spinFor {
				last = t
				continue
			}
			// Park. A post after the sleeping store sees it and sends
			// a wake-up; one before it is caught by the re-check.
			w.sleeping.Store(true)
			if w.cur.Load() == seen {
				<-w.wake
			}
			w.sleeping.Store(false)
			start = now()
			last = start
		}
		// A share of a finished fork (its caller took it) is skipped;
		// only the latest one can be free.
		seen = w.cur.Load()
		if seen.state.CompareAndSwap(shareFree, shareTaken) {
			seen.fn(seen.i)
			seen.fn = nil // kept until the next share: hold no buffers
			seen.state.Store(shareDone)
			if seen.waiting.Load() {
				select {
				case w.finished <- struct{}{}:
				default:
				}
			}
		}
	}
}

// Spinning pays only while the pool's threads have cores to themselves. A
// spinner whose polls are far apart was descheduled in between: there are
// more runnable threads than cores (another process, or more goroutines
// than Ps), and each spin then takes CPU from a thread doing real work
// (2-thread decode fell from ~170 to ~20 tok/s beside one busy process).
// A helper descheduled while it runs its share shows as a fork whose
// helpers finish far later than the caller's own share. After either
// sign, for a back-off period nobody spins and forks run every share on
// the caller (a share handed to a helper would wait for its next time
// slice); the period doubles with each sign found soon after the last one
// and starts small again once the machine has been calm.
const (
	gapLimit   = 500 * time.Microsecond // a poll takes well under a microsecond
	minBackoff = 5 * time.Millisecond
	maxBackoff = 500 * time.Millisecond
)

var busy contention

type contention struct {
	until   atomic.Int64 // now() before which nobody spins
	backoff atomic.Int64 // the last back-off period
	gaps    atomic.Int64 // gaps seen (tests and diagnostics)
}

// calm reports whether spinning and handing work to helpers pay at t.
func (c *contention) calm(t time.Duration) bool { return int64(t) >= c.until.Load() }

// spun reports whether a spinner that polled at last and again at t may
// go on spinning, noting a gap if it was descheduled in between.
func (c *contention) spun(last, t time.Duration) bool {
	if t-last > gapLimit {
		c.noteGap(t)
		return false
	}
	return c.calm(t)
}

func (c *contention) noteGap(t time.Duration) {
	c.gaps.Add(1)
	b := time.Duration(c.backoff.Load())
	until := time.Duration(c.until.Load())
	if b > 0 && t < until+2*b {
		b = min(2*b, maxBackoff) // still contended
	} else {
		b = minBackoff
	}
	c.backoff.Store(int64(b))
	c.until.Store(int64(t + b))
}

// now is a monotonic clock reading cheap enough to poll while spinning.
func now() time.Duration { return time.Since(epoch) }

var epoch = time.Now()
