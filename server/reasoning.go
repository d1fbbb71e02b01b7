package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/tscale/engine/engine"
	"github.com/tscale/engine/engine/sample"
	"github.com/tscale/engine/engine/strategy"
)

// reasoning is the request's test-time scaling extension:
//
//	"reasoning": {"strategy": "vote", "extract": "last_number", "weighted": false, "count_truncated": false}
//	"reasoning": {"strategy": "best_of_n"}
//	"reasoning": {"strategy": "beam", "length_penalty": 1}
//	"reasoning": {"strategy": "tree", "k": 3, "b": 2, "depth": 4, "delimiter": "\n\n", "step_tokens": 64}
//
// The response holds one choice, the winner: for "vote" the first sample
// whose extracted answer (strategy.ParseExtractor: last_number, boxed or
// regex:EXPR) won the self-consistency vote, for "best_of_n" the sample
// with the highest mean token logprob (n samples each), for "beam" the best
// of n beams (max_tokens per beam), for "tree" the best leaf of a step-level
// search scored by mean token logprob. Usage counts every generated token,
// and a "reasoning" object in the response reports the votes or scores.
// Not with stream.
type reasoning struct {
	Strategy      string
	Extract       strategy.Extractor
	Weighted      bool
	LengthPenalty float64
	Tree          strategy.TreeOptions

	CountTruncated bool // vote: samples cut off by max_tokens vote too
}

type rawReasoning struct {
	Strategy      *string  `json:"strategy"`
	Extract       *string  `json:"extract"`
	Weighted      *bool    `json:"weighted"`
	LengthPenalty *float64 `json:"length_penalty"`
	K             *int     `json:"k"`
	B             *int     `json:"b"`
	Depth         *int     `json:"depth"`
	Delimiter     *string  `json:"delimiter"`
	StepTokens    *int     `json:"step_tokens"`

	CountTruncated *bool `json:"count_truncated"`
}

var reasoningFields = fields{ok: fieldSet([]string{"strategy", "extract", "weighted", "length_penalty",
	"k", "b", "depth", "delimiter", "step_tokens", "count_truncated"})}

// only rejects options given to a strategy they do not apply to.
func (r *rawReasoning) only(strat string, allowed ...string) *apiError {
	given := map[string]bool{
		"extract": r.Extract != nil, "weighted": r.Weighted != nil, "length_penalty": r.LengthPenalty != nil,
		"k": r.K != nil, "b": r.B != nil, "depth": r.Depth != nil, "delimiter": r.Delimiter != nil, "step_tokens": r.StepTokens != nil,
		"count_truncated": r.CountTruncated != nil,
	}
	for _, a := range allowed {
		delete(given, a)
	}
	for _, name := range []string{"extract", "weighted", "length_penalty", "k", "b", "depth", "delimiter", "step_tokens", "count_truncated"} {
		if given[name] {
			return badParam("reasoning."+name, "'%s' does not apply to the %s strategy", name, strat)
		}
	}
	return nil
}

// positive reads an optional option that must be in [1, hi].
func positive(v *int, name string, hi int, dst *int) *apiError {
	if v == nil {
		return nil
	}
	if *v < 1 || *v > hi {
		return badParam("reasoning."+name, "'%s' must be between 1 and %d, got %d", name, hi, *v)
	}
	*dst = *v
	return nil
}

