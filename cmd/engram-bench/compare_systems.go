package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/engram-bench/engram-bench/drivers"
	"github.com/engram-bench/engram-bench/drivers/compare"
	"github.com/engram-bench/engram-bench/reports"
	"github.com/engram-bench/engram-bench/workloads"
)

type compareFlags struct {
	scenario    string
	systems     string
	seed        uint64
	rate        float64
	duration    time.Duration
	warmup      time.Duration
	concurrency int
	noSync      bool
	maxLag      time.Duration
	targets     []string
	pids        []string
	dirs        []string
	bins        []string
	options     []string
	outDir      string
	tempDir     string
	keep        bool
	quiet       bool
	from        string
}

func newCompareSystemsCmd(stdout, stderr io.Writer) *cobra.Command {
	f := &compareFlags{}
	cmd := &cobra.Command{
		Use:   "compare-systems --scenario NAME|PATH --drivers embedded,redis,postgres",
		Short: "Run the same workload against several systems and compare them side by side",
		Long: `Run one scenario, with one seed and so one op stream, against each system in
turn. Systems engram-bench can start (embedded, redis, postgres) are started
fresh on 127.0.0.1 in a temporary directory, measured (memory: PSS of their
processes; disk: their data directory) and stopped; any other registered
driver is driven at --target NAME=ADDR.

Prints one table (throughput, p50/p99/p99.9 per op kind, recall@10 and hit
rate of searches, memory and disk; "n/a" where a system cannot do an op) and,
with --out-dir, writes comparison.html (self-contained), comparison.json and
each system's result.

Exit codes: 0 every system ran; 2 usage error; 3 a system could not be
started or run, or the comparison was interrupted (partial results are still
written).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runCompareSystems(cmd, f, stdout, stderr)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.scenario, "scenario", "s", "quickstart", "built-in scenario name or path to a scenario TOML file")
	fl.StringVar(&f.systems, "drivers", "embedded,redis,postgres", "systems to compare, by driver name, run in this order")
	fl.Uint64Var(&f.seed, "seed", 0, "seed of the op stream (default: the scenario's [run] seed, else 1)")
	fl.Float64Var(&f.rate, "rate", 0, "override the scenario's mean arrival rate, ops/s")
	fl.DurationVar(&f.duration, "duration", 0, "override the measured duration per system (e.g. 30s)")
	fl.DurationVar(&f.warmup, "warmup", -1, "override the warm-up per system (0 for none)")
	fl.IntVarP(&f.concurrency, "concurrency", "c", 0, "most ops in flight at once (default: the scenario's, else 64)")
	fl.BoolVar(&f.noSync, "no-sync", false, "every system acknowledges writes before fsync (engine NoSync, redis appendfsync everysec, postgres synchronous_commit=off)")
	fl.DurationVar(&f.maxLag, "max-lag", drivers.DefaultMaxLag, "harness dispatch-lag p99 above which a run is harness-limited")
	fl.StringArrayVar(&f.targets, "target", nil, "NAME=ADDR: drive an already running system instead of starting one (repeatable)")
	fl.StringArrayVar(&f.pids, "pid", nil, "NAME=PID: the process of an external --target system, to measure its memory")
	fl.StringArrayVar(&f.dirs, "dir", nil, "NAME=DIR: the data directory of an external --target system, to measure its disk")
	fl.StringArrayVar(&f.bins, "bin", nil, "NAME=PATH: server binary to start (redis-server, engramd) or PostgreSQL's bin directory")
	fl.StringArrayVar(&f.options, "driver-opt", nil, "NAME.key=value: option for one system's driver (repeatable)")
	fl.StringVarP(&f.outDir, "out-dir", "o", "", "write comparison.html, comparison.json and result-NAME.json here")
	fl.StringVar(&f.tempDir, "temp-dir", "", "where started systems keep their data (default: the system temporary directory)")
	fl.BoolVar(&f.keep, "keep", false, "keep started systems' data directories afterwards")
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "no live progress")
	fl.StringVar(&f.from, "from", "", "render a saved comparison.json again (table, and the page with --out-dir) instead of running")
	return cmd
}

func runCompareSystems(cmd *cobra.Command, f *compareFlags, stdout, stderr io.Writer) error {
	ctx := cmd.Context()
	if f.from != "" {
		c, err := reports.ReadComparison(f.from)
		if err != nil {
			return &exitError{code: exitUsage, err: err}
		}
		if f.outDir != "" {
			if err := os.MkdirAll(f.outDir, 0o755); err != nil {
				return usageErr("--out-dir %s: %v", f.outDir, err)
			}
			if err := writeComparison(f.outDir, c); err != nil {
				return &exitError{code: exitInvalid, err: err}
			}
		}
		return reports.WriteComparisonText(stdout, c)
	}
	sc, err := workloads.Resolve(f.scenario)
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	sc = sc.Clone()
	seed := uint64(1)
	if sc.Run.Seed != nil {
		seed = *sc.Run.Seed
	}
	if cmd.Flags().Changed("seed") {
		seed = f.seed
	}
	// As run applies them: --rate scales a phased scenario's phases (and
	// the throughput target), --duration and --warmup stretch them.
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
	cfg := compare.Config{
		Scenario:    sc,
		Seed:        seed,
		Systems:     compare.ParseSystems(f.systems),
		Concurrency: conc,
		MaxLag:      f.maxLag,
		NoSync:      f.noSync,
		TempDir:     f.tempDir,
		Keep:        f.keep,
		Options:     map[string]map[string]string{},
	}
	if cfg.Targets, err = nameValues("--target", f.targets); err != nil {
		return err
	}
	if cfg.Dirs, err = nameValues("--dir", f.dirs); err != nil {
		return err
	}
	if cfg.Bins, err = nameValues("--bin", f.bins); err != nil {
		return err
	}
	cfg.EngramdCommand = engramdCommand()
	pids, err := nameValues("--pid", f.pids)
	if err != nil {
		return err
	}
	cfg.PIDs = map[string]int{}
	for k, v := range pids {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return usageErr("--pid %s=%s: want a process id", k, v)
		}
		cfg.PIDs[k] = n
	}
	for _, o := range f.options {
		name, kv, ok := strings.Cut(o, ".")
		k, v, ok2 := strings.Cut(kv, "=")
		if !ok || !ok2 || name == "" || k == "" {
			return usageErr("--driver-opt %q: want NAME.key=value (e.g. postgres.vector=array)", o)
		}
		if cfg.Options[name] == nil {
			cfg.Options[name] = map[string]string{}
		}
		cfg.Options[name][k] = v
	}
	if err := cfg.Validate(); err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	if f.outDir != "" {
		if err := os.MkdirAll(f.outDir, 0o755); err != nil {
			return usageErr("--out-dir %s: %v", f.outDir, err)
		}
	}
	env := reports.CurrentEnv()
	gitRevision(&env)
	cfg.Env = env

	tty := isTerminal(stderr)
	var prog *reports.Progress
	current := ""
	if !f.quiet {
		cfg.Log = stderr
		var rate float64
		total := sc.Duration.Total()
		if s, err := workloads.NewSchedule(sc, seed); err == nil {
			rate, total = s.Rate(), s.Measured
		}
		cfg.Live = func(system string, t reports.Tick) {
			if system != current {
				if prog != nil {
					prog.Done()
				}
				current = system
				prog = &reports.Progress{W: stderr, TTY: tty, Total: total, TargetRate: rate, Names: workloads.KindNames()}
			}
			prog.Tick(t)
		}
		fmt.Fprintf(stderr, "engram-bench: compare-systems %s on %s, seed %d, concurrency %d\n", sc.ID, strings.Join(cfg.Systems, ", "), seed, conc)
	}
	c, err := compare.Run(ctx, cfg)
	if prog != nil {
		prog.Done()
	}
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	if f.outDir != "" {
		if err := writeComparison(f.outDir, c); err != nil {
			return &exitError{code: exitInvalid, err: err}
		}
	}
	if err := reports.WriteComparisonText(stdout, c); err != nil {
		return &exitError{code: exitInvalid, err: err}
	}
	if f.outDir != "" {
		fmt.Fprintf(stdout, "\nwrote %s\n", filepath.Join(f.outDir, "comparison.html"))
	}
	var failed []string
	for _, s := range c.Systems {
		if s.Result == nil {
			failed = append(failed, s.Name)
		}
	}
	switch {
	case c.Partial:
		return &exitError{code: exitInvalid, err: errors.New("interrupted: partial comparison")}
	case len(failed) > 0:
		return &exitError{code: exitInvalid, err: fmt.Errorf("not run: %s (see notes)", strings.Join(failed, ", "))}
	}
	return nil
}

// writeComparison writes the page, the comparison and each system's result.
func writeComparison(dir string, c *reports.Comparison) error {
	if err := c.WriteFile(filepath.Join(dir, "comparison.json")); err != nil {
		return err
	}
	for _, s := range c.Systems {
		if s.Result != nil {
			if err := s.Result.WriteFile(filepath.Join(dir, "result-"+s.Name+".json")); err != nil {
				return err
			}
		}
	}
	path := filepath.Join(dir, "comparison.html")
	fh, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := reports.WriteComparisonHTML(fh, c); err != nil {
		fh.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return fh.Close()
}

// nameValues parses repeated NAME=VALUE flags.
func nameValues(flag string, vals []string) (map[string]string, error) {
	out := map[string]string{}
	for _, v := range vals {
		k, val, ok := strings.Cut(v, "=")
		if !ok || k == "" || val == "" {
			return nil, usageErr("%s %q: want NAME=VALUE", flag, v)
		}
		if _, dup := out[k]; dup {
			return nil, usageErr("%s %s given twice", flag, k)
		}
		out[k] = val
	}
	return out, nil
}
