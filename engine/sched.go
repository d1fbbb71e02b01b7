package engine

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/tscale/engine/backend"
	"github.com/tscale/engine/engine/kv"
	"github.com/tscale/engine/engine/sample"
	"github.com/tscale/engine/model/tokenizer"
)

// The scheduler owns the step loop, in the manner of vLLM's v1 core: every
// step batches the next token of each decoding sequence plus chunks of
// pending prefills under a token budget, admits waiting requests first come
// first served while KV blocks suffice, and preempts the most recently
// admitted request (to recompute later) when they do not. Everything that
// touches the KV block manager runs on the loop goroutine.

// request is a Request in flight.
type request struct {
	Request
	ctx    context.Context
	out    *events
	root   []*unit   // the prompt's unit, prefilled first and again after a preemption
	units  []*unit   // the samples, once the prompt was prefilled (nil before)
	order  int64     // admission order; the latest admitted is preempted first
	cached int       // prompt tokens reused from the prefix cache
	done   int       // finished samples
	peak   int       // most KV blocks the request can hold at once (peakBlocks)
	host   int64     // host bytes it may take once started (hostBytes)
	held   bool      // started: host counts in Engine.host until it ends
	masked []float32 // with a Constraint: the logits copy its samples mask, one at a time
}

// active are the units to feed: the root while the prompt is prefilled,
// else the samples.
func (r *request) active() []*unit {
	if r.units == nil || r.root[0].seq != nil {
		return r.root
	}
	return r.units
}

// unit is one KV sequence the scheduler feeds: a request's prompt root, one
// of its samples, or a sequence driven through the Seq API.
type unit struct {
	seq  *kv.Seq
	todo []int32 // tokens to feed before the next logits are due
	req  *request
	idx  int // sample index (-1 for the root)

	// Sample state, kept across preemption, dropped when the sample ends.
	smp    *sample.Sampler
	out    []int32
	stream *tokenizer.Stream
	stop   stopper
	fin    Finish
	cons   ConstraintState // with Request.Constraint

	// Seq API: called with the logits when todo has been fed (nil logits
	// and an error on failure).
	ext func(logits []float32, err error)
}

type entry struct {
	u      *unit
	toks   []int32
	copies []kv.Copy
	logits bool
}

// step runs one scheduling step; it returns false when it ran no batch.
func (e *Engine) step() bool {
	e.reap()
	budget := e.stepTokens
	var batch []entry
	add := func(u *unit, n int) bool {
		for {
			copies, err := e.kvm.Reserve(u.seq, n)
			if err == nil {
				batch = append(batch, entry{u: u, toks: u.todo[:n], copies: copies, logits: n == len(u.todo)})
				budget -= n
				return true
			}
			if !errors.Is(err, kv.ErrNoSpace) {
				e.failUnit(u, err)
				return false
			}
			victim := e.lastRunning()
			if victim == nil || (u.req != nil && victim.order < u.req.order) {
				// Nothing later to preempt: fail the Seq API unit, or
				// preempt this request itself.
				if u.req == nil {
					e.failUnit(u, fmt.Errorf("%w: no free KV blocks", ErrNoSpace))
					return false
				}
				victim = u.req
			}
			batch = e.preempt(victim, batch)
			if victim == u.req {
				return false
			}
		}
	}

	// Seq API units first: their callers wait synchronously.
	for _, u := range e.exts {
		if budget <= 0 {
			break
		}
		if u.seq != nil && len(u.todo) > 0 && !scheduled(batch, u) {
			add(u, min(len(u.todo), budget))
		}
	}
	// Decode steps of running requests, in admission order.
	for i := 0; i < len(e.running); i++ {
		r := e.running[i]
		for _, u := range r.active() {
			if u.seq != nil && u.fin == "" && len(u.todo) == 1 && budget > 0 && slices.Contains(e.running, r) {
				add(u, 1)
			}
		}
	}
	// Prefill chunks of running requests.
	for i := 0; i < len(e.running) && budget > 0; i++ {
		r := e.running[i]
		for _, u := range r.active() {
			if u.seq != nil && u.fin == "" && len(u.todo) > 1 && budget > 0 && !scheduled(batch, u) && slices.Contains(e.running, r) {
				add(u, min(len(u.todo), budget))
			}
		}
	}
	// Admit waiting requests, first come first served; not in a step that
	// had to preempt, which would only admit the victim again.
	preempted := e.preemptions
	for budget > 0 && len(e.waiting) > 0 && e.preemptions == preempted {
		r := e.waiting[0]
		if !r.held && e.host+r.host > e.hostBudget {
			break // Stream checked r.host <= hostBudget: wait for others to end
		}
		if need := e.blocksNeeded(r); need > e.kvm.Available() {
			if len(e.running) == 0 && len(batch) == 0 && e.kvm.Used() == 0 {
				// Stream's peakBlocks check makes this unreachable.
				e.waiting = e.waiting[1:]
				e.finish(r, FinishError, fmt.Errorf("%w: needs %d KV blocks, the pool has %d", ErrNoSpace, need, e.kvm.Available()))
				continue
			}
			break
		}
		e.waiting = e.waiting[1:]
		e.admit(r)
		for _, u := range r.active() {
			if u.fin == "" && len(u.todo) > 0 && budget > 0 && slices.Contains(e.running, r) {
				add(u, min(len(u.todo), budget))
			}
		}
	}
	if len(batch) == 0 {
		return false
	}
	e.forward(batch)
	return true
}

