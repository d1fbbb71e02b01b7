package cuda

import (
	"fmt"
	"runtime"
	"sync"
)

// thread is the one goroutine that drives the GPU, locked to its OS thread
// for its whole life (a CUDA context is current per OS thread). The driver
// is made, used and closed only there: every backend method hands its
// driver calls over as one function, so the engine's goroutines need no
// locking of their own. One hand-over costs a channel round trip per op,
// small beside a kernel launch.
type thread struct {
	mu     sync.Mutex // one caller at a time
	ops    chan func()
	done   chan any // nil, or the panic of the op
	closed bool
}

func newThread() *thread {
	t := &thread{ops: make(chan func()), done: make(chan any)}
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		for f := range t.ops {
			t.done <- run(f)
		}
	}()
	return t
}

func run(f func()) (p any) {
	defer func() { p = recover() }()
	f()
	return nil
}

// do runs f on the thread and waits; a panic in f is raised again here.
func (t *thread) do(f func()) {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		panic("cuda: backend used after Close")
	}
	t.ops <- f
	p := <-t.done
	t.mu.Unlock()
	if p != nil {
		panic(p)
	}
}

// stop ends the thread's goroutine (after the driver is closed).
func (t *thread) stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.closed {
		t.closed = true
		close(t.ops)
	}
}

// check panics on a driver error: ops have no error results, and a failed
// launch or copy is a bug or a lost device (as the CPU backend panics on
// mismatched shapes).
func check(what string, err error) {
	if err != nil {
		panic(fmt.Sprintf("cuda: %s: %v", what, err))
	}
}
