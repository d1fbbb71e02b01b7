package server

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tscale/engine/engine"
	"github.com/tscale/engine/engine/chat"
	"github.com/tscale/engine/model/tokenizer"
)

func TestChatTemplatesMatchJinja2(t *testing.T) {
	var cases []struct {
		Name     string           `json:"name"`
		Gen      bool             `json:"add_generation_prompt"`
		Messages []map[string]any `json:"messages"`
	}
	b, err := os.ReadFile("testdata/chat/cases.json")
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &cases))
	templates := map[string]string{"fallback": ""}
	files, _ := filepath.Glob("../../shared/testdata/chat-templates/*.jinja")
	if len(files) == 0 {
		t.Log("../shared/testdata/chat-templates absent: testing the fallback only")
	}
	for _, f := range files {
		src, err := os.ReadFile(f)
		require.NoError(t, err)
		templates[strings.TrimSuffix(filepath.Base(f), ".jinja")] = string(src)
	}
	for name, src := range templates {
		tmpl, err := chat.NewTemplate(src, "<s>", "</s>")
		require.NoError(t, err, name)
		require.Equal(t, src == "", tmpl.Fallback)
		for _, c := range cases {
			t.Run(name+"/"+c.Name, func(t *testing.T) {
				var msgs []message
				for _, m := range c.Messages {
					msgs = append(msgs, message{Role: m["role"].(string), Content: m["content"].(string)})
				}
				want, err := os.ReadFile(filepath.Join("testdata/chat/expected", name+"."+c.Name+".txt"))
				require.NoError(t, err, "run server/testdata/chat/gen_expected.py")
				got, err := renderText(tmpl, msgs, c.Gen)
				require.NoError(t, err)
				require.Equal(t, string(want), got)
			})
		}
	}
}

func TestStripBOS(t *testing.T) {
	require.Equal(t, "x<s>", chat.StripBOS("<s>x<s>", "<s>", true))
	require.Equal(t, "<s>x", chat.StripBOS("<s>x", "<s>", false))
	require.Equal(t, "x", chat.StripBOS("x", "", true))
}

func TestHealthWhileLoadingAndDraining(t *testing.T) {
	s := New(Config{Logger: quietLogger()})
	ts := httptest.NewServer(s)
	defer ts.Close()
	get := func(path string) int {
		res, err := http.Get(ts.URL + path)
		require.NoError(t, err)
		res.Body.Close()
		return res.StatusCode
	}
	require.Equal(t, 503, get("/health"))
	require.Equal(t, 503, get("/v1/models"))
	code, m, _ := post(t, ts.URL+"/v1/completions", `{"model":"x","prompt":"a"}`)
	require.Equal(t, 503, code)
	require.Equal(t, "service_unavailable", m["error"].(map[string]any)["code"])

	e := openEngine(t)
	require.NoError(t, s.SetEngine(e))
	require.Equal(t, 200, get("/health"))
	require.Equal(t, 200, get("/v1/models"))
	s.Drain()
	require.Equal(t, 503, get("/health"))
	code, _, _ = post(t, ts.URL+"/v1/completions", `{"model":"stories260K","prompt":"a"}`)
	require.Equal(t, 503, code)
}

func TestModels(t *testing.T) {
	ts, _, _ := newTestServer(t, Config{})
	res, err := http.Get(ts.URL + "/v1/models")
	require.NoError(t, err)
	var list struct {
		Object string
		Data   []modelObject
	}
	require.NoError(t, json.NewDecoder(res.Body).Decode(&list))
	res.Body.Close()
	require.Equal(t, "list", list.Object)
	require.Len(t, list.Data, 1)
	require.Equal(t, "stories260K", list.Data[0].ID)
	require.Equal(t, "model", list.Data[0].Object)

	res, err = http.Get(ts.URL + "/v1/models/stories260K")
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, 200, res.StatusCode)
	res, err = http.Get(ts.URL + "/v1/models/gpt-4")
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, 404, res.StatusCode)
}

