package server

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/tscale/engine/engine"
	"github.com/tscale/engine/engine/chat/toolcall"
	"github.com/tscale/engine/engine/sample"
	"github.com/tscale/engine/model/harmony"
	"github.com/tscale/engine/model/tokenizer"
)

// job is one API request turned into engine requests, one per prompt.
type job struct {
	chat    bool
	harmony bool    // chat in the harmony format: parse the output's channels
	stops   []int32 // extra stop tokens (harmony's <|return|> and <|call|>)
	params  params
	prompts [][]int32
	texts   []string // prompt texts, for completions' text_offset
	echo    bool     // completions: each choice's text starts with its prompt's
	// constraint holds every sample to a grammar (params.Structured bound
	// to the model's vocabulary); nil: none.
	constraint engine.Constraint
	tools      *toolUse        // chat with tools (tools.go); nil: none
	toolFormat toolcall.Format // how the model writes calls
	prefill    string          // harmony: the reply's start, in the prompt (a forced call's header)
}

func readBody(r *http.Request) ([]byte, *apiError) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return nil, newError(http.StatusRequestEntityTooLarge, "invalid_request_error", "", "request_too_large",
				"the request body is larger than %d bytes", mb.Limit)
		}
		var bt *bodyTimeout
		if errors.As(err, &bt) {
			return nil, newError(http.StatusRequestTimeout, "invalid_request_error", "", "request_timeout", "%v", bt)
		}
		return nil, newError(http.StatusBadRequest, "invalid_request_error", "", "invalid_body", "cannot read the request body: %v", err)
	}
	return b, nil
}

// accept reads and decodes a request for the loaded model; when it
// cannot (no model yet, a bad body) it has written the error and ok is false.
func accept[T any](s *Server, w http.ResponseWriter, r *http.Request, decode func([]byte) (T, *apiError)) (l *loaded, req T, ok bool) {
	if l = s.ready(w); l == nil {
		return nil, req, false
	}
	body, e := readBody(r)
	if e == nil {
		req, e = decode(body)
	}
	if e != nil {
		writeError(w, e)
		return nil, req, false
	}
	return l, req, true
}

func (s *Server) completions(w http.ResponseWriter, r *http.Request) {
	l, req, ok := accept(s, w, r, decodeCompletion)
	if !ok {
		return
	}
	if req.Model != l.name {
		writeError(w, modelNotFound(req.Model))
		return
	}
	tok := l.e.Tokenizer()
	j := &job{params: req.params, echo: req.Echo}
	for _, p := range req.Prompts {
		if p.IsTokens {
			j.prompts = append(j.prompts, p.Tokens)
			j.texts = append(j.texts, tok.Decode(p.Tokens))
		} else {
			j.prompts = append(j.prompts, tok.Encode(p.Text, tokenizer.AddSpecial, tokenizer.ParseSpecial))
			j.texts = append(j.texts, p.Text)
		}
	}
	s.generate(w, r, l, j)
}

func (s *Server) chat(w http.ResponseWriter, r *http.Request) {
	l, req, ok := accept(s, w, r, decodeChat)
	if !ok {
		return
	}
	if req.Model != l.name {
		writeError(w, modelNotFound(req.Model))
		return
	}
	c, e := renderChat(r.Context(), l.chat, l.e.Tokenizer(), req, s.now().UTC().Format(time.DateOnly))
	if e != nil {
		writeError(w, e)
		return
	}
	j := &job{chat: true, harmony: c.Harmony, stops: c.Stops, params: req.params, prompts: [][]int32{c.Prompt}, texts: []string{c.Text}}
	if e := j.useTools(l.e.Tokenizer(), req, c); e != nil {
		writeError(w, e)
		return
	}
	s.generate(w, r, l, j)
}

func tooLong(format string, args ...any) *apiError {
	return newError(http.StatusBadRequest, "invalid_request_error", "messages", "context_length_exceeded", format, args...)
}

// samples is how many samples the job runs, with how many of them wait in
// the engine's queue (beam and tree search run outside it).
func (j *job) samples() (total, queued int, what string) {
	p := j.params
	total, what = len(j.prompts)*p.N, fmt.Sprintf("%d prompts × n=%d", len(j.prompts), p.N)
	if len(j.prompts) == 1 {
		what = fmt.Sprintf("n=%d", p.N)
	}
	switch r := p.Reasoning; {
	case r == nil:
	case r.Strategy == "tree": // K children of each of B nodes (strategy.TreeOptions' defaults 3 and 2)
		k, b := cmp.Or(r.Tree.K, 3), cmp.Or(r.Tree.B, 2)
		return k * b, 0, fmt.Sprintf("tree k=%d × b=%d", k, b)
	case r.Strategy == "beam":
		return total, 0, what
	}
	return total, total, what
}

