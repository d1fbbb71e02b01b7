package server

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestLoad sends 300 requests, 32 at a time, mixing endpoints, streaming
// and n; every tenth is a stream the client drops after its first event.
// Every other request must get a complete, valid response; afterwards no
// KV block is in use and no goroutine is left behind.
func TestLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("load test skipped in -short mode")
	}
	ts, _, e := newTestServer(t, Config{})
	tr := &http.Transport{MaxIdleConnsPerHost: 32}
	client := &http.Client{Transport: tr}
	base := runtime.NumGoroutine()

	const total, workers = 300, 32
	jobs := make(chan int)
	errs := make(chan error, total)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range jobs {
				if err := loadRequest(client, ts.URL, i); err != nil {
					errs <- fmt.Errorf("request %d: %w", i, err)
				}
			}
		})
	}
	for i := range total {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	close(errs)
	var failed []string
	for err := range errs {
		failed = append(failed, err.Error())
	}
	require.Empty(t, failed)

	waitFor(t, 5*time.Second, "KV blocks to be freed", func() bool {
		s := e.Stats()
		return s.KV.Used == 0 && s.Running == 0 && s.Waiting == 0
	})
	tr.CloseIdleConnections()
	var n int
	deadline := time.Now().Add(5 * time.Second)
	for n = runtime.NumGoroutine(); n > base && time.Now().Before(deadline); n = runtime.NumGoroutine() {
		time.Sleep(10 * time.Millisecond)
	}
	buf := make([]byte, 1<<20)
	require.LessOrEqual(t, n, base, "goroutines leaked:\n%s", buf[:runtime.Stack(buf, true)])
}

// loadRequest sends request i and checks its response.
func loadRequest(client *http.Client, url string, i int) error {
	chat := i%2 == 1
	stream := i%3 != 0
	cancel := i%10 == 9
	n := 1 + i%3
	req := map[string]any{"model": "stories260K", "n": n, "max_tokens": 8 + i%24, "seed": i, "stream": stream}
	path := "/v1/completions"
	if chat {
		path = "/v1/chat/completions"
		req["messages"] = []map[string]any{{"role": "user", "content": fmt.Sprintf("Tell story %d", i)}}
	} else {
		req["prompt"] = fmt.Sprintf("Once upon a time %d", i)
	}
	if cancel {
		req["stream"], req["max_tokens"], req["ignore_eos"] = true, 1500, true
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, url+path, strings.NewReader(mustJSON(req)))
	if err != nil {
		return err
	}
	res, err := client.Do(hr)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(res.Body)
		return fmt.Errorf("status %d: %s", res.StatusCode, b)
	}
	if cancel {
		if _, err := bufio.NewReader(res.Body).ReadString('\n'); err != nil {
			return err
		}
		stop() // drop the stream mid-way
		return nil
	}
	finished := make([]string, n)
	if stream {
		sc := bufio.NewScanner(res.Body)
		done := false
		for sc.Scan() {
			data, ok := strings.CutPrefix(sc.Text(), "data: ")
			if !ok {
				if sc.Text() != "" {
					return fmt.Errorf("bad line %q", sc.Text())
				}
				continue
			}
			if data == "[DONE]" {
				done = true
				continue
			}
			var ev struct {
				Choices []struct {
					Index        int
					FinishReason *string `json:"finish_reason"`
				}
			}
			if err := json.Unmarshal([]byte(data), &ev); err != nil {
				return fmt.Errorf("bad event %q: %w", data, err)
			}
			for _, c := range ev.Choices {
				if c.FinishReason != nil {
					finished[c.Index] = *c.FinishReason
				}
			}
		}
		if err := sc.Err(); err != nil {
			return err
		}
		if !done {
			return fmt.Errorf("stream without [DONE]")
		}
	} else {
		var r struct {
			Choices []struct {
				Index        int
				FinishReason string `json:"finish_reason"`
			}
			Usage usage
		}
		if err := json.NewDecoder(res.Body).Decode(&r); err != nil {
			return err
		}
		if len(r.Choices) != n || r.Usage.CompletionTokens < 1 || r.Usage.PromptTokens < 1 {
			return fmt.Errorf("incomplete response %+v", r)
		}
		for _, c := range r.Choices {
			finished[c.Index] = c.FinishReason
		}
	}
	for k, f := range finished {
		if f != "stop" && f != "length" {
			return fmt.Errorf("choice %d finished with %q", k, f)
		}
	}
	return nil
}