func TestCompletionGreedyMatchesLlamaCpp(t *testing.T) {
	ts, _, e := newTestServer(t, Config{})
	for _, prompt := range []any{"Once upon a time", onceIDs, []any{onceIDs}} {
		code, m, h := post(t, ts.URL+"/v1/completions", mustJSON(map[string]any{
			"model": "stories260K", "prompt": prompt, "temperature": 0, "max_tokens": 20}), "X-Request-Id", "abc-123")
		require.Equal(t, 200, code, "%v", m)
		require.Equal(t, "abc-123", h.Get("X-Request-Id"))
		require.Equal(t, "text_completion", m["object"])
		require.True(t, strings.HasPrefix(m["id"].(string), "cmpl-"))
		require.Equal(t, "stories260K", m["model"])
		require.NotZero(t, m["created"])
		cs := choices(t, m)
		require.Len(t, cs, 1)
		text := cs[0]["text"].(string)
		require.True(t, strings.HasPrefix(onceGreedy, text), "got %q", text)
		require.Equal(t, "length", cs[0]["finish_reason"])
		require.Nil(t, cs[0]["logprobs"])
		u := m["usage"].(map[string]any)
		require.EqualValues(t, 5, u["prompt_tokens"])
		require.EqualValues(t, 20, u["completion_tokens"])
		require.EqualValues(t, 25, u["total_tokens"])
	}
	// OpenAI's default max_tokens for completions is 16.
	code, m, _ := post(t, ts.URL+"/v1/completions", `{"model":"stories260K","prompt":"Once upon a time","temperature":0}`)
	require.Equal(t, 200, code)
	require.EqualValues(t, 16, m["usage"].(map[string]any)["completion_tokens"])
	require.Zero(t, e.Stats().KV.Used)
}

func TestCompletionMultiplePrompts(t *testing.T) {
	ts, _, _ := newTestServer(t, Config{})
	code, m, _ := post(t, ts.URL+"/v1/completions", mustJSON(map[string]any{
		"model": "stories260K", "prompt": []any{"Once upon a time", "The cat"}, "n": 2, "temperature": 0, "max_tokens": 8}))
	require.Equal(t, 200, code, "%v", m)
	cs := choices(t, m)
	require.Len(t, cs, 4)
	for i, c := range cs {
		require.EqualValues(t, i, c["index"])
	}
	// Greedy: both samples of a prompt agree; prompt 0 is the reference.
	require.Equal(t, cs[0]["text"], cs[1]["text"])
	require.Equal(t, cs[2]["text"], cs[3]["text"])
	require.True(t, strings.HasPrefix(onceGreedy, cs[0]["text"].(string)))
	require.NotEqual(t, cs[0]["text"], cs[2]["text"])
}