// requests builds the engine requests, checking what the engine would
// otherwise reject with a less helpful error, or only once started.
func (j *job) requests(e *engine.Engine, cfg *Config) ([]engine.Request, *apiError) {
	p := j.params
	// Final limits, not "retry later": the request can never run.
	total, queued, what := j.samples()
	if total > cfg.MaxSamples {
		return nil, newError(http.StatusBadRequest, "invalid_request_error", "n", "too_many_samples",
			"this request asks for %d samples (%s); the server takes at most %d per request (--max-samples)", total, what, cfg.MaxSamples)
	}
	if cfg.MaxQueue > 0 && queued > cfg.MaxQueue {
		return nil, newError(http.StatusBadRequest, "invalid_request_error", "n", "too_many_samples",
			"this request asks for %d samples (%s); the queue can never hold more than %d (--max-queue)", queued, what, cfg.MaxQueue)
	}
	if err := p.Sampling.Validate(e.Hyper().Vocab); err != nil {
		return nil, badParam("logit_bias", "%v", err)
	}
	seed := rand.Uint64()
	if p.Seed != nil {
		seed = *p.Seed
	}
	ctx := e.Context()
	param := "prompt"
	if j.chat {
		param = "messages"
	}
	out := make([]engine.Request, len(j.prompts))
	for i, ids := range j.prompts {
		if len(ids) == 0 {
			return nil, badParam(param, "the prompt is empty after tokenization")
		}
		for _, id := range ids {
			if id < 0 || int(id) >= e.Hyper().Vocab {
				return nil, badParam(param, "token id %d is outside the vocabulary of %d", id, e.Hyper().Vocab)
			}
		}
		max, room := p.MaxTokens, ctx-len(ids)
		switch {
		case room <= 0:
			e := tooLong("this model's maximum context length is %d tokens, but the prompt has %d tokens", ctx, len(ids))
			e.Param = &param
			return nil, e
		case max == 0 && j.chat:
			// To the end of the context, or as far as all n samples fit
			// the KV pool together (an explicit max_tokens that cannot
			// fit gets the engine's 422 instead).
			max = room
			if fit := e.MaxTokensFor(len(ids), p.N); fit > 0 {
				max = fit
			}
		case max == 0:
			max = min(16, room) // OpenAI's default for completions
		case max > room: // not len(ids)+max > ctx, which wraps for max near 2^63
			e := tooLong("this model's maximum context length is %d tokens, but %d tokens were requested (%d in the prompt, %d for the completion)",
				ctx, uint64(len(ids))+uint64(max), len(ids), max)
			e.Param = &param
			return nil, e
		}
		out[i] = engine.Request{
			Prompt: ids, N: p.N, MaxTokens: max, Sampling: p.Sampling, Seed: seed + uint64(i*p.N),
			Stop: p.Stop, IgnoreEOG: p.IgnoreEOS, Logprobs: p.Logprobs, TopLogprobs: p.TopLogprobs,
			Constraint: j.constraint,
		}
		if !p.IgnoreEOS {
			// The turn ends at <|return|> or <|call|> whether or not the
			// GGUF marks them end-of-generation.
			out[i].StopTokens = j.stops
		}
	}
	return out, nil
}

// tagged is an engine event with its choice index (prompt × n + sample).
type tagged struct {
	choice int
	ev     engine.Event
}

// start submits every request and merges their events. On an error the
// requests already started end with ctx, which the caller cancels.
func start(ctx context.Context, e *engine.Engine, reqs []engine.Request) (<-chan tagged, *apiError) {
	chans := make([]<-chan engine.Event, len(reqs))
	for i, req := range reqs {
		ch, err := e.Stream(ctx, req)
		if err != nil {
			return nil, engineError(err)
		}
		chans[i] = ch
	}
	out := make(chan tagged)
	var wg sync.WaitGroup
	for i, ch := range chans {
		base := i * max(1, reqs[i].N)
		wg.Go(func() {
			for ev := range ch {
				select {
				case out <- tagged{base + ev.Sample, ev}:
				case <-ctx.Done():
					return // the engine's goroutine also stops on ctx
				}
			}
		})
	}
	go func() {
		wg.Wait()
		close(out)
	}()
	return out, nil
}

