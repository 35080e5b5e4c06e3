package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/engram-bench/engram-bench/drivers"
	"github.com/engram-bench/engram-bench/drivers/recovery"
	"github.com/engram-bench/engram-bench/reports"
	"github.com/engram-bench/engram-bench/workloads"
)

// runDrill is `engram-bench run` for a scenario with a [drill] table: a
// disaster-recovery drill against an engramd the harness starts itself
// (drivers/drill, docs/disaster-recovery.md).
func runDrill(cmd *cobra.Command, f *runFlags, sc *workloads.Scenario, seed uint64, conc int, driverName string, stdout, stderr io.Writer) error {
	ctx := cmd.Context()
	switch {
	case driverName != "engram":
		return usageErr("--driver %s: a drill drives the engramd it starts: the driver is engram", driverName)
	case f.target != "":
		return usageErr("--target %s: a drill starts its own engramd (it destroys its data directory on purpose); leave --target out", f.target)
	case f.shard != "" || f.startAt != "":
		return usageErr("--shard and --start-at do not apply to a drill (one process owns the server it destroys)")
	case f.dataDir != "":
		return usageErr("--data-dir is the embedded engine's; a drill keeps its directories in --drill-dir")
	case f.apiKey != "":
		return usageErr("--api-key: the drill's engramd runs without authentication")
	}
	// engramd is this binary's own `engram-bench engramd` unless
	// --engramd-bin names another.
	command := engramdCommand()
	if bin := f.chaos.engramdBin; bin != "" {
		if st, err := os.Stat(bin); err != nil || st.IsDir() {
			return usageErr("--engramd-bin %s: not an executable file (build one with go build -o bin/engramd ./cmd/engramd)", bin)
		}
		command = []string{bin}
	}
	if f.drillDir != "" {
		if ents, err := os.ReadDir(f.drillDir); err == nil && len(ents) > 0 {
			return usageErr("--drill-dir %s: not empty (a drill needs a fresh directory)", f.drillDir)
		}
	}
	opts, err := driverOptions(f.options)
	if err != nil {
		return err
	}
	if f.out != "" {
		if err := checkWritable("out", f.out); err != nil {
			return err
		}
	}
	env := reports.CurrentEnv()
	gitRevision(&env)
	tty := isTerminal(stderr)
	var arrRate float64
	if sched, err := workloads.NewSchedule(sc, seed); err == nil {
		arrRate = sched.Rate()
	}
	prog := &reports.Progress{W: stderr, TTY: tty, Total: sc.Duration.Total(), TargetRate: arrRate, Names: workloads.KindNames()}
	// The outputs need the plan's shape; the drill makes the real one.
	shape := drivers.Plan{Scenario: sc, Seed: seed, Driver: "engram", Interval: sc.Drill.RecoveryWindow()}
	outs, err := startOutputs(ctx, &f.outputs, f.out, stderr, &shape)
	if err != nil {
		return err
	}
	cfg := recovery.Config{
		Scenario: sc, Seed: seed, Concurrency: conc, MaxLag: f.maxLag, Engramd: command, NoSync: f.noSync,
		WorkDir: f.drillDir, Keep: f.drillDir != "", DriverOptions: opts, Env: env, Live: outs.Live,
		OnStart: shape.OnStart, // the scraper's boundaries, set on the shape by startOutputs
	}
	if !f.quiet {
		cfg.Log = stderr
		outs.live = append([]func(reports.Tick){prog.Tick}, outs.live...)
		cfg.PreloadProgress = func(done, total int64) {
			fmt.Fprintf(stderr, "%s preload %d/%d memories\n", time.Now().UTC().Format("2006-01-02T15:04:05Z"), done, total)
		}
		fmt.Fprintf(stderr, "engram-bench: %s: disaster-recovery drill on engramd, %.0f ops/s for %s, disaster at %gs, seed %d, concurrency %d\n",
			sc.ID, arrRate, sc.Duration.Total(), sc.Drill.DisasterAtS, seed, conc)
	}
	res, err := recovery.Run(ctx, cfg)
	prog.Done()
	if err != nil {
		outs.abort()
		switch {
		case errors.Is(err, recovery.ErrNoEngramd):
			return usageErr("%v", err)
		case ctx.Err() != nil:
			return &exitError{code: exitInvalid, err: err}
		}
		return &exitError{code: exitInvalid, err: err}
	}
	if res.Partial {
		res.Verdict = reports.VerdictInvalid
		res.Reasons = append([]string{"interrupted: partial result"}, res.Reasons...)
	}
	if err := outs.finish(ctx, res); err != nil {
		return &exitError{code: exitInvalid, err: err}
	}
	if err := reports.WriteText(stdout, res); err != nil {
		return &exitError{code: exitInvalid, err: err}
	}
	return verdictExit(res.Verdict)
}
