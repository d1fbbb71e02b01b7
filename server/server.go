// Package server is an OpenAI-compatible HTTP API over the engine:
// POST /v1/completions and /v1/chat/completions (JSON or server-sent
// events), GET /v1/models, /health and /metrics (Prometheus), and vLLM's
// POST /tokenize and /detokenize.
//
// Every request runs on the engine's continuous-batching scheduler; its n
// samples share the prompt's KV cache. A full queue answers 429, a client
// that goes away cancels its request (freeing its KV blocks at once), and
// errors are OpenAI error objects.
package server

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tscale/engine/engine"
	"github.com/tscale/engine/engine/chat"
)

// Config configures a Server.
type Config struct {
	// Model is the id served by /v1/models and expected in requests
	// (default: the model file's name without .gguf).
	Model string
	// APIKey, when set, is required as "Authorization: Bearer KEY" on
	// every endpoint but /health and /metrics, which stay open for probes and
	// for the inference gateway's scrapes, as in vLLM.
	APIKey string
	// Timeout bounds one generation request (0 = none).
	Timeout time.Duration
	// MaxBodyBytes bounds a request body (default 8 MiB); larger ones get 413.
	MaxBodyBytes int64
	// BodyTimeout bounds the reading of a request body, whole: a client
	// that has not sent all of it by then gets 408 and its connection is
	// closed (0 = none).
	BodyTimeout time.Duration
	// WriteTimeout bounds each write to a client (a response, or one event
	// of a stream, so long streams go on): a client that stops reading is
	// cut after it, and its request cancelled (0 = none).
	WriteTimeout time.Duration
	// Logger receives one line per request (default slog.Default()).
	Logger *slog.Logger
	// ChatFormat is how chats become prompts: FormatAuto (harmony for
	// gpt-oss models, jinja otherwise), FormatJinja or FormatHarmony.
	ChatFormat string
	// ChatTemplate, when set, is the Jinja chat template used instead of
	// the GGUF's (--chat-template FILE).
	ChatTemplate string
	// MaxSamples bounds the samples of one request (prompts × n, or a
	// strategy's samples; default 256); more get 400.
	MaxSamples int
	// MaxQueue is the engine's queue limit (engine.WithMaxQueue), when
	// known: a request with more samples can never be queued and gets 400
	// up front (0: the engine decides).
	MaxQueue int
	// AllowedOrigins are the browser origins allowed to call the API
	// (CORS); "*" allows any. Empty: no CORS headers.
	AllowedOrigins []string
}

// Server is an http.Handler. It answers 503 until SetEngine gives it a
// model, and again once Drain is called.
type Server struct {
	cfg      Config
	model    atomic.Pointer[loaded]
	draining atomic.Bool
	m        *metrics
	mux      *http.ServeMux
	log      *slog.Logger
	now      func() time.Time // harmony's conversation date (tests fix it)
}

// loaded is the model being served.
type loaded struct {
	e       *engine.Engine
	name    string
	chat    *chat.Formatter
	created int64
}

// New returns a server with no model yet.
func New(cfg Config) *Server {
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 8 << 20
	}
	if cfg.MaxSamples <= 0 {
		cfg.MaxSamples = DefaultMaxSamples
	}
	s := &Server{cfg: cfg, log: cfg.Logger, mux: http.NewServeMux(), now: time.Now}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.m = newMetrics(func() *engine.Engine {
		if l := s.model.Load(); l != nil {
			return l.e
		}
		return nil
	})
	s.m.name = s.servedName
	s.route("/v1/completions", http.MethodPost, s.completions)
	s.route("/v1/chat/completions", http.MethodPost, s.chat)
	s.route("/v1/models", http.MethodGet, s.models)
	s.route("/v1/models/{id}", http.MethodGet, s.modelByID)
	s.route("/tokenize", http.MethodPost, s.tokenize)
	s.route("/detokenize", http.MethodPost, s.detokenize)
	s.route("/health", http.MethodGet, s.health)
	metrics := promhttp.HandlerFor(s.m.reg, promhttp.HandlerOpts{})
	s.route("/metrics", http.MethodGet, metrics.ServeHTTP)
	s.mux.HandleFunc("/", unknownURL)
	return s
}

func unknownURL(w http.ResponseWriter, r *http.Request) {
	writeError(w, newError(http.StatusNotFound, "invalid_request_error", "", "unknown_url",
		"unknown URL: %s %s", r.Method, r.URL.Path))
}

// ErrShutdown is the cause (context.Cause) with which a request's context
// is cancelled when the server shuts down before the request finished; a
// request cut so answers 503 (or, streaming, a server_shutdown error event).
// Cancel the http.Server's BaseContext with it: see cmd/engine's serve.
var ErrShutdown = errors.New("server shutdown")

func shutdownError() *apiError {
	return newError(http.StatusServiceUnavailable, "server_shutdown", "", "server_shutdown",
		"the server shut down before the request finished")
}

// SetEngine starts serving e. Chats use the harmony format (model/harmony)
// when Config.ChatFormat asks for it or, by default, when the GGUF's
// general.architecture is gpt-oss; otherwise the chat template from the
// GGUF key tokenizer.chat_template (a fallback when absent).
func (s *Server) SetEngine(e *engine.Engine) error {
	f, err := chat.New(e, s.cfg.ChatFormat, s.cfg.ChatTemplate)
	if err != nil {
		return err
	}
	if err := f.Check(); err != nil {
		s.log.Warn("the chat template fails on a sample conversation; chat requests may fail", "error", err)
	}
	l := &loaded{e: e, name: s.cfg.Model, created: time.Now().Unix(), chat: f}
	if l.name == "" {
		l.name = strings.TrimSuffix(filepath.Base(e.File().Path), ".gguf")
	}
	s.model.Store(l)
	s.log.Info("model ready", "model", l.name, "context", e.Context(), "chat_format", f.Name)
	return nil
}

