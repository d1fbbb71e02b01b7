// Package engine is the embeddable API: open a GGUF model, then ask for
// many samples of a prompt. Samples share the prompt's KV cache (one
// prefill, copy-on-write forks), every step batches all running sequences,
// and a prefix cache reuses prompts across requests.
package engine

import (
	"context"
	"fmt"
	"log"
	"sync"

	"github.com/tscale/engine/backend"
	"github.com/tscale/engine/engine/kv"
	"github.com/tscale/engine/engine/sample"
	"github.com/tscale/engine/model"
	"github.com/tscale/engine/model/gguf"
	"github.com/tscale/engine/model/tokenizer"

	// The architectures the engine can load.
	_ "github.com/tscale/engine/model/gemma3"
	_ "github.com/tscale/engine/model/llama"
)

type config struct {
	threads     int
	ctx         int
	budget      int64
	blocks      int
	blockSize   int
	stepTokens  int
	maxQueue    int
	hostBudget  int64
	prefixCache bool
	progress    func(done, total int64)
	device      string
}

// Option configures Open.
type Option func(*config)

// WithThreads sets the number of CPU worker goroutines (default GOMAXPROCS).
func WithThreads(n int) Option { return func(c *config) { c.threads = n } }

// WithContext sets the maximum tokens of one sequence, prompt included
// (default: the model's trained context when one sequence of it fits the
// KV memory, else the most that fits; see WithKVBudget).
func WithContext(n int) Option { return func(c *config) { c.ctx = n } }

// WithKVBudget sets the memory for the KV cache in bytes; it decides the
// number of blocks (default: enough for 8 full-context sequences, at most
// 1 GiB).
func WithKVBudget(bytes int64) Option { return func(c *config) { c.budget = bytes } }

// WithKVBlocks sets the number of KV blocks directly (overrides WithKVBudget).
func WithKVBlocks(n int) Option { return func(c *config) { c.blocks = n } }

// WithBlockSize sets the tokens per KV block (default 16).
func WithBlockSize(n int) Option { return func(c *config) { c.blockSize = n } }

// WithStepTokens sets the token budget of one batched step: decode tokens
// plus prefill chunks (default 512).
func WithStepTokens(n int) Option { return func(c *config) { c.stepTokens = n } }

// WithMaxQueue bounds the samples waiting to start; a request of N samples
// counts N (default 4096).
func WithMaxQueue(n int) Option { return func(c *config) { c.maxQueue = n } }

// WithHostBudget bounds the host memory that the samples of started
// requests may take, by an estimate per sample (see HostBytesPerSample); a
// request waits while others use it, and one that alone exceeds it is
// rejected with ErrTooManySamples (default 1 GiB).
func WithHostBudget(bytes int64) Option { return func(c *config) { c.hostBudget = bytes } }

// WithPrefixCache turns the cross-request prefix cache on or off (default on).
func WithPrefixCache(on bool) Option { return func(c *config) { c.prefixCache = on } }

// WithProgress reports loading progress in bytes.
func WithProgress(fn func(done, total int64)) Option { return func(c *config) { c.progress = fn } }

// WithDevice chooses the backend: "cpu" (the default), "cuda" (an error
// when this build has no CUDA or no usable GPU; the emulator in a cudaemu
// build) or "auto" (the GPU when one is usable, else the CPU, saying so in
// the log).
func WithDevice(d string) Option { return func(c *config) { c.device = d } }

// Engine is a loaded model with its scheduler. Its methods are safe for
// concurrent use.
type Engine struct {
	file  *gguf.File
	model model.Model
	tok   *tokenizer.Tokenizer
	be    backend.Backend
	kv    backend.KVCache
	ctx   int

	ops       chan func() // run on the loop goroutine
	quit      chan struct{}
	stopped   chan struct{}
	closeOnce sync.Once

	// Loop state: touched only on the loop goroutine.
	kvm         *kv.Manager
	blocks      int // KV blocks in the pool
	blockSize   int
	stepTokens  int
	maxQueue    int
	hostBudget  int64
	prefixCache bool
	host        int64 // host bytes held by started requests
	running     []*request
	waiting     []*request
	exts        []*unit
	seqTrees    int // Stats.SeqTrees
	admitted    int64
	scratch     sample.Scratch // shared by every sampler: they run on the loop
	logits      []float32      // one step's host row of logits
	counters
}

// counters are the scheduler's statistics.
type counters struct {
	steps, batchTokens, computed, preemptions, requests int
	kvPeak                                              int // most KV blocks in use in one step
}

