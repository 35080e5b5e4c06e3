package http

import (
	"fmt"
	nethttp "net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// StubConfig configures a Stub. The zero value is a plain, never-freezing
// target answering "ok".
type StubConfig struct {
	// Body is the answer to every request. Default "ok\n".
	Body string
	// FreezeEvery and Freeze make the stub stall: at its start and every
	// FreezeEvery after that it freezes for Freeze — a request arriving
	// during a freeze is answered when the freeze ends. The schedule is
	// strictly periodic, so any measuring window that is a whole number of
	// periods long holds exactly that many freezes, whatever its phase. Both
	// zero: no freezes.
	FreezeEvery, Freeze time.Duration
}

// Stub is a trivial HTTP target for calibrating the harness and comparing it
// with peers (wrk, hey, vegeta, fortio) on the same footing: every request
// gets the same small answer, and, if configured, the stub freezes
// periodically so that the latency a tool reports can be checked against the
// known truth (see GroundTruth).
type Stub struct {
	cfg      StubConfig
	body     []byte
	start    time.Time
	requests atomic.Int64
}

// NewStub returns a stub whose freeze schedule starts now.
func NewStub(cfg StubConfig) (*Stub, error) {
	if cfg.Body == "" {
		cfg.Body = "ok\n"
	}
	if (cfg.Freeze > 0) != (cfg.FreezeEvery > 0) || cfg.Freeze < 0 || cfg.FreezeEvery < 0 {
		return nil, fmt.Errorf("stub: freeze %s every %s: give both, > 0", cfg.Freeze, cfg.FreezeEvery)
	}
	if cfg.Freeze > 0 && cfg.Freeze >= cfg.FreezeEvery {
		return nil, fmt.Errorf("stub: freeze %s must be shorter than its period %s", cfg.Freeze, cfg.FreezeEvery)
	}
	return &Stub{cfg: cfg, body: []byte(cfg.Body), start: time.Now()}, nil
}

// Requests returns how many requests the stub has answered.
func (s *Stub) Requests() int64 { return s.requests.Load() }

// FreezeLeft returns how long a request arriving at elapsed (since the stub
// started) waits for the current freeze to end; 0 outside freezes.
func (s *Stub) FreezeLeft(elapsed time.Duration) time.Duration {
	if s.cfg.Freeze <= 0 || elapsed < 0 {
		return 0
	}
	in := elapsed % s.cfg.FreezeEvery
	if in < s.cfg.Freeze {
		return s.cfg.Freeze - in
	}
	return 0
}

// ServeHTTP implements net/http.Handler.
func (s *Stub) ServeHTTP(w nethttp.ResponseWriter, r *nethttp.Request) {
	if wait := s.FreezeLeft(time.Since(s.start)); wait > 0 {
		time.Sleep(wait)
	}
	h := w.Header()
	h["Content-Type"] = []string{"text/plain"}
	h["Content-Length"] = []string{strconv.Itoa(len(s.body))}
	w.Write(s.body)
	s.requests.Add(1)
}

// GroundTruth is the latency distribution a perfect open-loop client sees
// against a stub that freezes for f every period p, when requests are
// otherwise answered at once: a request falling due during a freeze waits
// for its end, so a share f/p of requests wait uniformly between 0 and f and
// the rest wait nothing. Quantile q (0–1) of that distribution:
//
//	q ≤ 1 − f/p:  0
//	else:          f · (1 − (1 − q) · p / f)
//
// For f = 500 ms, p = 5 s: p95 250 ms, p99 450 ms, p99.9 495 ms, max 500 ms.
func GroundTruth(f, p time.Duration, q float64) time.Duration {
	share := float64(f) / float64(p)
	if q <= 1-share {
		return 0
	}
	return time.Duration(float64(f) * (1 - (1-q)/share))
}