// engineError maps an engine error to an API error.
func engineError(err error) *apiError {
	switch {
	case errors.Is(err, engine.ErrQueueFull):
		return newError(http.StatusTooManyRequests, "rate_limit_error", "", "queue_full", "the server is busy (%v); retry later", err)
	case errors.Is(err, engine.ErrTooLong):
		return tooLong("%v", err)
	case errors.Is(err, engine.ErrClosed):
		return unavailable("the engine is shutting down")
	case errors.Is(err, engine.ErrTooManySamples):
		return newError(http.StatusBadRequest, "invalid_request_error", "n", "too_many_samples", "%v (retrying cannot help: ask for fewer samples)", err)
	case errors.Is(err, engine.ErrNoSpace):
		return newError(http.StatusUnprocessableEntity, "invalid_request_error", "n", "kv_cache_too_small", "%v", err)
	case errors.Is(err, context.DeadlineExceeded):
		return newError(http.StatusGatewayTimeout, "timeout_error", "", "timeout", "the request did not finish in time")
	case maskError(err): // a strategy's sample (plain samples end alone, see generate)
		e := constraintError(err)
		e.Status = http.StatusUnprocessableEntity
		return e
	}
	return internal("%v", err)
}

// choice accumulates one sample.
type choice struct {
	text   strings.Builder
	tokens int
	lps    []tokenLP
	finish engine.Finish
	err    error
	dead   error // the constraint's dead end: finish_reason "error", the other choices go on
	offset int   // completions' text_offset of the next token
	last   time.Time
}

type tokenLP struct {
	id     int32
	lp     float32
	top    []sample.TokenLogprob
	offset int
	prompt bool // an echoed prompt token: no logprob
}

