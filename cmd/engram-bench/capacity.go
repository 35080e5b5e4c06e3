package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/engram-bench/engram-bench/drivers"
	"github.com/engram-bench/engram-bench/drivers/capacity"
	"github.com/engram-bench/engram-bench/reports"
	"github.com/engram-bench/engram-bench/workloads"
)

type capacityFlags struct {
	target      targetFlags
	slo         string
	start       float64
	step        float64
	factor      float64
	maxRate     float64
	resolution  string
	maxSteps    int
	stepDur     time.Duration
	warmup      time.Duration
	minSamples  int64
	collapse    int
	fresh       bool
	outDir      string
	html        string
	minCapacity float64
	from        string
}

func newCapacityCmd(stdout, stderr io.Writer) *cobra.Command {
	f := &capacityFlags{}
	cmd := &cobra.Command{
		Use:   "capacity --scenario NAME|PATH --slo p99=10ms,p999=50ms,errors=0.1% --start RATE",
		Short: "Find the highest rate the target sustains within an SLO: step up, then bisect",
		Long: `Find the highest offered rate at which the target meets an SLO.

Each step is one open-loop run of the scenario at a fixed offered rate (its
arrival pattern scaled to the rate), judged against the SLO: a latency bound
passes only when its 95% upper confidence bound is within it, the error
budget must hold and the achieved rate must keep up with the offered one.
Steps rise from --start (×--factor, or +--step) until one fails, then
bisect between the last passing and first failing rate until the interval is
within --resolution. A step lasts --warmup plus max(--step-duration,
min-samples / rate): enough successful ops for the SLO's highest percentile
(10 / (1 − q): 1,000 for p99, 10,000 for p99.9). A step whose backlog keeps
growing past the SLO's largest bound is cut short as collapsed.

The target is preloaded once, by the first step; later steps run on the same
data (--fresh: a fresh in-process engine and preload per step).

Prints a line per step and the knee; with --out-dir writes capacity.json,
capacity.html (latency against throughput) and every step's result.

Exit codes: 0 the search finished (knee found, or every step up to
--max-rate passed); 1 no step passed, or the capacity is below
--min-capacity; 2 usage error; 3 interrupted, or a step could not run.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runCapacity(cmd, f, stdout, stderr)
		},
	}
	fl := cmd.Flags()
	addTargetFlags(fl, &f.target)
	fl.StringVar(&f.slo, "slo", "", "the objective: pNN=DURATION (p50, p99, p999, ...), errors=PCT, recall10=FRACTION, comma-separated (errors=0.1% when not given)")
	fl.Float64Var(&f.start, "start", 0, "the first step's offered rate, ops/s (required: about a quarter of what you expect)")
	fl.Float64Var(&f.step, "step", 0, "rise by this many ops/s per step (default: multiply by --factor)")
	fl.Float64Var(&f.factor, "factor", capacity.DefaultFactor, "rise by this factor per step")
	fl.Float64Var(&f.maxRate, "max-rate", capacity.DefaultMaxRate, "stop rising here (the search ends without a knee if this passes)")
	fl.StringVar(&f.resolution, "resolution", "5%", "bisect until (first failing − last passing) ≤ this share of the last passing rate")
	fl.IntVar(&f.maxSteps, "max-steps", capacity.DefaultMaxSteps, "most steps in all")
	fl.DurationVar(&f.stepDur, "step-duration", capacity.DefaultStepDuration, "least measured length of a step")
	fl.DurationVar(&f.warmup, "warmup", capacity.DefaultWarmup, "unrecorded warm-up before each step")
	fl.Int64Var(&f.minSamples, "min-samples", 0, "successful ops a step needs (default: 10 / (1 − q) for the SLO's highest percentile q)")
	fl.IntVar(&f.collapse, "collapse-intervals", capacity.DefaultCollapseIntervals, "cut a step once its backlog grew past the SLO's largest bound for this many intervals in a row")
	fl.BoolVar(&f.fresh, "fresh", false, "a fresh in-process target (and preload) for every step, instead of one preload and the same data throughout")
	fl.StringVarP(&f.outDir, "out-dir", "o", "", "write capacity.json, capacity.html and each step's result (step-NN.json) here")
	fl.StringVar(&f.html, "html", "", "write the HTML page here (default with --out-dir: OUT-DIR/capacity.html)")
	fl.Float64Var(&f.minCapacity, "min-capacity", 0, "exit 1 when the capacity found is below this rate, ops/s (a gate)")
	fl.StringVar(&f.from, "from", "", "print a saved capacity.json again (and its page with --html) instead of searching")
	return cmd
}

func runCapacity(cmd *cobra.Command, f *capacityFlags, stdout, stderr io.Writer) error {
	if f.from != "" {
		c, err := reports.ReadCapacity(f.from)
		if err != nil {
			return &exitError{code: exitUsage, err: err}
		}
		if f.html != "" {
			if err := writeCapacityHTML(f.html, c); err != nil {
				return &exitError{code: exitInvalid, err: err}
			}
		}
		return reports.WriteCapacityText(stdout, c)
	}
	ctx := cmd.Context()
	sloText := f.slo
	if sloText == "" {
		return usageErr("--slo: required, e.g. --slo p99=10ms,p999=50ms,errors=0.1%%")
	}
	slo, err := reports.ParseSLO(sloText)
	if err != nil {
		return usageErr("--slo: %v", err)
	}
	if slo.MaxErrorRate == nil {
		def := 0.001
		slo.MaxErrorRate = &def
	}
	if !(f.start > 0) {
		return usageErr("--start %g: give the first step's offered rate in ops/s (> 0), e.g. a quarter of what you expect the target to sustain", f.start)
	}
	res, err := parseShare("--resolution", f.resolution)
	if err != nil {
		return err
	}
	cfg := capacity.Config{SLO: slo, StartRate: f.start, StepRate: f.step, Factor: f.factor, MaxRate: f.maxRate, Resolution: res,
		MaxSteps: f.maxSteps, StepDuration: f.stepDur, Warmup: f.warmup, MinSamples: f.minSamples, CollapseIntervals: f.collapse}
	if f.warmup < 0 {
		return usageErr("--warmup %s: must be >= 0", f.warmup)
	}
	if f.minSamples < 0 {
		return usageErr("--min-samples %d: must be >= 0", f.minSamples)
	}
	// The library reads 0 as "the default"; typed on the command line it is
	// a value out of range.
	for _, z := range []struct {
		flag string
		zero bool
		def  any
	}{
		{"--factor", f.step == 0 && f.factor == 0, capacity.DefaultFactor},
		{"--max-rate", f.maxRate == 0, capacity.DefaultMaxRate},
		{"--max-steps", f.maxSteps == 0, capacity.DefaultMaxSteps},
		{"--step-duration", f.stepDur == 0, capacity.DefaultStepDuration},
		{"--collapse-intervals", f.collapse == 0, capacity.DefaultCollapseIntervals},
	} {
		if z.zero {
			return usageErr("%s 0: must be > 0 (leave it out for the default, %v)", z.flag, z.def)
		}
	}
	if err := capacity.Validate(cfg); err != nil {
		return flagError(err, capacityFlagNames)
	}
	if !(f.minCapacity >= 0) || cmd.Flags().Changed("min-capacity") && f.minCapacity == 0 {
		return usageErr("--min-capacity %g: must be > 0 ops/s (leave it out for no gate)", f.minCapacity)
	}
	rs, err := f.target.resolve(cmd, stderr)
	if err != nil {
		return err
	}
	defer rs.cleanup()
	sc := rs.sc
	if sched, err := workloads.NewSchedule(sc, rs.plan.Seed); err != nil {
		return usageErr("%v", err)
	} else if sched.Closed != nil {
		return usageErr("scenario %s has a closed-loop arrival: a capacity search offers fixed rates open-loop (use a constant or poisson arrival)", sc.ID)
	}
	if f.fresh && !inProcess(rs.plan.Driver) {
		return usageErr("--fresh: the %s driver's target is not started by engram-bench; restart it yourself between searches, or search on the same data (the default)", rs.plan.Driver)
	}
	if f.outDir != "" {
		if err := os.MkdirAll(f.outDir, 0o755); err != nil {
			return usageErr("--out-dir %s: %v", f.outDir, err)
		}
	}
	for _, p := range []struct{ flag, path string }{{"html", f.html}} {
		if err := checkWritable(p.flag, p.path); err != nil {
			return err
		}
	}

	c := &reports.Capacity{
		Schema: reports.CapacitySchema, Scenario: sc.ID, ScenarioSource: sc.Source, ScenarioText: sc.Text, Seed: rs.plan.Seed,
		Driver: rs.plan.Driver, Target: rs.plan.DriverConfig.Target, Concurrency: rs.plan.Concurrency, SLO: slo.String(),
		StartedAt: time.Now().UTC(), Env: rs.plan.Env,
	}
	c.Method.Data, c.Method.Arrival = "continue", sc.Arrival.Pattern
	if len(sc.Phases) > 0 {
		c.Method.Arrival = "phased"
	}
	runner := &capacity.Runner{Plan: rs.plan, SLO: slo, OutDir: f.outDir}
	if f.fresh {
		c.Method.Data = "fresh"
		runner.Fresh = freshInProcess(rs.plan)
	}
	var prog *reports.Progress
	if !f.target.quiet {
		runner.OnStart = func(s capacity.StepSpec) {
			fmt.Fprintf(stderr, "engram-bench: step %d (%s): %.1f ops/s for %s (+%s warm-up)\n", s.N, s.Phase, s.Rate, s.Duration, s.Warmup)
			prog = &reports.Progress{W: stderr, TTY: rs.tty, Total: s.Duration, TargetRate: s.Rate, Names: workloads.KindNames()}
		}
		runner.Plan.Live = func(t reports.Tick) {
			if prog != nil {
				prog.Tick(t)
			}
		}
		fmt.Fprintf(stderr, "engram-bench: capacity search on %s with %s, SLO %s, from %g ops/s\n", sc.ID, rs.plan.Driver, slo, f.start)
	}
	fmt.Fprintf(stdout, "engram-bench capacity %s · driver %s · SLO %s\n", sc.ID, rs.plan.Driver, slo)
	reports.WriteCapacityStepHeader(stdout)
	cfg.OnStep = func(s reports.CapacityStep) {
		if prog != nil {
			prog.Done()
			prog = nil
		}
		reports.WriteCapacityStepLine(stdout, s)
	}
	t0 := time.Now()
	serr := capacity.Search(ctx, cfg, runner, c)
	c.DurationS = time.Since(t0).Seconds()
	if prog != nil {
		prog.Done()
	}
	if len(c.Steps) > 0 && c.Steps[0].Memories > 0 {
		c.Warnings = append(c.Warnings, dataNote(c))
	}
	if f.outDir != "" {
		if err := c.WriteFile(filepath.Join(f.outDir, "capacity.json")); err != nil {
			return &exitError{code: exitInvalid, err: err}
		}
		if f.html == "" {
			f.html = filepath.Join(f.outDir, "capacity.html")
		}
	}
	if f.html != "" {
		if err := writeCapacityHTML(f.html, c); err != nil {
			return &exitError{code: exitInvalid, err: err}
		}
	}
	fmt.Fprintln(stdout)
	fmt.Fprintln(stdout, reports.KneeLine(c))
	fmt.Fprintf(stdout, "  search stopped: %s (%d steps in %s)\n", c.Stopped, len(c.Steps), time.Duration(c.DurationS*1e9).Round(time.Second))
	for _, w := range c.Warnings {
		fmt.Fprintf(stdout, "  note: %s\n", w)
	}
	if f.outDir != "" {
		fmt.Fprintf(stdout, "  wrote %s and %s\n", filepath.Join(f.outDir, "capacity.json"), f.html)
	}
	switch {
	case serr != nil:
		return &exitError{code: exitInvalid, err: serr}
	case c.Partial:
		return &exitError{code: exitInvalid, err: errors.New("interrupted: partial search")}
	case c.Knee.Pass == 0:
		return &exitError{code: exitFail, err: errors.New("no step met the SLO")}
	case f.minCapacity > 0 && c.Knee.Pass < f.minCapacity:
		return &exitError{code: exitFail, err: fmt.Errorf("capacity %g ops/s is below --min-capacity %g", c.Knee.Pass, f.minCapacity)}
	}
	return nil
}

// dataNote says how much data the steps ran against.
func dataNote(c *reports.Capacity) string {
	lo, hi := c.Steps[0].Memories, c.Steps[0].Memories
	for _, s := range c.Steps {
		if s.Memories > 0 {
			lo, hi = min(lo, s.Memories), max(hi, s.Memories)
		}
	}
	if c.Method.Data == "fresh" || lo == hi {
		return fmt.Sprintf("every step began with about %d memories", lo)
	}
	return fmt.Sprintf("steps began with %d to about %d memories (one preload; each step's stores rewrite the first stores of the steps before)", lo, hi)
}

// freshInProcess gives every step a fresh in-process target: a new data
// directory for the embedded engine (removed after the step).
func freshInProcess(p drivers.Plan) func(ctx context.Context, n int) (drivers.Config, func(), error) {
	return func(ctx context.Context, n int) (drivers.Config, func(), error) {
		cfg := p.DriverConfig
		if p.Driver != "embedded" {
			return cfg, func() {}, nil // the null driver keeps no data
		}
		dir, err := os.MkdirTemp(cfg.DataDir, fmt.Sprintf("step-%02d-", n))
		if err != nil {
			return cfg, nil, err
		}
		cfg.DataDir = dir
		return cfg, func() { os.RemoveAll(dir) }, nil
	}
}

func writeCapacityHTML(path string, c *reports.Capacity) error {
	return reports.WriteFileAtomic(path, func(w io.Writer) error { return reports.WriteCapacityHTML(w, c) })
}

// capacityFlagNames maps capacity.Config's fields, as its errors name them,
// to the flags that set them.
var capacityFlagNames = map[string]string{
	"start rate": "--start", "step": "--step", "factor": "--factor", "max rate": "--max-rate",
	"resolution": "--resolution", "max steps": "--max-steps", "step duration": "--step-duration",
	"warm-up": "--warmup", "collapse intervals": "--collapse-intervals",
}

// flagError is err as a usage error; a *capacity.FieldError whose field a
// flag sets (flags: field to flag) names the flag instead of the field:
// "--start NaN: must be > 0 ...", not "start rate NaN: ...".
func flagError(err error, flags map[string]string) error {
	var fe *capacity.FieldError
	if errors.As(err, &fe) {
		if name, ok := flags[fe.Field]; ok {
			return usageErr("%s %s: %s", name, fe.Value, fe.Reason)
		}
	}
	return usageErr("%v", err)
}
