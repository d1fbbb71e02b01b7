package cpu

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// parallel splits [0, n) into at most threads contiguous chunks and runs fn
// on each, waiting for all. Work below minPer items per chunk is not split,
// since a goroutine hand-off costs more than a small loop.
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
	var wg sync.WaitGroup
	per := (n + chunks - 1) / chunks
	for lo := per; lo < n; lo += per {
		wg.Add(1)
		go func(lo, hi int) {
			defer wg.Done()
			fn(lo, hi)
		}(lo, min(lo+per, n))
	}
	fn(0, min(per, n))
	wg.Wait()
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
	var wg sync.WaitGroup
	loop := func() {
		f := work()
		for {
			i := int(next.Add(1)) - 1
			if i >= n {
				return
			}
			f(i)
		}
	}
	for w := 1; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			loop()
		}()
	}
	loop()
	wg.Wait()
}
