package server

import (
	"path/filepath"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/tscale/engine/engine"
	"github.com/tscale/engine/internal/gpuinfo"
)

// metrics are the server's Prometheus collectors, on a registry of its own
// so that several servers (tests) never clash.
type metrics struct {
	reg *prometheus.Registry
	// name is the served model's name for the model_name label of vLLM's
	// metric names (nil: the model file's name without .gguf, the
	// default of Config.Model).
	name       func() string
	requests   *prometheus.CounterVec // by endpoint and status
	promptToks prometheus.Counter
	cachedToks prometheus.Counter
	genToks    prometheus.Counter
	ttft       prometheus.Histogram
	itl        prometheus.Histogram
	e2e        *prometheus.HistogramVec
	samples    prometheus.Gauge // samples of requests in flight
}

func newMetrics(eng func() *engine.Engine) *metrics {
	lat := prometheus.ExponentialBuckets(0.001, 2, 16) // 1 ms .. 33 s
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "engine_http_requests_total", Help: "HTTP requests by endpoint and status code.",
		}, []string{"endpoint", "status"}),
		promptToks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "engine_prompt_tokens_total", Help: "Prompt tokens of accepted requests.",
		}),
		cachedToks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "engine_prompt_tokens_cached_total", Help: "Prompt tokens found in the prefix cache.",
		}),
		genToks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "engine_generation_tokens_total", Help: "Generated tokens, all samples.",
		}),
		ttft: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "engine_time_to_first_token_seconds", Help: "Time from a request's arrival to its first generated token.",
			Buckets: lat,
		}),
		itl: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "engine_inter_token_latency_seconds", Help: "Time between consecutive tokens of one sample.",
			Buckets: lat,
		}),
		e2e: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "engine_request_duration_seconds", Help: "Time to serve a request, by endpoint.",
			Buckets: lat,
		}, []string{"endpoint"}),
		samples: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "engine_samples_in_flight", Help: "Samples (n per request) of requests being served.",
		}),
	}
	m.reg.MustRegister(m.requests, m.promptToks, m.cachedToks, m.genToks, m.ttft, m.itl, m.e2e, m.samples,
		&engineCollector{m: m, eng: eng},
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "engine_prefix_cache_hit_rate",
			Help: "Prompt tokens found in the prefix cache / prompt tokens of accepted requests, since start " +
				"(engine_prompt_tokens_cached_total / engine_prompt_tokens_total).",
		}, m.hitRate),
		gpuinfo.Collector(func() bool { return onGPU(eng()) }))
	return m
}

// servedName is the served model's name, for metrics.name: New sets it.
func (s *Server) servedName() string {
	if l := s.model.Load(); l != nil {
		return l.name
	}
	return ""
}

// onGPU: the engine runs on a real CUDA device (the driver's name is
// "cuda: <GPU> (sm_XY)"; the emulator's is "cudaemu"), so /metrics has the
// GPU gauges.
func onGPU(e *engine.Engine) bool {
	return e != nil && strings.HasPrefix(e.Backend().Name(), "cuda:")
}

// hitRate is taken from the request counters, not from the KV manager's
// look-ups: those also count the strategies' sequences and the prompts of
// preempted requests looked up again, which are no prompt tokens of a
// request.
func (m *metrics) hitRate() float64 {
	if p := counterValue(m.promptToks); p > 0 {
		return counterValue(m.cachedToks) / p
	}
	return 0
}

func counterValue(c prometheus.Counter) float64 {
	var d dto.Metric
	if c.Write(&d) != nil {
		return 0
	}
	return d.GetCounter().GetValue()
}

// engineCollector reads the scheduler's state once per scrape, for our
// names and vLLM's alike, so that the two agree.
type engineCollector struct {
	m   *metrics
	eng func() *engine.Engine
}

var (
	descWaiting = prometheus.NewDesc("engine_queue_depth", "Requests waiting to start.", nil, nil)
	descRunning = prometheus.NewDesc("engine_requests_running", "Requests being computed.", nil, nil)
	descBlocks  = prometheus.NewDesc("engine_kv_blocks", "KV cache blocks by state (used, free, cached).", []string{"state"}, nil)
	descSteps   = prometheus.NewDesc("engine_steps_total", "Batched forward passes.", nil, nil)
	descPreempt = prometheus.NewDesc("engine_preemptions_total", "Requests preempted for lack of KV blocks.", nil, nil)
	descExperts = prometheus.NewDesc("engine_moe_expert_tokens_total", "Tokens routed to each expert of a mixture-of-experts model, by layer.", []string{"layer", "expert"}, nil)
	descKVUsage = prometheus.NewDesc("engine_kv_cache_usage", kvUsageHelp, nil, nil)
	descTrees   = prometheus.NewDesc("engine_seq_trees", "Searches driving the engine sequence by sequence (beam, tree): a sequence and its forks.", nil, nil)
)

const kvUsageHelp = "KV-cache usage from 0 to 1: blocks held by live sequences / blocks in the pool " +
	"(cached prefixes nothing holds are evictable and count as free)."

// kvUsage is the share of the KV pool that live sequences hold.
func kvUsage(s engine.Stats) float64 {
	if s.KV.Blocks == 0 {
		return 0
	}
	return float64(s.KV.Used) / float64(s.KV.Blocks)
}

