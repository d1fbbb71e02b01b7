package server

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tscale/engine/engine"
	"github.com/tscale/engine/model/tokenizer"
)

func jsonDecode(res *http.Response, v any) error {
	defer res.Body.Close()
	return json.NewDecoder(res.Body).Decode(v)
}

// errOf returns the error object of a response body.
func errOf(t *testing.T, m map[string]any) map[string]any {
	t.Helper()
	e, ok := m["error"].(map[string]any)
	require.True(t, ok, "no error in %v", m)
	return e
}

// TestMaxTokensOverflow: len(prompt)+max_tokens used to wrap for
// max_tokens near 2^63 and pass the context check, generating to the end
// of the context.
func TestMaxTokensOverflow(t *testing.T) {
	ts, _, e := newTestServer(t, Config{})
	huge := strconv.Itoa(math.MaxInt)
	for _, c := range []struct{ path, body string }{
		{"/v1/completions", `{"model":"stories260K","prompt":"Once upon a time","max_tokens":` + huge + `}`},
		{"/v1/completions", `{"model":"stories260K","prompt":"Once upon a time","max_tokens":` + strconv.Itoa(math.MaxInt-3) + `}`},
		{"/v1/chat/completions", `{"model":"stories260K","messages":[{"role":"user","content":"hi"}],"max_completion_tokens":` + huge + `}`},
	} {
		code, m, _ := post(t, ts.URL+c.path, c.body)
		require.Equal(t, 400, code, "%s: %v", c.body, m)
		er := errOf(t, m)
		require.Equal(t, "context_length_exceeded", er["code"])
		require.Contains(t, er["message"], "tokens were requested", "the server's check, not the engine's")
		require.Contains(t, er["message"], huge[:6], "the message quotes the requested count")
	}
	// The engine's own check must not wrap either.
	_, err := e.Stream(context.Background(), engine.Request{Prompt: onceIDs, MaxTokens: math.MaxInt})
	require.ErrorIs(t, err, engine.ErrTooLong)
}