func scheduled(batch []entry, u *unit) bool {
	for _, b := range batch {
		if b.u == u {
			return true
		}
	}
	return false
}

// blocksNeeded estimates the free blocks a waiting request needs to start:
// its prompt, then each unfinished sample's own blocks plus one to grow
// into; never more than its peak, so that a request alone always starts.
func (e *Engine) blocksNeeded(r *request) int {
	bs, p := e.blockSize, len(r.Prompt)
	n := ceilDiv(p, bs)
	if r.units == nil {
		n += max(1, r.N)
	}
	for _, u := range r.units {
		if u.fin == "" {
			n += ceilDiv(p+len(u.out), bs) - p/bs + 1
		}
	}
	return min(n, r.peak)
}

// peakBlocks is the most KV blocks a request can hold at once: its
// prompt's full blocks, shared by all samples, plus each sample's own
// blocks from the prompt's partial block on, up to its longest sequence of
// min(prompt+MaxTokens, context)-1 tokens (the last token is never fed
// back). The scheduler runs a request's samples together and re-forks them
// from one prefilled prompt after a preemption, so a request whose peak
// fits the pool always completes, and Stream rejects the others up front.
func (e *Engine) peakBlocks(req *Request) int {
	return e.peak(len(req.Prompt), max(1, req.N), req.MaxTokens)
}

// peak is peakBlocks for n samples of a p-token prompt with up to
// maxTokens new tokens each (0: to the end of the context).
func (e *Engine) peak(p, n, maxTokens int) int {
	bs := e.blockSize
	last := e.ctx - 1
	if maxTokens > 0 && maxTokens <= last-p { // validate: MaxTokens <= ctx-p
		last = p + maxTokens - 1
	}
	if last <= p {
		return ceilDiv(p, bs) // no sample writes: they share the prompt's blocks
	}
	own := ceilDiv(last, bs) - p/bs
	if n > (math.MaxInt-p/bs)/own {
		return math.MaxInt
	}
	return p/bs + n*own
}

// MaxTokensFor is the largest MaxTokens that n samples of a prompt of p
// tokens can be given and still be accepted by Stream (their KV blocks fit
// the pool together, their host memory the host budget), at most the rest
// of the context; 0 when even one new token each does not fit. Servers use
// it for a default max_tokens with many samples.
func (e *Engine) MaxTokensFor(p, n int) int {
	n = max(1, n)
	req := Request{Prompt: make([]int32, max(0, p)), N: n}
	fits := func(m int) bool {
		req.MaxTokens = m
		return e.peak(p, n, m) <= e.blocks && e.hostBytes(&req) <= e.hostBudget
	}
	lo, hi := 0, e.ctx-p // fits(lo) holds, or lo == 0
	if hi <= 0 {
		return 0
	}
	for lo < hi {
		m := lo + (hi-lo+1)/2
		if fits(m) {
			lo = m
		} else {
			hi = m - 1
		}
	}
	return lo
}

// maxNew is the most tokens one sample of req can generate.
func (e *Engine) maxNew(req *Request) int {
	if req.MaxTokens > 0 && req.MaxTokens < e.ctx-len(req.Prompt) {
		return req.MaxTokens
	}
	return e.ctx - len(req.Prompt)
}

// Host memory a started sample may take, for admission (WithHostBudget):
// its unit, sampler, text stream and KV sequence, plus per token of its
// sequence the KV bookkeeping (prompt included: a KV sequence holds its
// tokens), and per generated token its id (kept for recomputation) and the
// sampler's history. Vocabulary-sized buffers are shared by the whole
// engine, not per sample. TestHostBytesPerSample checks the real figure
// stays below the estimate.
const (
	HostBytesPerSample = 4 << 10
	HostBytesPerToken  = 32
)

// HostBytesPerConstraint is a sample's constraint state, roughly (the
// grammar and its caches are shared by the samples of a request).
const HostBytesPerConstraint = 256

