package server

import (
	"io"
	"net/http"
	"regexp"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// scrape returns the value of one unlabelled metric.
func scrape(t *testing.T, url, name string) float64 {
	t.Helper()
	res, err := http.Get(url + "/metrics")
	require.NoError(t, err)
	b, err := io.ReadAll(res.Body)
	res.Body.Close()
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^` + name + ` (\S+)$`).FindSubmatch(b)
	require.NotNil(t, m, "no %s in\n%s", name, b)
	v, err := strconv.ParseFloat(string(m[1]), 64)
	require.NoError(t, err)
	return v
}

// TestPrefixHitRateMatchesTokens: the hit rate is cached / prompt tokens of
// the requests served, whatever the strategies look up in the KV cache.
func TestPrefixHitRateMatchesTokens(t *testing.T) {
	ts, _, _ := newTestServer(t, Config{})
	prompt := "Once upon a time" + onceGreedy // over 16 tokens: one cacheable block
	for _, req := range []map[string]any{
		{"prompt": prompt, "max_tokens": 4, "temperature": 0},
		{"prompt": prompt, "max_tokens": 4, "n": 2, "reasoning": map[string]any{"strategy": "beam"}},
		{"prompt": prompt, "max_tokens": 4, "n": 3, "seed": 1, "reasoning": map[string]any{"strategy": "vote"}},
		{"prompt": prompt, "max_tokens": 4, "temperature": 0},
	} {
		req["model"] = "stories260K"
		code, m, _ := post(t, ts.URL+"/v1/completions", mustJSON(req))
		require.Equal(t, 200, code, "%v", m)
	}
	total, cached := scrape(t, ts.URL, "engine_prompt_tokens_total"), scrape(t, ts.URL, "engine_prompt_tokens_cached_total")
	require.Positive(t, cached)
	require.InDelta(t, cached/total, scrape(t, ts.URL, "engine_prefix_cache_hit_rate"), 1e-9)
}
