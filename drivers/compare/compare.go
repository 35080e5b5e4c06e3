// Package compare runs the same workload against several systems, one after
// another, each on a fresh data set, and collects a reports.Comparison: every
// system's Result next to the memory and disk it used.
//
// It is in the drivers room (it makes load, through drivers.Execute). In: a
// Config naming the systems by driver name. A system with a launcher in
// package systems (embedded, redis, postgres) is started fresh, measured
// while it runs and stopped afterwards; a system given an external target is
// driven as it is (its driver empties its own namespace) and measured only if
// its process id and data directory are given. Out: the Comparison, which
// package reports renders as a table and an HTML page.
//
// Determinism: every system gets the same scenario and seed, so the same op
// stream byte for byte; only the systems differ.
//
// Concurrency: Run is not meant to be called concurrently with itself (the
// systems would compete for the machine); it owns every goroutine it starts.
//
// Adding a system: register its driver (drivers.Register) and, for a system
// compare-systems should start itself, a launcher (systems.Register).
package compare

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/engram-bench/engram-bench/drivers"
	"github.com/engram-bench/engram-bench/drivers/systems"
	"github.com/engram-bench/engram-bench/reports"
	"github.com/engram-bench/engram-bench/workloads"
)

// Config is one comparison. Zero values mean the documented defaults.
type Config struct {
	// Scenario is the workload (overrides already applied); Seed its seed.
	Scenario *workloads.Scenario
	Seed     uint64
	// Systems are driver names, run in this order.
	Systems []string
	// Concurrency is the most ops in flight (default drivers.DefaultConcurrency).
	Concurrency int
	// MaxLag is the harness-limited threshold (default drivers.DefaultMaxLag).
	MaxLag time.Duration
	// NoSync relaxes durability on every system alike (see systems.Options).
	NoSync bool
	// TempDir is where fresh systems keep their data ("" = os.TempDir()).
	TempDir string
	// Keep leaves the systems' data directories in place.
	Keep bool
	// Targets maps a system to an external address: it is not started.
	Targets map[string]string
	// PIDs and Dirs say what to measure for an external system.
	PIDs map[string]int
	Dirs map[string]string
	// Options are per-system driver options (drivers.Config.Options).
	Options map[string]map[string]string
	// Bins overrides a launcher's server binary (systems.Options.Bin).
	Bins map[string]string
	// EngramdCommand runs engramd when no --bin and no engramd on PATH
	// name one (systems.Options.EngramdCommand).
	EngramdCommand []string
	// Env describes the machine; copied into every result.
	Env reports.Env
	// Log receives one line per step (which system, preload, done); nil is silent.
	Log io.Writer
	// Live receives every interval of the system being run.
	Live func(system string, t reports.Tick)
	// SampleInterval is how often memory and disk are measured (default 1 s).
	SampleInterval time.Duration
}

// Validate checks the config, naming the field and value at fault.
func (c *Config) Validate() error {
	if c.Scenario == nil {
		return errors.New("compare: no scenario")
	}
	if len(c.Systems) == 0 {
		return errors.New("compare: --drivers: name at least one system")
	}
	known := map[string]bool{}
	var names []string
	for _, m := range drivers.List() {
		known[m.Name] = true
		names = append(names, m.Name)
	}
	seen := map[string]bool{}
	for _, s := range c.Systems {
		if !known[s] {
			return fmt.Errorf("compare: --drivers: unknown driver %q (have %s)", s, strings.Join(names, ", "))
		}
		if seen[s] {
			return fmt.Errorf("compare: --drivers: %q named twice", s)
		}
		seen[s] = true
	}
	check := func(flag string, keys []string) error {
		for _, k := range keys {
			if !seen[k] {
				return fmt.Errorf("compare: %s %s=...: %q is not one of --drivers %s", flag, k, k, strings.Join(c.Systems, ","))
			}
		}
		return nil
	}
	for flag, keys := range map[string][]string{"--target": keysOf(c.Targets), "--pid": keysOf(c.PIDs), "--dir": keysOf(c.Dirs), "--driver-opt": keysOf(c.Options), "--bin": keysOf(c.Bins)} {
		if err := check(flag, keys); err != nil {
			return err
		}
	}
	for name := range c.PIDs {
		if _, ok := c.Targets[name]; !ok {
			return fmt.Errorf("compare: --pid %s=...: only for a system given --target (a started system is measured anyway)", name)
		}
	}
	for name := range c.Dirs {
		if _, ok := c.Targets[name]; !ok {
			return fmt.Errorf("compare: --dir %s=...: only for a system given --target (a started system is measured anyway)", name)
		}
	}
	for _, s := range c.Systems {
		if _, ok := c.Targets[s]; ok {
			continue
		}
		if _, ok := systems.Lookup(s); !ok && s != "null" {
			return fmt.Errorf("compare: %s: compare-systems cannot start it; give its address with --target %s=ADDR", s, s)
		}
	}
	return nil
}