func (s *Server) generate(w http.ResponseWriter, r *http.Request, l *loaded, j *job) {
	begin := time.Now()
	if st := j.params.Structured; st != nil && j.constraint == nil {
		if j.harmony {
			// The constraint would have to skip the analysis channel and
			// the format's markers; not done yet.
			writeError(w, badParam(st.Param, "'%s' is not supported with the harmony chat format", st.Param))
			return
		}
		c, e := st.constraint(l.e.Tokenizer())
		if e != nil {
			writeError(w, e)
			return
		}
		j.constraint = c
	}
	if j.constraint != nil && j.params.IgnoreEOS {
		// The end-of-generation token is how a complete output ends.
		writeError(w, badParam("ignore_eos", "'ignore_eos' cannot be combined with a constraint: the output ends where the grammar does"))
		return
	}
	reqs, e := j.requests(l.e, &s.cfg)
	if e != nil {
		writeError(w, e)
		return
	}
	if j.params.Reasoning != nil {
		if len(reqs) > 1 {
			writeError(w, badParam("prompt", "'reasoning' takes a single prompt, got %d", len(reqs)))
			return
		}
		s.reason(w, r, l, j, reqs[0])
		return
	}
	// The cause of a cancelled ctx tells why: errClientGone, ErrShutdown
	// (from the server's base context) or the deadline.
	ctx, cancel := context.WithCancelCause(r.Context())
	defer cancel(nil)
	if s.cfg.Timeout > 0 {
		var stop context.CancelFunc
		ctx, stop = context.WithTimeout(ctx, s.cfg.Timeout)
		defer stop()
	}
	events, e := start(ctx, l.e, reqs)
	if e != nil {
		if e.Status == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "1")
		}
		writeError(w, e)
		return
	}
	p := j.params
	nChoices := len(reqs) * p.N
	s.m.samples.Add(float64(nChoices))
	defer s.m.samples.Sub(float64(nChoices))
	promptToks := 0
	for _, rq := range reqs {
		promptToks += len(rq.Prompt)
	}
	s.m.promptToks.Add(float64(promptToks))

	out := &responder{w: w, s: s, l: l, j: j, id: randomID(), created: time.Now().Unix()}
	if j.chat {
		out.id = "chatcmpl-" + out.id
	} else {
		out.id = "cmpl-" + out.id
	}
	choices := make([]choice, nChoices)
	for i := range choices {
		choices[i].offset = len(j.texts[i/p.N])
	}
	if p.Stream {
		out.startStream(nChoices)
	}
	first, cached := true, 0
	for t := range events {
		c, ev := &choices[t.choice], t.ev
		if ev.Token >= 0 {
			now := time.Now()
			if first {
				s.m.ttft.Observe(now.Sub(begin).Seconds())
				first = false
			} else if !c.last.IsZero() {
				s.m.itl.Observe(now.Sub(c.last).Seconds())
			}
			c.last = now
			c.tokens++
		}
		var lp *tokenLP
		if ev.Token >= 0 && p.Logprobs {
			c.lps = append(c.lps, tokenLP{id: ev.Token, lp: ev.Logprob, top: ev.Top, offset: c.offset})
			lp = &c.lps[len(c.lps)-1]
		}
		c.offset += len(ev.Text)
		c.text.WriteString(ev.Text)
		if ev.Finish != "" {
			c.finish, c.err = ev.Finish, ev.Err
			if t.ev.Sample == 0 {
				cached += ev.Cached
			}
			if ev.Finish == engine.FinishError && j.constraint != nil && maskError(ev.Err) {
				c.dead, c.err = ev.Err, nil
			}
		}
		if p.Stream && c.err == nil && c.finish != engine.FinishCancelled && (c.finish != engine.FinishError || c.dead != nil) {
			if err := out.chunk(t.choice, ev, lp, c.dead); err != nil {
				cancel(errClientGone)
			}
		}
	}

	completion := 0
	var failed error
	for i := range choices {
		completion += choices[i].tokens
		if c := choices[i]; c.err != nil && failed == nil && c.finish != engine.FinishCancelled {
			failed = c.err
		}
	}
	s.m.genToks.Add(float64(completion))
	s.m.cachedToks.Add(float64(cached))
	u := usage{PromptTokens: promptToks, CompletionTokens: completion, TotalTokens: promptToks + completion}
	if cached > 0 {
		u.Details = &promptDetails{CachedTokens: cached}
	}
	in := reqInfo(r.Context())
	in.attrs = append(in.attrs, "n", p.N, "stream", p.Stream, "prompt_tokens", promptToks, "completion_tokens", completion)

	cut := false // a sample stopped by a cancel, not by itself
	for i := range choices {
		if f := choices[i].finish; f == engine.FinishCancelled || f == "" {
			cut = true
		}
	}
	cause := context.Cause(ctx)
	switch {
	case errors.Is(cause, errClientGone) || r.Context().Err() != nil && !errors.Is(cause, ErrShutdown):
		in.attrs = append(in.attrs, "cancelled", "client disconnected")
		return
	case !cut: // done before a cancel took hold
	case errors.Is(cause, ErrShutdown):
		in.attrs = append(in.attrs, "cancelled", "server shutdown")
		if p.Stream {
			out.streamError(shutdownError())
		} else {
			writeError(w, shutdownError())
		}
		return
	case ctx.Err() != nil:
		failed = context.DeadlineExceeded
	case failed == nil:
		failed = engine.ErrClosed // cancelled, but not by the client or the deadline
	}
	if failed != nil {
		ae := engineError(failed)
		in.attrs = append(in.attrs, "error", failed.Error())
		if p.Stream {
			out.streamError(ae)
		} else {
			writeError(w, ae)
		}
		return
	}
	if p.Stream {
		out.endStream(u)
		return
	}
	out.whole(choices, u)
}

// errClientGone cancels a request whose client can no longer be written to.
var errClientGone = errors.New("client disconnected")

// responder writes a job's response: one JSON object or a stream of
// server-sent events.
type responder struct {
	w         http.ResponseWriter
	s         *Server
	l         *loaded
	j         *job
	id        string
	created   int64
	rc        *http.ResponseController
	reasoning *reasoningJSON
	parsers   []*harmony.Parser // per choice, when streaming a harmony chat
	calls     *toolStreams      // per choice, when streaming a chat with tools
}

type usage struct {
	PromptTokens     int            `json:"prompt_tokens"`
	CompletionTokens int            `json:"completion_tokens"`
	TotalTokens      int            `json:"total_tokens"`
	Details          *promptDetails `json:"prompt_tokens_details,omitempty"`
}

type promptDetails struct {
	CachedTokens int `json:"cached_tokens"`
}

