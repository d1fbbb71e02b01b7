package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Range is a uniform integer distribution over [Min, Max].
type Range struct{ Min, Max int }

// ParseRange reads "128" (fixed) or "64-256" (uniform).
func ParseRange(s string) (Range, error) {
	lo, hi, found := strings.Cut(s, "-")
	a, err := strconv.Atoi(lo)
	if err != nil {
		return Range{}, fmt.Errorf("bad range %q: want N or MIN-MAX", s)
	}
	b := a
	if found {
		if b, err = strconv.Atoi(hi); err != nil {
			return Range{}, fmt.Errorf("bad range %q: want N or MIN-MAX", s)
		}
	}
	if a < 1 || b < a {
		return Range{}, fmt.Errorf("bad range %q: need 1 <= MIN <= MAX", s)
	}
	return Range{a, b}, nil
}

func (r Range) draw(rng *rand.Rand) int { return r.Min + rng.IntN(r.Max-r.Min+1) }

func (r Range) String() string {
	if r.Min == r.Max {
		return strconv.Itoa(r.Min)
	}
	return fmt.Sprintf("%d-%d", r.Min, r.Max)
}

// ServeConfig drives an OpenAI-compatible server with streamed
// completions. Prompts are token-id arrays of the drawn length (ids from
// 100 to 499, valid for any vocabulary of 500 or more), and ignore_eos
// makes every sample produce the drawn output length.
type ServeConfig struct {
	URL         string // base URL, e.g. http://127.0.0.1:8080
	Model       string
	APIKey      string
	Requests    int
	Rate        float64 // requests per second, Poisson arrivals; 0: closed loop
	Concurrency int     // requests in flight at most
	Prompt, Gen Range
	N           int
	Seed        uint64
}

// ServeSample is the outcome of one request.
type ServeSample struct {
	Start  float64   `json:"start_s"` // since the run began
	TTFT   float64   `json:"ttft_s"`
	E2E    float64   `json:"e2e_s"`
	ITL    []float64 `json:"-"`
	Tokens int       `json:"tokens"`
	Err    string    `json:"error,omitempty"`
}

// Stats are latency percentiles in milliseconds.
type Stats struct {
	Mean float64 `json:"mean_ms"`
	P50  float64 `json:"p50_ms"`
	P90  float64 `json:"p90_ms"`
	P99  float64 `json:"p99_ms"`
	Max  float64 `json:"max_ms"`
}

// ServeReport sums up a run.
type ServeReport struct {
	Model          string         `json:"model"`
	Requests       int            `json:"requests"`
	Rate           float64        `json:"rate"`
	Concurrency    int            `json:"concurrency"`
	Prompt         string         `json:"prompt_tokens"`
	Gen            string         `json:"gen_tokens"`
	N              int            `json:"n"`
	Seconds        float64        `json:"seconds"`
	OK             int            `json:"ok"`
	Errors         int            `json:"errors"`
	ErrorKinds     map[string]int `json:"error_kinds,omitempty"`
	OutputTokens   int            `json:"output_tokens"`
	RequestsPerSec float64        `json:"requests_per_s"`
	TokensPerSec   float64        `json:"output_tokens_per_s"`
	TTFT           Stats          `json:"ttft"`
	ITL            Stats          `json:"itl"`
	E2E            Stats          `json:"e2e"`
}

// RunServe runs the load and returns the report and every request's sample.
func RunServe(ctx context.Context, cfg ServeConfig) (*ServeReport, []ServeSample, error) {
	if cfg.Requests < 1 || cfg.Concurrency < 1 || cfg.N < 1 || cfg.Rate < 0 {
		return nil, nil, errors.New("serve: need requests >= 1, concurrency >= 1, n >= 1, rate >= 0")
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 1))
	type job struct {
		i    int
		body string
		at   time.Duration // planned start
	}
	jobs := make([]job, cfg.Requests)
	var at time.Duration
	for i := range jobs {
		p, g := cfg.Prompt.draw(rng), cfg.Gen.draw(rng)
		ids := make([]int, p)
		for k := range ids {
			ids[k] = 100 + rng.IntN(400)
		}
		b, _ := json.Marshal(map[string]any{"model": cfg.Model, "prompt": ids, "max_tokens": g, "n": cfg.N,
			"temperature": 0.8, "seed": i, "ignore_eos": true, "stream": true,
			"stream_options": map[string]any{"include_usage": true}})
		jobs[i] = job{i: i, body: string(b), at: at}
		if cfg.Rate > 0 {
			at += time.Duration(rng.ExpFloat64() / cfg.Rate * float64(time.Second))
		}
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: cfg.Concurrency}}
	samples := make([]ServeSample, len(jobs))
	sem := make(chan struct{}, cfg.Concurrency)
	var wg sync.WaitGroup
	begin := time.Now()
	for _, j := range jobs {
		if d := j.at - time.Since(begin); d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
			}
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			samples[j.i] = request(ctx, client, cfg, j.body, begin)
		})
	}
	wg.Wait()
	elapsed := time.Since(begin).Seconds()
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	return summarize(cfg, samples, elapsed), samples, nil
}

