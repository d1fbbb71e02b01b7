package server

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/tscale/engine/engine"
)

// families scrapes /metrics and parses it as Prometheus does.
func families(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	res, err := http.Get(url + "/metrics")
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(res.Body)
	require.NoError(t, err)
	return fams
}

// gatewayMetrics are the model-server protocol's metrics by vLLM's names
// (and ours), with their types.
var gatewayMetrics = map[string]dto.MetricType{
	"vllm:num_requests_waiting":       dto.MetricType_GAUGE,
	"vllm:num_requests_running":       dto.MetricType_GAUGE,
	"vllm:kv_cache_usage_perc":        dto.MetricType_GAUGE,
	"vllm:cache_config_info":          dto.MetricType_GAUGE,
	"vllm:prefix_cache_queries_total": dto.MetricType_COUNTER,
	"vllm:prefix_cache_hits_total":    dto.MetricType_COUNTER,
	"vllm:prompt_tokens_total":        dto.MetricType_COUNTER,
	"vllm:generation_tokens_total":    dto.MetricType_COUNTER,
	"vllm:num_preemptions_total":      dto.MetricType_COUNTER,
	"engine_queue_depth":              dto.MetricType_GAUGE,
	"engine_requests_running":         dto.MetricType_GAUGE,
	"engine_kv_cache_usage":           dto.MetricType_GAUGE,
	"engine_seq_trees":                dto.MetricType_GAUGE,
}

// value is the value of one family's only metric, whatever its type.
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string) float64 {
	t.Helper()
	f := fams[name]
	require.NotNil(t, f, "no %s", name)
	require.Len(t, f.GetMetric(), 1, name)
	m := f.GetMetric()[0]
	if f.GetType() == dto.MetricType_COUNTER {
		return m.GetCounter().GetValue()
	}
	return m.GetGauge().GetValue()
}

func labels(m *dto.Metric) map[string]string {
	l := map[string]string{}
	for _, p := range m.GetLabel() {
		l[p.GetName()] = p.GetValue()
	}
	return l
}

// load is the gateway's view of the server: waiting, running, KV usage.
type load struct{ waiting, running, kv float64 }

func scrapeLoad(t *testing.T, url string) load {
	t.Helper()
	f := families(t, url)
	l := load{value(t, f, "vllm:num_requests_waiting"), value(t, f, "vllm:num_requests_running"), value(t, f, "vllm:kv_cache_usage_perc")}
	// Our own names say the same.
	require.Equal(t, l, load{value(t, f, "engine_queue_depth"), value(t, f, "engine_requests_running") + value(t, f, "engine_seq_trees"),
		value(t, f, "engine_kv_cache_usage")})
	return l
}

// TestGatewayMetricTypes: /metrics has the gateway protocol's metrics with
// their Prometheus types, vLLM's model_name label and the KV cache's
// configuration; none before a model is served.
func TestGatewayMetricTypes(t *testing.T) {
	s := New(Config{Logger: quietLogger()})
	ts := httptest.NewServer(s)
	defer ts.Close()
	for name := range gatewayMetrics {
		require.NotContains(t, families(t, ts.URL), name, "while loading")
	}

	e := openEngine(t, engine.WithContext(256), engine.WithKVBlocks(40))
	require.NoError(t, s.SetEngine(e))
	fams := families(t, ts.URL)
	for name, typ := range gatewayMetrics {
		f := fams[name]
		require.NotNil(t, f, "no %s", name)
		require.Equal(t, typ, f.GetType(), name)
		require.NotEmpty(t, f.GetHelp(), name)
		require.Len(t, f.GetMetric(), 1, name)
		l := labels(f.GetMetric()[0])
		switch {
		case name == "vllm:cache_config_info":
			require.Equal(t, map[string]string{"block_size": "16", "num_gpu_blocks": "40", "enable_prefix_caching": "true"}, l)
			require.Equal(t, 1.0, f.GetMetric()[0].GetGauge().GetValue())
		case strings.HasPrefix(name, "vllm:"):
			require.Equal(t, map[string]string{"model_name": "stories260K"}, l, name)
		default:
			require.Empty(t, l, name)
		}
	}
	require.Equal(t, load{}, scrapeLoad(t, ts.URL), "idle")

	s.m.name = func() string { return "served-name" }
	l := labels(families(t, ts.URL)["vllm:num_requests_waiting"].GetMetric()[0])
	require.Equal(t, "served-name", l["model_name"])
}