// TestNumericLimits: every numeric field rejects what it cannot hold (huge
// integers, floats where integers go, exponents past float64, out-of-range
// values) with a 400 naming it, before any generation.
func TestNumericLimits(t *testing.T) {
	ts, _, _ := newTestServer(t, Config{}, engine.WithContext(64))
	comp := func(kv string) string { return `{"model":"stories260K","prompt":"a","max_tokens":2,` + kv + `}` }
	chat := func(kv string) string {
		return `{"model":"stories260K","messages":[{"role":"user","content":"a"}],"max_tokens":2,` + kv + `}`
	}
	cases := []struct {
		name, path, body, param string
	}{
		{"n 2^63", "/v1/completions", comp(`"n":9223372036854775808`), "n"},
		{"n min int", "/v1/completions", comp(`"n":-9223372036854775808`), "n"},
		{"n float", "/v1/completions", comp(`"n":2.5`), "n"},
		{"n exponent", "/v1/completions", comp(`"n":1e400`), "n"},
		{"max_tokens 1e19", "/v1/completions", comp(`"max_tokens":10000000000000000000`), "max_tokens"},
		{"max_tokens negative", "/v1/completions", comp(`"max_tokens":-1`), "max_tokens"},
		{"max_tokens float", "/v1/completions", comp(`"max_tokens":4.5`), "max_tokens"},
		{"max_completion_tokens min int", "/v1/chat/completions", chat(`"max_completion_tokens":-9223372036854775808`), "max_completion_tokens"},
		{"best_of huge", "/v1/completions", comp(`"best_of":9223372036854775807`), "best_of"},
		{"logprobs huge", "/v1/completions", comp(`"logprobs":9223372036854775807`), "logprobs"},
		{"logprobs negative", "/v1/completions", comp(`"logprobs":-1`), "logprobs"},
		{"top_logprobs huge", "/v1/chat/completions", chat(`"logprobs":true,"top_logprobs":9223372036854775807`), "top_logprobs"},
		{"seed 2^64", "/v1/completions", comp(`"seed":18446744073709551616`), "seed"},
		{"seed float", "/v1/completions", comp(`"seed":1.5`), "seed"},
		{"temperature exponent", "/v1/completions", comp(`"temperature":1e400`), "temperature"},
		{"temperature negative", "/v1/completions", comp(`"temperature":-1e-300`), "temperature"},
		{"top_p exponent", "/v1/completions", comp(`"top_p":-1e999`), "top_p"},
		{"top_k 2^63", "/v1/completions", comp(`"top_k":9223372036854775808`), "top_k"},
		{"top_k negative", "/v1/completions", comp(`"top_k":-1`), "top_k"},
		{"min_p above 1", "/v1/completions", comp(`"min_p":1.0000001`), "min_p"},
		{"presence_penalty huge", "/v1/completions", comp(`"presence_penalty":1e308`), "presence_penalty"},
		{"frequency_penalty exponent", "/v1/chat/completions", chat(`"frequency_penalty":-1e400`), "frequency_penalty"},
		{"repetition_penalty huge", "/v1/completions", comp(`"repetition_penalty":1e300`), "repetition_penalty"},
		{"repetition_penalty underflow", "/v1/completions", comp(`"repetition_penalty":1e-300`), "repetition_penalty"},
		{"logit_bias key 2^32", "/v1/completions", comp(`"logit_bias":{"4294967296":1}`), "logit_bias"},
		{"logit_bias key 2^63", "/v1/completions", comp(`"logit_bias":{"9223372036854775808":1}`), "logit_bias"},
		{"logit_bias key negative", "/v1/completions", comp(`"logit_bias":{"-1":1}`), "logit_bias"},
		{"logit_bias key float", "/v1/completions", comp(`"logit_bias":{"1e3":1}`), "logit_bias"},
		{"logit_bias value exponent", "/v1/completions", comp(`"logit_bias":{"5":1e400}`), "logit_bias"},
		{"logit_bias value range", "/v1/completions", comp(`"logit_bias":{"5":100.5}`), "logit_bias"},
		{"reasoning k huge", "/v1/completions", comp(`"reasoning":{"strategy":"tree","k":9223372036854775807}`), "reasoning.k"},
		{"reasoning b 2^63", "/v1/completions", comp(`"reasoning":{"strategy":"tree","b":9223372036854775808}`), "reasoning.b"},
		{"reasoning depth float", "/v1/completions", comp(`"reasoning":{"strategy":"tree","depth":1.5}`), "reasoning.depth"},
		{"reasoning step_tokens negative", "/v1/completions", comp(`"reasoning":{"strategy":"tree","step_tokens":-1}`), "reasoning.step_tokens"},
		{"reasoning length_penalty exponent", "/v1/completions", comp(`"reasoning":{"strategy":"beam","length_penalty":1e400}`), "reasoning.length_penalty"},
		{"reasoning length_penalty range", "/v1/completions", comp(`"reasoning":{"strategy":"beam","length_penalty":10.5}`), "reasoning.length_penalty"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, m, _ := post(t, ts.URL+c.path, c.body)
			require.Equal(t, 400, code, "%v", m)
			require.Equal(t, c.param, errOf(t, m)["param"], "%v", m)
		})
	}
	// Values at the edges are accepted.
	for _, kv := range []string{`"temperature":2`, `"top_p":1e-400`, `"logit_bias":{"5":-100}`, `"top_k":9223372036854775807`, `"seed":-9223372036854775808`} {
		code, m, _ := post(t, ts.URL+"/v1/completions", comp(kv))
		require.Equal(t, 200, code, "%s: %v", kv, m)
	}
}