// request sends one streamed completion and times its events: TTFT at the
// first text, inter-token latency between a choice's consecutive events
// (one per token, bar text the server holds back), tokens from the usage.
func request(ctx context.Context, client *http.Client, cfg ServeConfig, body string, begin time.Time) ServeSample {
	start := time.Now()
	s := ServeSample{Start: start.Sub(begin).Seconds()}
	fail := func(err string) ServeSample {
		s.Err = err
		s.E2E = time.Since(start).Seconds()
		return s
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(cfg.URL, "/")+"/v1/completions", strings.NewReader(body))
	if err != nil {
		return fail(err.Error())
	}
	req.Header.Set("Content-Type", "application/json")
	if cfg.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+cfg.APIKey)
	}
	res, err := client.Do(req)
	if err != nil {
		return fail("transport")
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		io.Copy(io.Discard, res.Body)
		return fail("http " + strconv.Itoa(res.StatusCode))
	}
	last := map[int]time.Time{}
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	done := false
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		if data == "[DONE]" {
			done = true
			break
		}
		var ev struct {
			Choices []struct {
				Index int    `json:"index"`
				Text  string `json:"text"`
			} `json:"choices"`
			Usage *struct {
				CompletionTokens int `json:"completion_tokens"`
			} `json:"usage"`
			Error *struct{ Code string } `json:"error"`
		}
		if json.Unmarshal([]byte(data), &ev) != nil {
			return fail("bad event")
		}
		if ev.Error != nil {
			return fail("stream " + ev.Error.Code)
		}
		if ev.Usage != nil {
			s.Tokens = ev.Usage.CompletionTokens
		}
		now := time.Now()
		for _, c := range ev.Choices {
			if c.Text == "" {
				continue
			}
			if len(last) == 0 {
				s.TTFT = now.Sub(start).Seconds()
			}
			if t, ok := last[c.Index]; ok {
				s.ITL = append(s.ITL, now.Sub(t).Seconds())
			}
			last[c.Index] = now
		}
	}
	if !done {
		return fail("stream cut")
	}
	s.E2E = time.Since(start).Seconds()
	return s
}

func summarize(cfg ServeConfig, samples []ServeSample, seconds float64) *ServeReport {
	r := &ServeReport{Model: cfg.Model, Requests: cfg.Requests, Rate: cfg.Rate, Concurrency: cfg.Concurrency,
		Prompt: cfg.Prompt.String(), Gen: cfg.Gen.String(), N: cfg.N, Seconds: seconds}
	var ttft, itl, e2e []float64
	for _, s := range samples {
		if s.Err != "" {
			r.Errors++
			if r.ErrorKinds == nil {
				r.ErrorKinds = map[string]int{}
			}
			r.ErrorKinds[s.Err]++
			continue
		}
		r.OK++
		r.OutputTokens += s.Tokens
		ttft = append(ttft, s.TTFT)
		e2e = append(e2e, s.E2E)
		itl = append(itl, s.ITL...)
	}
	r.RequestsPerSec = float64(r.OK) / seconds
	r.TokensPerSec = float64(r.OutputTokens) / seconds
	r.TTFT, r.ITL, r.E2E = stats(ttft), stats(itl), stats(e2e)
	return r
}

// stats returns percentiles (nearest rank) in milliseconds.
func stats(v []float64) Stats {
	if len(v) == 0 {
		return Stats{}
	}
	v = slices.Clone(v)
	slices.Sort(v)
	pct := func(p float64) float64 { return 1000 * v[max(0, int(math.Ceil(p*float64(len(v))))-1)] }
	sum := 0.0
	for _, x := range v {
		sum += x
	}
	return Stats{Mean: 1000 * sum / float64(len(v)), P50: pct(0.5), P90: pct(0.9), P99: pct(0.99), Max: 1000 * v[len(v)-1]}
}

// Table writes the report as a Markdown table.
func (r *ServeReport) Table(w io.Writer) {
	fmt.Fprintf(w, "%s: %d requests (%d ok, %d errors) in %.1fs, prompt %s, gen %s, n %d, ",
		r.Model, r.Requests, r.OK, r.Errors, r.Seconds, r.Prompt, r.Gen, r.N)
	if r.Rate > 0 {
		fmt.Fprintf(w, "rate %.1f/s, ", r.Rate)
	}
	fmt.Fprintf(w, "concurrency %d\n", r.Concurrency)
	fmt.Fprintf(w, "throughput: %.2f requests/s, %.1f output tokens/s\n\n", r.RequestsPerSec, r.TokensPerSec)
	fmt.Fprintln(w, "| latency (ms) | mean | p50 | p90 | p99 | max |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- |")
	for _, row := range []struct {
		name string
		s    Stats
	}{{"time to first token", r.TTFT}, {"inter-token", r.ITL}, {"end to end", r.E2E}} {
		fmt.Fprintf(w, "| %s | %.1f | %.1f | %.1f | %.1f | %.1f |\n", row.name, row.s.Mean, row.s.P50, row.s.P90, row.s.P99, row.s.Max)
	}
	for k, n := range r.ErrorKinds {
		fmt.Fprintf(w, "errors %q: %d\n", k, n)
	}
}
