package capacity

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/engram-bench/engram-bench/drivers"
	"github.com/engram-bench/engram-bench/reports"
	"github.com/engram-bench/engram-bench/workloads"
)

// Scaling axes.
const (
	AxisWorkers = "workers" // concurrent users of the target
	AxisCores   = "cores"   // GOMAXPROCS of an in-process engine
)

// ScalingConfig configures a scaling run.
type ScalingConfig struct {
	// Axis is AxisWorkers or AxisCores.
	Axis string
	// Points are the settings of the axis, e.g. 1, 2, 4, 8 (at least 2).
	Points []int
	// Workers is the number of users on the cores axis (default 8 × the
	// largest core count, enough to keep every core busy).
	Workers int
	// Duration is each point's measured window, Warmup its unrecorded start.
	Duration, Warmup time.Duration
	// OutDir, when set, receives each point's result as point-AXIS-X.json.
	OutDir string
	// Fresh, when set, prepares a fresh target for point n (1-based) and
	// returns the driver config to run it with and a cleanup; every point
	// then preloads its own data, so no point runs on the data the points
	// before it stored.
	Fresh func(ctx context.Context, n int) (drivers.Config, func(), error)
	// OnStart and OnPoint are told about each point before and after it runs.
	OnStart func(x int)
	OnPoint func(p reports.ScalingPoint, r *reports.Result)
}

// Validate checks the config against the plan it will run.
func (c *ScalingConfig) Validate(p drivers.Plan, inProcess bool) error {
	switch c.Axis {
	case AxisWorkers:
	case AxisCores:
		if !inProcess {
			return fieldErr("axis", "%q", c.Axis, "cores sets GOMAXPROCS of this process, so it applies to in-process targets only (embedded); for a server, start it with GOMAXPROCS=N per point and scale the workers axis")
		}
	default:
		return fieldErr("axis", "%q", c.Axis, "want workers or cores")
	}
	if len(c.Points) < 2 {
		return fieldErr("points", "%s", pointsText(c.Points), "a scaling curve needs at least 2 (H3 judges 3 or more)")
	}
	seen := map[int]bool{}
	for _, x := range c.Points {
		if x < 1 || x > 100_000 {
			return fieldErr("points", "%s", pointsText(c.Points), "point %d must be in [1, 100000]", x)
		}
		if seen[x] {
			return fieldErr("points", "%s", pointsText(c.Points), "point %d given twice", x)
		}
		seen[x] = true
	}
	if err := c.checkCores(); err != nil {
		return err
	}
	if c.Duration < time.Second {
		return fieldErr("duration", "%s", c.Duration, "must be at least 1s")
	}
	if c.Warmup < 0 {
		return fieldErr("warm-up", "%s", c.Warmup, "must be >= 0")
	}
	if c.Workers < 0 {
		return fieldErr("workers", "%d", c.Workers, "must be > 0 (0: 8 × the largest point)")
	}
	return nil
}

// checkCores rejects, on the cores axis, a point above this machine's cores.
func (c *ScalingConfig) checkCores() error {
	if c.Axis != AxisCores {
		return nil
	}
	for _, x := range c.Points {
		if x > runtime.NumCPU() {
			return fieldErr("points", "%s", pointsText(c.Points), "point %d: this machine has %d cores; GOMAXPROCS above that adds no parallelism", x, runtime.NumCPU())
		}
	}
	return nil
}

// pointsText is points as the command line gives them: "1,2,4".
func pointsText(points []int) string {
	var b strings.Builder
	for i, x := range points {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(x))
	}
	return b.String()
}

