package cpu

import (
	"runtime"
	"sync"
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