func TestCompletionN4Logprobs(t *testing.T) {
	ts, _, _ := newTestServer(t, Config{})
	code, m, _ := post(t, ts.URL+"/v1/completions", mustJSON(map[string]any{
		"model": "stories260K", "prompt": "Once upon a time", "n": 4, "max_tokens": 24, "logprobs": 3,
		"temperature": 1, "seed": 7}))
	require.Equal(t, 200, code, "%v", m)
	cs := choices(t, m)
	require.Len(t, cs, 4)
	total := 0
	distinct := map[string]bool{}
	for i, c := range cs {
		require.EqualValues(t, i, c["index"])
		lp := c["logprobs"].(map[string]any)
		toks := lp["tokens"].([]any)
		lps := lp["token_logprobs"].([]any)
		tops := lp["top_logprobs"].([]any)
		offs := lp["text_offset"].([]any)
		require.NotEmpty(t, toks)
		require.Len(t, lps, len(toks))
		require.Len(t, tops, len(toks))
		require.Len(t, offs, len(toks))
		text := c["text"].(string)
		var joined strings.Builder
		for k := range toks {
			v := lps[k].(float64)
			require.LessOrEqual(t, v, 0.0)
			top := tops[k].(map[string]any)
			require.LessOrEqual(t, len(top), 3)
			require.NotEmpty(t, top)
			mass := 0.0
			for _, x := range top {
				mass += math.Exp(x.(float64))
			}
			require.LessOrEqual(t, mass, 1.0+1e-5)
			if x, ok := top[toks[k].(string)]; ok {
				require.InDelta(t, v, x.(float64), 1e-6)
			}
			require.EqualValues(t, len("Once upon a time")+joined.Len(), offs[k])
			joined.WriteString(toks[k].(string))
		}
		if c["finish_reason"] == "length" {
			require.Equal(t, text, joined.String())
		}
		total += len(toks)
		distinct[text] = true
	}
	require.EqualValues(t, total, m["usage"].(map[string]any)["completion_tokens"])
	require.Greater(t, len(distinct), 1, "4 samples at temperature 1 should differ")

	// The same seed gives the same samples.
	_, m2, _ := post(t, ts.URL+"/v1/completions", mustJSON(map[string]any{
		"model": "stories260K", "prompt": "Once upon a time", "n": 4, "max_tokens": 24, "logprobs": 3,
		"temperature": 1, "seed": 7}))
	for i, c := range choices(t, m2) {
		require.Equal(t, cs[i]["text"], c["text"])
	}
}

func TestStopStrings(t *testing.T) {
	ts, _, _ := newTestServer(t, Config{})
	for _, stop := range []any{"Lily", []string{"zzz", "Lily"}} {
		code, m, _ := post(t, ts.URL+"/v1/completions", mustJSON(map[string]any{
			"model": "stories260K", "prompt": "Once upon a time", "temperature": 0, "max_tokens": 40, "stop": stop}))
		require.Equal(t, 200, code)
		c := choices(t, m)[0]
		require.Equal(t, ", there was a little girl named ", c["text"])
		require.Equal(t, "stop", c["finish_reason"])
	}
}

func TestChatCompletion(t *testing.T) {
	ts, s, e := newTestServer(t, Config{})
	msgs := []map[string]any{
		{"role": "system", "content": "Stories only."},
		{"role": "user", "content": []map[string]any{{"type": "text", "text": "Once upon "}, {"type": "text", "text": "a time"}}},
	}
	code, m, _ := post(t, ts.URL+"/v1/chat/completions", mustJSON(map[string]any{
		"model": "stories260K", "messages": msgs, "temperature": 0, "max_completion_tokens": 12,
		"logprobs": true, "top_logprobs": 2, "n": 2}))
	require.Equal(t, 200, code, "%v", m)
	require.Equal(t, "chat.completion", m["object"])
	require.True(t, strings.HasPrefix(m["id"].(string), "chatcmpl-"))
	cs := choices(t, m)
	require.Len(t, cs, 2)
	// The fallback template's rendering decides the prompt length.
	want, err := renderText(s.model.Load().chat.Template, []message{{Role: "system", Content: "Stories only."}, {Role: "user", Content: "Once upon a time"}}, true)
	require.NoError(t, err)
	require.Equal(t, "System: Stories only.\nUser: Once upon a time\nAssistant:", want)
	u := m["usage"].(map[string]any)
	require.EqualValues(t, len(e.Tokenizer().Encode(want, tokenizer.AddSpecial, tokenizer.ParseSpecial)), u["prompt_tokens"])
	for i, c := range cs {
		require.EqualValues(t, i, c["index"])
		msg := c["message"].(map[string]any)
		require.Equal(t, "assistant", msg["role"])
		content := msg["content"].(string)
		require.NotEmpty(t, content)
		lp := c["logprobs"].(map[string]any)["content"].([]any)
		require.NotEmpty(t, lp)
		var joined strings.Builder
		for _, x := range lp {
			entry := x.(map[string]any)
			tokText := entry["token"].(string)
			joined.WriteString(tokText)
			require.Len(t, entry["bytes"], len(tokText))
			top := entry["top_logprobs"].([]any)
			require.Len(t, top, 2)
			// Greedy: the chosen token is the most likely one.
			require.Equal(t, tokText, top[0].(map[string]any)["token"])
			require.InDelta(t, entry["logprob"].(float64), top[0].(map[string]any)["logprob"].(float64), 1e-6)
		}
		if c["finish_reason"] == "length" {
			require.Equal(t, content, joined.String())
		}
	}
	require.Equal(t, cs[0]["message"], cs[1]["message"])
}

