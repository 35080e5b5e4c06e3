// Package null is the driver that does nothing. Running it measures the
// harness alone: how fast and how precisely engram-bench can dispatch ops.
//
// Options: generate=true|false (default true) — with false the runner skips
// op generation too, which measures pure dispatch; delay=DURATION (e.g. 2ms)
// makes every op take that long (a sleep), a stand-in target with a known
// service time for checking the harness's accounting end to end (sharded
// runs against a single one, say).
package null

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/engram-bench/engram-bench/drivers"
	"github.com/engram-bench/engram-bench/workloads"
)

// Driver does nothing, successfully.
type Driver struct {
	// NoGenerate skips op generation (pure dispatch).
	NoGenerate bool
	// Delay is how long every op takes (0: return at once).
	Delay time.Duration
	// Capacity, when > 0, is the most ops per second the driver completes
	// (see Server).
	Capacity *Server
}

// Server is a single first-come-first-served server with a fixed service
// time: an op arriving at t starts at max(t, when the previous op finishes)
// and finishes one service time later. Offered less than 1/service ops per
// second, every op takes about the service time; offered more, the queue and
// with it the latency grow without bound. The schedule is kept on a virtual
// clock, so a late timer wake-up delays one op's answer but not the server.
type Server struct {
	service time.Duration
	mu      sync.Mutex
	free    time.Time // when the server finishes the ops it has accepted
}

// NewServer returns a server completing at most rate ops per second.
func NewServer(rate float64) *Server {
	return &Server{service: time.Duration(math.Round(1e9 / rate))}
}

// Rate is the server's capacity, ops/s.
func (s *Server) Rate() float64 { return 1e9 / float64(s.service) }

// Serve waits until an op arriving now would be finished.
func (s *Server) Serve(ctx context.Context) error {
	now := time.Now()
	s.mu.Lock()
	start := s.free
	if start.Before(now) {
		start = now
	}
	done := start.Add(s.service)
	s.free = done
	s.mu.Unlock()
	return sleepUntil(ctx, done)
}

func sleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

var _ drivers.Driver = (*Driver)(nil)

// Do implements drivers.Driver.
func (d *Driver) Do(ctx context.Context, _ *workloads.Op) error {
	if d.Capacity != nil {
		if err := d.Capacity.Serve(ctx); err != nil {
			return err
		}
	}
	if d.Delay <= 0 {
		return nil
	}
	return sleepUntil(ctx, time.Now().Add(d.Delay))
}

// SkipsFill implements drivers.FillSkipper.
func (d *Driver) SkipsFill() bool { return d.NoGenerate }

func init() {
	drivers.Register(drivers.Meta{
		Name:      "null",
		Help:      "does nothing: measures the harness itself (options generate=false skips op generation, delay=2ms makes every op take that long, capacity=500 serves at most 500 ops/s)",
		InProcess: true,
		New: func(_ context.Context, cfg drivers.Config) (drivers.Driver, error) {
			d := &Driver{}
			for k := range cfg.Options {
				switch k {
				case "generate", "delay", "capacity":
				default:
					return nil, fmt.Errorf("null driver option %q: unknown (have generate, delay, capacity)", k)
				}
			}
			if v, ok := cfg.Options["generate"]; ok {
				b, err := strconv.ParseBool(v)
				if err != nil {
					return nil, fmt.Errorf("null driver option generate=%q: want true or false", v)
				}
				d.NoGenerate = !b
			}
			if v, ok := cfg.Options["delay"]; ok {
				dl, err := time.ParseDuration(v)
				if err != nil || dl < 0 || dl > time.Minute {
					return nil, fmt.Errorf("null driver option delay=%q: want a duration from 0 to 1m, e.g. 2ms", v)
				}
				d.Delay = dl
			}
			if v, ok := cfg.Options["capacity"]; ok {
				r, err := strconv.ParseFloat(v, 64)
				if err != nil || !(r >= 0.01) || r > 1e8 {
					return nil, fmt.Errorf("null driver option capacity=%q: want ops per second from 0.01 to 1e8, e.g. 500", v)
				}
				d.Capacity = NewServer(r)
			}
			return d, nil
		},
	})
}
