// Package netproxy is a TCP proxy on loopback between a driver and its
// target that network faults act through: Shopify's toxiproxy, embedded as
// a library (no server binary, no HTTP API), behind this one adapter.
//
// It belongs to the chaos room. In: an upstream address on loopback.
// Out: a listening address the driver connects to instead, and toxics
// (latency, bandwidth, timeout, reset_peer, slicer, ...) added and removed
// while traffic flows, or the whole proxy disabled (connection refused).
//
// Concurrency: a Proxy is safe for concurrent use.
//
// Adding a network fault: build it in package chaos from AddToxic and
// RemoveToxic (toxiproxy's toxics are documented in DEPENDENCIES.md §7);
// toxicity is the share of connections a toxic applies to.
package netproxy

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"sync"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

var quietOnce sync.Once

// Proxy forwards connections from its own loopback address to an upstream.
type Proxy struct {
	mu       sync.Mutex
	srv      *toxiproxy.ApiServer
	p        *toxiproxy.Proxy
	addr     string
	upstream string
	enabled  bool
}

// New starts a proxy on a free port of 127.0.0.1 in front of upstream
// (host:port, on loopback).
func New(upstream string) (*Proxy, error) {
	host, _, err := net.SplitHostPort(upstream)
	if err != nil {
		return nil, fmt.Errorf("proxy: upstream %q: %w", upstream, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("proxy: upstream %q: network faults act only on loopback", upstream)
	}
	// toxiproxy's bandwidth toxic logs through zerolog's global logger, at
	// trace level, to stderr: silence everything below errors.
	quietOnce.Do(func() { zerolog.SetGlobalLevel(zerolog.ErrorLevel) })
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	p := toxiproxy.NewProxy(srv, "target", "127.0.0.1:0", upstream)
	if err := srv.Collection.Add(p, true); err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	return &Proxy{srv: srv, p: p, addr: p.Listen, upstream: upstream, enabled: true}, nil
}

// Addr is where clients connect (127.0.0.1:port); it stays the same when
// the proxy is disabled and enabled again.
func (p *Proxy) Addr() string { return p.addr }

// URL is http://Addr.
func (p *Proxy) URL() string { return "http://" + p.addr }

// Upstream is the address the proxy forwards to.
func (p *Proxy) Upstream() string { return p.upstream }

// Toxic is one toxic: toxiproxy's type and attributes (see DEPENDENCIES.md
// §7), the stream it acts on ("upstream": client → server, "downstream":
// server → client) and its toxicity (the share of connections hit, 0–1).
type Toxic struct {
	Name       string
	Type       string
	Stream     string
	Toxicity   float64
	Attributes map[string]any
}

// AddToxic adds t to every connection, current and future (each drawn
// with probability t.Toxicity).
func (p *Proxy) AddToxic(t Toxic) error {
	if t.Stream == "" {
		t.Stream = "downstream"
	}
	b, err := json.Marshal(map[string]any{"name": t.Name, "type": t.Type, "stream": t.Stream, "toxicity": t.Toxicity, "attributes": t.Attributes})
	if err != nil {
		return err
	}
	if _, err := p.p.Toxics.AddToxicJson(strings.NewReader(string(b))); err != nil {
		return fmt.Errorf("proxy: add toxic %s: %w", t.Name, err)
	}
	return nil
}

// RemoveToxic removes the toxic called name.
func (p *Proxy) RemoveToxic(ctx context.Context, name string) error {
	if err := p.p.Toxics.RemoveToxic(ctx, name); err != nil {
		return fmt.Errorf("proxy: remove toxic %s: %w", name, err)
	}
	return nil
}

// Disable closes the listener and every connection: clients get
// "connection refused" until Enable.
func (p *Proxy) Disable() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.enabled {
		p.p.Stop()
		p.enabled = false
	}
}

// Enable listens again on the same address.
func (p *Proxy) Enable() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.enabled {
		return nil
	}
	if err := p.p.Start(); err != nil {
		return fmt.Errorf("proxy: listen again on %s: %w", p.addr, err)
	}
	p.enabled = true
	return nil
}

// Close removes every toxic and stops the proxy.
func (p *Proxy) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.enabled = false
	return p.srv.Collection.Clear()
}