func TestStreamingCompletion(t *testing.T) {
	ts, _, _ := newTestServer(t, Config{})
	// The stream must carry exactly the text of the non-streamed request.
	req := map[string]any{"model": "stories260K", "prompt": "Once upon a time", "temperature": 0, "max_tokens": 30, "n": 3,
		"logprobs": 1, "stream": true, "stream_options": map[string]any{"include_usage": true}}
	_, st := streamPost(t, ts.URL+"/v1/completions", mustJSON(req))
	require.True(t, st.done)
	req["stream"] = false
	_, whole, _ := post(t, ts.URL+"/v1/completions", mustJSON(req))

	texts := make([]strings.Builder, 3)
	finishes := make([]int, 3)
	ntok := make([]int, 3)
	last := st.events[len(st.events)-1]
	require.Empty(t, last["choices"])
	require.Equal(t, mustJSON(whole["usage"]), mustJSON(last["usage"]))
	for _, ev := range st.events[:len(st.events)-1] {
		require.Equal(t, "text_completion", ev["object"])
		require.Equal(t, st.events[0]["id"], ev["id"])
		cs := choices(t, ev)
		require.Len(t, cs, 1)
		i := int(cs[0]["index"].(float64))
		require.Zero(t, finishes[i], "chunk after finish_reason for choice %d", i)
		texts[i].WriteString(cs[0]["text"].(string))
		if lp, ok := cs[0]["logprobs"].(map[string]any); ok {
			ntok[i] += len(lp["tokens"].([]any))
		}
		if cs[0]["finish_reason"] != nil {
			finishes[i]++
			require.Equal(t, "length", cs[0]["finish_reason"])
		}
	}
	for i, c := range choices(t, whole) {
		require.Equal(t, 1, finishes[i])
		require.Equal(t, c["text"], texts[i].String())
		require.Len(t, c["logprobs"].(map[string]any)["tokens"], ntok[i])
	}
}

func TestStreamingChat(t *testing.T) {
	ts, _, _ := newTestServer(t, Config{})
	req := map[string]any{"model": "stories260K", "messages": []map[string]any{{"role": "user", "content": "Once upon a time"}},
		"temperature": 0, "max_tokens": 20, "n": 2, "stream": true}
	_, st := streamPost(t, ts.URL+"/v1/chat/completions", mustJSON(req))
	require.True(t, st.done)
	req["stream"] = false
	_, whole, _ := post(t, ts.URL+"/v1/chat/completions", mustJSON(req))
	// The first event gives each choice its role.
	first := choices(t, st.events[0])
	require.Len(t, first, 2)
	for i, c := range first {
		require.EqualValues(t, i, c["index"])
		require.Equal(t, map[string]any{"role": "assistant", "content": ""}, c["delta"])
	}
	texts := make([]strings.Builder, 2)
	finishes := make([]any, 2)
	for _, ev := range st.events[1:] {
		require.Equal(t, "chat.completion.chunk", ev["object"])
		require.NotContains(t, ev, "usage")
		c := choices(t, ev)[0]
		i := int(c["index"].(float64))
		require.Nil(t, finishes[i])
		d := c["delta"].(map[string]any)
		if s, ok := d["content"]; ok {
			texts[i].WriteString(s.(string))
		}
		finishes[i] = c["finish_reason"]
	}
	for i, c := range choices(t, whole) {
		require.Equal(t, c["finish_reason"], finishes[i])
		require.Equal(t, c["message"].(map[string]any)["content"], texts[i].String())
	}
}

