// Package http is the generic HTTP driver: it load-tests any HTTP service
// from a targets file in vegeta's formats (see ParseTargets and
// docs/http-driver.md), op i sending target i mod n. It is also how
// engram-bench is compared with wrk, hey, vegeta and fortio.
//
// It sends through drivers/internal/h1: prebuilt request bytes written in one
// call on keep-alive connections (a pool per host sized to the run's
// concurrency), answers parsed in place and their bodies discarded, so a
// request costs a few microseconds of client CPU. Latency is the runner's:
// end minus the op's intended start.
//
// Options (--driver-opt): targets=FILE (else --target URL: GET it),
// timeout=DURATION (default 30s), user-agent=STRING. Answers 2xx and 3xx are
// successes; 503 counts as class "overload", other 4xx and 5xx as "4xx" and
// "5xx"; transport failures as "timeout", "connection_refused", "connection_reset" or "protocol".
//
// Concurrency: a Driver is safe for concurrent use.
package http

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"sort"
	"time"

	"github.com/engram-bench/engram-bench/drivers"
	"github.com/engram-bench/engram-bench/drivers/internal/h1"
	"github.com/engram-bench/engram-bench/workloads"
)

// Driver sends the targets round-robin by op index.
type Driver struct {
	reqs    []request
	clients map[string]*h1.Client
	conns   int
}

type request struct {
	wire   []byte
	head   bool
	client *h1.Client
}

var (
	_ drivers.Driver      = (*Driver)(nil)
	_ drivers.Prober      = (*Driver)(nil)
	_ drivers.Warmer      = (*Driver)(nil)
	_ drivers.OpNamer     = (*Driver)(nil)
	_ drivers.FillSkipper = (*Driver)(nil)
)

// OpName is the histogram every request of this driver is recorded under.
const OpName = "http"

func init() {
	drivers.Register(drivers.Meta{
		Name: "http",
		Help: "any HTTP service: --driver-opt targets=FILE (vegeta's format) or --target URL",
		New:  newFromConfig,
	})
}

func newFromConfig(_ context.Context, cfg drivers.Config) (drivers.Driver, error) {
	var targets []Target
	var err error
	if path := cfg.Options["targets"]; path != "" {
		data, rerr := os.ReadFile(path)
		if rerr != nil {
			return nil, fmt.Errorf("http driver: targets: %w", rerr)
		}
		targets, err = ParseTargets(path, data, os.ReadFile)
	} else if cfg.Target != "" {
		u, perr := parseURL(cfg.Target)
		if perr != nil {
			return nil, fmt.Errorf("http driver: --target %q: %v", cfg.Target, perr)
		}
		targets = []Target{{Method: "GET", URL: u}}
	} else {
		return nil, errors.New("http driver: give --driver-opt targets=FILE or --target URL")
	}
	if err != nil {
		return nil, fmt.Errorf("http driver: %w", err)
	}
	o := Options{Concurrency: cfg.Concurrency, UserAgent: "engram-bench"}
	if v, ok := cfg.Options["timeout"]; ok {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("http driver option timeout=%q: want a positive duration (e.g. 5s)", v)
		}
		o.Timeout = d
	}
	if v, ok := cfg.Options["user-agent"]; ok {
		o.UserAgent = v
	}
	for k := range cfg.Options {
		switch k {
		case "targets", "timeout", "user-agent":
		default:
			return nil, fmt.Errorf("http driver option %q: unknown (have targets, timeout, user-agent)", k)
		}
	}
	return New(targets, o)
}

// Options configure New.
type Options struct {
	// Concurrency sizes each host's connection pool. Default 64.
	Concurrency int
	// Timeout bounds one request. Default 30 s.
	Timeout time.Duration
	// UserAgent is sent unless a target sets its own.
	UserAgent string
}

