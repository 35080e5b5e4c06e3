package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/engram-bench/engram-bench/engine"
)

// Config configures a Server. The zero value of each optional field means its
// documented default.
type Config struct {
	// Store is the engine the server serves. Required. The server never
	// closes it.
	Store *engine.Store
	// Keys, when non-nil and not empty, turns authentication on: every route
	// but /health/alive needs a valid bearer key (see ParseKeys).
	Keys *KeySet
	// MaxInflight is the most requests handled at once (health, metrics and
	// pprof routes excepted); beyond it the server answers 503 with
	// Retry-After at once instead of queueing. 0 means DefaultMaxInflight;
	// a negative value means no limit.
	MaxInflight int
	// MaxBodyBytes bounds a request body; larger ones get 413. 0 means
	// DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Registry receives the server's Prometheus metrics and is served at
	// /metrics/prometheus. nil means a new registry with the Go and process
	// collectors.
	Registry *prometheus.Registry
	// Version is reported by /health.
	Version string
	// DataDir is reported as the spaces' persistence root.
	DataDir string
	// Logger receives errors the server answers with a 5xx. nil discards them.
	Logger *slog.Logger
	// BackupDir is where POST /api/v1/admin/backup writes backups; "" turns
	// the admin backup routes off (501).
	BackupDir string
	// BackupStaging is where a backup's transient checkpoint is made: best
	// on the data directory's file system (hard links). "" means beside the
	// backup.
	BackupStaging string
	// Admin, when set, serves every path under /admin/ (engramd mounts the
	// chaos disk-fault switch there with --admin). It sits behind
	// authentication like every route and is exempt from the in-flight
	// limit. nil: /admin/ is 404 like any unknown path.
	Admin http.Handler
}

// Defaults for Config.
const (
	DefaultMaxInflight  = 1024
	DefaultMaxBodyBytes = 4 << 20 // 4 MiB: a 768-d memory is ~10 KB, a batch of 100 ~1 MB
	// DefaultSpace is the memory space of requests that name none.
	DefaultSpace = "default"
)

// Server is Engram's HTTP API over an engine.Store. It is an http.Handler
// and safe for concurrent use.
type Server struct {
	cfg      Config
	store    *engine.Store
	mux      *http.ServeMux
	handler  http.Handler
	metrics  *metrics
	backups  *backups
	inflight atomic.Int64
	started  time.Time
	log      *slog.Logger
}

var _ http.Handler = (*Server)(nil)

// New returns a server for cfg.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil {
		return nil, errors.New("server: Config.Store is required")
	}
	if cfg.MaxInflight == 0 {
		cfg.MaxInflight = DefaultMaxInflight
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.MaxBodyBytes < 0 {
		return nil, fmt.Errorf("server: MaxBodyBytes %d: must be > 0", cfg.MaxBodyBytes)
	}
	if cfg.Version == "" {
		cfg.Version = "dev"
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, store: cfg.Store, mux: http.NewServeMux(), started: time.Now(), log: log}
	m, err := newMetrics(cfg.Registry, s)
	if err != nil {
		return nil, err
	}
	s.metrics = m
	if s.backups, err = newBackups(m.reg); err != nil {
		return nil, err
	}
	s.routes()
	s.handler = s.middleware(s.mux)
	return s, nil
}

// Registry returns the Prometheus registry the server exposes.
func (s *Server) Registry() *prometheus.Registry { return s.metrics.reg }

// Inflight returns the number of requests being handled now.
func (s *Server) Inflight() int64 { return s.inflight.Load() }

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// handlerFunc is a handler that returns an *APIError (or any error, which
// becomes a 500) instead of writing it.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

func (s *Server) wrap(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.fail(w, r, err)
		}
	})
}

// fail answers err: an *APIError as itself, anything else as a 500 (which is
// logged: a 500 is our bug or a storage failure, never the client's mistake).
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var ae *APIError
	if errors.As(err, &ae) {
		writeError(w, ae)
		return
	}
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		// The client went away; nobody reads the answer.
		writeError(w, &APIError{Status: 499, Code: CodeClientClosed, Message: "client closed the request"})
		return
	}
	s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	writeError(w, &APIError{Status: http.StatusInternalServerError, Code: CodeSystemError, Message: err.Error()})
}

