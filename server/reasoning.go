package server

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/tscale/engine/engine"
	"github.com/tscale/engine/engine/strategy"
)

// reasoning is the request's test-time scaling extension:
//
//	"reasoning": {"strategy": "vote", "extract": "last_number", "weighted": false}
//	"reasoning": {"strategy": "best_of_n"}
//
// The request's n samples are drawn as usual; the response holds one
// choice, the winner: for "vote" the first sample whose extracted answer
// (strategy.ParseExtractor: last_number, boxed or regex:EXPR) won the
// self-consistency vote, for "best_of_n" the sample with the highest mean
// token logprob. Usage counts every sample's tokens, and a "reasoning"
// object in the response reports the votes or scores. Not with stream.
type reasoning struct {
	Strategy string
	Extract  strategy.Extractor
	Weighted bool
}

type rawReasoning struct {
	Strategy *string `json:"strategy"`
	Extract  *string `json:"extract"`
	Weighted *bool   `json:"weighted"`
}

func decodeReasoning(raw json.RawMessage, p *params) *apiError {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var r rawReasoning
	if err := json.Unmarshal(raw, &r); err != nil {
		return badParam("reasoning", "'reasoning' must be an object {strategy, extract, weighted}: %v", err)
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
	case "best_of_n":
		if r.Extract != nil || r.Weighted != nil {
			return badParam("reasoning", "'extract' and 'weighted' apply to the vote strategy only")
		}
	default:
		return badParam("reasoning.strategy", "unknown strategy %q: expected vote or best_of_n", out.Strategy)
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
	Scores       []float64  `json:"scores,omitempty"` // by sample index
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
		res, err = strategy.Vote(ctx, l.e, req, strategy.VoteOptions{Extract: p.Reasoning.Extract, Weighted: p.Reasoning.Weighted})
		if err == nil {
			info.Answer, info.StoppedEarly = &res.Answer, res.StoppedEarly
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
	}
	in := reqInfo(r.Context())
	in.attrs = append(in.attrs, "n", p.N, "reasoning", p.Reasoning.Strategy, "prompt_tokens", len(req.Prompt))
	if err != nil {
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
	if p.Logprobs {
		off := len(j.texts[0])
		for k, id := range chosen.Tokens {
			c.lps = append(c.lps, tokenLP{id: id, lp: chosen.Logprobs[k], top: chosen.Top[k], offset: off})
			off += len(out.piece(id))
		}
	}
	out.whole([]choice{c}, usage{PromptTokens: len(req.Prompt), CompletionTokens: completion, TotalTokens: len(req.Prompt) + completion})
}