// New returns a driver for targets.
func New(targets []Target, o Options) (*Driver, error) {
	if len(targets) == 0 {
		return nil, errors.New("http driver: no targets")
	}
	if o.UserAgent == "" {
		o.UserAgent = "engram-bench"
	}
	d := &Driver{clients: map[string]*h1.Client{}, conns: max(o.Concurrency, 1)}
	for i := range targets {
		t := &targets[i]
		addr := net.JoinHostPort(t.URL.Hostname(), portOf(t.URL))
		key := t.URL.Scheme + "://" + addr
		c := d.clients[key]
		if c == nil {
			cfg := h1.Config{Addr: addr, Conns: o.Concurrency, Timeout: o.Timeout}
			if t.URL.Scheme == "https" {
				cfg.TLS = &tls.Config{ServerName: t.URL.Hostname(), NextProtos: []string{"http/1.1"}}
			}
			var err error
			if c, err = h1.New(cfg); err != nil {
				return nil, err
			}
			d.clients[key] = c
		}
		d.reqs = append(d.reqs, request{wire: t.wire(o.UserAgent), head: t.Method == "HEAD", client: c})
	}
	return d, nil
}

// OpNames implements drivers.OpNamer: every request is an "http" op.
func (d *Driver) OpNames() []string { return []string{OpName} }

// SkipsFill implements drivers.FillSkipper: only op.Index is used.
func (d *Driver) SkipsFill() bool { return true }

// Probe implements drivers.Prober: every host must accept a connection.
func (d *Driver) Probe(ctx context.Context) error { return d.warm(ctx, 1) }

// Warm implements drivers.Warmer: the pools are filled, so the run does not
// pay for connecting.
func (d *Driver) Warm(ctx context.Context) error { return d.warm(ctx, d.conns) }

// warm fills each host's pool to n connections, hosts in name order.
func (d *Driver) warm(ctx context.Context, n int) error {
	keys := make([]string, 0, len(d.clients))
	for k := range d.clients {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := d.clients[k].Warm(ctx, n); err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
	}
	return nil
}

// Do implements drivers.Driver: op i sends target i mod n.
func (d *Driver) Do(ctx context.Context, op *workloads.Op) error {
	op.Kind = 0
	r := &d.reqs[op.Index%uint64(len(d.reqs))]
	resp, err := r.client.Do(ctx, r.wire, false, r.head)
	if err != nil {
		return TransportError(ctx, err)
	}
	st := resp.Status
	resp.Release()
	return StatusError(st)
}

// Close closes idle connections.
func (d *Driver) Close() error {
	for _, c := range d.clients {
		c.Close()
	}
	return nil
}

// StatusError returns nil for 1xx–3xx and a classed error otherwise: 503
// "overload", other 4xx "4xx", other 5xx "5xx".
func StatusError(status int) error {
	switch {
	case status < 400:
		return nil
	case status == 503:
		return drivers.WithClass("overload", fmt.Errorf("status %d", status))
	case status < 500:
		return drivers.WithClass("4xx", fmt.Errorf("status %d", status))
	default:
		return drivers.WithClass("5xx", fmt.Errorf("status %d", status))
	}
}

// TransportError classes a failed exchange: "timeout", "connection_refused", "connection_reset",
// "protocol"; a cancellation by ctx is returned as ctx's error, which the
// runner does not count.
func TransportError(ctx context.Context, err error) error {
	var e *h1.Error
	if !errors.As(err, &e) {
		return err
	}
	switch e.Kind {
	case h1.KindCanceled:
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return drivers.WithClass("canceled", err)
	case h1.KindTimeout:
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return drivers.WithClass("timeout", err)
	case h1.KindRefused:
		return drivers.WithClass("connection_refused", err)
	case h1.KindReset:
		return drivers.WithClass("connection_reset", err)
	case h1.KindProtocol:
		return drivers.WithClass("protocol", err)
	}
	return drivers.WithClass("error", err)
}

var _ = url.URL{}
