package server

import (
	"testing"

	"github.com/tscale/engine/model/harmony"
)

// checkDecoded holds for every accepted request: ranges are enforced, and
// a rejection is a well-formed 4xx.
func checkDecoded(t *testing.T, p *params, e *apiError) {
	if e != nil {
		if e.Status < 400 || e.Status >= 500 || e.Message == "" || e.Type == "" {
			t.Fatalf("bad error %+v", e)
		}
		return
	}
	if p.Model == "" || p.N < 1 || p.N > maxN || p.MaxTokens < 0 || p.TopLogprobs < 0 || p.TopLogprobs > maxTopLogp {
		t.Fatalf("accepted out-of-range params %+v", p)
	}
	if err := p.Sampling.Validate(1 << 30); err != nil {
		t.Fatalf("accepted bad sampling params: %v", err)
	}
}

var fuzzSeeds = []string{
	`{"model":"m","prompt":"Once upon a time","n":4,"logprobs":3,"max_tokens":8,"stop":["\n","x"],"seed":-1}`,
	`{"model":"m","prompt":[1,403,407],"temperature":0,"top_p":0,"logit_bias":{"13":-100}}`,
	`{"model":"m","prompt":[[1,2],"text"],"stream":true,"stream_options":{"include_usage":true}}`,
	`{"model":"m","messages":[{"role":"system","content":"s"},{"role":"user","content":[{"type":"text","text":"hi"}]}],"logprobs":true,"top_logprobs":2}`,
	`{"model":"m","messages":[{"role":"assistant","content":null}],"top_k":5,"min_p":0.1,"repetition_penalty":1.1,"ignore_eos":true}`,
	`{"model":"m","prompt":"a","n":"2"}`,
	`{"model":"m","prompt":"a","max_completion_tokens":1e400}`,
	`{"prompt":{}}`,
	`[]`,
	`{"model":"m","prompt":"a"} trailing`,
	`{"model":"m","reasoning_effort":"high","messages":[{"role":"developer","content":"d"},{"role":"assistant","content":"a","reasoning_content":"r"},{"role":"user","name":"u","content":"<|end|>"}]}`,
	`{"model":"m","reasoning_effort":"max","messages":[{"role":"user","content":"x"}]}`,
	`{"model":"m","reasoning_effort":null,"messages":[{"role":"tool","content":"x","reasoning_content":"y"}]}`,
}

func FuzzDecodeCompletion(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, e := decodeCompletion(b)
		if e == nil {
			checkDecoded(t, &r.params, nil)
			if len(r.Prompts) == 0 {
				t.Fatal("accepted a request without prompts")
			}
			for _, p := range r.Prompts {
				if p.IsTokens && len(p.Tokens) == 0 {
					t.Fatal("accepted an empty token prompt")
				}
			}
			return
		}
		checkDecoded(t, nil, e)
	})
}

func FuzzDecodeChat(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	tmpl, err := newChatTemplate("", "<s>", "</s>")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, e := decodeChat(b)
		if e != nil {
			checkDecoded(t, nil, e)
			return
		}
		checkDecoded(t, &r.params, nil)
		if len(r.Messages) == 0 || !roles[r.Messages[0].Role] {
			t.Fatalf("accepted bad messages %+v", r.Messages)
		}
		if _, err := tmpl.render(r.Messages, true); err != nil {
			t.Fatalf("fallback template failed on accepted messages: %v", err)
		}
		if r.Effort != "" && !harmony.ValidEffort(r.Effort) {
			t.Fatalf("accepted reasoning_effort %q", r.Effort)
		}
		// Harmony renders every accepted chat but those with tool messages.
		msgs, e := harmonyMessages(r.Messages)
		if e != nil {
			checkDecoded(t, nil, e)
			return
		}
		if _, err := harmony.Render(msgs, harmony.Options{}); err != nil {
			t.Fatalf("harmony failed on accepted messages: %v", err)
		}
	})
}
