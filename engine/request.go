package engine

import (
	"errors"
	"fmt"
	"sync"

	"github.com/tscale/engine/engine/sample"
)

// Request asks for N samples of one prompt. The prompt is prefilled once;
// the samples fork from it and share its KV blocks.
type Request struct {
	Prompt    []int32 // token ids, BOS included where the model wants it
	N         int     // samples (0 means 1)
	MaxTokens int     // per sample; 0 means up to the context size
	Sampling  sample.Params
	Seed      uint64 // sample i draws with seed Seed+i
	// Stop strings end a sample; the stop string itself is not returned.
	Stop []string
	// StopTokens end a sample like an end-of-generation token.
	StopTokens []int32
	// IgnoreEOG keeps generating past end-of-generation tokens.
	IgnoreEOG bool
	// Logprobs reports each token's log-probability; TopLogprobs > 0 also
	// the most likely alternatives.
	Logprobs    bool
	TopLogprobs int
	// Constraint, when set, restricts every sample (a grammar, a JSON
	// schema: see engine/grammar). Tokens are sampled, and logprobs
	// reported, from the masked distribution, as OpenAI and vLLM report
	// post-processing logprobs. A sample whose constraint allows no token
	// ends with FinishError; an end-of-generation token, which it allows
	// only where the output is complete, ends it even with IgnoreEOG.
	Constraint Constraint
}

// Finish says why a sample ended.
type Finish string

const (
	FinishStop      Finish = "stop"      // end-of-generation token, stop token or stop string
	FinishLength    Finish = "length"    // MaxTokens or the context size reached
	FinishCancelled Finish = "cancelled" // the request's context ended
	FinishError     Finish = "error"
)

// Event is one step of one sample: a token, or its end (Finish set).
type Event struct {
	Sample  int
	Token   int32   // -1 on a final event without a token
	Text    string  // text the token completes (stop strings held back)
	Logprob float32 // when Request.Logprobs
	Top     []sample.TokenLogprob
	Finish  Finish // set on the sample's last event
	Err     error  // with FinishError / FinishCancelled
	Cached  int    // on the last event: prompt tokens reused from the prefix cache
}

// Completion is one finished sample.
type Completion struct {
	Tokens   []int32
	Text     string
	Logprobs []float32 // when Request.Logprobs
	Top      [][]sample.TokenLogprob
	Finish   Finish
}

// Result is the outcome of a Request.
type Result struct {
	Samples      []Completion
	PromptTokens int
	CachedTokens int // prompt tokens found in the prefix cache
}

// Errors returned for requests the engine cannot take.
var (
	ErrClosed    = errors.New("engine is closed")
	ErrQueueFull = errors.New("request queue is full")
	// ErrTooManySamples: the request has more samples than the engine could
	// ever queue, or than its host memory budget allows; retrying cannot help.
	ErrTooManySamples = errors.New("too many samples in one request")
	ErrTooLong        = errors.New("request does not fit the context")
	ErrNoSpace        = errors.New("KV cache too small for the request")
)

func (r *Request) validate(vocab, ctx int) error {
	if len(r.Prompt) == 0 {
		return errors.New("empty prompt")
	}
	if r.N < 0 || r.MaxTokens < 0 || r.TopLogprobs < 0 {
		return fmt.Errorf("negative N (%d), MaxTokens (%d) or TopLogprobs (%d)", r.N, r.MaxTokens, r.TopLogprobs)
	}
	for i, id := range r.Prompt {
		if id < 0 || int(id) >= vocab {
			return fmt.Errorf("prompt token %d at %d is outside the vocabulary of %d", id, i, vocab)
		}
	}
	if len(r.Prompt) >= ctx {
		return fmt.Errorf("%w: prompt of %d tokens, context %d", ErrTooLong, len(r.Prompt), ctx)
	}
	// Compared as ctx - prompt: prompt + MaxTokens could overflow.
	if r.MaxTokens > 0 && r.MaxTokens > ctx-len(r.Prompt) {
		return fmt.Errorf("%w: %d prompt + %d new tokens > context %d", ErrTooLong, len(r.Prompt), r.MaxTokens, ctx)
	}
	return nil
}

// events is an unbounded queue from the scheduler to a consumer, so a slow
// reader never stalls the step loop.
type events struct {
	mu     sync.Mutex
	buf    []Event
	closed bool
	ready  chan struct{} // signalled (cap 1) when buf grows or closes
}

func newEvents() *events { return &events{ready: make(chan struct{}, 1)} }

func (q *events) push(ev Event) {
	q.mu.Lock()
	q.buf = append(q.buf, ev)
	q.mu.Unlock()
	q.signal()
}

func (q *events) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.signal()
}

func (q *events) signal() {
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// take returns the queued events and whether the queue is closed.
func (q *events) take() ([]Event, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	b := q.buf
	q.buf = nil
	return b, q.closed
}