// Scale measures the throughput the target reaches at each point of the
// axis and returns the result of the last point with Scaling filled in
// (every point, its efficiency), so H3 judges it.
//
// Each point is a saturation measurement: a closed loop of N users, each
// sending its next op the moment the previous one is answered (think time
// 0), so the target always has exactly N ops to work on. Its throughput is
// what the target does with N-way parallelism — open loop cannot measure
// that without first knowing the rate to offer; latency is not judged here
// (the capacity search does that, open loop).
//
// On the workers axis N is the point. On the cores axis N is Workers and
// the point is GOMAXPROCS, set in this process for the run of the point and
// restored after: the embedded engine's parallelism is Go's, so limiting
// this process's Ps limits the engine directly, with no process to start and
// no data to load again per point. The harness's own workers share those Ps
// — its cost per op is a few microseconds against the engine's hundreds, and
// each point's harness CPU is in its result — and points above the machine's
// cores cannot add parallelism (they are rejected). Blocking system calls
// (fsync) run outside the Ps, as they would in production.
//
// The first point preloads; later points run on the same data, which the
// points before them grew (stores) — unless cfg.Fresh gives every point a
// fresh target and preload.
func Scale(ctx context.Context, p drivers.Plan, cfg ScalingConfig) (*reports.Result, error) {
	if err := cfg.checkCores(); err != nil {
		return nil, err
	}
	workers := cfg.Workers
	if workers == 0 {
		workers = 8 * maxOf(cfg.Points)
	}
	sc0 := p.Scenario
	s := &reports.Scaling{Axis: cfg.Axis}
	if cfg.Axis == AxisWorkers {
		s.Method = fmt.Sprintf("closed loop of N users with no think time (each sends its next op when the previous answers), %s warm-up + %s measured per point", cfg.Warmup, cfg.Duration)
	} else {
		s.Method = fmt.Sprintf("closed loop of %d users with no think time, GOMAXPROCS set to N in-process for each point, %s warm-up + %s measured per point", workers, cfg.Warmup, cfg.Duration)
	}
	if cfg.Fresh != nil {
		s.Method += "; a fresh target and preload per point"
	} else {
		s.Method += "; one preload, later points on the data the earlier ones grew"
	}
	var last *reports.Result
	for i, x := range cfg.Points {
		if ctx.Err() != nil {
			break
		}
		sc := sc0.Clone()
		users := x
		if cfg.Axis == AxisCores {
			users = workers
		}
		sc.Phases = nil
		sc.Arrival = workloads.ArrivalSpec{Pattern: "closed_loop", Users: users}
		sc.Validation = workloads.ValidationSpec{}
		if err := sc.SetDurations(cfg.Duration, cfg.Warmup); err != nil {
			return nil, err
		}
		pp := p
		pp.Scenario = sc
		pp.Concurrency = users
		cleanup := func() {}
		if cfg.Fresh != nil {
			dc, c, err := cfg.Fresh(ctx, i+1)
			if err != nil {
				return nil, fmt.Errorf("%s=%d: fresh target: %w", cfg.Axis, x, err)
			}
			pp.DriverConfig, cleanup = dc, c
		} else if i > 0 {
			pp.Preload = drivers.PreloadNone
		}
		if cfg.OnStart != nil {
			cfg.OnStart(x)
		}
		res, err := runPoint(ctx, pp, cfg.Axis, x)
		cleanup()
		if err != nil {
			return nil, fmt.Errorf("%s=%d: %w", cfg.Axis, x, err)
		}
		if res.Partial {
			last = res
			break
		}
		pt := reports.ScalingPoint{X: float64(x), Throughput: res.AchievedRate, P99Ns: res.Total.Latency.P99}
		if cfg.OutDir != "" {
			name := fmt.Sprintf("point-%s-%d.json", cfg.Axis, x)
			if err := os.MkdirAll(cfg.OutDir, 0o755); err != nil {
				return nil, err
			}
			if err := res.WriteFile(filepath.Join(cfg.OutDir, name)); err != nil {
				return nil, err
			}
			pt.Result = name
		}
		s.Points = append(s.Points, pt)
		if cfg.OnPoint != nil {
			cfg.OnPoint(pt, res)
		}
		last = res
	}
	if last == nil {
		return nil, errors.New("interrupted before the first point finished")
	}
	reports.ScalingEfficiency(s.Points)
	last.Scaling = s
	if last.Partial {
		last.Verdict = reports.VerdictInvalid
		last.Reasons = append([]string{"interrupted: partial scaling run"}, last.Reasons...)
	}
	last.EvaluateHypotheses()
	return last, nil
}

// runPoint runs one point, with GOMAXPROCS set on the cores axis.
func runPoint(ctx context.Context, p drivers.Plan, axis string, x int) (*reports.Result, error) {
	if axis == AxisCores {
		prev := runtime.GOMAXPROCS(x)
		defer runtime.GOMAXPROCS(prev)
		p.Env.GOMAXPROCS = x
	}
	return drivers.Execute(ctx, p)
}

func maxOf(xs []int) int {
	m := 0
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}