func TestErrors(t *testing.T) {
	ts, _, _ := newTestServer(t, Config{MaxBodyBytes: 4096}, engine.WithMaxQueue(8), engine.WithContext(64))
	long := strings.Repeat("Once upon a time ", 40)
	cases := []struct {
		name, path, body string
		status           int
		param, code      string
	}{
		{"empty body", "/v1/completions", ``, 400, "", "invalid_json"},
		{"not JSON", "/v1/completions", `{"model":`, 400, "", "invalid_json"},
		{"array body", "/v1/completions", `[1]`, 400, "", "invalid_json"},
		{"trailing data", "/v1/completions", `{"model":"stories260K","prompt":"a"} {}`, 400, "", "invalid_json"},
		{"wrong type n", "/v1/completions", `{"model":"stories260K","prompt":"a","n":"2"}`, 400, "n", "invalid_value"},
		{"wrong type temperature", "/v1/chat/completions", `{"model":"stories260K","messages":[{"role":"user","content":"a"}],"temperature":"hot"}`, 400, "temperature", "invalid_value"},
		{"n zero", "/v1/completions", `{"model":"stories260K","prompt":"a","n":0}`, 400, "n", "invalid_value"},
		{"n too big", "/v1/completions", `{"model":"stories260K","prompt":"a","n":129}`, 400, "n", "invalid_value"},
		{"temperature range", "/v1/completions", `{"model":"stories260K","prompt":"a","temperature":2.5}`, 400, "temperature", "invalid_value"},
		{"top_p range", "/v1/completions", `{"model":"stories260K","prompt":"a","top_p":1.5}`, 400, "top_p", "invalid_value"},
		{"penalty range", "/v1/completions", `{"model":"stories260K","prompt":"a","presence_penalty":3}`, 400, "presence_penalty", "invalid_value"},
		{"max_tokens zero", "/v1/completions", `{"model":"stories260K","prompt":"a","max_tokens":0}`, 400, "max_tokens", "invalid_value"},
		{"logprobs range", "/v1/completions", `{"model":"stories260K","prompt":"a","logprobs":21}`, 400, "logprobs", "invalid_value"},
		{"top_logprobs without logprobs", "/v1/chat/completions", `{"model":"stories260K","messages":[{"role":"user","content":"a"}],"top_logprobs":2}`, 400, "top_logprobs", "invalid_value"},
		{"logit_bias key", "/v1/completions", `{"model":"stories260K","prompt":"a","logit_bias":{"x":1}}`, 400, "logit_bias", "invalid_value"},
		{"logit_bias token", "/v1/completions", `{"model":"stories260K","prompt":"a","logit_bias":{"99999":1}}`, 400, "logit_bias", "invalid_value"},
		{"stop type", "/v1/completions", `{"model":"stories260K","prompt":"a","stop":5}`, 400, "stop", "invalid_value"},
		{"prompt type", "/v1/completions", `{"model":"stories260K","prompt":{"a":1}}`, 400, "prompt", "invalid_value"},
		{"prompt token range", "/v1/completions", `{"model":"stories260K","prompt":[1,99999]}`, 400, "prompt", "invalid_value"},
		{"missing model", "/v1/completions", `{"prompt":"a"}`, 400, "model", "missing_required_parameter"},
		{"missing prompt", "/v1/completions", `{"model":"stories260K"}`, 400, "prompt", "missing_required_parameter"},
		{"missing messages", "/v1/chat/completions", `{"model":"stories260K"}`, 400, "messages", "missing_required_parameter"},
		{"missing role", "/v1/chat/completions", `{"model":"stories260K","messages":[{"content":"a"}]}`, 400, "messages[0].role", "missing_required_parameter"},
		{"bad role", "/v1/chat/completions", `{"model":"stories260K","messages":[{"role":"robot","content":"a"}]}`, 400, "messages[0].role", "invalid_value"},
		{"image part", "/v1/chat/completions", `{"model":"stories260K","messages":[{"role":"user","content":[{"type":"image_url"}]}]}`, 400, "messages[0].content[0]", "invalid_value"},
		{"unknown model", "/v1/completions", `{"model":"gpt-4","prompt":"a"}`, 404, "model", "model_not_found"},
		{"prompt too long", "/v1/completions", mustJSON(map[string]any{"model": "stories260K", "prompt": long}), 400, "prompt", "context_length_exceeded"},
		{"prompt + max_tokens too long", "/v1/completions", `{"model":"stories260K","prompt":"Once upon a time","max_tokens":60}`, 400, "prompt", "context_length_exceeded"},
		{"chat too long", "/v1/chat/completions", mustJSON(map[string]any{"model": "stories260K", "messages": []map[string]any{{"role": "user", "content": long}}}), 400, "messages", "context_length_exceeded"},
		{"n above the queue", "/v1/completions", `{"model":"stories260K","prompt":"a","n":9}`, 400, "n", "too_many_samples"},
		{"body too large", "/v1/completions", mustJSON(map[string]any{"model": "stories260K", "prompt": strings.Repeat("a", 5000)}), 413, "", "request_too_large"},
		{"unknown URL", "/v1/embeddings", `{}`, 404, "", "unknown_url"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, m, h := post(t, ts.URL+c.path, c.body)
			require.Equal(t, c.status, code, "%v", m)
			e := m["error"].(map[string]any)
			require.NotEmpty(t, e["message"])
			require.NotEmpty(t, e["type"])
			require.Equal(t, c.code, e["code"])
			if c.param == "" {
				require.Nil(t, e["param"])
			} else {
				require.Equal(t, c.param, e["param"])
			}
			if code == 429 {
				require.Equal(t, "1", h.Get("Retry-After"))
			}
		})
	}
	t.Run("method not allowed", func(t *testing.T) {
		res, err := http.Get(ts.URL + "/v1/completions")
		require.NoError(t, err)
		defer res.Body.Close()
		require.Equal(t, 405, res.StatusCode)
		require.Equal(t, "POST", res.Header.Get("Allow"))
	})
}