type completionLogprobs struct {
	Tokens        []string             `json:"tokens"`
	TokenLogprobs []*float64           `json:"token_logprobs"` // null for echoed prompt tokens
	TopLogprobs   []map[string]float64 `json:"top_logprobs"`
	TextOffset    []int                `json:"text_offset"`
}

type completionChoice struct {
	Index        int                 `json:"index"`
	Text         string              `json:"text"`
	Logprobs     *completionLogprobs `json:"logprobs"`
	FinishReason *string             `json:"finish_reason"`
	Error        *apiError           `json:"error,omitempty"` // with finish_reason "error"
}

type chatMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
	// ReasoningContent is the analysis channel of a harmony chat (vLLM's
	// and llama.cpp's name).
	ReasoningContent *string        `json:"reasoning_content,omitempty"`
	Refusal          *string        `json:"refusal"`
	ToolCalls        []toolCallJSON `json:"tool_calls,omitempty"`
}

type chatDelta struct {
	Role             string         `json:"role,omitempty"`
	Content          *string        `json:"content,omitempty"`
	ReasoningContent *string        `json:"reasoning_content,omitempty"`
	ToolCalls        []toolCallJSON `json:"tool_calls,omitempty"`
}

type chatTop struct {
	Token   string  `json:"token"`
	Logprob float64 `json:"logprob"`
	Bytes   []int   `json:"bytes"`
}

type chatTokenLogprob struct {
	chatTop
	TopLogprobs []chatTop `json:"top_logprobs"`
}

type chatLogprobs struct {
	Content []chatTokenLogprob `json:"content"`
	Refusal []chatTokenLogprob `json:"refusal"`
}

type chatChoice struct {
	Index        int           `json:"index"`
	Message      *chatMessage  `json:"message,omitempty"`
	Delta        *chatDelta    `json:"delta,omitempty"`
	Logprobs     *chatLogprobs `json:"logprobs"`
	FinishReason *string       `json:"finish_reason"`
	Error        *apiError     `json:"error,omitempty"` // with finish_reason "error"
}

type response struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	Model   string `json:"model"`
	Choices any    `json:"choices"`
	Usage   *usage `json:"usage,omitempty"`
	// Reasoning reports a test-time scaling strategy (an extension).
	Reasoning *reasoningJSON `json:"reasoning,omitempty"`
}

func (o *responder) object(chunk bool) string {
	switch {
	case o.j.chat && chunk:
		return "chat.completion.chunk"
	case o.j.chat:
		return "chat.completion"
	}
	return "text_completion"
}

// logprob is JSON-safe: a banned token's -Inf becomes OpenAI's -9999.
func logprob(v float32) float64 {
	if math.IsInf(float64(v), -1) || math.IsNaN(float64(v)) {
		return -9999
	}
	return float64(v)
}

func (o *responder) piece(id int32) string { return o.l.e.Tokenizer().Piece(id) }

func (o *responder) top(t sample.TokenLogprob) chatTop {
	p := o.piece(t.ID)
	b := make([]int, len(p))
	for i := range len(p) {
		b[i] = int(p[i])
	}
	return chatTop{Token: p, Logprob: logprob(t.Logprob), Bytes: b}
}

func (o *responder) completionLogprobs(lps []tokenLP) *completionLogprobs {
	c := &completionLogprobs{Tokens: []string{}, TokenLogprobs: []*float64{}, TextOffset: []int{}}
	if o.j.params.TopLogprobs > 0 {
		c.TopLogprobs = []map[string]float64{}
	}
	for _, t := range lps {
		c.Tokens = append(c.Tokens, o.piece(t.id))
		c.TextOffset = append(c.TextOffset, t.offset)
		if t.prompt {
			c.TokenLogprobs = append(c.TokenLogprobs, nil)
			if o.j.params.TopLogprobs > 0 {
				c.TopLogprobs = append(c.TopLogprobs, nil)
			}
			continue
		}
		v := logprob(t.lp)
		c.TokenLogprobs = append(c.TokenLogprobs, &v)
		if o.j.params.TopLogprobs > 0 {
			m := make(map[string]float64, len(t.top))
			for _, a := range t.top {
				if _, dup := m[o.piece(a.ID)]; !dup {
					m[o.piece(a.ID)] = logprob(a.Logprob)
				}
			}
			c.TopLogprobs = append(c.TopLogprobs, m)
		}
	}
	return c
}

