package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/tscale/engine/engine"
	"github.com/tscale/engine/server"
)

func serveCmd() *cobra.Command {
	var (
		modelPath, addr, apiKey, name, logFormat, format string
		host, origins                                    string
		port                                             int
		threads, ctxSize, maxQueue, kvBlocks             int
		timeout                                          time.Duration
		bodyTimeout, writeTimeout                        time.Duration
		lc                                               listenConfig
		maxBody                                          int64
		verbose                                          bool
		maxSamples                                       int
	)
	tmpl := &templateFlag{}
	c := &cobra.Command{
		Use:   "serve -m MODEL [--host 127.0.0.1 --port 8080 | --addr 127.0.0.1:8080]",
		Short: "Serve an OpenAI-compatible HTTP API (completions, chat, models, tokenize, health, metrics)",
		Long: `Serve an OpenAI-compatible HTTP API over the model.

MODEL is a GGUF file or a known name (engine models), downloaded into the
cache first when missing. The file is checked (header, tensors, tokenizer,
architecture) before the port opens, so a wrong model fails at once; then
the port opens and /health answers 503 while the model loads, then 200.
SIGTERM or SIGINT stops accepting connections, lets running requests finish
within --shutdown-timeout (then cancels them: streams end with a
server_shutdown error event, other requests get 503) and exits 0. The API
key can also come from the environment variable ENGINE_API_KEY.

Slow clients are bounded: request headers must arrive within
--header-timeout, a body within --body-timeout (408), each write to a client
must finish within --write-timeout, idle keep-alive connections close after
--idle-timeout, and above --max-conns open connections new ones wait.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if modelPath == "" {
				return errors.New("serve: --model is required")
			}
			var err error
			if maxQueue < 1 || timeout < 0 || lc.shutdownTimeout < 0 || maxBody < 0 {
				return errors.New("serve: need --max-queue >= 1 and non-negative --timeout, --shutdown-timeout, --max-body")
			}
			if maxSamples < 1 {
				return errors.New("serve: need --max-samples >= 1")
			}
			if bodyTimeout < 0 || writeTimeout < 0 || lc.headerTimeout < 0 || lc.idleTimeout < 0 || lc.maxConns < 0 {
				return errors.New("serve: need non-negative --header-timeout, --body-timeout, --write-timeout, --idle-timeout, --max-conns")
			}
			if addr, err = listenAddr(cmd, addr, host, port); err != nil {
				return err
			}
			allowed, err := parseOrigins(origins)
			if err != nil {
				return err
			}
			if apiKey == "" {
				apiKey = os.Getenv("ENGINE_API_KEY")
			}
			formats := map[string]string{"auto": server.FormatAuto, "jinja": server.FormatJinja, "harmony": server.FormatHarmony}
			chatFormat, ok := formats[format]
			if !ok {
				return fmt.Errorf("serve: unknown --chat-format %q (auto, jinja, harmony)", format)
			}
			log, err := newLogger(cmd.ErrOrStderr(), logFormat, verbose)
			if err != nil {
				return err
			}
			path, err := resolveModel(cmd.Context(), modelPath, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if name == "" && path != modelPath {
				name = modelPath // served under the name it was asked by
			}
			opts := []engine.Option{engine.WithThreads(threads), engine.WithContext(ctxSize), engine.WithMaxQueue(maxQueue), withDevice()}
			if kvBlocks > 0 {
				opts = append(opts, engine.WithKVBlocks(kvBlocks))
			}
			src, err := tmpl.read()
			if err != nil {
				return fmt.Errorf("serve: %w", err)
			}
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
			defer stop()
			return serve(ctx, log, addr, path, opts, lc, server.Config{
				Model: name, APIKey: apiKey, Timeout: timeout, MaxBodyBytes: maxBody, Logger: log,
				BodyTimeout: bodyTimeout, WriteTimeout: writeTimeout,
				ChatFormat: chatFormat, ChatTemplate: src, MaxSamples: maxSamples, MaxQueue: maxQueue,
				AllowedOrigins: allowed,
			})
		},
	}
	f := c.Flags()
	f.StringVarP(&modelPath, "model", "m", "", "GGUF model file, or a known name (engine models)")
	f.StringVar(&addr, "addr", "127.0.0.1:8080", "listen address (port 0 picks a free port; the log says which)")
	f.StringVar(&host, "host", "127.0.0.1", "listen host, as llama-server / vLLM take it (with --port; instead of --addr; \"\" = every interface)")
	f.IntVar(&port, "port", 8080, "listen port (with --host; instead of --addr)")
	f.StringVar(&origins, "allowed-origins", "", "browser origins allowed to call the API (CORS), comma-separated, or * (default: none, no CORS headers)")
	f.StringVar(&name, "model-name", "", "model id for the API (default: the name given to -m, or the file name without .gguf)")
	f.StringVar(&apiKey, "api-key", "", "require 'Authorization: Bearer KEY' (default: $ENGINE_API_KEY)")
	f.DurationVar(&timeout, "timeout", 10*time.Minute, "deadline of one request (0 = none)")
	f.DurationVar(&lc.shutdownTimeout, "shutdown-timeout", 30*time.Second, "on SIGTERM, how long running requests may finish")
	f.DurationVar(&lc.headerTimeout, "header-timeout", 10*time.Second, "time to read a request's headers (0 = none)")
	f.DurationVar(&bodyTimeout, "body-timeout", 30*time.Second, "time to read a request's whole body; 408 after it (0 = none)")
	f.DurationVar(&writeTimeout, "write-timeout", time.Minute, "time for each write to a client (a response, one event of a stream); the client is cut after it (0 = none)")
	f.DurationVar(&lc.idleTimeout, "idle-timeout", time.Minute, "idle keep-alive connections close after it (0 = never)")
	f.IntVar(&lc.maxConns, "max-conns", 1024, "open connections at most; more wait until one closes (0 = no limit)")
	f.IntVar(&maxQueue, "max-queue", 256, "samples waiting to start before requests get 429 (n samples count n; one request with more gets 400)")
	f.IntVar(&maxSamples, "max-samples", server.DefaultMaxSamples, "samples of one request at most (prompts × n, or a reasoning strategy's), 400 above: "+
		"each sample holds its own host state and KV blocks, and the default equals --max-queue's, so any request within it can be queued whole")
	f.Int64Var(&maxBody, "max-body", 8<<20, "largest request body in bytes (413 above)")
	f.IntVarP(&threads, "threads", "t", 0, "CPU threads (0 = all)")
	deviceFlag(c)
	f.IntVarP(&ctxSize, "ctx-size", "c", 0, "context size in tokens (0 = the model's trained length, or the most the KV budget holds)")
	f.IntVar(&kvBlocks, "kv-blocks", 0, "KV cache blocks of 16 tokens (0 = enough for 8 full contexts)")
	f.StringVar(&logFormat, "log-format", "text", "log format: text or json")
	f.StringVar(&format, "chat-format", "auto", "how chats become prompts: auto (harmony for gpt-oss, else the GGUF's jinja template), jinja, harmony")
	f.BoolVarP(&verbose, "verbose", "v", false, "debug logs")
	tmpl.flag(c)
	return c
}

func newLogger(w io.Writer, format string, verbose bool) (*slog.Logger, error) {
	o := &slog.HandlerOptions{Level: slog.LevelInfo}
	if verbose {
		o.Level = slog.LevelDebug
	}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, o)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, o)), nil
	}
	return nil, fmt.Errorf("serve: --log-format must be text or json, got %q", format)
}

// listenConfig is how serve runs its connections.
type listenConfig struct {
	shutdownTimeout time.Duration // for running requests to finish on SIGTERM
	headerTimeout   time.Duration // to read a request's headers
	idleTimeout     time.Duration // of a keep-alive connection between requests
	maxConns        int           // open connections (0 = no limit)
}

// cutGrace is how long requests cut at the end of a shutdown have to send
// their error before their connections are closed.
const cutGrace = 2 * time.Second

// serve listens at once, loads the model in the background and serves
// until ctx ends, then shuts down gracefully.
func serve(ctx context.Context, log *slog.Logger, addr, modelPath string, opts []engine.Option,
	lc listenConfig, cfg server.Config) error {
	// A model that cannot load fails here, before the port opens.
	if err := checkModel(modelPath); err != nil {
		return err
	}
	srv := server.New(cfg)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	if lc.maxConns > 0 {
		ln = server.LimitListener(ln, lc.maxConns)
	}
	// Requests live under base, so a shutdown that runs out of time can
	// cancel them (which frees their KV at once) with a cause they tell
	// from a client's disconnect.
	base, cancelAll := context.WithCancelCause(context.Background())
	defer cancelAll(nil)
	// No WriteTimeout here: it would cut long streams (the server sets a
	// deadline per write instead).
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: lc.headerTimeout, IdleTimeout: lc.idleTimeout,
		BaseContext: func(net.Listener) context.Context { return base }}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	log.Info("listening", "addr", ln.Addr().String(), "model", modelPath)

	type result struct {
		e   *engine.Engine
		err error
	}
	loaded := make(chan result, 1)
	go func() {
		start := time.Now()
		e, err := engine.Open(modelPath, opts...)
		if err == nil {
			if err = srv.SetEngine(e); err != nil {
				e.Close()
				e = nil
			}
		}
		if err == nil {
			log.Info("model loaded", "seconds", time.Since(start).Seconds())
		}
		loaded <- result{e, err}
	}()

	var eng *engine.Engine
	for eng == nil {
		select {
		case r := <-loaded:
			if r.err != nil {
				hs.Close()
				return r.err
			}
			eng = r.e
		case err := <-served:
			return fmt.Errorf("serve: %w", err)
		case <-ctx.Done():
			// Stopped while loading: wait for the load, then shut down.
			if r := <-loaded; r.e != nil {
				defer r.e.Close()
			}
			srv.Drain()
			hs.Close()
			log.Info("stopped while loading")
			return nil
		}
	}
	defer eng.Close()
	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down", "timeout", lc.shutdownTimeout.String())
	srv.Drain()
	sctx, cancel := context.WithTimeout(context.Background(), lc.shutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		log.Warn("running requests did not finish in time; cancelling them", "err", err)
		cancelAll(server.ErrShutdown)
		// Let them send their error, then close what is left.
		gctx, stop := context.WithTimeout(context.Background(), cutGrace)
		hs.Shutdown(gctx)
		stop()
		hs.Close()
	}
	log.Info("stopped")
	return nil
}

// listenAddr is --addr, or --host and --port when either is given.
func listenAddr(cmd *cobra.Command, addr, host string, port int) (string, error) {
	f := cmd.Flags()
	if !f.Changed("host") && !f.Changed("port") {
		return addr, nil
	}
	if f.Changed("addr") {
		return "", errors.New("serve: give --addr or --host/--port, not both")
	}
	if port < 0 || port > 65535 {
		return "", fmt.Errorf("serve: --port must be 0 to 65535, got %d", port)
	}
	return net.JoinHostPort(host, strconv.Itoa(port)), nil
}

// parseOrigins reads --allowed-origins: "*" or origins such as
// https://app.example:8443, comma-separated.
func parseOrigins(s string) ([]string, error) {
	var out []string
	for _, o := range strings.Split(s, ",") {
		o = strings.TrimSpace(o)
		if o == "" {
			continue
		}
		if o != "*" {
			u, err := url.Parse(o)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") ||
				u.RawQuery != "" || u.User != nil {
				return nil, fmt.Errorf("serve: --allowed-origins: %q is not an origin (scheme://host[:port]) nor *", o)
			}
			o = strings.TrimSuffix(o, "/")
		}
		out = append(out, o)
	}
	return out, nil
}