func TestKVCacheTooSmall(t *testing.T) {
	// 8 blocks of 16 tokens: 64 samples cannot start together.
	ts, _, _ := newTestServer(t, Config{}, engine.WithContext(64), engine.WithKVBlocks(8))
	code, m, _ := post(t, ts.URL+"/v1/completions", `{"model":"stories260K","prompt":"Once upon a time","n":64,"max_tokens":8}`)
	require.Equal(t, 422, code, "%v", m)
	require.Equal(t, "kv_cache_too_small", m["error"].(map[string]any)["code"])
}

func TestAPIKey(t *testing.T) {
	ts, _, _ := newTestServer(t, Config{APIKey: "sekret"})
	body := `{"model":"stories260K","prompt":"a","max_tokens":2}`
	code, m, _ := post(t, ts.URL+"/v1/completions", body)
	require.Equal(t, 401, code)
	require.Equal(t, "invalid_api_key", m["error"].(map[string]any)["code"])
	code, _, _ = post(t, ts.URL+"/v1/completions", body, "Authorization", "Bearer wrong")
	require.Equal(t, 401, code)
	code, _, _ = post(t, ts.URL+"/v1/completions", body, "Authorization", "Bearer sekret")
	require.Equal(t, 200, code)
	res, err := http.Get(ts.URL + "/health") // health stays open for probes
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, 200, res.StatusCode)
	res, err = http.Get(ts.URL + "/metrics") // so do the metrics, for the gateway's scrapes
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, 200, res.StatusCode)
	res, err = http.Get(ts.URL + "/v1/models")
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, 401, res.StatusCode)
}