func (o *responder) chatLogprobs(lps []tokenLP) *chatLogprobs {
	c := &chatLogprobs{Content: []chatTokenLogprob{}}
	for _, t := range lps {
		e := chatTokenLogprob{chatTop: o.top(sample.TokenLogprob{ID: t.id, Logprob: t.lp}), TopLogprobs: []chatTop{}}
		for _, a := range t.top {
			e.TopLogprobs = append(e.TopLogprobs, o.top(a))
		}
		c.Content = append(c.Content, e)
	}
	return c
}

func finishReason(f engine.Finish) *string {
	if f == "" {
		return nil
	}
	s := string(f)
	return &s
}

// whole writes the non-streaming response.
func (o *responder) whole(choices []choice, u usage) {
	res := response{ID: o.id, Object: o.object(false), Created: o.created, Model: o.l.name, Usage: &u, Reasoning: o.reasoning}
	if o.j.chat {
		list := make([]chatChoice, len(choices))
		for i := range choices {
			c := &choices[i]
			msg := &chatMessage{Role: "assistant", Content: c.text.String()}
			if o.j.harmony {
				h := harmony.Parse(o.j.prefill + msg.Content)
				msg.Content, msg.ReasoningContent = h.Content, &h.Reasoning
				if o.j.parsesCalls() {
					msg.ToolCalls = o.j.harmonyCalls(h.Messages, 0)
				}
			} else if o.j.parsesCalls() {
				msg.Content, msg.ToolCalls = o.j.replyCalls(msg.Content)
			}
			list[i] = chatChoice{Index: i, Message: msg, FinishReason: toolFinish(finishReason(c.finish), len(msg.ToolCalls)), Error: deadError(c.dead)}
			if o.j.params.Logprobs {
				list[i].Logprobs = o.chatLogprobs(c.lps)
			}
		}
		res.Choices = list
	} else {
		list := make([]completionChoice, len(choices))
		for i := range choices {
			c := &choices[i]
			list[i] = completionChoice{Index: i, Text: c.text.String(), FinishReason: finishReason(c.finish), Error: deadError(c.dead)}
			if o.j.echo {
				k := i / max(1, o.j.params.N) // reasoning: one choice, prompt 0
				list[i].Text = o.j.texts[k] + list[i].Text
				c.lps = append(o.echoLogprobs(k), c.lps...)
			}
			if o.j.params.Logprobs {
				list[i].Logprobs = o.completionLogprobs(c.lps)
			}
		}
		res.Choices = list
	}
	writeJSON(o.w, http.StatusOK, res)
}

func (o *responder) startStream(n int) {
	h := o.w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	o.w.WriteHeader(http.StatusOK)
	o.rc = http.NewResponseController(o.w)
	if o.j.harmony {
		o.parsers = make([]*harmony.Parser, n)
		for i := range o.parsers {
			o.parsers[i] = harmony.NewParser()
			o.parsers[i].Add(o.j.prefill) // a header: no deltas
		}
	}
	if o.j.parsesCalls() {
		o.calls = newToolStreams(o.j.toolFormat, n)
	}
	if o.j.chat {
		// The role comes first, once per choice, as OpenAI sends it.
		empty := ""
		list := make([]chatChoice, n)
		for i := range list {
			list[i] = chatChoice{Index: i, Delta: &chatDelta{Role: "assistant", Content: &empty}}
		}
		o.send(o.chunkOf(list))
		return
	}
	if o.j.echo {
		// The prompt first, as its own chunk per choice.
		for i := range n {
			k := i / max(1, o.j.params.N)
			c := completionChoice{Index: i, Text: o.j.texts[k]}
			if o.j.params.Logprobs {
				c.Logprobs = o.completionLogprobs(o.echoLogprobs(k))
			}
			o.send(o.chunkOf([]completionChoice{c}))
		}
	}
	o.rc.Flush()
}

// echoLogprobs lists prompt k's tokens for echo with logprobs: the prompt is
// prefilled in one pass that keeps only the last position's logits, so its
// tokens come without logprobs (null, as OpenAI gives the first). Control
// tokens (BOS) are left out: they are not part of the echoed text.
func (o *responder) echoLogprobs(k int) []tokenLP {
	tok := o.l.e.Tokenizer()
	st := tok.NewStream()
	var out []tokenLP
	off, limit := 0, len(o.j.texts[k])
	for _, id := range o.j.prompts[k] {
		if !tok.IsControl(id) {
			out = append(out, tokenLP{id: id, offset: min(off, limit), prompt: true})
		}
		off += len(st.Add(id))
	}
	return out
}

