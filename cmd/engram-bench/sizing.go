package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/engram-bench/engram-bench/drivers/capacity"
	"github.com/engram-bench/engram-bench/drivers/systems"
	"github.com/engram-bench/engram-bench/reports"
)

type sizingFlags struct {
	target   targetFlags
	memories string
	rate     float64
	duration time.Duration
	warmup   time.Duration
	engramd  string
	pid      int
	dir      string
	out      string
}

func newSizingCmd(stdout, stderr io.Writer) *cobra.Command {
	f := &sizingFlags{}
	cmd := &cobra.Command{
		Use:   "sizing --scenario NAME|PATH --memories N --rate R --out sizing.json",
		Short: "Measure memory and disk per million memories and CPU per op, for engram-bench plan",
		Long: `Load --memories memories into a fresh target, sampling its memory (PSS) and
disk five times a second as they arrive, and fit a line through the samples
of the upper half of the load: bytes per memory and a base. Then run the scenario at --rate for --duration
and read the target's CPU time at the first and last interval boundary: CPU
per op is the difference over the ops finished in between.

Targets: --driver embedded (the engine in this process; the harness's own
CPU per op is measured with the null driver on the same op stream and
subtracted), --driver engram (a fresh engramd started on 127.0.0.1: --engramd
BIN, else engramd on PATH, else the one built into this binary), or --driver engram --target URL --pid PID --dir DATA for an
engramd you started (its process and data directory are measured).

Writes sizing.json (--out) and the measured run's result beside it;
engram-bench plan projects cores, RAM and disk from them.

Exit codes: 0 measured; 2 usage error; 3 the target could not be started or
the run was interrupted.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runSizing(cmd, f, stdout, stderr)
		},
	}
	fl := cmd.Flags()
	addTargetFlags(fl, &f.target)
	fl.StringVar(&f.memories, "memories", "100k", "memories to load (10000, 250k, 1M)")
	fl.Float64Var(&f.rate, "rate", 0, "steady rate the CPU per op is measured at, ops/s (required: well below the target's capacity)")
	fl.DurationVar(&f.duration, "duration", 30*time.Second, "measured window of the steady run")
	fl.DurationVar(&f.warmup, "warmup", 3*time.Second, "warm-up before it")
	fl.StringVar(&f.engramd, "engramd", "", "engramd binary to start fresh for --driver engram (default: engramd on PATH, else the one built into this binary)")
	fl.IntVar(&f.pid, "pid", 0, "with --target: the target server's process id, to measure its memory and CPU")
	fl.StringVar(&f.dir, "dir", "", "with --target: the target server's data directory, to measure its disk")
	fl.StringVarP(&f.out, "out", "o", "", "write the sizing measurement here (the run's result goes beside it, as NAME.run.json)")
	return cmd
}

func runSizing(cmd *cobra.Command, f *sizingFlags, stdout, stderr io.Writer) error {
	ctx := cmd.Context()
	m, err := reports.ParseCount(f.memories)
	if err != nil {
		return usageErr("--memories %v", err)
	}
	if !(f.rate > 0) {
		return usageErr("--rate %g: give the steady rate CPU per op is measured at (> 0, well below the target's capacity)", f.rate)
	}
	if err := checkWritable("out", f.out); err != nil {
		return err
	}
	rs, err := f.target.resolve(cmd, stderr)
	if err != nil {
		return err
	}
	defer rs.cleanup()
	cfg := capacity.SizingConfig{Memories: int64(m), Rate: f.rate, Duration: f.duration, Warmup: f.warmup}
	p := rs.plan
	if (f.pid != 0 || f.dir != "") && (p.Driver != "engram" || p.DriverConfig.Target == "") {
		// Measuring another process than the one loaded would size the
		// wrong thing; ignoring the flags would hide the mistake.
		loads := "a fresh engramd it starts"
		if p.Driver == "embedded" {
			loads = "the engine in this process"
		}
		return usageErr("--pid and --dir name the server at --target, and this run has none (--driver %s loads %s): give --driver engram --target URL with them, or leave them out", p.Driver, loads)
	}
	switch {
	case p.Driver == "embedded":
		cfg.PID, cfg.DataDir, cfg.InProcess = os.Getpid(), p.DriverConfig.DataDir, true
		cfg.System = "this process (the engine in-process, with the harness)"
	case p.Driver == "engram" && p.DriverConfig.Target != "":
		if f.pid <= 0 || f.dir == "" {
			return usageErr("--target %s: give --pid and --dir, the server's process and data directory, so its memory, CPU and disk can be measured (or leave out --target to start a fresh engramd)", p.DriverConfig.Target)
		}
		if err := systems.CheckProcess(f.pid); err != nil {
			if errors.Is(err, systems.ErrNoProcess) {
				return usageErr("--pid %d: no such process; give the process id of the server at %s", f.pid, p.DriverConfig.Target)
			}
			return usageErr("--pid %d: %v", f.pid, err)
		}
		if err := capacity.CheckDataDir(f.dir); err != nil {
			return usageErr("--dir %s: %v; give the server's data directory", f.dir, err)
		}
		cfg.PID, cfg.DataDir = f.pid, f.dir
		cfg.System = fmt.Sprintf("the server at %s (pid %d)", p.DriverConfig.Target, f.pid)
	case p.Driver == "engram":
		sys, err := systems.StartEngramd(ctx, systems.Options{Bin: f.engramd, Dim: rs.sc.Data.EmbeddingDim, NoSync: f.target.noSync,
			EngramdCommand: engramdCommand()})
		if err != nil {
			return &exitError{code: exitInvalid, err: err}
		}
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			sys.Stop(sctx)
		}()
		p.DriverConfig.Target = sys.Target
		cfg.PID, cfg.DataDir = sys.PID, sys.DataDir
		cfg.System = fmt.Sprintf("%s pid %d (started fresh, %s)", sys.Version, sys.PID, strings.Join(sys.Settings, ", "))
	default:
		return usageErr("--driver %s: sizing measures the embedded engine or engramd (--driver engram)", p.Driver)
	}
	if err := cfg.Validate(); err != nil {
		return flagError(err, map[string]string{"memories": "--memories", "rate": "--rate", "duration": "--duration", "warm-up": "--warmup"})
	}
	if !f.target.quiet {
		fmt.Fprintf(stderr, "engram-bench: sizing %s: loading %d memories into %s, then %g ops/s for %s\n", rs.sc.ID, int64(m), cfg.System, f.rate, f.duration)
		var shown time.Time
		cfg.OnSample = func(pt reports.SizingPoint) {
			if time.Since(shown) < time.Second && pt.Memories > 0 && pt.Memories < int64(m) {
				return // a line a second
			}
			shown = time.Now()
			fmt.Fprintf(stderr, "engram-bench: %7.1fs  %10d memories  memory %s  disk %s\n", pt.AtS, pt.Memories, reports.FormatProfileValue(pt.MemoryBytes, "bytes"), reports.FormatProfileValue(pt.DiskBytes, "bytes"))
		}
	}
	s, res, err := capacity.Size(ctx, p, cfg)
	runOut := ""
	if f.out != "" {
		runOut = profileBase(f.out) + ".run.json"
	}
	if err != nil {
		// Interrupted or failed after the load: keep what was measured.
		if res != nil && runOut != "" {
			if werr := res.WriteFile(runOut); werr == nil {
				fmt.Fprintf(stderr, "engram-bench: wrote the partial run to %s (no sizing from it)\n", runOut)
			}
		}
		return &exitError{code: exitInvalid, err: err}
	}
	if f.out != "" {
		if err := res.WriteFile(runOut); err != nil {
			return &exitError{code: exitInvalid, err: err}
		}
		s.Result = filepath.Base(runOut)
		if err := s.WriteFile(f.out); err != nil {
			return &exitError{code: exitInvalid, err: err}
		}
	}
	if err := reports.WriteSizingText(stdout, s); err != nil {
		return &exitError{code: exitInvalid, err: err}
	}
	if f.out != "" {
		fmt.Fprintf(stdout, "wrote %s and %s\n", f.out, filepath.Join(filepath.Dir(f.out), s.Result))
	}
	return nil
}

type planFlags struct {
	sizing   string
	capacity string
	memories string
	rate     string
	slo      string
}

func newPlanCmd(stdout io.Writer) *cobra.Command {
	f := &planFlags{}
	cmd := &cobra.Command{
		Use:   "plan --sizing sizing.json --memories 10M --rate 20000 [--slo p99=10ms --capacity capacity.json]",
		Short: "Project cores, RAM and disk for a deployment from saved measurements",
		Long: `Project what a deployment needs from a sizing measurement (engram-bench
sizing) and, for an SLO, a capacity search (engram-bench capacity):

  RAM   = memory base + memories × memory per memory     (sizing fit)
  disk  = disk base + memories × disk per memory         (sizing fit)
  CPU   = rate × CPU per op                              (cores busy: a floor)
  cores = rate × measured cores / knee                   (within the SLO)

Every number is printed with its arithmetic and the measurement it came
from, then every assumption the projection rests on, then what could not be
projected and why. Nothing is invented: without a capacity search whose SLO
covers --slo, cores within the SLO are not projected.

Exit codes: 0 the plan was printed; 2 usage error or unreadable file.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runPlan(f, stdout)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.sizing, "sizing", "sizing.json", "the sizing measurement (engram-bench sizing --out)")
	fl.StringVar(&f.capacity, "capacity", "", "a capacity search of the same scenario (engram-bench capacity --out-dir DIR: DIR/capacity.json)")
	fl.StringVar(&f.memories, "memories", "", "memories to hold (10M, 250k, 1e6)")
	fl.StringVar(&f.rate, "rate", "", "ops/s of the scenario's mix to serve (20000, 20k)")
	fl.StringVar(&f.slo, "slo", "", "the objective to serve it within (p99=10ms,...): needs --capacity")
	return cmd
}

func runPlan(f *planFlags, stdout io.Writer) error {
	if f.memories == "" || f.rate == "" {
		return usageErr("give --memories and --rate (e.g. --memories 10M --rate 20000)")
	}
	m, err := reports.ParseCount(f.memories)
	if err != nil {
		return usageErr("--memories %v", err)
	}
	r, err := reports.ParseCount(f.rate)
	if err != nil {
		return usageErr("--rate %v", err)
	}
	req := reports.PlanRequest{Memories: int64(m), Rate: r}
	if f.slo != "" {
		slo, err := reports.ParseSLO(f.slo)
		if err != nil {
			return usageErr("--slo: %v", err)
		}
		req.SLO = &slo
	}
	s, err := reports.ReadSizing(f.sizing)
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	var c *reports.Capacity
	if f.capacity != "" {
		if c, err = reports.ReadCapacity(f.capacity); err != nil {
			return &exitError{code: exitUsage, err: err}
		}
	}
	p, err := reports.Project(req, s, c)
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	return reports.WriteProjection(stdout, req, p)
}
