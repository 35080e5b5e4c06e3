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
	"github.com/engram-bench/engram-bench/reports"
	"github.com/engram-bench/engram-bench/workloads"
)

type replayFlags struct {
	trace       string
	mult        float64
	driver      string
	target      string
	concurrency int
	out         string
	dataDir     string
	noSync      bool
	maxLag      time.Duration
	options     []string
	quiet       bool
	noPreload   bool
}

func newReplayCmd(stdout, stderr io.Writer) *cobra.Command {
	f := &replayFlags{}
	cmd := &cobra.Command{
		Use:   "replay --trace TRACE.jsonl.gz [--rate-multiplier 2]",
		Short: "Send a recorded trace again: the same ops at the same times, optionally sped up",
		Long: `Replay a trace (docs/traces.md) open-loop: op i is due at its recorded time
divided by --rate-multiplier, and its latency is measured from that time. The
trace is checked whole before anything runs: a truncated or corrupt trace is
refused with its line (exit 2). If it fails mid-run anyway, the part that ran is
reported as incomplete (exit 3), never as a complete run.

Exit codes as for run: 0 targets met, 1 a target missed, 2 bad input, 3 invalid run.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runReplay(cmd.Context(), f, stdout, stderr)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.trace, "trace", "t", "", "trace file to replay (gzip or plain JSON Lines)")
	fl.Float64Var(&f.mult, "rate-multiplier", 1, "speed-up: 2 sends every op at half its recorded time")
	fl.StringVar(&f.driver, "driver", "embedded", "driver: null, embedded, ...")
	fl.StringVar(&f.target, "target", "", "address of the system under test, for network drivers")
	fl.IntVarP(&f.concurrency, "concurrency", "c", drivers.DefaultConcurrency, "most ops in flight at once")
	fl.StringVarP(&f.out, "out", "o", "", "write the JSON result to this file")
	fl.StringVar(&f.dataDir, "data-dir", "", "engine data directory for the embedded driver (default: a temporary directory)")
	fl.BoolVar(&f.noSync, "no-sync", false, "embedded engine: acknowledge writes before fsync")
	fl.DurationVar(&f.maxLag, "max-lag", drivers.DefaultMaxLag, "harness dispatch-lag p99 above which the run is invalid")
	fl.StringArrayVar(&f.options, "driver-opt", nil, "driver option key=value (repeatable)")
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "no live progress")
	fl.BoolVar(&f.noPreload, "no-preload", false, "skip the trace's preload section (the target already holds it)")
	return cmd
}

// replayScenario is the scenario a replay reports under: the recorded one
// (for its name and targets) when the trace carries it, else a bare one.
func replayScenario(path string, info workloads.TraceInfo, mult float64) (*workloads.Scenario, error) {
	h := info.Header
	if h.ScenarioText != "" {
		if sc, err := workloads.Parse("trace:"+path, []byte(h.ScenarioText)); err == nil {
			sc.ID = h.Scenario
			if h.ThroughputTarget != nil {
				sc.Validation.ExpectedThroughputOpsSec = h.ThroughputTarget // as recorded (record --rate)
			}
			if v := sc.Validation.ExpectedThroughputOpsSec; v != nil {
				x := *v * mult
				sc.Validation.ExpectedThroughputOpsSec = &x
			}
			sc.Data.EmbeddingDim = h.Dim
			return sc, nil
		}
	}
	text := fmt.Sprintf("name = %q\n[arrival]\npattern = \"constant\"\nrate = 1\n[operations]\nstore_weight = 1\n[data]\npreload = 0\nembedding_dim = %d\n", "trace "+filepath.Base(path), h.Dim)
	sc, err := workloads.Parse("trace:"+path, []byte(text))
	if err != nil {
		return nil, err
	}
	sc.ID = "trace"
	return sc, nil
}

func runReplay(ctx context.Context, f *replayFlags, stdout, stderr io.Writer) error {
	if f.trace == "" {
		return usageErr("--trace: the trace file to replay is required")
	}
	if !(f.mult > 0) {
		return usageErr("--rate-multiplier %g: must be > 0", f.mult)
	}
	if f.concurrency < 1 {
		return usageErr("--concurrency %d: must be > 0", f.concurrency)
	}
	if err := checkMaxLag(f.maxLag); err != nil {
		return err
	}
	if !f.quiet {
		fmt.Fprintf(stderr, "engram-bench: checking trace %s\n", f.trace)
	}
	info, err := workloads.ScanTrace(f.trace)
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	if info.Ops == 0 {
		return usageErr("trace %s holds no ops", f.trace)
	}
	sc, err := replayScenario(f.trace, info, f.mult)
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	opts, err := driverOptions(f.options)
	if err != nil {
		return err
	}
	if err := checkWritable("out", f.out); err != nil {
		return err
	}
	rp, err := workloads.NewReplay(f.trace, f.mult, 4*f.concurrency+64)
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	defer rp.Close()
	dataDir := f.dataDir
	if dataDir == "" && f.driver == "embedded" {
		if dataDir, err = os.MkdirTemp("", "engram-bench-data-"); err != nil {
			return &exitError{code: exitInvalid, err: err}
		}
		defer os.RemoveAll(dataDir)
	}
	warm := workloads.ScaleTraceTime(time.Duration(info.Header.WarmupNs), f.mult)
	end := info.End(f.mult) // the recorded window, not just up to its last op
	src := &drivers.Source{
		Ops:      rp,
		Arrival:  rp,
		Warmup:   min(warm, end-time.Nanosecond),
		Duration: max(end-warm, time.Nanosecond),
		Spaces:   info.Spaces,
	}
	// The offered rate over the measured window: the ops due after the
	// warm-up over the window's length (not every op over the whole trace).
	src.Rate = float64(info.Ops-info.WarmupOps) / src.Duration.Seconds()
	if !f.noPreload && info.Preload > 0 {
		src.PreloadCount = int64(info.Preload)
		src.Preload = func(ctx context.Context, yield func(op *workloads.Op) error) error {
			return workloads.ReadPreload(f.trace, yield)
		}
	}
	env := reports.CurrentEnv()
	gitRevision(&env)
	tty := isTerminal(stderr)
	prog := &reports.Progress{W: stderr, TTY: tty, Total: src.Duration, TargetRate: src.Rate, Names: workloads.KindNames()}
	plan := drivers.Plan{
		Scenario:     sc,
		Seed:         0,
		Driver:       f.driver,
		DriverConfig: drivers.Config{DataDir: dataDir, NoSync: f.noSync, Target: f.target, Options: opts, Dim: info.Header.Dim},
		Concurrency:  f.concurrency,
		MaxLag:       f.maxLag,
		Env:          env,
		Source:       src,
	}
	if info.Header.Seed != nil {
		plan.Seed = *info.Header.Seed
	}
	if !f.quiet {
		plan.Live = prog.Tick
		plan.PreloadProgress = func(done, total int64) {
			fmt.Fprintf(stderr, "%s preload %d/%d memories\n", time.Now().UTC().Format("2006-01-02T15:04:05Z"), done, total)
		}
		fmt.Fprintf(stderr, "engram-bench: replaying %d ops (%s recorded, ×%g) on %s, concurrency %d\n", info.Ops, (info.Last + time.Nanosecond).Round(time.Millisecond), f.mult, f.driver, f.concurrency)
	}
	res, err := drivers.Execute(ctx, plan)
	prog.Done()
	if res != nil {
		res.ScenarioSource = fmt.Sprintf("trace:%s (rate ×%g)", f.trace, f.mult)
		if f.out != "" {
			if werr := res.WriteFile(f.out); werr != nil {
				return &exitError{code: exitInvalid, err: werr}
			}
		}
		if werr := reports.WriteText(stdout, res); werr != nil {
			return &exitError{code: exitInvalid, err: werr}
		}
	}
	if err != nil {
		switch {
		case errors.Is(err, drivers.ErrSourceFailed), errors.Is(err, drivers.ErrUnreachable), ctx.Err() != nil:
			return &exitError{code: exitInvalid, err: err}
		}
		return &exitError{code: exitUsage, err: err}
	}
	return verdictExit(res.Verdict)
}