// hostBytes is the host memory req's samples may take once started; a
// constrained request also holds one vocabulary-sized copy of the logits.
func (e *Engine) hostBytes(req *Request) int64 {
	per := HostBytesPerSample + HostBytesPerToken*int64(len(req.Prompt)+e.maxNew(req))
	var fixed int64
	if req.Constraint != nil {
		per += HostBytesPerConstraint
		fixed = 4 * int64(e.model.Hyper().Vocab)
	}
	n := int64(max(1, req.N))
	if n > (math.MaxInt64-fixed)/per {
		return math.MaxInt64
	}
	return fixed + n*per
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// admit gives a waiting request's prompt its KV sequence, reusing the
// longest cached prefix; the samples fork from it once it is prefilled.
func (e *Engine) admit(r *request) {
	e.admitted++
	r.order = e.admitted
	if !r.held {
		r.held = true
		e.host += r.host
	}
	root := r.root[0]
	root.seq = e.kvm.Match(r.Prompt)
	root.todo = r.Prompt[root.seq.Len():]
	if r.units == nil {
		r.cached = root.seq.Len()
	}
	e.running = append(e.running, r)
}

func (e *Engine) lastRunning() *request {
	var last *request
	for _, r := range e.running {
		if last == nil || r.order > last.order {
			last = r
		}
	}
	return last
}

// preempt frees a running request's KV and queues it to be recomputed
// first; its samples keep their tokens and sampler state, so the outcome
// is unchanged.
func (e *Engine) preempt(r *request, batch []entry) []entry {
	e.preemptions++
	for _, list := range [][]*unit{r.root, r.units} {
		for _, u := range list {
			if u.seq != nil {
				e.kvm.Free(u.seq)
				u.seq = nil
			}
		}
	}
	e.running = slices.DeleteFunc(e.running, func(x *request) bool { return x == r })
	e.waiting = append([]*request{r}, e.waiting...)
	return slices.DeleteFunc(batch, func(b entry) bool { return b.u.req == r })
}

// forward runs one batch and hands out the logits.
func (e *Engine) forward(batch []entry) {
	b := &backend.Batch{}
	var rows []int
	for si, en := range batch {
		for _, c := range en.copies {
			e.kv.CopyBlock(int(c.Dst), int(c.Src))
		}
		start := en.u.seq.Len()
		for i, t := range en.toks {
			b.Tokens = append(b.Tokens, t)
			b.Pos = append(b.Pos, int32(start+i))
			b.Seq = append(b.Seq, int32(si))
		}
		b.Blocks = append(b.Blocks, en.u.seq.Table())
		if en.logits {
			rows = append(rows, b.Len()-1)
		}
	}
	e.be.Reset()
	logits, err := e.model.Forward(b, e.kv, rows)
	e.steps++
	e.batchTokens += b.Len()
	e.kvPeak = max(e.kvPeak, e.kvm.Stats().Used)
	if err != nil {
		for _, en := range batch {
			e.failUnit(en.u, err)
		}
		return
	}
	row := 0
	for _, en := range batch {
		if err := e.kvm.Append(en.u.seq, en.toks); err != nil {
			e.failUnit(en.u, err) // a scheduler bug: fail loudly, lose nothing else
			continue
		}
		en.u.todo = en.u.todo[len(en.toks):]
		e.computed += len(en.toks)
		if !en.logits {
			continue
		}
		// One host row for the whole step: nothing keeps the logits
		// past deliver (a Seq copies them).
		if cap(e.logits) < logits.Cols() {
			e.logits = make([]float32, logits.Cols())
		}
		host := e.logits[:logits.Cols()]
		e.be.Read(logits, row, host)
		row++
		e.deliver(en.u, host)
	}
}

// deliver handles the logits due to a unit once its todo is fed.
func (e *Engine) deliver(u *unit, logits []float32) {
	switch {
	case u.ext != nil:
		u.ext(logits, nil)
	case u.idx < 0:
		e.fork(u.req, logits)
	default:
		e.next(u, logits)
	}
}

// fork turns a prefilled prompt root into the request's samples: each
// draws its first token from the prompt's logits with its own seed, and
// all share the prompt's KV blocks. After a preemption the unfinished
// samples fork again and recompute their own tokens.
func (e *Engine) fork(r *request, logits []float32) {
	root := r.root[0]
	fresh := r.units == nil
	if fresh {
		r.units = make([]*unit, max(1, r.N))
		for i := range r.units {
			smp := sample.NewWithHistory(r.Sampling, r.Seed+uint64(i), r.Prompt)
			smp.Share(&e.scratch)
			u := &unit{req: r, idx: i, smp: smp, stream: e.tok.NewStreamAfter(r.Prompt)}
			u.stop.stops = r.Stop
			if r.Constraint != nil {
				u.cons = r.Constraint.Start()
			}
			r.units[i] = u
		}
	}
	first := true
	for _, u := range r.units {
		if u.fin != "" {
			continue
		}
		if first {
			u.seq = root.seq
		} else {
			u.seq = e.kvm.Fork(root.seq)
		}
		first = false
		u.todo = u.out
	}
	root.seq, root.todo = nil, nil
	if fresh {
		for _, u := range r.units {
			e.next(u, logits)
		}
	}
}

// next samples a unit's next token and emits it. A constrained sample
// masks a copy of the logits (the first step's are shared by all samples)
// and samples, logprobs included, from the masked distribution.
func (e *Engine) next(u *unit, logits []float32) {
	r := u.req
	if u.cons != nil {
		if cap(r.masked) < len(logits) {
			r.masked = make([]float32, len(logits))
		}
		src := logits
		logits = r.masked[:len(src)]
		copy(logits, src)
		if err := u.cons.Mask(logits); err != nil {
			e.end(u, FinishError, fmt.Errorf("constraint: %w", err), true)
			return
		}
	}
	var id int32
	var lp sample.Logprob
	if r.Logprobs {
		id, lp = u.smp.SampleWithLogprobs(logits, r.TopLogprobs)
	} else {
		id = u.smp.Sample(logits)
	}
	u.smp.Accept(id)
	if u.cons != nil {
		if err := u.cons.Accept(id); err != nil {
			e.end(u, FinishError, fmt.Errorf("constraint: %w", err), true)
			return
		}
	}
	// Under a constraint an end-of-generation token ends the output even
	// with IgnoreEOG: the grammar allowed it only where the output is done.
	if slices.Contains(r.StopTokens, id) || ((!r.IgnoreEOG || u.cons != nil) && e.tok.IsEOG(id)) {
		e.end(u, FinishStop, nil, true)
		return
	}
	u.out = append(u.out, id)
	ev := Event{Sample: u.idx, Token: id}
	if r.Logprobs {
		ev.Logprob = lp.Logprob
		ev.Top = lp.Top
	}
	text, stopped := u.stop.push(u.stream.Add(id))
	ev.Text = text
	r.out.push(ev)
	switch {
	case stopped:
		e.end(u, FinishStop, nil, false)
	case r.MaxTokens > 0 && len(u.out) >= r.MaxTokens, len(r.Prompt)+len(u.out) >= e.ctx:
		e.end(u, FinishLength, nil, true)
	default:
		u.todo = []int32{id}
	}
}

// end finishes one sample, freeing its KV at once. Text still held back
// (an incomplete UTF-8 sequence, a possible start of a stop string) is
// released unless a stop string ended the sample.
func (e *Engine) end(u *unit, f Finish, err error, flush bool) {
	if u.fin != "" {
		return
	}
	r := u.req
	if flush {
		text, stopped := u.stop.push(u.stream.Flush())
		if !stopped {
			text += u.stop.flush()
		}
		if text != "" {
			r.out.push(Event{Sample: u.idx, Token: -1, Text: text})
		}
	}
	u.fin = f
	if u.seq != nil {
		e.kvm.Free(u.seq)
		u.seq = nil
	}
	u.smp, u.out, u.todo, u.stream, u.stop, u.cons = nil, nil, nil, nil, stopper{}, nil
	r.done++
	r.out.push(Event{Sample: u.idx, Token: -1, Finish: f, Err: err, Cached: r.cached})
	if r.done == len(r.units) {
		e.close(r)
	}
}

// close retires a request whose samples have all ended.
func (e *Engine) close(r *request) {
	e.running = slices.DeleteFunc(e.running, func(x *request) bool { return x == r })
	if r.held {
		r.held = false
		e.host -= r.host
	}
	r.out.close()
}

// finish ends every sample of a request (cancel, error, shutdown).
func (e *Engine) finish(r *request, f Finish, err error) {
	root := r.root[0]
	if root.seq != nil {
		e.kvm.Free(root.seq)
		root.seq, root.todo = nil, nil
	}
	if r.units == nil {
		// The samples were never created: report each as ended.
		for i := 0; i < max(1, r.N); i++ {
			r.out.push(Event{Sample: i, Token: -1, Finish: f, Err: err})
		}
		root.fin = f
		e.close(r)
		return
	}
	for _, u := range r.units {
		e.end(u, f, err, false)
	}
	e.running = slices.DeleteFunc(e.running, func(x *request) bool { return x == r })
}

func (e *Engine) failUnit(u *unit, err error) {
	if u.ext != nil {
		u.ext(nil, err)
		return
	}
	e.finish(u.req, FinishError, err)
}

// reap ends requests whose context is done, freeing their blocks at once.
func (e *Engine) reap() {
	for _, list := range [][]*request{slices.Clone(e.running), slices.Clone(e.waiting)} {
		for _, r := range list {
			if err := r.ctx.Err(); err != nil {
				e.waiting = slices.DeleteFunc(e.waiting, func(x *request) bool { return x == r })
				e.finish(r, FinishCancelled, err)
			}
		}
	}
}