// Stats is a snapshot of the engine's counters.
type Stats struct {
	Steps       int // batched forward passes
	BatchTokens int // tokens run through the model
	Preemptions int
	Requests    int
	Running     int // requests running
	Waiting     int // requests waiting
	// SeqTrees counts the Seq API's searches: trees of a NewSeq and its
	// forks with a sequence still open (a beam or tree search each).
	SeqTrees        int
	HostBytes       int64 // host memory held by started requests (estimate)
	KV              kv.Stats
	KVPeak          int // most KV blocks in use in a step since Open or ResetKVPeak
	BlockSize       int
	KVBytesPerBlock int64
	PrefixCache     bool // the cross-request prefix cache is on (WithPrefixCache)
	// ExpertTokens counts, for a mixture-of-experts model, the tokens
	// routed to each expert, indexed [layer][expert] (nil for dense models
	// or backends that keep no counts).
	ExpertTokens [][]int64
}

// Open loads a GGUF model file and starts its scheduler.
func Open(path string, opts ...Option) (*Engine, error) {
	c := config{blockSize: 16, stepTokens: 512, maxQueue: 4096, hostBudget: 1 << 30, prefixCache: true}
	for _, o := range opts {
		o(&c)
	}
	f, err := gguf.Open(path)
	if err != nil {
		return nil, err
	}
	e, err := open(f, c)
	if err != nil {
		f.Close()
		return nil, err
	}
	go e.loop()
	return e, nil
}

func open(f *gguf.File, c config) (_ *Engine, err error) {
	if c.blockSize <= 0 || c.stepTokens <= 0 || c.maxQueue <= 0 || c.budget < 0 || c.blocks < 0 || c.hostBudget <= 0 {
		return nil, fmt.Errorf("invalid options: block size %d, step tokens %d, queue %d, KV budget %d, KV blocks %d, host budget %d",
			c.blockSize, c.stepTokens, c.maxQueue, c.budget, c.blocks, c.hostBudget)
	}
	tok, err := tokenizer.FromGGUF(f)
	if err != nil {
		return nil, err
	}
	if c.progress != nil {
		prefault(f, c.progress)
	}
	be, err := newBackend(c.device, c.threads)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			closeBackend(be)
		}
	}()
	m, err := model.Load(f, be)
	if err != nil {
		return nil, err
	}
	hp := m.Hyper()
	if hp.Vocab < tok.VocabSize() {
		return nil, fmt.Errorf("%s: tokenizer has %d tokens but the model only %d", f.Path, tok.VocabSize(), hp.Vocab)
	}
	perBlock := kv.BlockBytes(m.KVSpec(1, c.blockSize))
	n := c.ctx
	if n <= 0 {
		n = defaultContext(c, hp.Context, m.KVSpec(1, c.blockSize), perBlock)
	}
	if n <= 1 {
		return nil, fmt.Errorf("invalid context size %d", n)
	}
	// The start-up error names what the user set: blocks, a budget, or
	// neither (the default budget).
	blocks := c.blocks
	from := fmt.Sprintf("%d KV blocks were set", blocks)
	if blocks == 0 {
		budget, what := c.budget, "KV budget"
		if budget == 0 {
			budget, what = min(defaultKVCap, perBlock*int64(8*((n+c.blockSize-1)/c.blockSize+1))), "default KV budget"
		}
		blocks = kv.BlocksFor(budget, m.KVSpec(1, c.blockSize))
		from = fmt.Sprintf("the %s of %d bytes gives %d blocks", what, budget, blocks)
	}
	if need := (n + c.blockSize - 1) / c.blockSize; blocks < need {
		return nil, fmt.Errorf("%s of %d tokens (%d bytes each); one %d-token sequence needs %d",
			from, c.blockSize, perBlock, n, need)
	}
	cache, err := be.NewKV(m.KVSpec(blocks, c.blockSize))
	if err != nil {
		return nil, err
	}
	return &Engine{
		file: f, model: m, tok: tok, be: be, kv: cache, ctx: n,
		ops: make(chan func()), quit: make(chan struct{}), stopped: make(chan struct{}),
		kvm:    kv.New(blocks, c.blockSize, kv.WithPrefixCache(c.prefixCache)),
		blocks: blocks, blockSize: c.blockSize, stepTokens: c.stepTokens, maxQueue: c.maxQueue,
		hostBudget: c.hostBudget, prefixCache: c.prefixCache,
	}, nil
}

// defaultKVCap bounds the default KV budget.
const defaultKVCap = 1 << 30

