package server

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestReasoningVoteTruncated: samples cut off by max_tokens abstain unless
// count_truncated, and the response says how many abstained.
func TestReasoningVoteTruncated(t *testing.T) {
	ts, _, e := newTestServer(t, Config{})
	for _, tc := range []struct {
		name    string
		counted bool
	}{{"default abstains", false}, {"counted", true}} {
		t.Run(tc.name, func(t *testing.T) {
			// ignore_eos: every sample runs to max_tokens, and any word answers.
			code, m, _ := post(t, ts.URL+"/v1/completions", mustJSON(map[string]any{
				"model": "stories260K", "prompt": "Once upon a time", "n": 4, "max_tokens": 6, "ignore_eos": true,
				"temperature": 0.8, "seed": 3,
				"reasoning": map[string]any{"strategy": "vote", "extract": `regex:(\w+)`, "count_truncated": tc.counted}}))
			require.Equal(t, 200, code, "%v", m)
			r := m["reasoning"].(map[string]any)
			if !tc.counted {
				require.Equal(t, "", r["answer"], "%v", r)
				require.Nil(t, r["votes"])
				require.EqualValues(t, 4, r["abstained"])
				require.EqualValues(t, 4, r["truncated"])
				return
			}
			require.NotEmpty(t, r["answer"], "%v", r)
			require.EqualValues(t, 0, r["abstained"], "%v", r)
			require.NotEmpty(t, r["votes"])
			require.GreaterOrEqual(t, r["truncated"], 1.0)
		})
	}
	require.Zero(t, e.Stats().KV.Used)

	code, m, _ := post(t, ts.URL+"/v1/completions", `{"model":"stories260K","prompt":"a","n":2,"reasoning":{"strategy":"best_of_n","count_truncated":true}}`)
	require.Equal(t, 400, code)
	require.Equal(t, "reasoning.count_truncated", m["error"].(map[string]any)["param"], "%v", m)
}
