package main

import (
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/engram-bench/engram-bench/drivers"
	"github.com/engram-bench/engram-bench/reports"
	"github.com/engram-bench/engram-bench/workloads"
)

// targetFlags are the scenario, driver and target flags shared by the
// commands that run a workload many times (capacity, scaling, sizing).
type targetFlags struct {
	scenario    string
	driver      string
	target      string
	seed        uint64
	concurrency int
	dataDir     string
	noSync      bool
	maxLag      time.Duration
	options     []string
	apiKey      string
	preload     string
	quiet       bool
}

func addTargetFlags(fl *pflag.FlagSet, f *targetFlags) {
	fl.StringVarP(&f.scenario, "scenario", "s", "quickstart", "built-in scenario name or path to a scenario TOML file")
	fl.StringVar(&f.driver, "driver", "", "driver: embedded, engram, null, ... (default: the scenario's [run] driver, else embedded)")
	fl.StringVar(&f.target, "target", "", "address of the system under test, for network drivers (e.g. http://127.0.0.1:7432)")
	fl.Uint64Var(&f.seed, "seed", 0, "seed of the op stream (default: the scenario's [run] seed, else 1)")
	fl.IntVarP(&f.concurrency, "concurrency", "c", 0, "most ops in flight at once (default: the scenario's, else 64)")
	fl.StringVar(&f.dataDir, "data-dir", "", "engine data directory for the embedded driver (default: a temporary directory, removed afterwards)")
	fl.BoolVar(&f.noSync, "no-sync", false, "embedded engine: acknowledge writes before fsync")
	fl.DurationVar(&f.maxLag, "max-lag", drivers.DefaultMaxLag, "harness dispatch-lag p99 above which a run is harness-limited")
	fl.StringArrayVar(&f.options, "driver-opt", nil, "driver option key=value (repeatable)")
	fl.StringVar(&f.apiKey, "api-key", "", "API key for targets with authentication on (engram driver)")
	fl.StringVar(&f.preload, "preload", "auto", "store the scenario's initial memories first: auto, or none when the target already holds them")
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "no live progress")
}

// resolved is what targetFlags resolve to: the scenario and a plan template.
type resolved struct {
	sc      *workloads.Scenario
	plan    drivers.Plan
	tempDir string // a temporary data directory to remove afterwards ("" if none)
	tty     bool
}

func (r *resolved) cleanup() {
	if r.tempDir != "" {
		os.RemoveAll(r.tempDir)
	}
}

// resolve reads the scenario and builds the plan every run starts from.
func (f *targetFlags) resolve(cmd *cobra.Command, stderr io.Writer) (*resolved, error) {
	sc, err := workloads.Resolve(f.scenario)
	if err != nil {
		return nil, &exitError{code: exitUsage, err: err}
	}
	sc = sc.Clone()
	seed := scenarioSeed(sc, cmd.Flags().Changed("seed"), f.seed)
	if err := checkConcurrency(cmd, f.concurrency); err != nil {
		return nil, err
	}
	if err := checkMaxLag(f.maxLag); err != nil {
		return nil, err
	}
	conc := drivers.DefaultConcurrency
	if sc.Run.Concurrency > 0 {
		conc = sc.Run.Concurrency
	}
	if f.concurrency > 0 {
		conc = f.concurrency
	}
	driver := f.driver
	if driver == "" {
		driver = sc.Run.Driver
	}
	if driver == "" {
		driver = "embedded"
	}
	opts, err := driverOptions(f.options)
	if err != nil {
		return nil, err
	}
	if f.apiKey != "" {
		opts["api-key"] = f.apiKey
	}
	pm, err := drivers.ParsePreloadMode(f.preload)
	if err != nil || (pm != drivers.PreloadAuto && pm != drivers.PreloadNone) {
		return nil, usageErr("--preload %q: want auto or none", f.preload)
	}
	r := &resolved{sc: sc}
	dataDir := f.dataDir
	if dataDir == "" && driver == "embedded" {
		if dataDir, err = os.MkdirTemp("", "engram-bench-data-"); err != nil {
			return nil, &exitError{code: exitInvalid, err: err}
		}
		r.tempDir = dataDir
	}
	env := reports.CurrentEnv()
	gitRevision(&env)
	r.tty = isTerminal(stderr)
	r.plan = drivers.Plan{
		Scenario:     sc,
		Seed:         seed,
		Driver:       driver,
		DriverConfig: drivers.Config{DataDir: dataDir, NoSync: f.noSync, Target: f.target, Options: opts},
		Concurrency:  conc,
		MaxLag:       f.maxLag,
		Env:          env,
		Preload:      pm,
	}
	return r, nil
}

// inProcess reports whether driver runs its target inside this process.
func inProcess(driver string) bool {
	for _, m := range drivers.List() {
		if m.Name == driver {
			return m.InProcess
		}
	}
	return false
}

// parseShare reads a share as a percentage ("5%") or a fraction ("0.05").
func parseShare(flag, s string) (float64, error) {
	v := strings.TrimSpace(s)
	pct := strings.HasSuffix(v, "%")
	v = strings.TrimSuffix(v, "%")
	x, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
		return 0, usageErr("%s %q: want a percentage (5%%) or a fraction (0.05)", flag, s)
	}
	if pct {
		x /= 100
	}
	return x, nil
}

// driverOptions parses repeated --driver-opt key=value flags.
func driverOptions(flags []string) (map[string]string, error) {
	opts := map[string]string{}
	for _, o := range flags {
		k, v, ok := strings.Cut(o, "=")
		if !ok || k == "" {
			return nil, usageErr("--driver-opt %q: want key=value", o)
		}
		opts[k] = v
	}
	return opts, nil
}

// isTerminal reports whether w is a terminal (live progress redraws one
// line there instead of printing a line per interval).
func isTerminal(w io.Writer) bool {
	fh, ok := w.(*os.File)
	return ok && term.IsTerminal(int(fh.Fd()))
}