// defaultContext is the context when none is set: the model's trained
// length when one sequence of it fits the KV memory (the blocks or budget
// set, else the default budget's cap of 1 GiB), else the most whole blocks
// that fit, which the log says. A KV memory that holds no block at all
// keeps the trained length, so that Open's error says what one sequence
// needs.
func defaultContext(c config, trained int, spec backend.KVSpec, perBlock int64) int {
	blocks, from := c.blocks, fmt.Sprintf("%d KV blocks set", c.blocks)
	if blocks == 0 {
		budget, what := c.budget, "KV budget"
		if budget == 0 {
			budget, what = defaultKVCap, "default KV budget's cap"
		}
		blocks, from = kv.BlocksFor(budget, spec), fmt.Sprintf("the %s of %d bytes", what, budget)
	}
	fit := blocks * c.blockSize
	if trained <= fit || blocks == 0 {
		return trained
	}
	log.Printf("context: %d tokens, not the model's trained %d: %s holds %d blocks of %d tokens (%d bytes each); set the context or a larger KV budget to change it",
		fit, trained, from, blocks, c.blockSize, perBlock)
	return fit
}

// prefault reads through every tensor's pages so the first token is not
// slowed by page faults, reporting progress as it goes.
func prefault(f *gguf.File, progress func(done, total int64)) {
	var total, done int64
	for i := range f.Tensors {
		total += f.Tensors[i].Size
	}
	var sink byte
	for i := range f.Tensors {
		d := f.Data(&f.Tensors[i])
		for j := 0; j < len(d); j += 4096 {
			sink ^= d[j]
		}
		done += int64(len(d))
		progress(done, total)
	}
	_ = sink
}

// loop is the scheduler goroutine: it runs queued operations, then steps
// while there is work, and sleeps on the operation channel otherwise.
func (e *Engine) loop() {
	defer close(e.stopped)
	for {
		select {
		case op := <-e.ops:
			op()
			continue
		case <-e.quit:
			e.shutdown()
			return
		default:
		}
		if e.step() {
			continue
		}
		select {
		case op := <-e.ops:
			op()
		case <-e.quit:
			e.shutdown()
			return
		}
	}
}

// do runs fn on the loop goroutine and waits for it.
func (e *Engine) do(fn func()) error {
	done := make(chan struct{})
	select {
	case e.ops <- func() { fn(); close(done) }:
	case <-e.stopped:
		return ErrClosed
	}
	select {
	case <-done:
		return nil
	case <-e.stopped:
		return ErrClosed
	}
}

// wake nudges a sleeping loop (e.g. a request's context was cancelled).
func (e *Engine) wake() {
	select {
	case e.ops <- func() {}:
	case <-e.stopped:
	}
}

func (e *Engine) shutdown() {
	for _, r := range append(append([]*request{}, e.running...), e.waiting...) {
		e.finish(r, FinishCancelled, ErrClosed)
	}
	e.waiting = nil
	for _, u := range e.exts {
		if u.seq != nil {
			e.kvm.Free(u.seq)
			u.seq = nil
		}
	}
	e.exts, e.seqTrees = nil, 0
}

// Close cancels what is running, stops the scheduler and releases the model.
func (e *Engine) Close() error {
	var err error
	e.closeOnce.Do(func() {
		close(e.quit)
		<-e.stopped
		closeBackend(e.be)
		err = e.file.Close()
	})
	return err
}

// File is the model's GGUF file.
func (e *Engine) File() *gguf.File { return e.file }

// Tokenizer is the model's tokenizer.
func (e *Engine) Tokenizer() *tokenizer.Tokenizer { return e.tok }

// Hyper is the model's hyperparameters.
func (e *Engine) Hyper() model.Hyper { return e.model.Hyper() }

// Context is the maximum number of tokens of one sequence.
func (e *Engine) Context() int { return e.ctx }

// Backend is the engine's backend.
func (e *Engine) Backend() backend.Backend { return e.be }

// Stats returns a snapshot of the scheduler's counters and KV usage.
func (e *Engine) Stats() Stats {
	var s Stats
	e.do(func() {
		s = Stats{
			Steps: e.steps, BatchTokens: e.batchTokens, Preemptions: e.preemptions, Requests: e.requests,
			Running: len(e.running), Waiting: len(e.waiting), SeqTrees: e.seqTrees, HostBytes: e.host, KV: e.kvm.Stats(),
			KVPeak: e.kvPeak, BlockSize: e.blockSize, KVBytesPerBlock: kv.BlockBytes(e.kv.Spec()), PrefixCache: e.prefixCache,
		}
		if c, ok := e.be.(backend.ExpertCounter); ok {
			s.ExpertTokens = c.ExpertCounts()
		}
	})
	return s
}

