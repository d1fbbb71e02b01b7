package server

import (
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestReasoningVote(t *testing.T) {
	ts, _, e := newTestServer(t, Config{})
	code, m, _ := post(t, ts.URL+"/v1/completions", mustJSON(map[string]any{
		"model": "stories260K", "prompt": "Once upon a time", "n": 8, "max_tokens": 16, "temperature": 0.6, "seed": 5,
		"reasoning": map[string]any{"strategy": "vote", "extract": `regex:named (\w+)`, "count_truncated": true}}))
	require.Equal(t, 200, code, "%v", m)
	cs := choices(t, m)
	require.Len(t, cs, 1)
	r := m["reasoning"].(map[string]any)
	require.Equal(t, "vote", r["strategy"])
	require.EqualValues(t, 8, r["samples"])
	answer := r["answer"].(string)
	require.NotEmpty(t, answer, "some sample should name someone: %v", r)
	votes := r["votes"].([]any)
	require.Equal(t, answer, votes[0].(map[string]any)["answer"])
	counted := 0.0
	for _, v := range votes {
		counted += v.(map[string]any)["count"].(float64)
	}
	require.LessOrEqual(t, counted, 8.0)
	// The returned choice is a sample that voted for the winner.
	got := regexp.MustCompile(`named (\w+)`).FindAllStringSubmatch(cs[0]["text"].(string), -1)
	require.NotEmpty(t, got)
	require.Equal(t, answer, got[len(got)-1][1])
	require.Zero(t, e.Stats().KV.Used)
}

func TestReasoningBestOfN(t *testing.T) {
	ts, _, _ := newTestServer(t, Config{})
	code, m, _ := post(t, ts.URL+"/v1/chat/completions", mustJSON(map[string]any{
		"model": "stories260K", "messages": []map[string]any{{"role": "user", "content": "Once upon a time"}},
		"n": 4, "max_tokens": 12, "temperature": 1, "seed": 9, "logprobs": true,
		"reasoning": map[string]any{"strategy": "best_of_n"}}))
	require.Equal(t, 200, code, "%v", m)
	r := m["reasoning"].(map[string]any)
	scores := r["scores"].([]any)
	require.Len(t, scores, 4)
	best := 0
	for i, s := range scores {
		if s.(float64) > scores[best].(float64) {
			best = i
		}
	}
	require.EqualValues(t, best, r["chosen"])
	// The score is the chosen sample's mean token logprob.
	c := choices(t, m)[0]
	lps := c["logprobs"].(map[string]any)["content"].([]any)
	sum := 0.0
	for _, x := range lps {
		sum += x.(map[string]any)["logprob"].(float64)
	}
	require.InDelta(t, scores[best].(float64), sum/float64(len(lps)), 1e-4)
	require.GreaterOrEqual(t, m["usage"].(map[string]any)["completion_tokens"].(float64), float64(len(lps)))
}

func TestReasoningErrors(t *testing.T) {
	ts, _, _ := newTestServer(t, Config{})
	for _, c := range []struct{ reasoning, param string }{
		{`{"strategy":"mcts"}`, "reasoning.strategy"},
		{`{}`, "reasoning.strategy"},
		{`{"strategy":"vote","extract":"regex:("}`, "reasoning.extract"},
		{`{"strategy":"best_of_n","weighted":true}`, "reasoning"},
		{`"vote"`, "reasoning"},
	} {
		body := `{"model":"stories260K","prompt":"a","n":2,"reasoning":` + c.reasoning + `}`
		code, m, _ := post(t, ts.URL+"/v1/completions", body)
		require.Equal(t, 400, code, c.reasoning)
		require.Equal(t, c.param, m["error"].(map[string]any)["param"], c.reasoning)
	}
	code, m, _ := post(t, ts.URL+"/v1/completions", `{"model":"stories260K","prompt":"a","stream":true,"reasoning":{"strategy":"vote"}}`)
	require.Equal(t, 400, code)
	require.True(t, strings.Contains(m["error"].(map[string]any)["message"].(string), "stream"))
	code, _, _ = post(t, ts.URL+"/v1/completions", `{"model":"stories260K","prompt":["a","b"],"reasoning":{"strategy":"vote"}}`)
	require.Equal(t, 400, code)
}

func TestReasoningBeam(t *testing.T) {
	ts, _, e := newTestServer(t, Config{})
	code, m, _ := post(t, ts.URL+"/v1/completions", mustJSON(map[string]any{
		"model": "stories260K", "prompt": "Once upon a time", "n": 3, "max_tokens": 10,
		"reasoning": map[string]any{"strategy": "beam", "length_penalty": 1}}))
	require.Equal(t, 200, code, "%v", m)
	r := m["reasoning"].(map[string]any)
	require.Equal(t, "beam", r["strategy"])
	scores := r["scores"].([]any)
	require.Len(t, scores, 3)
	for i := 1; i < len(scores); i++ {
		require.GreaterOrEqual(t, scores[i-1].(float64), scores[i].(float64), "beams best first")
	}
	// Width 1 is greedy decoding: the text equals a greedy completion.
	code, m1, _ := post(t, ts.URL+"/v1/completions", mustJSON(map[string]any{
		"model": "stories260K", "prompt": "Once upon a time", "n": 1, "max_tokens": 10,
		"reasoning": map[string]any{"strategy": "beam"}}))
	require.Equal(t, 200, code, "%v", m1)
	code, g, _ := post(t, ts.URL+"/v1/completions", mustJSON(map[string]any{
		"model": "stories260K", "prompt": "Once upon a time", "max_tokens": 10, "temperature": 0}))
	require.Equal(t, 200, code, "%v", g)
	require.Equal(t, choices(t, g)[0]["text"], choices(t, m1)[0]["text"])
	require.Zero(t, e.Stats().KV.Used)
}

func TestReasoningTree(t *testing.T) {
	ts, _, e := newTestServer(t, Config{})
	code, m, _ := post(t, ts.URL+"/v1/completions", mustJSON(map[string]any{
		"model": "stories260K", "prompt": "Once upon a time", "temperature": 0.8, "seed": 3, "logprobs": 1,
		"reasoning": map[string]any{"strategy": "tree", "k": 3, "b": 2, "depth": 3, "delimiter": ".", "step_tokens": 16}}))
	require.Equal(t, 200, code, "%v", m)
	r := m["reasoning"].(map[string]any)
	require.Equal(t, "tree", r["strategy"])
	require.Greater(t, r["nodes"].(float64), 3.0)
	text := choices(t, m)[0]["text"].(string)
	require.NotEmpty(t, text)
	require.Zero(t, e.Stats().KV.Used)

	for _, c := range []struct{ reasoning, param string }{
		{`{"strategy":"tree","k":0}`, "reasoning.k"},
		{`{"strategy":"tree","delimiter":""}`, "reasoning.delimiter"},
		{`{"strategy":"beam","k":2}`, "reasoning.k"},
		{`{"strategy":"beam","length_penalty":-1}`, "reasoning.length_penalty"},
		{`{"strategy":"vote","depth":2}`, "reasoning.depth"},
	} {
		body := `{"model":"stories260K","prompt":"a","n":2,"reasoning":` + c.reasoning + `}`
		code, m, _ := post(t, ts.URL+"/v1/completions", body)
		require.Equal(t, 400, code, c.reasoning)
		require.Equal(t, c.param, m["error"].(map[string]any)["param"], c.reasoning)
	}
}