func keysOf[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Run runs the comparison. A system that cannot be started or reached is
// recorded with its error and the others still run; on cancellation the
// comparison so far is returned, marked Partial.
func Run(ctx context.Context, cfg Config) (*reports.Comparison, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	sc := cfg.Scenario
	conc := cfg.Concurrency
	if conc <= 0 {
		conc = drivers.DefaultConcurrency
	}
	// The measured window and its offered rate: a phased scenario's
	// phases together (its top-level [arrival] and [duration], if any, are
	// not what runs).
	sched, err := workloads.NewSchedule(sc, cfg.Seed)
	if err != nil {
		return nil, err
	}
	c := &reports.Comparison{
		Schema:       reports.ComparisonSchema,
		Scenario:     sc.ID,
		ScenarioName: sc.Name,
		Seed:         cfg.Seed,
		DurationS:    sched.Measured.Seconds(),
		WarmupS:      sched.Warmup.Seconds(),
		TargetRate:   sched.Rate(),
		Concurrency:  conc,
		Preload:      sc.PreloadCount(),
		Kinds:        kindsOf(sc),
		SearchK:      sc.Operations.SearchK,
		MaxResults:   sc.Operations.MaxResults,
		NoSync:       cfg.NoSync,
		StartedAt:    time.Now().UTC(),
		Env:          cfg.Env,
	}
	for _, name := range cfg.Systems {
		if ctx.Err() != nil {
			c.Partial = true
			c.Systems = append(c.Systems, reports.SystemRun{Name: name, Error: "interrupted before it ran"})
			continue
		}
		run := runOne(ctx, cfg, name, conc)
		if run.Result != nil && run.Result.Partial {
			c.Partial = true
		}
		c.Systems = append(c.Systems, run)
	}
	if ctx.Err() != nil {
		c.Partial = true
	}
	return c, nil
}

func (cfg *Config) logf(format string, args ...any) {
	if cfg.Log != nil {
		fmt.Fprintf(cfg.Log, "compare-systems: "+format+"\n", args...)
	}
}

// runOne starts (or connects to) one system, runs the workload and measures it.
func runOne(ctx context.Context, cfg Config, name string, conc int) reports.SystemRun {
	run := reports.SystemRun{Name: name}
	sys, err := provide(ctx, cfg, name)
	if err != nil {
		run.Error = err.Error()
		cfg.logf("%s: %v", name, err)
		return run
	}
	run.Managed = sys.managed
	run.Version, run.Settings = sys.Version, sys.Settings
	defer func() {
		if !sys.managed {
			return
		}
		sctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := sys.Stop(sctx); err != nil {
			cfg.logf("%s: stop: %v", name, err)
		}
	}()
	sampler := systems.NewSampler(ctx, systems.SamplerConfig{PID: sys.PID, Tree: sys.Tree, Dir: sys.DataDir, Interval: cfg.SampleInterval})
	plan := drivers.Plan{
		Scenario:    cfg.Scenario,
		Seed:        cfg.Seed,
		Driver:      name,
		Concurrency: conc,
		MaxLag:      cfg.MaxLag,
		Env:         cfg.Env,
		DriverConfig: drivers.Config{
			DataDir: sys.DataDir,
			NoSync:  cfg.NoSync,
			Target:  sys.Target,
			Options: cfg.Options[name],
		},
		Opened: func(d drivers.Driver) {
			if ds, ok := d.(drivers.Describer); ok {
				run.Describe = ds.Describe()
			}
		},
		Live: func(t reports.Tick) {
			sampler.Mark() // the last tick closes the measured run
			if cfg.Live != nil {
				cfg.Live(name, t)
			}
		},
	}
	cfg.logf("%s: %s%s", name, orDefault(sys.Version, "running"), targetNote(sys.Target))
	t0 := time.Now()
	res, err := drivers.Execute(ctx, plan)
	fp := sampler.Stop()
	run.Footprint = footprint(fp, sys)
	if err != nil {
		run.Error = err.Error()
		cfg.logf("%s: %v", name, err)
		return run
	}
	if run.Describe == "" {
		run.Describe = sys.Version
	}
	run.Result = res
	cfg.logf("%s: done in %s: %.1f ops/s achieved, p99 %s", name, time.Since(t0).Round(time.Second), res.AchievedRate, reports.FormatNs(res.Total.Latency.P99))
	return run
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func targetNote(t string) string {
	if t == "" {
		return ""
	}
	return " at " + t
}

// provided is a system to drive: started by us (managed) or external.
type provided struct {
	*systems.System
	managed bool
}

func provide(ctx context.Context, cfg Config, name string) (provided, error) {
	if t, ok := cfg.Targets[name]; ok {
		s := &systems.System{Name: name, Target: t, PID: cfg.PIDs[name], Tree: true, DataDir: cfg.Dirs[name]}
		return provided{System: s}, nil
	}
	l, ok := systems.Lookup(name)
	if !ok {
		// A driver that needs nothing started (null): run it as is.
		return provided{System: &systems.System{Name: name}}, nil
	}
	cfg.logf("%s: starting a fresh %s", name, l.Help)
	s, err := l.Start(ctx, systems.Options{TempDir: cfg.TempDir, NoSync: cfg.NoSync, Bin: cfg.Bins[name], Keep: cfg.Keep, Dim: cfg.Scenario.Data.EmbeddingDim, EngramdCommand: cfg.EngramdCommand})
	if err != nil {
		return provided{}, err
	}
	return provided{System: s, managed: true}, nil
}

// footprint turns what the sampler saw into the report's footprint, with n/a
// (nil) and a reason wherever nothing was measured.
func footprint(fp systems.Footprint, sys provided) reports.Footprint {
	var out reports.Footprint
	ptr := func(v int64) *int64 { return &v }
	out.InProcess = sys.InProcess
	switch {
	case fp.MemoryErr != nil && sys.PID == 0 && !sys.managed && sys.Target != "":
		out.MemoryWhy = "external system: pass --pid " + sys.Name + "=PID to measure it"
	case fp.MemoryErr != nil && sys.PID == 0:
		out.MemoryWhy = "no process of its own"
	case fp.MemoryErr != nil:
		out.MemoryWhy = fp.MemoryErr.Error()
	default:
		out.MemoryStart, out.MemoryEnd, out.MemoryPeak = ptr(fp.Start.Memory.Bytes), ptr(fp.End.Memory.Bytes), ptr(fp.PeakMemory)
		how := "PSS"
		if !fp.End.Memory.PSS {
			how = "RSS (PSS unreadable)"
		}
		procs := fp.End.Memory.Processes
		switch {
		case sys.InProcess:
			out.MemoryHow = how + " of the harness process (engine in-process)"
		case procs == 1:
			out.MemoryHow = fmt.Sprintf("%s of pid %d", how, sys.PID)
		default:
			out.MemoryHow = fmt.Sprintf("%s of pid %d and its children (%d processes at the end)", how, sys.PID, procs)
		}
	}
	switch {
	case fp.DiskErr != nil && sys.DataDir == "" && !sys.managed && sys.Target != "":
		out.DiskWhy = "external system: pass --dir " + sys.Name + "=DATA_DIR to measure it"
	case fp.DiskErr != nil && sys.DataDir == "":
		out.DiskWhy = "no data directory"
	case fp.DiskErr != nil:
		out.DiskWhy = fp.DiskErr.Error()
	default:
		out.DiskStart, out.DiskEnd, out.DiskPeak = ptr(fp.Start.DiskBytes), ptr(fp.End.DiskBytes), ptr(fp.PeakDisk)
	}
	return out
}

// ParseSystems splits a --drivers list ("embedded,redis, postgres").
func ParseSystems(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// kindsOf lists the op kinds the scenario sends.
func kindsOf(sc *workloads.Scenario) []string {
	var out []string
	for k, w := range sc.Operations.Weights() {
		if w > 0 {
			out = append(out, workloads.Kind(k).String())
		}
	}
	return out
}
