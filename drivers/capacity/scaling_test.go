package capacity

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/engram-bench/engram-bench/drivers"
	_ "github.com/engram-bench/engram-bench/drivers/embedded"
	"github.com/engram-bench/engram-bench/reports"
	"github.com/engram-bench/engram-bench/workloads"
)

func tiny(t *testing.T) *workloads.Scenario {
	t.Helper()
	sc, err := workloads.Parse("tiny.toml", []byte(tinyScenario))
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

// TestScaleWorkers measures two targets of known shape on the workers axis:
// ops that each take 20 ms on their own (throughput grows with every user:
// 50 ops/s per user, H3 passes), and one server of 300 ops/s (throughput is
// flat however many users wait on it: H3 fails).
func TestScaleWorkers(t *testing.T) {
	cases := []struct {
		name   string
		opts   map[string]string
		h3     string
		checks func(t *testing.T, s *reports.Scaling)
	}{
		{"independent 20 ms ops scale linearly", map[string]string{"delay": "20ms"}, reports.HypothesisPass, func(t *testing.T, s *reports.Scaling) {
			for _, p := range s.Points {
				if p.Efficiency < 0.7 || p.Efficiency > 1.3 {
					t.Errorf("%g workers: efficiency %g, want about 1", p.X, p.Efficiency)
				}
			}
		}},
		{"one 300 ops/s server does not scale", map[string]string{"capacity": "300"}, reports.HypothesisFail, func(t *testing.T, s *reports.Scaling) {
			last := s.Points[len(s.Points)-1]
			if last.Throughput > 330 || last.Efficiency > 0.5 {
				t.Errorf("4 workers: %g ops/s, efficiency %g; want ≤ 300 ops/s and ~25%%", last.Throughput, last.Efficiency)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := drivers.Plan{Scenario: tiny(t), Seed: 1, Driver: "null", MaxLag: time.Second, DriverConfig: drivers.Config{Options: c.opts}}
			var started []int
			cfg := ScalingConfig{Axis: AxisWorkers, Points: []int{1, 2, 4}, Duration: time.Second, OnStart: func(x int) { started = append(started, x) }}
			if err := cfg.Validate(p, true); err != nil {
				t.Fatal(err)
			}
			res, err := Scale(context.Background(), p, cfg)
			if err != nil {
				t.Fatal(err)
			}
			s := res.Scaling
			if s == nil || len(s.Points) != 3 || len(started) != 3 || res.LoadModel != "closed" || res.Concurrency != 4 {
				t.Fatalf("scaling %+v, started %v, result %s/%d", s, started, res.LoadModel, res.Concurrency)
			}
			for _, p := range s.Points {
				t.Logf("%g workers: %.1f ops/s, efficiency %.2f, marginal %.2f", p.X, p.Throughput, p.Efficiency, p.Marginal)
			}
			if s.Points[0].Efficiency != 1 {
				t.Errorf("the base point's efficiency is %g", s.Points[0].Efficiency)
			}
			h3 := res.Hypotheses[2]
			if h3.ID != "H3" || h3.Status != c.h3 {
				t.Errorf("H3 %s (%s), want %s", h3.Status, h3.Detail, c.h3)
			}
			c.checks(t, s)
		})
	}
}

// TestScaleCores runs the embedded engine at GOMAXPROCS 1 and 2 (this
// machine's cores, at most) and checks GOMAXPROCS is restored.
func TestScaleCores(t *testing.T) {
	if runtime.NumCPU() < 2 {
		t.Skip("one core: nothing to scale")
	}
	before := runtime.GOMAXPROCS(0)
	sc := tiny(t)
	pre := int64(200)
	sc.Data.Preload = &pre
	p := drivers.Plan{Scenario: sc, Seed: 1, Driver: "embedded", MaxLag: time.Second, DriverConfig: drivers.Config{DataDir: t.TempDir(), NoSync: true}}
	var procs []int
	cfg := ScalingConfig{Axis: AxisCores, Points: []int{1, 2}, Workers: 8, Duration: time.Second,
		OnPoint: func(_ reports.ScalingPoint, r *reports.Result) { procs = append(procs, r.Env.GOMAXPROCS) }}
	if err := cfg.Validate(p, true); err != nil {
		t.Fatal(err)
	}
	res, err := Scale(context.Background(), p, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOMAXPROCS(0) != before {
		t.Errorf("GOMAXPROCS %d after the run, was %d", runtime.GOMAXPROCS(0), before)
	}
	if len(procs) != 2 || procs[0] != 1 || procs[1] != 2 || res.Concurrency != 8 {
		t.Errorf("points ran at GOMAXPROCS %v with %d users", procs, res.Concurrency)
	}
	if res.Scaling.Axis != AxisCores || res.Scaling.Points[0].Throughput <= 0 || !strings.Contains(res.Scaling.Method, "GOMAXPROCS") {
		t.Errorf("scaling %+v", res.Scaling)
	}
	if res.Preload.Memories != 0 {
		t.Errorf("the last point preloaded %d memories again", res.Preload.Memories)
	}
}

// TestScaleFresh gives every point of a scaling run on the embedded engine
// its own data directory: each point preloads again, and the directory of a
// point is removed once it has run.
func TestScaleFresh(t *testing.T) {
	sc := tiny(t)
	pre := int64(200)
	sc.Data.Preload = &pre
	root := t.TempDir()
	p := drivers.Plan{Scenario: sc, Seed: 1, Driver: "embedded", MaxLag: time.Second, DriverConfig: drivers.Config{DataDir: root, NoSync: true}}
	var dirs []string
	var preloaded []int64
	cfg := ScalingConfig{Axis: AxisWorkers, Points: []int{1, 2}, Duration: time.Second,
		Fresh: func(_ context.Context, n int) (drivers.Config, func(), error) {
			dc := p.DriverConfig
			dc.DataDir = filepath.Join(root, fmt.Sprintf("point-%d", n))
			dirs = append(dirs, dc.DataDir)
			return dc, func() { os.RemoveAll(dc.DataDir) }, os.Mkdir(dc.DataDir, 0o755)
		},
		OnPoint: func(_ reports.ScalingPoint, r *reports.Result) { preloaded = append(preloaded, r.Preload.Memories) }}
	res, err := Scale(context.Background(), p, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) != 2 || dirs[0] == dirs[1] {
		t.Fatalf("fresh targets %v", dirs)
	}
	if len(preloaded) != 2 || preloaded[0] != 200 || preloaded[1] != 200 {
		t.Errorf("points preloaded %v memories, want 200 each", preloaded)
	}
	for _, d := range dirs {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("%s left behind (%v)", d, err)
		}
	}
	if !strings.Contains(res.Scaling.Method, "a fresh target and preload per point") {
		t.Errorf("method %q", res.Scaling.Method)
	}
}

func TestScalingConfigErrors(t *testing.T) {
	p := drivers.Plan{Driver: "engram"}
	many := runtime.NumCPU() + 1
	cases := []struct {
		name      string
		cfg       ScalingConfig
		inProcess bool
		field     string // the *FieldError's Field
		want      string
	}{
		{"cores on a server", ScalingConfig{Axis: AxisCores, Points: []int{1, 2}, Duration: time.Second}, false, "axis", "in-process targets only"},
		{"unknown axis", ScalingConfig{Axis: "nodes", Points: []int{1, 2}, Duration: time.Second}, true, "axis", `axis "nodes": want workers or cores`},
		{"one point", ScalingConfig{Axis: AxisWorkers, Points: []int{4}, Duration: time.Second}, true, "points", "points 4: a scaling curve needs at least 2"},
		{"a point twice", ScalingConfig{Axis: AxisWorkers, Points: []int{2, 2}, Duration: time.Second}, true, "points", "points 2,2: point 2 given twice"},
		{"zero workers", ScalingConfig{Axis: AxisWorkers, Points: []int{0, 2}, Duration: time.Second}, true, "points", "points 0,2: point 0 must be"},
		{"more cores than the machine", ScalingConfig{Axis: AxisCores, Points: []int{1, many}, Duration: time.Second}, true, "points", fmt.Sprintf("point %d: this machine has", many)},
		{"too short", ScalingConfig{Axis: AxisWorkers, Points: []int{1, 2}, Duration: time.Millisecond}, true, "duration", "duration 1ms: must be at least 1s"},
		{"negative workers", ScalingConfig{Axis: AxisWorkers, Points: []int{1, 2}, Workers: -1, Duration: time.Second}, true, "workers", "workers -1: must be > 0"},
		{"negative warm-up", ScalingConfig{Axis: AxisWorkers, Points: []int{1, 2}, Duration: time.Second, Warmup: -time.Second}, true, "warm-up", "warm-up -1s"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.cfg.Validate(p, c.inProcess)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v, want %q", err, c.want)
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != c.field {
				t.Errorf("err %v: want a FieldError for %q", err, c.field)
			}
		})
	}
}