// TestUnknownFields: unknown and unimplemented request fields get a 400
// naming them, as OpenAI answers, instead of being ignored.
func TestUnknownFields(t *testing.T) {
	ts, _, _ := newTestServer(t, Config{}, engine.WithContext(64))
	comp := func(kv string) string { return `{"model":"stories260K","prompt":"a","max_tokens":2,` + kv + `}` }
	chat := func(kv string) string {
		return `{"model":"stories260K","messages":[{"role":"user","content":"a"}],"max_tokens":2,` + kv + `}`
	}
	msg := func(kv string) string {
		return `{"model":"stories260K","messages":[{"role":"user","content":"a",` + kv + `}],"max_tokens":2}`
	}
	bad := []struct {
		name, path, body, param, code string
	}{
		{"unknown completions field", "/v1/completions", comp(`"temprature":0`), "temprature", "unknown_parameter"},
		{"unknown chat field", "/v1/chat/completions", chat(`"foo":null`), "foo", "unknown_parameter"},
		{"chat-only field on completions", "/v1/completions", comp(`"messages":[]`), "messages", "unknown_parameter"},
		{"top_logprobs on completions", "/v1/completions", comp(`"top_logprobs":2`), "top_logprobs", "unknown_parameter"},
		{"prompt on chat", "/v1/chat/completions", chat(`"prompt":"a"`), "prompt", "unknown_parameter"},
		{"response_format text with extra", "/v1/chat/completions", chat(`"response_format":{"type":"text","strict":true}`), "response_format.strict", "unknown_parameter"},
		{"functions", "/v1/chat/completions", chat(`"functions":[{"name":"f"}]`), "functions", "unsupported_parameter"},
		{"function_call", "/v1/chat/completions", chat(`"function_call":"auto"`), "function_call", "unsupported_parameter"},
		{"audio", "/v1/chat/completions", chat(`"audio":{"voice":"x"}`), "audio", "unsupported_parameter"},
		{"modalities", "/v1/chat/completions", chat(`"modalities":["text","audio"]`), "modalities", "unsupported_parameter"},
		{"prediction", "/v1/chat/completions", chat(`"prediction":{"type":"content","content":"x"}`), "prediction", "unsupported_parameter"},
		{"unknown message field", "/v1/chat/completions", msg(`"weight":1`), "messages[0].weight", "unknown_parameter"},
		{"tool_calls on a user message", "/v1/chat/completions", msg(`"tool_calls":[{"id":"x"}]`), "messages[0].tool_calls", "invalid_value"}, // tools.go
		{"unknown stream_options field", "/v1/completions", comp(`"stream":true,"stream_options":{"include_usage":true,"foo":1}`), "stream_options.foo", "unknown_parameter"},
		{"unknown reasoning field", "/v1/completions", comp(`"reasoning":{"strategy":"vote","extrct":"boxed"}`), "reasoning.extrct", "unknown_parameter"},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			code, m, _ := post(t, ts.URL+c.path, c.body)
			require.Equal(t, 400, code, "%v", m)
			er := errOf(t, m)
			require.Equal(t, c.param, er["param"], "%v", m)
			require.Equal(t, c.code, er["code"], "%v", m)
			require.Contains(t, er["message"], c.param[strings.LastIndex(c.param, ".")+1:])
		})
	}
	t.Run("OpenAI's message", func(t *testing.T) {
		_, m, _ := post(t, ts.URL+"/v1/completions", comp(`"foo":1`))
		require.Equal(t, "Unrecognized request argument supplied: foo", errOf(t, m)["message"])
	})
	// What equals the default, and fields that only describe the caller.
	for _, c := range []struct{ path, body string }{
		{"/v1/chat/completions", chat(`"response_format":{"type":"text"}`)},
		{"/v1/completions", comp(`"response_format":{"type":"json_object"}`)}, // structured.go
		{"/v1/chat/completions", chat(`"tools":[],"tool_choice":"none","functions":null,"parallel_tool_calls":null`)},
		{"/v1/chat/completions", chat(`"user":"u1","store":false,"metadata":null,"service_tier":"auto"`)},
		{"/v1/chat/completions", msg(`"tool_calls":null,"refusal":null,"function_call":null,"audio":null,"annotations":[]`)},
		{"/v1/completions", comp(`"user":"u1","best_of":1,"echo":false,"suffix":null`)},
	} {
		code, m, _ := post(t, ts.URL+c.path, c.body)
		require.Equal(t, 200, code, "%s: %v", c.body, m)
	}
}

