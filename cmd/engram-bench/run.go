package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/engram-bench/engram-bench/drivers"
	"github.com/engram-bench/engram-bench/reports"
	"github.com/engram-bench/engram-bench/workloads"
)

type runFlags struct {
	scenario    string
	driver      string
	target      string
	rate        float64
	duration    time.Duration
	warmup      time.Duration
	seed        uint64
	concurrency int
	out         string
	dataDir     string
	noSync      bool
	maxLag      time.Duration
	options     []string
	quiet       bool
	shard       string
	startAt     string
	preload     string
	outputs     outputFlags
	profile     profileFlags
	apiKey      string
	drillDir    string
	// sc, when set, is the scenario to run instead of --scenario (commands
	// that build their own, like "http").
	sc *workloads.Scenario
	// opNames names the progress line's ops when the driver has its own.
	opNames []string
	chaos   chaosFlags
}

func newRunCmd(stdout, stderr io.Writer) *cobra.Command {
	f := &runFlags{}
	cmd := &cobra.Command{
		Use:   "run --scenario NAME|PATH",
		Short: "Run a scenario and report latency against its targets",
		Long: `Run a scenario open-loop: every op is due at its intended time whether or not
earlier ops finished, and its latency is measured from that time.

Exit codes: 0 every target met; 1 a target missed; 2 usage or configuration
error; 3 invalid run (harness-limited, interrupted, or target unreachable).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runRun(cmd, f, stdout, stderr)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.scenario, "scenario", "s", "quickstart", "built-in scenario name or path to a scenario TOML file")
	fl.StringVar(&f.driver, "driver", "", "driver: null, embedded, ... (default: the scenario's [run] driver, else embedded)")
	fl.StringVar(&f.target, "target", "", "address of the system under test, for network drivers (e.g. http://127.0.0.1:7432)")
	fl.Float64Var(&f.rate, "rate", 0, "override the scenario's mean arrival rate, ops/s (shape kept)")
	fl.DurationVar(&f.duration, "duration", 0, "override the measured duration (e.g. 30s)")
	fl.DurationVar(&f.warmup, "warmup", -1, "override the warm-up before measuring (e.g. 5s; 0 for none)")
	fl.Uint64Var(&f.seed, "seed", 0, "seed of the op stream (default: the scenario's [run] seed, else 1)")
	fl.IntVarP(&f.concurrency, "concurrency", "c", 0, "most ops in flight at once (default: the scenario's, else 64)")
	fl.StringVarP(&f.out, "out", "o", "", "write the JSON result to this file")
	fl.StringVar(&f.dataDir, "data-dir", "", "engine data directory for the embedded driver (default: a temporary directory, removed afterwards)")
	fl.BoolVar(&f.noSync, "no-sync", false, "embedded engine: acknowledge writes before fsync")
	fl.DurationVar(&f.maxLag, "max-lag", drivers.DefaultMaxLag, "harness dispatch-lag p99 above which the run is invalid (harness-limited)")
	fl.StringArrayVar(&f.options, "driver-opt", nil, "driver option key=value (repeatable)")
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "no live progress")
	fl.StringVar(&f.shard, "shard", "", "run only shard i of N of the op stream, as i/N (ops with index mod N = i; op i is the same on any shard count)")
	fl.StringVar(&f.startAt, "start-at", "", "start the schedule (warm-up included) at this wall time, RFC 3339 (2026-11-26T12:00:00Z) or Unix seconds: aligns shards on several machines")
	fl.StringVar(&f.preload, "preload", "auto", "which shards store the initial memories: auto (every shard for in-process drivers, else shard 0), shard0, all, none")
	addOutputFlags(fl, &f.outputs)
	addProfileFlags(fl, &f.profile)
	addChaosFlags(fl, &f.chaos)
	fl.StringVar(&f.apiKey, "api-key", "", "API key for targets with authentication on (engram driver: sent as Authorization: Bearer KEY)")
	fl.StringVar(&f.drillDir, "drill-dir", "", "disaster-recovery drills: keep the drill's data, backups, restored data, write spill and engramd log in this new directory (default: a temporary one, removed afterwards)")
	return cmd
}

func runRun(cmd *cobra.Command, f *runFlags, stdout, stderr io.Writer) error {
	ctx := cmd.Context()
	sc, err := f.sc, error(nil)
	if sc == nil {
		if sc, err = workloads.Resolve(f.scenario); err != nil {
			return &exitError{code: exitUsage, err: err}
		}
	}
	sc = sc.Clone()
	if err := checkMaxLag(f.maxLag); err != nil {
		return err
	}
	seed := scenarioSeed(sc, cmd.Flags().Changed("seed"), f.seed)
	if err := applyOverrides(sc, f.rate, f.duration, f.warmup, seed); err != nil {
		return err
	}
	if err := checkConcurrency(cmd, f.concurrency); err != nil {
		return err
	}
	conc := drivers.DefaultConcurrency
	if sc.Run.Concurrency > 0 {
		conc = sc.Run.Concurrency
	}
	if f.concurrency > 0 {
		conc = f.concurrency
	}
	driverName := f.driver
	if driverName == "" {
		driverName = sc.Run.Driver
	}
	if driverName == "" {
		driverName = "embedded"
	}
	if sc.Drill != nil {
		return runDrill(cmd, f, sc, seed, conc, driverName, stdout, stderr)
	}
	opts, err := driverOptions(f.options)
	if err != nil {
		return err
	}
	if f.apiKey != "" {
		opts["api-key"] = f.apiKey
	}
	// Fail before the run, not after it, if the result cannot be written.
	if err := checkWritable("out", f.out); err != nil {
		return err
	}
	dataDir := f.dataDir
	if dataDir == "" && driverName == "embedded" {
		dataDir, err = os.MkdirTemp("", "engram-bench-data-")
		if err != nil {
			return &exitError{code: exitInvalid, err: err}
		}
		defer os.RemoveAll(dataDir)
	}

	env := reports.CurrentEnv()
	gitRevision(&env)
	progressW := stderr
	tty := isTerminal(stderr)
	var arrRate float64
	if sched, err := workloads.NewSchedule(sc, seed); err == nil {
		arrRate = sched.Rate()
	}
	prog := &reports.Progress{W: progressW, TTY: tty, Total: sc.Duration.Total(), TargetRate: arrRate, Names: workloads.KindNames()}
	if fh, ok := stderr.(*os.File); ok && tty {
		prog.Width, _, _ = term.GetSize(int(fh.Fd()))
	}
	if f.opNames != nil {
		prog.Names = f.opNames
	}
	plan := drivers.Plan{
		Scenario:     sc,
		Seed:         seed,
		Driver:       driverName,
		DriverConfig: drivers.Config{DataDir: dataDir, NoSync: f.noSync, Target: f.target, Options: opts},
		Concurrency:  conc,
		MaxLag:       f.maxLag,
		Env:          env,
	}
	if plan.Shard, plan.Shards, err = parseShard(f.shard); err != nil {
		return err
	}
	prog.TargetRate = arrRate / float64(plan.Shards) // this shard's share
	if plan.StartAt, err = parseStartAt(f.startAt, time.Now()); err != nil {
		return usageErr("--start-at %q: %v", f.startAt, err)
	}
	if plan.Preload, err = drivers.ParsePreloadMode(f.preload); err != nil {
		return usageErr("--preload: %v", err)
	}
	outs, err := startOutputs(ctx, &f.outputs, f.out, stderr, &plan)
	if err != nil {
		return err
	}
	plan.Live = outs.Live
	prof, err := startProfiles(&f.profile, f.out, &plan)
	if err != nil {
		outs.abort()
		return err
	}
	if prof != nil {
		outs.live = append(outs.live, prof.Tick)
		if prev := plan.OnStart; prev != nil { // the scraper's boundaries
			plan.OnStart = func(at time.Time) { prev(at); prof.Start(at) }
		} else {
			plan.OnStart = prof.Start
		}
	}
	if !f.quiet {
		outs.live = append([]func(reports.Tick){prog.Tick}, outs.live...)
		plan.PreloadProgress = func(done, total int64) {
			if tty {
				fmt.Fprintf(progressW, "\r\x1b[2Kpreload %d/%d memories", done, total)
				if done == total {
					fmt.Fprintln(progressW)
				}
				return
			}
			fmt.Fprintf(progressW, "%s preload %d/%d memories\n", time.Now().UTC().Format("2006-01-02T15:04:05Z"), done, total)
		}
		fmt.Fprintf(progressW, "engram-bench: %s on %s, %.0f ops/s for %s (+%s warm-up), seed %d, concurrency %d\n",
			sc.ID, driverName, arrRate, sc.Duration.Total(), sc.Duration.Warmup(), seed, conc)
		if plan.Shards > 1 {
			fmt.Fprintf(progressW, "engram-bench: shard %d of %d: ops with index mod %d = %d, %.0f ops/s of the stream's %.0f\n",
				plan.Shard, plan.Shards, plan.Shards, plan.Shard, arrRate/float64(plan.Shards), arrRate)
		}
		if !plan.StartAt.IsZero() {
			fmt.Fprintf(progressW, "engram-bench: the schedule starts at %s (in %s)\n",
				plan.StartAt.UTC().Format(time.RFC3339Nano), time.Until(plan.StartAt).Round(time.Millisecond))
		}
	}
	res, err := execute(ctx, f, sc, plan, stderr)
	prog.Done()
	if err != nil {
		if prof != nil {
			prof.Abort()
		}
		outs.abort()
		var ee *exitError
		if errors.As(err, &ee) {
			return err
		}
		if errors.Is(err, drivers.ErrUnreachable) || errors.Is(err, drivers.ErrLateStart) {
			return &exitError{code: exitInvalid, err: err}
		}
		if ctx.Err() != nil {
			return &exitError{code: exitInvalid, err: err}
		}
		return &exitError{code: exitUsage, err: err}
	}
	if prof != nil {
		if err := prof.Finish(res, filepath.Dir(f.out), 30*time.Second); err != nil {
			outs.abort()
			return &exitError{code: exitInvalid, err: err}
		}
	}
	if err := outs.finish(ctx, res); err != nil {
		return &exitError{code: exitInvalid, err: err}
	}
	if err := reports.WriteText(stdout, res); err != nil {
		return &exitError{code: exitInvalid, err: err}
	}
	return verdictExit(res.Verdict)
}

// verdictExit maps a result's verdict to the command's exit: nil for pass,
// exit 1 for fail, exit 3 for invalid (the result has already been printed).
func verdictExit(v string) error {
	switch v {
	case reports.VerdictPass:
		return nil
	case reports.VerdictFail:
		return &exitError{code: exitFail, err: errors.New("")}
	default:
		return &exitError{code: exitInvalid, err: errors.New("")}
	}
}
