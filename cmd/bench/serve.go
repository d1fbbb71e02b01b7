package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tscale/engine/bench"
	"github.com/tscale/engine/engine"
	"github.com/tscale/engine/server"
)

func serveCmd() *cobra.Command {
	var (
		url, model, modelName, apiKey, promptLen, genLen, jsonPath, plotPrefix string
		requests, concurrency, n, threads, maxQueue                            int
		rate                                                                   float64
		seed                                                                   uint64
	)
	c := &cobra.Command{
		Use:   "serve (--url URL | -m MODEL)",
		Short: "Load an OpenAI-compatible server: throughput, TTFT, inter-token and end-to-end latency",
		Long: `Drive a running server (--url) or one started in-process on a loopback port
(-m MODEL) with streamed completions, at a fixed request rate (--rate, Poisson
arrivals) or as a closed loop of --concurrency clients. Prompt and output lengths
are drawn uniformly from --prompt and --gen (N or MIN-MAX tokens). Prints a
Markdown table; --json and --plot write the report and PNG plots.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if (url == "") == (model == "") {
				return errors.New("serve: give exactly one of --url and --model")
			}
			pr, err := bench.ParseRange(promptLen)
			if err != nil {
				return fmt.Errorf("serve: --prompt: %w", err)
			}
			gr, err := bench.ParseRange(genLen)
			if err != nil {
				return fmt.Errorf("serve: --gen: %w", err)
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
			defer stop()
			if model != "" {
				e, err := engine.Open(model, engine.WithThreads(threads), engine.WithMaxQueue(maxQueue))
				if err != nil {
					return err
				}
				defer e.Close()
				if modelName == "" {
					modelName = strings.TrimSuffix(filepath.Base(model), ".gguf")
				}
				srv := server.New(server.Config{Model: modelName, APIKey: apiKey, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
				if err := srv.SetEngine(e); err != nil {
					return err
				}
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					return err
				}
				hs := &http.Server{Handler: srv}
				go hs.Serve(ln)
				defer hs.Close()
				url = "http://" + ln.Addr().String()
			}
			if modelName == "" {
				if modelName, err = firstModel(ctx, url, apiKey); err != nil {
					return err
				}
			}
			rep, samples, err := bench.RunServe(ctx, bench.ServeConfig{
				URL: url, Model: modelName, APIKey: apiKey, Requests: requests, Rate: rate, Concurrency: concurrency,
				Prompt: pr, Gen: gr, N: n, Seed: seed,
			})
			if err != nil {
				return err
			}
			rep.Table(cmd.OutOrStdout())
			if jsonPath != "" {
				b, _ := json.MarshalIndent(map[string]any{"report": rep, "requests": samples}, "", "  ")
				if err := os.WriteFile(jsonPath, append(b, '\n'), 0o644); err != nil {
					return err
				}
			}
			if plotPrefix != "" {
				title := fmt.Sprintf("%s: prompt %s, gen %s, n %d, concurrency %d", modelName, pr, gr, n, concurrency)
				if rate > 0 {
					title += fmt.Sprintf(", %.1f req/s", rate)
				}
				return bench.PlotServe(samples, title, plotPrefix)
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&url, "url", "", "base URL of a running server (e.g. http://127.0.0.1:8080)")
	f.StringVarP(&model, "model", "m", "", "GGUF model to serve in-process on a loopback port")
	f.StringVar(&modelName, "model-name", "", "model id to request (default: the server's first model)")
	f.StringVar(&apiKey, "api-key", os.Getenv("ENGINE_API_KEY"), "API key (default: $ENGINE_API_KEY)")
	f.IntVar(&requests, "requests", 200, "requests to send")
	f.Float64Var(&rate, "rate", 0, "requests per second, Poisson arrivals (0 = closed loop)")
	f.IntVar(&concurrency, "concurrency", 16, "requests in flight at most")
	f.StringVar(&promptLen, "prompt", "32-128", "prompt tokens: N or MIN-MAX (uniform)")
	f.StringVar(&genLen, "gen", "32-128", "output tokens per sample: N or MIN-MAX (uniform)")
	f.IntVar(&n, "n", 1, "samples per request")
	f.Uint64Var(&seed, "seed", 1, "seed of the length and prompt draws")
	f.IntVarP(&threads, "threads", "t", 2, "CPU threads (with -m)")
	f.IntVar(&maxQueue, "max-queue", 4096, "server queue bound in samples (with -m)")
	f.StringVar(&jsonPath, "json", "", "write the report and every request's timings as JSON here")
	f.StringVar(&plotPrefix, "plot", "", "write PREFIX-latency.png and PREFIX-timeline.png")
	return c
}

// firstModel asks the server which model it serves.
func firstModel(ctx context.Context, url, apiKey string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(url, "/")+"/v1/models", nil)
	if err != nil {
		return "", err
	}
	if apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+apiKey)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("serve: %w", err)
	}
	defer res.Body.Close()
	var list struct{ Data []struct{ ID string } }
	if err := json.NewDecoder(res.Body).Decode(&list); err != nil || len(list.Data) == 0 {
		return "", fmt.Errorf("serve: %s/v1/models gave status %d and no model", url, res.StatusCode)
	}
	return list.Data[0].ID, nil
}