func decodeReasoning(raw json.RawMessage, p *params) *apiError {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var r rawReasoning
	if e := decodeObject(raw, &r, "reasoning", reasoningFields); e != nil {
		return e
	}
	if r.Strategy == nil {
		return missing("reasoning.strategy")
	}
	out := &reasoning{Strategy: *r.Strategy, Extract: strategy.LastNumber}
	switch out.Strategy {
	case "vote":
		if r.Extract != nil {
			ext, err := strategy.ParseExtractor(*r.Extract)
			if err != nil {
				return badParam("reasoning.extract", "%v", err)
			}
			out.Extract = ext
		}
		out.Weighted = r.Weighted != nil && *r.Weighted
		out.CountTruncated = r.CountTruncated != nil && *r.CountTruncated
		if e := r.only("vote", "extract", "weighted", "count_truncated"); e != nil {
			return e
		}
	case "best_of_n":
		if r.Extract != nil || r.Weighted != nil {
			return badParam("reasoning", "'extract' and 'weighted' apply to the vote strategy only")
		}
		if e := r.only("best_of_n"); e != nil {
			return e
		}
	case "beam":
		if e := r.only("beam", "length_penalty"); e != nil {
			return e
		}
		out.LengthPenalty = 1
		if r.LengthPenalty != nil {
			if !(*r.LengthPenalty >= 0 && *r.LengthPenalty <= 10) {
				return badParam("reasoning.length_penalty", "'length_penalty' must be between 0 and 10, got %v", *r.LengthPenalty)
			}
			out.LengthPenalty = *r.LengthPenalty
		}
	case "tree":
		if e := r.only("tree", "k", "b", "depth", "delimiter", "step_tokens"); e != nil {
			return e
		}
		t := &out.Tree
		for _, o := range []struct {
			v    *int
			name string
			hi   int
			dst  *int
		}{{r.K, "k", 16, &t.K}, {r.B, "b", 16, &t.B}, {r.Depth, "depth", 32, &t.MaxDepth}, {r.StepTokens, "step_tokens", 4096, &t.MaxStepTokens}} {
			if e := positive(o.v, o.name, o.hi, o.dst); e != nil {
				return e
			}
		}
		if r.Delimiter != nil {
			if *r.Delimiter == "" {
				return badParam("reasoning.delimiter", "'delimiter' must not be empty")
			}
			t.Delimiter = *r.Delimiter
		}
	default:
		return badParam("reasoning.strategy", "unknown strategy %q: expected vote, best_of_n, beam or tree", out.Strategy)
	}
	if p.Stream {
		return badParam("reasoning", "'reasoning' cannot be combined with stream")
	}
	p.Reasoning = out
	return nil
}

type voteJSON struct {
	Answer string  `json:"answer"`
	Count  int     `json:"count"`
	Weight float64 `json:"weight"`
}

type reasoningJSON struct {
	Strategy     string     `json:"strategy"`
	Samples      int        `json:"samples"`
	Chosen       int        `json:"chosen"` // sample index of the returned choice
	Answer       *string    `json:"answer,omitempty"`
	Votes        []voteJSON `json:"votes,omitempty"`
	StoppedEarly bool       `json:"stopped_early,omitempty"`
	Scores       []float64  `json:"scores,omitempty"` // by sample index (beam: by rank; tree: by node)
	Nodes        int        `json:"nodes,omitempty"`  // tree: nodes explored

	Abstained *int `json:"abstained,omitempty"` // vote: finished samples without a vote
	Truncated *int `json:"truncated,omitempty"` // vote: finished samples cut off by length
}