// openSeq and closeSeq count the open Seqs of a tree, and the trees with
// one open; on the loop goroutine.
func (e *Engine) openSeq(tree *int) {
	if *tree++; *tree == 1 {
		e.seqTrees++
	}
}

func (e *Engine) closeSeq(tree *int) {
	if *tree--; *tree == 0 {
		e.seqTrees--
	}
}

// ResetKVPeak starts Stats.KVPeak again from the blocks in use now. A run's
// KV high-water mark read once at its end does not slow it, as polling
// Stats during the run does.
func (e *Engine) ResetKVPeak() {
	e.do(func() { e.kvPeak = e.kvm.Stats().Used })
}

// Stream starts a request and returns its events: per-sample tokens in
// order, then one event with Finish set per sample. The channel closes when
// every sample has finished. Cancelling ctx stops the request and frees its
// KV blocks at once; a consumer that stops reading must cancel ctx.
func (e *Engine) Stream(ctx context.Context, req Request) (<-chan Event, error) {
	if err := req.validate(e.model.Hyper().Vocab, e.ctx); err != nil {
		return nil, err
	}
	// Requests that could never run fail here, not late, and not as a
	// temporary ErrQueueFull.
	n := max(1, req.N)
	if n > e.maxQueue {
		return nil, fmt.Errorf("%w: %d samples, the queue holds at most %d", ErrTooManySamples, n, e.maxQueue)
	}
	r := &request{Request: req, ctx: ctx, out: newEvents(), peak: e.peakBlocks(&req), host: e.hostBytes(&req)}
	if r.peak > e.blocks {
		return nil, fmt.Errorf("%w: %d samples of a %d-token prompt with up to %d tokens each need %d KV blocks of %d tokens at once, the pool has %d",
			ErrNoSpace, n, len(req.Prompt), e.maxNew(&req), r.peak, e.blockSize, e.blocks)
	}
	if r.host > e.hostBudget {
		return nil, fmt.Errorf("%w: %d samples of up to %d tokens need about %d bytes of host memory, the budget is %d",
			ErrTooManySamples, n, e.maxNew(&req), r.host, e.hostBudget)
	}
	r.N = n
	r.root = []*unit{{req: r, idx: -1}}
	var err error
	if derr := e.do(func() {
		queued := 0
		for _, w := range e.waiting {
			queued += w.N
		}
		if queued+r.N > e.maxQueue {
			err = fmt.Errorf("%w: %d samples waiting, limit %d", ErrQueueFull, queued, e.maxQueue)
			return
		}
		e.requests++
		e.waiting = append(e.waiting, r)
	}); derr != nil {
		return nil, derr
	}
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, e.wake)
	ch := make(chan Event, 16)
	go func() {
		defer close(ch)
		defer stop()
		for {
			evs, closed := r.out.take()
			for _, ev := range evs {
				select {
				case ch <- ev:
				case <-ctx.Done():
					return
				}
			}
			if closed {
				return
			}
			select {
			case <-r.out.ready:
			case <-ctx.Done():
				return
			}
		}
	}()
	return ch, nil
}

// Generate runs a request to completion, calling onEvent (if not nil) on
// the caller's goroutine for every event; an error from onEvent cancels the
// request. It returns the samples in order.
func (e *Engine) Generate(ctx context.Context, req Request, onEvent func(Event) error) (*Result, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch, err := e.Stream(ctx, req)
	if err != nil {
		return nil, err
	}
	res := &Result{Samples: make([]Completion, max(1, req.N)), PromptTokens: len(req.Prompt)}
	texts := make([][]byte, len(res.Samples))
	var firstErr error
	for ev := range ch {
		c := &res.Samples[ev.Sample]
		if ev.Token >= 0 {
			c.Tokens = append(c.Tokens, ev.Token)
			if req.Logprobs {
				c.Logprobs = append(c.Logprobs, ev.Logprob)
				c.Top = append(c.Top, ev.Top)
			}
		}
		texts[ev.Sample] = append(texts[ev.Sample], ev.Text...)
		if ev.Finish != "" {
			c.Finish = ev.Finish
			res.CachedTokens = ev.Cached
			if ev.Err != nil && firstErr == nil {
				firstErr = ev.Err
			}
		}
		if onEvent != nil {
			if err := onEvent(ev); err != nil {
				return res, err
			}
		}
	}
	for i := range res.Samples {
		res.Samples[i].Text = string(texts[i])
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	return res, firstErr
}
