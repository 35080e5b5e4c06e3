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