// TestGatewayMetricsUnderLoad: the queue and running gauges count requests
// as they wait and run, KV usage is in (0, 1] while they hold blocks, and
// all fall back to 0 once they end. Request A (16 samples, to the end of a
// 4096-token context: seconds of work) runs; B waits for the host memory
// budget that A holds; cancelling A starts B, cancelling B empties the
// engine.
func TestGatewayMetricsUnderLoad(t *testing.T) {
	const body = `{"model":"stories260K","prompt":"Once upon a time","n":16,"max_tokens":4000,"ignore_eos":true,"stream":true}`
	per := int64(engine.HostBytesPerSample + engine.HostBytesPerToken*(5+4000)) // one sample's host estimate
	ts, _, e := newTestServer(t, Config{}, engine.WithThreads(1), engine.WithContext(4096),
		engine.WithKVBlocks(4200), engine.WithHostBudget(24*per)) // room for 16 samples, not 32
	require.Equal(t, load{}, scrapeLoad(t, ts.URL))

	// start posts the request and returns once its first token arrived
	// (or, wait, at once); cancel ends it.
	var wg sync.WaitGroup
	start := func(wait bool) (cancel func()) {
		ctx, cancel := context.WithCancel(context.Background())
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, ts.URL+"/v1/completions", strings.NewReader(body))
		require.NoError(t, err)
		first := make(chan error, 1)
		wg.Go(func() {
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				first <- err
				return
			}
			defer res.Body.Close()
			br := bufio.NewReader(res.Body)
			_, err = br.ReadString('\n') // the first event's data line
			first <- err
			io.Copy(io.Discard, br) // until cancelled
		})
		if wait {
			select {
			case err := <-first:
				require.NoError(t, err)
			case <-time.After(30 * time.Second):
				t.Fatal("no first token")
			}
		}
		return cancel
	}
	defer wg.Wait()

	cancelA := start(true)
	defer cancelA()
	cancelB := start(false)
	defer cancelB()
	waitFor(t, 10*time.Second, "B to queue", func() bool { return e.Stats().Waiting == 1 })
	l := scrapeLoad(t, ts.URL)
	require.Equal(t, 1.0, l.waiting, "%+v", l)
	require.Equal(t, 1.0, l.running, "%+v", l)
	require.Greater(t, l.kv, 0.0)
	require.LessOrEqual(t, l.kv, 1.0)

	cancelA()
	waitFor(t, 10*time.Second, "B to start", func() bool { st := e.Stats(); return st.Waiting == 0 && st.Running == 1 })
	l = scrapeLoad(t, ts.URL)
	require.Equal(t, 0.0, l.waiting, "%+v", l)
	require.Equal(t, 1.0, l.running, "%+v", l)
	require.Greater(t, l.kv, 0.0)
	require.LessOrEqual(t, l.kv, 1.0)

	cancelB()
	waitFor(t, 10*time.Second, "the engine to empty", func() bool { st := e.Stats(); return st.Running == 0 && st.KV.Used == 0 })
	require.Equal(t, load{}, scrapeLoad(t, ts.URL), "after")
}

// TestPrefixCacheCounters: vLLM's prefix-cache counters count prompt
// tokens looked up and found cached, as ours do, and move with requests.
func TestPrefixCacheCounters(t *testing.T) {
	ts, _, _ := newTestServer(t, Config{})
	prompt := "Once upon a time" + onceGreedy // over 16 tokens: one cacheable block
	var hits []float64
	for range 2 {
		code, m, _ := post(t, ts.URL+"/v1/completions", mustJSON(map[string]any{
			"model": "stories260K", "prompt": prompt, "max_tokens": 4, "temperature": 0}))
		require.Equal(t, 200, code, "%v", m)
		f := families(t, ts.URL)
		require.Equal(t, value(t, f, "engine_prompt_tokens_total"), value(t, f, "vllm:prefix_cache_queries_total"))
		require.Equal(t, value(t, f, "engine_prompt_tokens_total"), value(t, f, "vllm:prompt_tokens_total"))
		require.Equal(t, value(t, f, "engine_prompt_tokens_cached_total"), value(t, f, "vllm:prefix_cache_hits_total"))
		require.Equal(t, value(t, f, "engine_generation_tokens_total"), value(t, f, "vllm:generation_tokens_total"))
		hits = append(hits, value(t, f, "vllm:prefix_cache_hits_total"))
	}
	require.Zero(t, hits[0], "a cold cache")
	require.GreaterOrEqual(t, hits[1], 16.0, "the second request found the first's prompt")
}

// TestModelNameLabel: model_name is the served id (Config.Model).
func TestModelNameLabel(t *testing.T) {
	ts, _, _ := newTestServer(t, Config{Model: "my-model"})
	for _, name := range []string{"vllm:num_requests_waiting", "vllm:kv_cache_usage_perc", "vllm:prefix_cache_hits_total"} {
		require.Equal(t, "my-model", labels(families(t, ts.URL)[name].GetMetric()[0])["model_name"], name)
	}
}

// TestSearchesCountAsRunning: a beam search drives the engine through the
// Seq API, not as a scheduler request, and counts as one running request
// while its sequences are open (a sequence and its forks: one tree).
func TestSearchesCountAsRunning(t *testing.T) {
	ts, _, e := newTestServer(t, Config{})
	ids := e.Tokenizer().Encode("Once upon a time")
	s, err := e.NewSeq(context.Background(), ids)
	require.NoError(t, err)
	c, err := s.Fork()
	require.NoError(t, err)
	l := scrapeLoad(t, ts.URL)
	require.Equal(t, 1.0, l.running, "one tree of two sequences")
	require.Zero(t, l.waiting)
	require.Greater(t, l.kv, 0.0)
	require.Equal(t, 1.0, value(t, families(t, ts.URL), "engine_seq_trees"))
	t2, err := e.NewSeq(context.Background(), ids)
	require.NoError(t, err)
	require.Equal(t, 2.0, scrapeLoad(t, ts.URL).running, "two trees")
	s.Close()
	require.Equal(t, 2.0, scrapeLoad(t, ts.URL).running, "the fork keeps its tree open")
	c.Close()
	t2.Close()
	require.Equal(t, load{}, scrapeLoad(t, ts.URL))

	// A beam request through the server closes its tree.
	code, m, _ := post(t, ts.URL+"/v1/completions", `{"model":"stories260K","prompt":"Once upon a time","n":3,"max_tokens":8,"reasoning":{"strategy":"beam"}}`)
	require.Equal(t, 200, code, "%v", m)
	require.Equal(t, load{}, scrapeLoad(t, ts.URL))
}