// reason runs a request through a strategy and writes the one winning choice.
func (s *Server) reason(w http.ResponseWriter, r *http.Request, l *loaded, j *job, req engine.Request) {
	ctx, cancel := context.WithCancel(r.Context())
	if s.cfg.Timeout > 0 {
		ctx, cancel = context.WithTimeout(r.Context(), s.cfg.Timeout)
	}
	defer cancel()
	p := j.params
	s.m.samples.Add(float64(p.N))
	defer s.m.samples.Sub(float64(p.N))
	s.m.promptToks.Add(float64(len(req.Prompt)))
	info := reasoningJSON{Strategy: p.Reasoning.Strategy, Samples: p.N}
	var all []engine.Completion
	var chosen engine.Completion
	var err error
	switch p.Reasoning.Strategy {
	case "vote":
		var res *strategy.VoteResult
		res, err = strategy.Vote(ctx, l.e, req, strategy.VoteOptions{Extract: p.Reasoning.Extract,
			Weighted: p.Reasoning.Weighted, CountTruncated: p.Reasoning.CountTruncated})
		if err == nil {
			info.Answer, info.StoppedEarly = &res.Answer, res.StoppedEarly
			info.Abstained, info.Truncated = &res.Abstained, &res.Truncated
			for _, t := range res.Votes {
				info.Votes = append(info.Votes, voteJSON{t.Answer, t.Count, t.Weight})
			}
			for _, smp := range res.Samples {
				all = append(all, smp.Completion)
			}
			for i, smp := range res.Samples {
				if !smp.Abstain && smp.Answer == res.Answer {
					info.Chosen = i // the first sample of the winning answer
					break
				}
			}
			chosen = res.Samples[info.Chosen].Completion
		}
	case "best_of_n":
		var res *strategy.BestOfNResult
		res, err = strategy.BestOfN(ctx, l.e, req, strategy.MeanLogprob{})
		if err == nil {
			all = make([]engine.Completion, len(res.Ranked))
			info.Scores = make([]float64, len(res.Ranked))
			for _, sc := range res.Ranked {
				all[sc.Index] = sc.Completion
				info.Scores[sc.Index] = logprob(float32(sc.Score))
			}
			info.Chosen, chosen = res.Best.Index, res.Best.Completion
		}
	case "beam":
		maxTok := req.MaxTokens
		if maxTok <= 0 {
			maxTok = l.e.Context() - len(req.Prompt)
		}
		var res *strategy.BeamResult
		res, err = strategy.Beam(ctx, strategy.FromEngine(l.e), req.Prompt, strategy.BeamOptions{
			Width: p.N, MaxTokens: maxTok, LengthPenalty: p.Reasoning.LengthPenalty, Constraint: req.Constraint,
		})
		if err == nil && len(res.Hypotheses) == 0 {
			err = errors.New("beam search found no hypothesis")
		}
		if err == nil {
			for _, h := range res.Hypotheses {
				info.Scores = append(info.Scores, h.Score)
				all = append(all, beamCompletion(l.e, req.Prompt, h))
			}
			chosen = all[0]
		}
	case "tree":
		opt := p.Reasoning.Tree
		opt.Sampling, opt.Seed, opt.Constraint = req.Sampling, req.Seed, req.Constraint
		var res *strategy.TreeResult
		res, err = strategy.Tree(ctx, strategy.FromEngine(l.e), req.Prompt, opt)
		if err == nil {
			info.Nodes = len(res.Nodes)
			for i := range res.Nodes {
				info.Scores = append(info.Scores, res.Nodes[i].Score)
				all = append(all, engine.Completion{Tokens: res.Nodes[i].Tokens})
			}
			info.Chosen, chosen = res.Best, res.Completion(res.Best)
		}
	}
	in := reqInfo(r.Context())
	in.attrs = append(in.attrs, "n", p.N, "reasoning", p.Reasoning.Strategy, "prompt_tokens", len(req.Prompt))
	if err != nil {
		if errors.Is(context.Cause(ctx), ErrShutdown) {
			in.attrs = append(in.attrs, "cancelled", "server shutdown")
			writeError(w, shutdownError())
			return
		}
		if r.Context().Err() != nil {
			in.attrs = append(in.attrs, "cancelled", "client disconnected")
			return
		}
		if ctx.Err() != nil {
			err = context.DeadlineExceeded
		}
		in.attrs = append(in.attrs, "error", err.Error())
		writeError(w, engineError(err))
		return
	}
	completion := 0
	for _, c := range all {
		completion += len(c.Tokens)
	}
	s.m.genToks.Add(float64(completion))
	in.attrs = append(in.attrs, "completion_tokens", completion)

	out := &responder{w: w, s: s, l: l, j: j, id: randomID(), created: time.Now().Unix(), reasoning: &info}
	if j.chat {
		out.id = "chatcmpl-" + out.id
	} else {
		out.id = "cmpl-" + out.id
	}
	c := choice{tokens: len(chosen.Tokens), finish: chosen.Finish}
	c.text.WriteString(chosen.Text)
	if p.Logprobs && len(chosen.Logprobs) == len(chosen.Tokens) {
		for len(chosen.Top) < len(chosen.Tokens) {
			chosen.Top = append(chosen.Top, nil) // beam and tree keep no alternatives
		}
		off := len(j.texts[0])
		for k, id := range chosen.Tokens {
			c.lps = append(c.lps, tokenLP{id: id, lp: chosen.Logprobs[k], top: chosen.Top[k], offset: off})
			off += len(out.piece(id))
		}
	}
	out.whole([]choice{c}, usage{PromptTokens: len(req.Prompt), CompletionTokens: completion, TotalTokens: len(req.Prompt) + completion})
}

// beamCompletion turns a beam hypothesis into a completion: the final EOG
// token, if it ended the beam, is not part of the text.
func beamCompletion(e *engine.Engine, prompt []int32, h strategy.Hypothesis) engine.Completion {
	c := engine.Completion{Tokens: h.Tokens, Logprobs: h.Logprobs, Finish: h.Finish}
	toks := h.Tokens
	if n := len(toks); n > 0 && e.Tokenizer().IsEOG(toks[n-1]) {
		toks = toks[:n-1]
	}
	st := e.Tokenizer().NewStreamAfter(prompt)
	var text []byte
	for _, id := range toks {
		text = append(text, st.Add(id)...)
	}
	c.Text = string(append(text, st.Flush()...))
	c.Top = make([][]sample.TokenLogprob, len(c.Tokens))
	return c
}
