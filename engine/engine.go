// Package engine is the embeddable API: open a GGUF model, tokenize, and
// generate text on a backend.
package engine

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/tscale/engine/backend"
	"github.com/tscale/engine/backend/cpu"
	"github.com/tscale/engine/engine/sample"
	"github.com/tscale/engine/model"
	"github.com/tscale/engine/model/gguf"
	"github.com/tscale/engine/model/tokenizer"

	// The architectures the engine can load.
	_ "github.com/tscale/engine/model/gemma3"
	_ "github.com/tscale/engine/model/llama"
)

// BlockSize is the number of tokens per KV cache block.
const BlockSize = 16

type config struct {
	threads  int
	ctx      int
	progress func(done, total int64)
}

// Option configures Open.
type Option func(*config)

// WithThreads sets the number of CPU worker goroutines (default GOMAXPROCS).
func WithThreads(n int) Option { return func(c *config) { c.threads = n } }

// WithContext sets the maximum tokens of a sequence, prompt included
// (default: the model's trained context, at most 4096).
func WithContext(n int) Option { return func(c *config) { c.ctx = n } }

// WithProgress reports loading progress in bytes.
func WithProgress(fn func(done, total int64)) Option { return func(c *config) { c.progress = fn } }

// Engine is a loaded model ready to generate.
type Engine struct {
	file  *gguf.File
	model model.Model
	tok   *tokenizer.Tokenizer
	be    backend.Backend
	kv    backend.KVCache
	ctx   int
	free  []int32 // free KV blocks
}

// Open loads a GGUF model file.
func Open(path string, opts ...Option) (*Engine, error) {
	c := config{}
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
	return e, nil
}

func open(f *gguf.File, c config) (*Engine, error) {
	tok, err := tokenizer.FromGGUF(f)
	if err != nil {
		return nil, err
	}
	if c.progress != nil {
		prefault(f, c.progress)
	}
	be := cpu.New(c.threads)
	m, err := model.Load(f, be)
	if err != nil {
		return nil, err
	}
	hp := m.Hyper()
	if hp.Vocab < tok.VocabSize() {
		return nil, fmt.Errorf("%s: tokenizer has %d tokens but the model only %d", f.Path, tok.VocabSize(), hp.Vocab)
	}
	n := c.ctx
	if n <= 0 {
		n = min(hp.Context, 4096)
	}
	if n <= 0 {
		return nil, fmt.Errorf("invalid context size %d", n)
	}
	blocks := (n + BlockSize - 1) / BlockSize
	kv, err := be.NewKV(m.KVSpec(blocks, BlockSize))
	if err != nil {
		return nil, err
	}
	e := &Engine{file: f, model: m, tok: tok, be: be, kv: kv, ctx: n}
	for i := blocks - 1; i >= 0; i-- {
		e.free = append(e.free, int32(i))
	}
	return e, nil
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

// Close releases the model file.
func (e *Engine) Close() error { return e.file.Close() }

// File is the model's GGUF file.
func (e *Engine) File() *gguf.File { return e.file }

// Tokenizer is the model's tokenizer.
func (e *Engine) Tokenizer() *tokenizer.Tokenizer { return e.tok }

// Hyper is the model's hyperparameters.
func (e *Engine) Hyper() model.Hyper { return e.model.Hyper() }

// Context is the maximum number of tokens of one sequence.
func (e *Engine) Context() int { return e.ctx }

// Params controls one generation.
type Params struct {
	MaxTokens int
	sample.Params
	Seed uint64
	// StopAtEOG ends generation at an end-of-generation token (default in
	// NewParams); the token itself is not returned.
	StopAtEOG bool
}

// NewParams returns greedy decoding of up to n tokens, stopping at EOG.
func NewParams(n int) Params { return Params{MaxTokens: n, StopAtEOG: true} }

// Token is one generated token.
type Token struct {
	ID   int32
	Text string // the text it completes (may be empty while UTF-8 is incomplete)
}

// ErrContextFull is returned when a prompt does not fit the context.
var ErrContextFull = errors.New("prompt does not fit the context")

// seq is one sequence's KV blocks and length.
type seq struct {
	blocks []int32
	n      int
}

func (e *Engine) grow(s *seq, n int) error {
	for len(s.blocks)*BlockSize < n {
		if len(e.free) == 0 {
			return fmt.Errorf("KV cache full (%d tokens)", e.ctx)
		}
		s.blocks = append(s.blocks, e.free[len(e.free)-1])
		e.free = e.free[:len(e.free)-1]
	}
	return nil
}

func (e *Engine) release(s *seq) {
	e.free = append(e.free, s.blocks...)
	s.blocks = nil
}

// eval appends ids to the sequence and returns the logits of the last one.
func (e *Engine) eval(s *seq, ids []int32) ([]float32, error) {
	if err := e.grow(s, s.n+len(ids)); err != nil {
		return nil, err
	}
	b := &backend.Batch{Tokens: ids, Pos: make([]int32, len(ids)), Seq: make([]int32, len(ids)), Blocks: [][]int32{s.blocks}}
	for i := range ids {
		b.Pos[i] = int32(s.n + i)
	}
	logits, err := e.model.Forward(b, e.kv, []int{len(ids) - 1})
	if err != nil {
		return nil, err
	}
	s.n += len(ids)
	out := make([]float32, logits.Cols())
	e.be.Read(logits, 0, out)
	return out, nil
}

// Logits evaluates ids as one fresh sequence and returns the logits after
// its last token.
func (e *Engine) Logits(ids []int32) ([]float32, error) {
	if len(ids) == 0 || len(ids) > e.ctx {
		return nil, fmt.Errorf("%w: %d tokens, context %d", ErrContextFull, len(ids), e.ctx)
	}
	s := &seq{}
	defer e.release(s)
	return e.eval(s, ids)
}

// Generate continues the token ids, calling emit for each new token, and
// returns the generated ids. It stops at MaxTokens, at an end-of-generation
// token when StopAtEOG, when the context is full, or when ctx is done.
func (e *Engine) Generate(ctx context.Context, ids []int32, p Params, emit func(Token) error) ([]int32, error) {
	if len(ids) == 0 {
		return nil, errors.New("empty prompt")
	}
	if len(ids) >= e.ctx {
		return nil, fmt.Errorf("%w: %d tokens, context %d", ErrContextFull, len(ids), e.ctx)
	}
	s := &seq{}
	defer e.release(s)
	smp := sample.New(p.Params, p.Seed)
	stream := e.tok.NewStreamAfter(ids)
	var out []int32
	next := ids
	for len(out) < p.MaxTokens && s.n+len(next) <= e.ctx {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		logits, err := e.eval(s, next)
		if err != nil {
			return out, err
		}
		id := smp.Sample(logits)
		if p.StopAtEOG && e.tok.IsEOG(id) {
			break
		}
		out = append(out, id)
		if emit != nil {
			if err := emit(Token{ID: id, Text: stream.Add(id)}); err != nil {
				return out, err
			}
		}
		next = []int32{id}
	}
	if emit != nil {
		if rest := stream.Flush(); rest != "" {
			if err := emit(Token{ID: -1, Text: rest}); err != nil {
				return out, err
			}
		}
	}
	return out, nil
}

// Forward exposes one batched step for callers that schedule sequences
// themselves (tests, benchmarks).
func (e *Engine) Forward(b *backend.Batch, logitRows []int) (backend.Tensor, error) {
	return e.model.Forward(b, e.kv, logitRows)
}

// Backend is the engine's backend.
func (e *Engine) Backend() backend.Backend { return e.be }

var _ io.Closer = (*Engine)(nil)
