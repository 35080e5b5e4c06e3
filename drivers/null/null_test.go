package null

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/engram-bench/engram-bench/drivers"
	"github.com/engram-bench/engram-bench/workloads"
)

func TestOptions(t *testing.T) {
	cases := []struct {
		name  string
		opts  map[string]string
		delay time.Duration
		err   string
	}{
		{"no options: returns at once", nil, 0, ""},
		{"delay=2ms: every op takes 2 ms", map[string]string{"delay": "2ms"}, 2 * time.Millisecond, ""},
		{"a delay that is not a duration", map[string]string{"delay": "2"}, 0, `null driver option delay="2": want a duration from 0 to 1m, e.g. 2ms`},
		{"a negative delay", map[string]string{"delay": "-1ms"}, 0, `delay="-1ms"`},
		{"generate=maybe", map[string]string{"generate": "maybe"}, 0, `null driver option generate="maybe": want true or false`},
		{"capacity=0 serves nothing", map[string]string{"capacity": "0"}, 0, `null driver option capacity="0": want ops per second from 0.01 to 1e8`},
		{"capacity=fast", map[string]string{"capacity": "fast"}, 0, `capacity="fast"`},
		{"a typo'd option is refused, not ignored", map[string]string{"dealy": "2ms"}, 0, `null driver option "dealy": unknown (have generate, delay, capacity)`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, err := drivers.New(context.Background(), "null", drivers.Config{Options: c.opts})
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err %v, want %q", err, c.err)
				}
				return
			}
			if err != nil || d.(*Driver).Delay != c.delay {
				t.Fatalf("driver %+v, err %v; want delay %v", d, err, c.delay)
			}
		})
	}
}

// A delayed op ends early, with the context's error, when cancelled.
func TestDelayHonoursCancellation(t *testing.T) {
	d := &Driver{Delay: time.Hour}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := d.Do(ctx, &workloads.Op{}); err != context.Canceled {
		t.Fatalf("Do = %v, want context.Canceled", err)
	}
}

func TestCapacityOption(t *testing.T) {
	d, err := drivers.New(context.Background(), "null", drivers.Config{Options: map[string]string{"capacity": "250"}})
	if err != nil {
		t.Fatal(err)
	}
	if s := d.(*Driver).Capacity; s == nil || s.Rate() != 250 {
		t.Fatalf("capacity %+v, want a 250 ops/s server", s)
	}
}

// Ops arriving together are served one after another, one service time each.
func TestServerQueues(t *testing.T) {
	s := NewServer(100) // 10 ms per op
	t0 := time.Now()
	done := make(chan time.Duration, 5)
	for range 5 {
		go func() {
			s.Serve(context.Background())
			done <- time.Since(t0)
		}()
	}
	var last time.Duration
	for range 5 {
		last = max(last, <-done)
	}
	// The fifth op finishes 5 service times after the first arrived (timers
	// may wake late, never early).
	if last < 50*time.Millisecond {
		t.Errorf("5 ops at 100 ops/s took %s, want at least 50ms", last)
	}
}