func (s *Server) routes() {
	m := s.mux
	m.Handle("POST /api/v1/memories/remember", s.wrap(s.handleRemember))
	m.Handle("POST /api/v1/memories", s.wrap(s.handleRememberSimple))
	m.Handle("POST /api/v1/memories/batch", s.wrap(s.handleRememberBatch))
	m.Handle("POST /api/v1/episodes/remember", s.wrap(s.handleEpisode))
	m.Handle("GET /api/v1/memories/recall", s.wrap(s.handleRecall))
	m.Handle("POST /api/v1/memories/recall", s.wrap(s.handleRecall))
	m.Handle("GET /api/v1/memories/search", s.wrap(s.handleSearch))
	m.Handle("GET /api/v1/memories/{id}", s.wrap(s.handleGet))
	m.Handle("DELETE /api/v1/memories/{id}", s.wrap(s.handleDelete))
	m.Handle("GET /api/v1/spaces", s.wrap(s.handleSpaces))
	m.Handle("POST /api/v1/spaces", s.wrap(s.handleCreateSpace))
	m.Handle("GET /api/v1/consolidations", s.wrap(s.handleConsolidations))
	m.Handle("POST /api/v1/consolidations", s.wrap(s.handleConsolidate))
	m.Handle("GET /api/v1/consolidations/{id}", s.wrap(s.handleConsolidation))
	m.Handle("POST /api/v1/complete", s.wrap(s.handleComplete))
	m.Handle("POST /api/v1/admin/backup", s.wrap(s.handleBackup))
	m.Handle("GET /api/v1/admin/backups", s.wrap(s.handleBackups))
	m.Handle("GET /health", s.wrap(s.handleHealth))
	m.Handle("GET /health/alive", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }))
	m.Handle("GET /api/v1/system/health", s.wrap(s.handleSystemHealth))
	m.Handle("GET /metrics/prometheus", s.metrics.handler())
	m.Handle("GET /debug/pprof/", http.HandlerFunc(pprof.Index))
	m.Handle("GET /debug/pprof/cmdline", http.HandlerFunc(pprof.Cmdline))
	m.Handle("GET /debug/pprof/profile", http.HandlerFunc(pprof.Profile))
	m.Handle("GET /debug/pprof/symbol", http.HandlerFunc(pprof.Symbol))
	m.Handle("POST /debug/pprof/symbol", http.HandlerFunc(pprof.Symbol))
	m.Handle("GET /debug/pprof/trace", http.HandlerFunc(pprof.Trace))
	if s.cfg.Admin != nil {
		m.Handle("/admin/", s.cfg.Admin)
	}
	m.Handle("/", s.wrap(s.handleNotFound))
}

// exempt reports whether a path bypasses the in-flight limit: probes,
// metrics and profiles must answer even when the server sheds load.
func exempt(path string) bool {
	return strings.HasPrefix(path, "/health") || strings.HasPrefix(path, "/metrics") || strings.HasPrefix(path, "/debug/pprof") || strings.HasPrefix(path, "/admin/")
}

// middleware wraps the mux: security headers, panic recovery, the body
// limit, the in-flight limit, authentication and request metrics, in that
// order.
func (s *Server) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-XSS-Protection", "1; mode=block")
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.Error("handler panic", "method", r.Method, "path", r.URL.Path, "panic", p)
				if !sw.wrote {
					writeError(sw, &APIError{Status: http.StatusInternalServerError, Code: CodeSystemError, Message: fmt.Sprintf("internal error: %v", p)})
				}
			}
			s.metrics.observe(r, sw.status(), time.Since(start))
		}()
		if r.Body != nil {
			r.Body = http.MaxBytesReader(sw, r.Body, s.cfg.MaxBodyBytes)
		}
		if !exempt(r.URL.Path) && s.cfg.MaxInflight > 0 {
			n := s.inflight.Add(1)
			defer s.inflight.Add(-1)
			if n > int64(s.cfg.MaxInflight) {
				s.metrics.shed.Inc()
				writeError(sw, &APIError{Status: http.StatusServiceUnavailable, Code: CodeOverloaded, RetryAfter: 1,
					Message: fmt.Sprintf("server at its limit of %d requests in flight", s.cfg.MaxInflight)})
				return
			}
		}
		if s.cfg.Keys.Enabled() && r.URL.Path != "/health/alive" {
			key, apiErr := s.cfg.Keys.authenticate(r.Header.Get("Authorization"))
			if apiErr != nil {
				writeError(sw, apiErr)
				return
			}
			r = r.WithContext(withKey(r.Context(), key))
		}
		next.ServeHTTP(sw, r)
	})
}

// statusWriter remembers the status code written.
type statusWriter struct {
	http.ResponseWriter
	code  int
	wrote bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.code, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.code, w.wrote = http.StatusOK, true
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) status() int {
	if !w.wrote {
		return http.StatusOK
	}
	return w.code
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush implements http.Flusher (pprof's trace and profile stream).
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
