// Package null is the driver that does nothing. Running it measures the
// harness alone: how fast and how precisely engram-bench can dispatch ops.
//
// Options: generate=true|false (default true) — with false the runner skips
// op generation too, which measures pure dispatch.
package null

import (
	"context"
	"fmt"
	"strconv"

	"github.com/engram-bench/engram-bench/drivers"
	"github.com/engram-bench/engram-bench/workloads"
)

// Driver does nothing, successfully.
type Driver struct {
	// NoGenerate skips op generation (pure dispatch).
	NoGenerate bool
}

var _ drivers.Driver = (*Driver)(nil)

// Do implements drivers.Driver.
func (*Driver) Do(context.Context, *workloads.Op) error { return nil }

// SkipsFill implements drivers.FillSkipper.
func (d *Driver) SkipsFill() bool { return d.NoGenerate }

func init() {
	drivers.Register(drivers.Meta{
		Name:      "null",
		Help:      "does nothing: measures the harness itself (option generate=false skips op generation)",
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
			return d, nil
		},
	})
}