func TestTimeout(t *testing.T) {
	ts, _, e := newTestServer(t, Config{Timeout: 30 * time.Millisecond})
	body := `{"model":"stories260K","prompt":"Once","max_tokens":2000,"ignore_eos":true}`
	code, m, _ := post(t, ts.URL+"/v1/completions", body)
	require.Equal(t, 504, code, "%v", m)
	require.Equal(t, "timeout", m["error"].(map[string]any)["code"])
	// A stream that times out ends with an error event.
	res, st := streamPost(t, ts.URL+"/v1/completions", strings.Replace(body, "}", `,"stream":true}`, 1))
	_ = res
	last := st.events[len(st.events)-1]
	require.Equal(t, "timeout", last["error"].(map[string]any)["code"])
	waitFor(t, 5*time.Second, "KV blocks freed", func() bool { return e.Stats().KV.Used == 0 })
}

func TestCancellationFreesKV(t *testing.T) {
	ts, _, e := newTestServer(t, Config{})
	freed := func() bool {
		s := e.Stats()
		return s.KV.Used == 0 && s.Running == 0 && s.Waiting == 0
	}
	body := func(stream bool) io.Reader {
		return strings.NewReader(mustJSON(map[string]any{"model": "stories260K", "prompt": "Once upon a time", "n": 4,
			"max_tokens": 2000, "ignore_eos": true, "stream": stream}))
	}

	// A stream: hang up after the first token.
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ts.URL+"/v1/completions", body(true))
	require.NoError(t, err)
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	line, err := bufio.NewReader(res.Body).ReadString('\n')
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(line, "data: {"), line)
	require.Positive(t, e.Stats().KV.Used)
	cancel()
	res.Body.Close()
	waitFor(t, 5*time.Second, "KV blocks freed after a stream was dropped", freed)

	// A plain request: hang up while it runs.
	ctx, cancel = context.WithCancel(context.Background())
	req, err = http.NewRequestWithContext(ctx, http.MethodPost, ts.URL+"/v1/completions", body(false))
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() {
		res, err := http.DefaultClient.Do(req)
		if err == nil {
			res.Body.Close()
		}
		done <- err
	}()
	waitFor(t, 5*time.Second, "the request to run", func() bool { return e.Stats().KV.Used > 0 })
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
	waitFor(t, 5*time.Second, "KV blocks freed after a request was dropped", freed)
}

func TestMetrics(t *testing.T) {
	ts, _, e := newTestServer(t, Config{})
	// Over 16 tokens, so the second request finds a cached block.
	prompt := "Once upon a time" + onceGreedy
	body := mustJSON(map[string]any{"model": "stories260K", "prompt": prompt, "max_tokens": 10, "temperature": 0})
	for range 2 {
		code, _, _ := post(t, ts.URL+"/v1/completions", body)
		require.Equal(t, 200, code)
	}
	code, _, _ := post(t, ts.URL+"/v1/completions", `{"model":"nope","prompt":"a"}`)
	require.Equal(t, 404, code)
	res, err := http.Get(ts.URL + "/metrics")
	require.NoError(t, err)
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	text := string(b)
	for _, want := range []string{
		`engine_http_requests_total{endpoint="/v1/completions",status="200"} 2`,
		`engine_http_requests_total{endpoint="/v1/completions",status="404"} 1`,
		fmt.Sprintf("engine_prompt_tokens_total %d", 2*len(e.Tokenizer().Encode(prompt, tokenizer.AddSpecial, tokenizer.ParseSpecial))),
		"engine_prompt_tokens_cached_total 16",
		`engine_generation_tokens_total 20`,
		`engine_time_to_first_token_seconds_count 2`,
		`engine_inter_token_latency_seconds_count 18`,
		`engine_kv_blocks{state="used"} 0`,
		`engine_queue_depth 0`,
		`engine_requests_running 0`,
		`engine_samples_in_flight 0`,
		`engine_request_duration_seconds_count{endpoint="/v1/completions"} 3`,
	} {
		require.Contains(t, text, want)
	}
	require.Regexp(t, `engine_kv_blocks\{state="free"\} [1-9]`, text)
	require.Regexp(t, `engine_prefix_cache_hit_rate 0\.[1-9]`, text)
	require.NotContains(t, text, "engine_moe_expert_tokens_total{", "a dense model has no expert counts")
}