// TestTooManySamplesForQueue: a request with more samples than --max-queue
// can never be queued; on an idle server it used to get 429 and
// Retry-After, it now gets a final 400.
func TestTooManySamplesForQueue(t *testing.T) {
	ts, _, _ := newTestServer(t, Config{MaxQueue: 8}, engine.WithMaxQueue(8), engine.WithContext(64))
	for _, body := range []string{
		`{"model":"stories260K","prompt":"a","n":9,"max_tokens":2}`,
		`{"model":"stories260K","prompt":["a","b"],"n":5,"max_tokens":2}`,
		`{"model":"stories260K","messages":[{"role":"user","content":"a"}],"n":9,"max_tokens":2}`,
		`{"model":"stories260K","prompt":"a","n":9,"max_tokens":2,"reasoning":{"strategy":"vote"}}`,
	} {
		path := "/v1/completions"
		if strings.Contains(body, "messages") {
			path = "/v1/chat/completions"
		}
		code, m, h := post(t, ts.URL+path, body)
		require.Equal(t, 400, code, "%s: %v", body, m)
		require.Empty(t, h.Get("Retry-After"))
		er := errOf(t, m)
		require.Equal(t, "n", er["param"])
		require.Contains(t, er["message"], "--max-queue")
	}
	// Without Config.MaxQueue the engine decides, as finally.
	ts, _, _ = newTestServer(t, Config{}, engine.WithMaxQueue(8), engine.WithContext(64))
	code, m, h := post(t, ts.URL+"/v1/completions", `{"model":"stories260K","prompt":"a","n":9,"max_tokens":2}`)
	require.Equal(t, 400, code, "%v", m)
	require.Empty(t, h.Get("Retry-After"))
	require.Equal(t, "too_many_samples", errOf(t, m)["code"])
}

// TestNeverFits: samples that cannot fit the KV pool even alone get 422
// with the blocks needed and the pool's size up front, streaming or not,
// instead of starting, streaming and failing late.
func TestNeverFits(t *testing.T) {
	ts, _, e := newTestServer(t, Config{}, engine.WithContext(512), engine.WithKVBlocks(40))
	for _, stream := range []bool{false, true} {
		body := mustJSON(map[string]any{"model": "stories260K", "prompt": "Once upon a time", "n": 16,
			"max_tokens": 400, "ignore_eos": true, "stream": stream})
		res, err := http.Post(ts.URL+"/v1/completions", "application/json", strings.NewReader(body))
		require.NoError(t, err)
		m := map[string]any{}
		require.NoError(t, jsonDecode(res, &m))
		require.Equal(t, 422, res.StatusCode, "stream %v: %v", stream, m)
		require.Equal(t, "application/json", res.Header.Get("Content-Type"))
		require.Empty(t, res.Header.Get("Retry-After"))
		er := errOf(t, m)
		require.Equal(t, "kv_cache_too_small", er["code"])
		require.Contains(t, er["message"], "40", "the pool's size")
		require.Regexp(t, `\d+ KV blocks.*the pool has 40`, er["message"])
	}
	require.Zero(t, e.Stats().KV.Used, "nothing was started")
}

// TestDefaultMaxTokensFits: a chat without max_tokens and many samples gets
// as many tokens as all of them can hold in the KV pool together (not the
// whole context each, which could never fit): it completes.
func TestDefaultMaxTokensFits(t *testing.T) {
	ts, _, e := newTestServer(t, Config{}, engine.WithContext(512), engine.WithKVBlocks(40))
	body := `{"model":"stories260K","messages":[{"role":"user","content":"Once upon a time"}],"n":16,"ignore_eos":true}`
	code, m, _ := post(t, ts.URL+"/v1/chat/completions", body)
	require.Equal(t, 200, code, "%v", m)
	choices := m["choices"].([]any)
	require.Len(t, choices, 16)
	for _, c := range choices {
		require.Equal(t, "length", c.(map[string]any)["finish_reason"])
	}
	u := m["usage"].(map[string]any)
	prompt := int(u["prompt_tokens"].(float64)) // counted once for n samples, as OpenAI does
	require.Equal(t, 16*e.MaxTokensFor(prompt, 16), int(u["completion_tokens"].(float64)))
	require.Less(t, e.MaxTokensFor(prompt, 16), 512-prompt, "clamped below the context's room")
	require.Zero(t, e.Stats().KV.Used)
}