// deadError is a choice's error object when its constraint hit a dead end.
func deadError(err error) *apiError {
	if err == nil {
		return nil
	}
	return constraintError(err)
}

func (o *responder) chunkOf(choices any) response {
	return response{ID: o.id, Object: o.object(true), Created: o.created, Model: o.l.name, Choices: choices}
}

// chunk sends one event of one choice; it skips events with nothing to say
// (a token whose text is held back, without logprobs).
func (o *responder) chunk(i int, ev engine.Event, lp *tokenLP, dead error) error {
	if o.parsers != nil {
		return o.harmonyChunk(i, ev, lp)
	}
	if o.calls != nil && o.j.chat {
		return o.toolChunk(i, ev, lp, dead)
	}
	if ev.Text == "" && lp == nil && ev.Finish == "" {
		return nil
	}
	var lps []tokenLP
	if lp != nil {
		lps = []tokenLP{*lp}
	}
	if o.j.chat {
		c := chatChoice{Index: i, Delta: &chatDelta{}, FinishReason: finishReason(ev.Finish), Error: deadError(dead)}
		if ev.Text != "" || lp != nil {
			c.Delta.Content = &ev.Text
		}
		if lp != nil {
			c.Logprobs = o.chatLogprobs(lps)
		}
		return o.send(o.chunkOf([]chatChoice{c}))
	}
	c := completionChoice{Index: i, Text: ev.Text, FinishReason: finishReason(ev.Finish), Error: deadError(dead)}
	if lp != nil {
		c.Logprobs = o.completionLogprobs(lps)
	}
	return o.send(o.chunkOf([]completionChoice{c}))
}

// harmonyChunk parses a harmony chat's output as it comes: analysis text
// goes out as delta.reasoning_content, final text as delta.content (one
// chunk per run of either), and the format's markers not at all.
func (o *responder) harmonyChunk(i int, ev engine.Event, lp *tokenLP) error {
	p := o.parsers[i]
	ds := p.Add(ev.Text)
	if ev.Finish != "" {
		ds = append(ds, p.Close()...)
	}
	var deltas []*chatDelta
	last := harmony.Other
	for _, d := range ds {
		if d.Kind == harmony.Other {
			continue // tool calls: not supported
		}
		if d.Kind != last {
			deltas = append(deltas, &chatDelta{})
			last = d.Kind
		}
		cd := deltas[len(deltas)-1]
		f := &cd.Content
		if d.Kind == harmony.Reasoning {
			f = &cd.ReasoningContent
		}
		if *f == nil {
			*f = new(string)
		}
		**f += d.Text
	}
	var calls []toolCallJSON
	if o.calls != nil {
		calls = o.calls.harmony(o.j, i, p)
	}
	if len(deltas) == 0 && len(calls) > 0 {
		deltas = []*chatDelta{{}}
	}
	if len(calls) > 0 {
		deltas[len(deltas)-1].ToolCalls = calls
	}
	if len(deltas) == 0 {
		if lp == nil && ev.Finish == "" {
			return nil
		}
		deltas = []*chatDelta{{}}
	}
	for k, d := range deltas {
		c := chatChoice{Index: i, Delta: d}
		if k == 0 && lp != nil {
			c.Logprobs = o.chatLogprobs([]tokenLP{*lp})
		}
		if k == len(deltas)-1 {
			c.FinishReason = finishReason(ev.Finish)
			if o.calls != nil {
				c.FinishReason = toolFinish(c.FinishReason, o.calls.calls[i])
			}
		}
		if err := o.send(o.chunkOf([]chatChoice{c})); err != nil {
			return err
		}
	}
	return nil
}

func (o *responder) send(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(o.w, "data: %s\n\n", b); err != nil {
		return err
	}
	return o.rc.Flush()
}

func (o *responder) endStream(u usage) {
	if o.j.params.IncludeUsage {
		res := o.chunkOf([]any{})
		res.Usage = &u
		o.send(res)
	}
	fmt.Fprint(o.w, "data: [DONE]\n\n")
	o.rc.Flush()
}

// streamError reports a failure after the stream began, as OpenAI does: an
// event holding an error object.
func (o *responder) streamError(e *apiError) {
	o.send(map[string]*apiError{"error": e})
	fmt.Fprint(o.w, "data: [DONE]\n\n")
	o.rc.Flush()
}
