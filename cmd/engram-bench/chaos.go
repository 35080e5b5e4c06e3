package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/engram-bench/engram-bench/chaos"
	"github.com/engram-bench/engram-bench/chaos/drill"
	"github.com/engram-bench/engram-bench/chaos/resource"
	"github.com/engram-bench/engram-bench/drivers"
	"github.com/engram-bench/engram-bench/reports"
	"github.com/engram-bench/engram-bench/workloads"
)

// chaosFlags are run's flags for scenarios with a fault schedule.
type chaosFlags struct {
	dir        string
	engramdBin string
	noChaos    bool
}

func addChaosFlags(fl *pflag.FlagSet, f *chaosFlags) {
	fl.StringVar(&f.dir, "chaos-dir", "", "chaos scenarios: keep engramd's data, its log and the write spill in this directory (default: a temporary one, removed)")
	fl.StringVar(&f.engramdBin, "engramd-bin", "", "chaos scenarios and disaster-recovery drills: the engramd binary to start (default: this binary, which contains engramd)")
	fl.BoolVar(&f.noChaos, "no-chaos", false, "run a chaos scenario's load without its faults (still through the harness's own engramd, and still checked): the baseline")
}

// selfCommand is the argv prefix that runs this binary: os.Args[0] looked up
// on PATH (so a test binary standing in for engram-bench works), else the
// executable.
func selfCommand() []string {
	if p, err := selfPath(); err == nil {
		return []string{p}
	}
	return []string{os.Args[0]}
}

// execute runs the plan: as a chaos drill when the scenario has a fault
// schedule (or --no-chaos asks for its baseline), else plainly.
func execute(ctx context.Context, f *runFlags, sc *workloads.Scenario, plan drivers.Plan, stderr io.Writer) (*reports.Result, error) {
	if !sc.Chaos.Enabled {
		return drivers.Execute(ctx, plan)
	}
	sched, err := workloads.NewSchedule(sc, plan.Seed)
	if err != nil {
		return nil, usageErr("%v", err)
	}
	faults, err := chaos.FromScenario(sc, sched.Measured)
	if err != nil {
		return nil, &exitError{code: exitUsage, err: err}
	}
	if f.chaos.noChaos {
		faults = nil
	}
	if plan.Shards > 1 {
		return nil, usageErr("--shard: a chaos drill runs as one process")
	}
	cfg := drill.Config{
		Plan: plan, Faults: faults,
		Managed:        plan.Driver == "engram" && f.target == "",
		EngramdCommand: engramdCommand(),
		Helper:         append(selfCommand(), "chaos", "helper"),
		WorkDir:        f.chaos.dir,
		Keep:           f.chaos.dir != "",
		NoSync:         (sc.Chaos.Sync != nil && !*sc.Chaos.Sync) || f.noSync,
		NoCheck:        sc.Chaos.Check != nil && !*sc.Chaos.Check,
		RecoverTimeout: time.Duration(sc.Chaos.RecoverTimeoutSec * float64(time.Second)),
		ErrorBudget:    sc.Chaos.ErrorBudget,
		P99TargetMs:    sc.Chaos.P99TargetMs,
		APIKey:         f.apiKey,
	}
	if f.chaos.engramdBin != "" {
		cfg.EngramdCommand = []string{f.chaos.engramdBin}
	}
	if !f.quiet {
		cfg.Log = stderr
	}
	res, err := drill.Run(ctx, cfg)
	switch {
	case err != nil && res == nil && ctx.Err() != nil:
		return nil, &exitError{code: exitInvalid, err: err}
	case err != nil && res == nil:
		return nil, &exitError{code: exitUsage, err: err}
	case err != nil:
		res.Verdict = reports.VerdictInvalid
		res.Reasons = append(res.Reasons, err.Error())
	}
	return res, nil
}

func newChaosCmd(stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "chaos",
		Short: "Chaos drills: list the built-in drills and fault kinds",
		Long: `Chaos drills inject faults on the run's own timeline — network (through a proxy),
process (kill, pause, crash loops of an engramd the harness owns), disk (errors,
slowness), data (corrupted WAL or sstable), resources (memory, CPU), thundering
herds — and then read back every acknowledged write. Run one with
engram-bench run --scenario chaos_kill. See docs/chaos.md.`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return usageErr("chaos: give a subcommand: list")
		},
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List the built-in chaos drills and the fault kinds",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return writeChaosList(stdout)
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:                "helper MODE N MAXLIFE",
		Short:              "a resource fault's helper process (ballast, spinner)",
		Hidden:             true,
		DisableFlagParsing: true,
		RunE: func(_ *cobra.Command, args []string) error {
			if code := resource.Main(args, stdout, stderr); code != 0 {
				return &exitError{code: code}
			}
			return nil
		},
	})
	return cmd
}

func writeChaosList(w io.Writer) error {
	fmt.Fprintln(w, "drills (engram-bench run --scenario NAME):")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, name := range workloads.BuiltinNames() {
		if !strings.HasPrefix(name, "chaos_") {
			continue
		}
		sc, err := workloads.LoadBuiltin(name)
		if err != nil {
			return err
		}
		var kinds []string
		for _, f := range sc.Chaos.Faults {
			kinds = append(kinds, f.Kind)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", name, fmtSeconds(sc.Duration.TotalSeconds), sc.Description)
		fmt.Fprintf(tw, "  \t\tfaults: %s\n", strings.Join(kinds, ", "))
	}
	tw.Flush()
	fmt.Fprintln(w, "\nfault kinds ([[chaos.faults]] kind = ...):")
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, k := range chaos.Kinds() {
		var ps []string
		for _, p := range k.Params {
			d := p.Default
			if d == "" {
				d = "required"
			}
			ps = append(ps, p.Name+"="+d)
		}
		sort.Strings(ps)
		dur := map[string]string{"required": "duration", "none": "instant", "optional": "duration optional"}[k.Duration]
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", k.Name, k.Class, dur, strings.Join(ps, " "))
		fmt.Fprintf(tw, "  \t\t\t%s\n", k.Help)
	}
	return tw.Flush()
}

func fmtSeconds(s float64) string { return (time.Duration(s * float64(time.Second))).String() }