// TestMetricsExperts serves the MoE stories260K-moe4x: every layer's
// expert counters add up to 2 routed slots per token run.
func TestMetricsExperts(t *testing.T) {
	e, err := engine.Open("../../shared/models/stories260K-moe4x.gguf", engine.WithContext(128))
	if err != nil {
		t.Skipf("stories260K-moe4x: %v (../shared must sit beside the repository)", err)
	}
	t.Cleanup(func() { e.Close() })
	s := New(Config{Logger: quietLogger()})
	require.NoError(t, s.SetEngine(e))
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	prompt := "Once upon a time"
	body := mustJSON(map[string]any{"model": "stories260K-moe4x", "prompt": prompt, "max_tokens": 10, "temperature": 0})
	code, _, _ := post(t, ts.URL+"/v1/completions", body)
	require.Equal(t, 200, code)
	res, err := http.Get(ts.URL + "/metrics")
	require.NoError(t, err)
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	// The last of the 10 tokens is sampled but never run through the model.
	ran := len(e.Tokenizer().Encode(prompt, tokenizer.AddSpecial, tokenizer.ParseSpecial)) + 9
	re := regexp.MustCompile(`engine_moe_expert_tokens_total\{expert="(\d)",layer="(\d)"\} (\d+)`)
	sums := map[string]int{}
	for _, m := range re.FindAllStringSubmatch(string(b), -1) {
		n, _ := strconv.Atoi(m[3])
		sums[m[2]] += n
	}
	require.Len(t, sums, 5, "one set of counters per layer")
	for layer, n := range sums {
		require.Equal(t, 2*ran, n, "layer %s", layer)
	}
}

func TestEngineErrorMapping(t *testing.T) {
	for _, c := range []struct {
		err    error
		status int
	}{
		{engine.ErrQueueFull, 429},
		{fmt.Errorf("x: %w", engine.ErrTooLong), 400},
		{engine.ErrClosed, 503},
		{engine.ErrNoSpace, 422},
		{context.DeadlineExceeded, 504},
		{errors.New("model forward failed"), 500},
	} {
		require.Equal(t, c.status, engineError(c.err).Status, "%v", c.err)
	}
}

// TestChatPrompt renders a chat outside the server, as `engine run --chat`
// does: the same prompt as the chat endpoint's, and clear errors.
func TestChatPrompt(t *testing.T) {
	e := openEngine(t)
	msgs := []ChatMessage{{Role: "system", Content: "Stories only."}, {Role: "user", Content: "Once upon a time"}}
	c, err := ChatPrompt(e, FormatAuto, msgs, "", time.Now())
	require.NoError(t, err)
	require.Equal(t, "System: Stories only.\nUser: Once upon a time\nAssistant:", c.Text)
	require.Equal(t, e.Tokenizer().Encode(c.Text, tokenizer.AddSpecial, tokenizer.ParseSpecial), c.Prompt)
	require.False(t, c.Harmony)
	require.Empty(t, c.Stops)
	_, err = ChatPrompt(e, FormatHarmony, msgs, "", time.Now())
	require.ErrorContains(t, err, "chat format harmony: the vocabulary has no")
	_, err = ChatPrompt(e, "chatml", msgs, "", time.Now())
	require.ErrorContains(t, err, `unknown chat format "chatml"`)
}
