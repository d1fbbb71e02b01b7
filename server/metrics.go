package server

import (
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
	reg        *prometheus.Registry
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
		&engineCollector{eng: eng},
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "engine_prefix_cache_hit_rate",
			Help: "Prompt tokens found in the prefix cache / prompt tokens of accepted requests, since start " +
				"(engine_prompt_tokens_cached_total / engine_prompt_tokens_total).",
		}, m.hitRate),
		gpuinfo.Collector(func() bool { return onGPU(eng()) }))
	return m
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

// engineCollector reads the scheduler's state once per scrape.
type engineCollector struct {
	eng func() *engine.Engine
}

var (
	descWaiting = prometheus.NewDesc("engine_queue_depth", "Requests waiting to start.", nil, nil)
	descRunning = prometheus.NewDesc("engine_requests_running", "Requests being computed.", nil, nil)
	descBlocks  = prometheus.NewDesc("engine_kv_blocks", "KV cache blocks by state (used, free, cached).", []string{"state"}, nil)
	descSteps   = prometheus.NewDesc("engine_steps_total", "Batched forward passes.", nil, nil)
	descPreempt = prometheus.NewDesc("engine_preemptions_total", "Requests preempted for lack of KV blocks.", nil, nil)
	descExperts = prometheus.NewDesc("engine_moe_expert_tokens_total", "Tokens routed to each expert of a mixture-of-experts model, by layer.", []string{"layer", "expert"}, nil)
)

func (c *engineCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descWaiting, descRunning, descBlocks, descSteps, descPreempt, descExperts} {
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
	ch <- prometheus.MustNewConstMetric(descSteps, prometheus.CounterValue, float64(s.Steps))
	ch <- prometheus.MustNewConstMetric(descPreempt, prometheus.CounterValue, float64(s.Preemptions))
	for il, row := range s.ExpertTokens {
		for ex, n := range row {
			ch <- prometheus.MustNewConstMetric(descExperts, prometheus.CounterValue, float64(n), strconv.Itoa(il), strconv.Itoa(ex))
		}
	}
}