// Drain makes the server refuse new work with 503 (and /health report
// 503) while requests in flight finish; call it before http.Server.Shutdown.
func (s *Server) Drain() { s.draining.Store(true) }

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if d := s.cfg.WriteTimeout; d > 0 {
		w = newTimedWriter(w, d)
	}
	// Every body, even one no handler reads: net/http reads what is left
	// of it after the handler.
	if d := s.cfg.BodyTimeout; d > 0 && r.ContentLength != 0 {
		r.Body = newTimedBody(w, r.Body, d)
	}
	if p := r.URL.Path; !strings.HasPrefix(p, "/") || p != cleanPath(p) {
		unknownURL(w, r) // ServeMux would redirect to the clean path, in HTML
		return
	}
	if s.cors(w, r) {
		return
	}
	s.mux.ServeHTTP(w, r)
}

// cleanPath is path.Clean keeping a trailing slash, as ServeMux cleans.
func cleanPath(p string) string {
	c := path.Clean(p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c
}

// info carries what a handler wants logged about its request.
type info struct {
	id    string
	attrs []any
}

type infoKey struct{}

func reqInfo(ctx context.Context) *info {
	if i, ok := ctx.Value(infoKey{}).(*info); ok {
		return i
	}
	return &info{}
}

// route registers a handler for one method with request ids, logging,
// metrics, the API key, the body limit and a JSON 405 for other methods.
func (s *Server) route(pattern, method string, h http.HandlerFunc) {
	endpoint := pattern
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		in := &info{id: requestID(r.Header.Get("X-Request-Id"))}
		w.Header().Set("X-Request-Id", in.id)
		rec := &recorder{ResponseWriter: w, status: http.StatusOK}
		r = r.WithContext(context.WithValue(r.Context(), infoKey{}, in))
		defer func() {
			d := time.Since(start)
			s.m.requests.WithLabelValues(endpoint, strconv.Itoa(rec.status)).Inc()
			if strings.HasPrefix(endpoint, "/v1/") {
				s.m.e2e.WithLabelValues(endpoint).Observe(d.Seconds())
			}
			lvl := slog.LevelInfo
			if rec.status >= 500 {
				lvl = slog.LevelError
			}
			s.log.Log(r.Context(), lvl, "request", append([]any{"request_id", in.id, "method", r.Method,
				"path", r.URL.Path, "status", rec.status, "duration_ms", d.Milliseconds()}, in.attrs...)...)
		}()
		switch {
		case r.Method != method && !(method == http.MethodGet && r.Method == http.MethodHead):
			rec.Header().Set("Allow", method)
			writeError(rec, newError(http.StatusMethodNotAllowed, "invalid_request_error", "", "method_not_allowed",
				"%s %s is not allowed; use %s", r.Method, r.URL.Path, method))
		case pattern != "/health" && pattern != "/metrics" && !s.authorized(r):
			writeError(rec, newError(http.StatusUnauthorized, "invalid_request_error", "", "invalid_api_key",
				"missing or incorrect API key: send it as 'Authorization: Bearer KEY'"))
		default:
			r.Body = http.MaxBytesReader(rec, r.Body, s.cfg.MaxBodyBytes)
			h(rec, r)
		}
	})
}

func (s *Server) authorized(r *http.Request) bool {
	if s.cfg.APIKey == "" {
		return true
	}
	key, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(strings.TrimSpace(key)), []byte(s.cfg.APIKey)) == 1
}

// ready returns the model, or writes 503 while loading or draining.
func (s *Server) ready(w http.ResponseWriter) *loaded {
	if s.draining.Load() {
		writeError(w, unavailable("the server is shutting down"))
		return nil
	}
	l := s.model.Load()
	if l == nil {
		w.Header().Set("Retry-After", "1")
		writeError(w, unavailable("the model is loading"))
	}
	return l
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	switch {
	case s.draining.Load():
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "shutting down"})
	case s.model.Load() == nil:
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "loading"})
	default:
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	}
}

type modelObject struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
	MaxLen  int    `json:"max_model_len"` // the engine's context, as vLLM reports it
}

func (l *loaded) object() modelObject {
	return modelObject{ID: l.name, Object: "model", Created: l.created, OwnedBy: "engine", MaxLen: l.e.Context()}
}

func (s *Server) models(w http.ResponseWriter, r *http.Request) {
	l := s.ready(w)
	if l == nil {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": []modelObject{l.object()}})
}

func (s *Server) modelByID(w http.ResponseWriter, r *http.Request) {
	l := s.ready(w)
	if l == nil {
		return
	}
	if id := r.PathValue("id"); id != l.name {
		writeError(w, modelNotFound(id))
		return
	}
	writeJSON(w, http.StatusOK, l.object())
}

func modelNotFound(id string) *apiError {
	return newError(http.StatusNotFound, "invalid_request_error", "model", "model_not_found",
		"the model %q does not exist", id)
}

// recorder remembers the status for logs and metrics; Unwrap lets
// http.ResponseController flush server-sent events through it.
type recorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (r *recorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.ResponseWriter.Write(b)
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// requestID keeps a client's X-Request-Id when it is short and printable,
// and makes one otherwise.
func requestID(h string) string {
	if n := len(h); n > 0 && n <= 128 && strings.IndexFunc(h, func(c rune) bool { return c < 0x21 || c > 0x7e }) < 0 {
		return h
	}
	return randomID()
}

func randomID() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