func (c *engineCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descWaiting, descRunning, descBlocks, descSteps, descPreempt, descExperts, descKVUsage, descTrees,
		vllmWaiting, vllmRunning, vllmKVUsage, vllmCache, vllmQueries, vllmHits, vllmPrompt, vllmGen, vllmPreempt} {
		ch <- d
	}
}

func (c *engineCollector) Collect(ch chan<- prometheus.Metric) {
	e := c.eng()
	if e == nil {
		return
	}
	s := e.Stats()
	g := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	g(descWaiting, float64(s.Waiting))
	g(descRunning, float64(s.Running))
	g(descBlocks, float64(s.KV.Used), "used")
	g(descBlocks, float64(s.KV.Free), "free")
	g(descBlocks, float64(s.KV.Cached), "cached")
	g(descKVUsage, kvUsage(s))
	g(descTrees, float64(s.SeqTrees))
	ch <- prometheus.MustNewConstMetric(descSteps, prometheus.CounterValue, float64(s.Steps))
	ch <- prometheus.MustNewConstMetric(descPreempt, prometheus.CounterValue, float64(s.Preemptions))
	for il, row := range s.ExpertTokens {
		for ex, n := range row {
			ch <- prometheus.MustNewConstMetric(descExperts, prometheus.CounterValue, float64(n), strconv.Itoa(il), strconv.Itoa(ex))
		}
	}
	c.vllm(ch, e, s)
}

// The model-server protocol of Kubernetes' Gateway API Inference Extension
// (docs/deploy.md) wants queued requests and running requests as gauges
// and the KV-cache usage as a 0-1 gauge; its endpoint picker (llm-d's
// router) reads them by vLLM's names by default, and the block size and
// pool size from the labels of vllm:cache_config_info for prefix-aware
// routing. vLLM's prefix-cache, token and preemption counters follow, so
// its dashboards work too. Each but cache_config_info carries the served
// model's name as model_name, as vLLM's do. (Counters end in _total as
// vLLM's Python client writes them.)
var (
	vllmWaiting = prometheus.NewDesc("vllm:num_requests_waiting",
		"Requests waiting to start (the gateway's TotalQueuedRequests; = engine_queue_depth).", []string{"model_name"}, nil)
	vllmRunning = prometheus.NewDesc("vllm:num_requests_running",
		"Requests being computed (the gateway's TotalRunningRequests): engine_requests_running + engine_seq_trees.", []string{"model_name"}, nil)
	vllmKVUsage = prometheus.NewDesc("vllm:kv_cache_usage_perc", kvUsageHelp+" 1 means 100 percent.", []string{"model_name"}, nil)
	vllmCache   = prometheus.NewDesc("vllm:cache_config_info",
		"The KV cache's configuration, in the labels: tokens per block, blocks in the pool, prefix cache on.",
		[]string{"block_size", "num_gpu_blocks", "enable_prefix_caching"}, nil)
	vllmQueries = prometheus.NewDesc("vllm:prefix_cache_queries_total",
		"Prefix cache queries, in prompt tokens looked up (= engine_prompt_tokens_total).", []string{"model_name"}, nil)
	vllmHits = prometheus.NewDesc("vllm:prefix_cache_hits_total",
		"Prefix cache hits, in prompt tokens found cached (= engine_prompt_tokens_cached_total).", []string{"model_name"}, nil)
	vllmPrompt  = prometheus.NewDesc("vllm:prompt_tokens_total", "Prompt tokens of accepted requests.", []string{"model_name"}, nil)
	vllmGen     = prometheus.NewDesc("vllm:generation_tokens_total", "Generated tokens, all samples.", []string{"model_name"}, nil)
	vllmPreempt = prometheus.NewDesc("vllm:num_preemptions_total",
		"Requests preempted for lack of KV blocks.", []string{"model_name"}, nil)
)

// vllm writes the gateway protocol's metrics under vLLM's names from the
// scrape's snapshot s of e.
func (c *engineCollector) vllm(ch chan<- prometheus.Metric, e *engine.Engine, s engine.Stats) {
	name := strings.TrimSuffix(filepath.Base(e.File().Path), ".gguf")
	if c.m.name != nil {
		name = c.m.name()
	}
	put := func(d *prometheus.Desc, t prometheus.ValueType, v float64) {
		ch <- prometheus.MustNewConstMetric(d, t, v, name)
	}
	put(vllmWaiting, prometheus.GaugeValue, float64(s.Waiting))
	put(vllmRunning, prometheus.GaugeValue, float64(s.Running+s.SeqTrees)) // a beam or tree search is one request
	put(vllmKVUsage, prometheus.GaugeValue, kvUsage(s))
	put(vllmQueries, prometheus.CounterValue, counterValue(c.m.promptToks))
	put(vllmHits, prometheus.CounterValue, counterValue(c.m.cachedToks))
	put(vllmPrompt, prometheus.CounterValue, counterValue(c.m.promptToks))
	put(vllmGen, prometheus.CounterValue, counterValue(c.m.genToks))
	put(vllmPreempt, prometheus.CounterValue, float64(s.Preemptions))
	ch <- prometheus.MustNewConstMetric(vllmCache, prometheus.GaugeValue, 1,
		strconv.Itoa(s.BlockSize), strconv.Itoa(s.KV.Blocks), strconv.FormatBool(s.PrefixCache))
}