// TestRetryAfter: a full queue is temporary, 429 with Retry-After, for
// reasoning requests as for plain ones.
func TestRetryAfter(t *testing.T) {
	ts, _, e := newTestServer(t, Config{}, engine.WithContext(64), engine.WithKVBlocks(8), engine.WithMaxQueue(4))
	// A sequence of 60 tokens holds 4 of the 8 blocks, so a request of 4
	// samples of up to 20 tokens (5 blocks to start, 8 at most) waits,
	// filling the queue.
	long := e.Tokenizer().Encode(strings.Repeat("Once upon a time ", 20), tokenizer.AddSpecial, tokenizer.ParseSpecial)[:60]
	seq, err := e.NewSeq(context.Background(), long)
	require.NoError(t, err)
	defer seq.Close() // lets the waiting request run if the test fails
	var wg sync.WaitGroup
	var waited int
	wg.Go(func() {
		res, err := http.Post(ts.URL+"/v1/completions", "application/json",
			strings.NewReader(`{"model":"stories260K","prompt":"Once upon a time","n":4,"max_tokens":20}`))
		if err == nil {
			waited = res.StatusCode
			res.Body.Close()
		}
	})
	waitFor(t, 10*time.Second, "the request to wait", func() bool { return e.Stats().Waiting == 1 })
	for _, body := range []string{
		`{"model":"stories260K","prompt":"a","max_tokens":2}`,
		`{"model":"stories260K","prompt":"a","n":2,"max_tokens":2,"reasoning":{"strategy":"vote"}}`,
		`{"model":"stories260K","prompt":"a","n":2,"max_tokens":2,"reasoning":{"strategy":"best_of_n"}}`,
	} {
		code, m, h := post(t, ts.URL+"/v1/completions", body)
		require.Equal(t, 429, code, "%s: %v", body, m)
		require.Equal(t, "1", h.Get("Retry-After"), body)
		require.Equal(t, "queue_full", errOf(t, m)["code"])
	}
	seq.Close()
	wg.Wait()
	require.Equal(t, 200, waited, "the waiting request ran once the blocks were free")
}

// TestMaxSamples: prompts × n (and a strategy's samples) above
// Config.MaxSamples get a 400 naming the limit and the flag.
func TestMaxSamples(t *testing.T) {
	ts, _, _ := newTestServer(t, Config{MaxSamples: 8}, engine.WithContext(64))
	for _, body := range []string{
		`{"model":"stories260K","prompt":["a","b","c"],"n":3,"max_tokens":1}`,
		`{"model":"stories260K","prompt":"a","n":9,"max_tokens":1}`,
		`{"model":"stories260K","prompt":"a","n":9,"max_tokens":1,"reasoning":{"strategy":"best_of_n"}}`,
		`{"model":"stories260K","prompt":"a","max_tokens":1,"reasoning":{"strategy":"tree","k":3,"b":3}}`,
	} {
		code, m, h := post(t, ts.URL+"/v1/completions", body)
		require.Equal(t, 400, code, "%s: %v", body, m)
		require.Empty(t, h.Get("Retry-After"))
		er := errOf(t, m)
		require.Contains(t, er["message"], "--max-samples")
		require.Contains(t, er["message"], " 8")
		require.Contains(t, er["message"], "9 samples")
	}
	code, m, _ := post(t, ts.URL+"/v1/completions", `{"model":"stories260K","prompt":["a","b"],"n":4,"max_tokens":1}`)
	require.Equal(t, 200, code, "%v", m)
	require.Len(t, choices(t, m), 8)

	// The default: 64 prompts × n=5 is above 256.
	ts, _, _ = newTestServer(t, Config{}, engine.WithContext(64))
	prompts := make([]string, 64)
	for i := range prompts {
		prompts[i] = "a"
	}
	code, m, _ = post(t, ts.URL+"/v1/completions", mustJSON(map[string]any{"model": "stories260K", "prompt": prompts, "n": 5, "max_tokens": 1}))
	require.Equal(t, 400, code, "%v", m)
	require.Contains(t, errOf(t, m)["message"], "320 samples")
}

// TestFinalStatuses: only a full queue is temporary (429, Retry-After);
// requests that can never run get 400 or 422 without it.
func TestFinalStatuses(t *testing.T) {
	for _, c := range []struct {
		err    error
		status int
		retry  string
	}{
		{fmt.Errorf("%w: 8 samples waiting", engine.ErrQueueFull), 429, "1"},
		{fmt.Errorf("%w: 9 samples, the queue holds at most 8", engine.ErrTooManySamples), 400, ""},
		{fmt.Errorf("%w: need 416 KV blocks, the pool has 40", engine.ErrNoSpace), 422, ""},
	} {
		rec := httptest.NewRecorder()
		writeError(rec, engineError(c.err))
		require.Equal(t, c.status, rec.Code, "%v", c.err)
		require.Equal(t, c.retry, rec.Header().Get("Retry-After"), "%v", c.err)
		require.Contains(t, rec.Body.String(), strings.SplitN(c.err.Error(), ": ", 2)[1])
	}
}
