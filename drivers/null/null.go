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
	"strconv"
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
}

var _ drivers.Driver = (*Driver)(nil)

// Do implements drivers.Driver.
func (d *Driver) Do(ctx context.Context, _ *workloads.Op) error {
	if d.Delay <= 0 {
		return nil
	}
	t := time.NewTimer(d.Delay)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// SkipsFill implements drivers.FillSkipper.
func (d *Driver) SkipsFill() bool { return d.NoGenerate }

func init() {
	drivers.Register(drivers.Meta{
		Name:      "null",
		Help:      "does nothing: measures the harness itself (options generate=false skips op generation, delay=2ms makes every op take that long)",
		InProcess: true,
		New: func(_ context.Context, cfg drivers.Config) (drivers.Driver, error) {
			d := &Driver{}
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
			return d, nil
		},
	})
}
