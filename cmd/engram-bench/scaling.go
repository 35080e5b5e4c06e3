package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/engram-bench/engram-bench/drivers/capacity"
	"github.com/engram-bench/engram-bench/reports"
	"github.com/engram-bench/engram-bench/workloads"
)

type scalingFlags struct {
	target   targetFlags
	axis     string
	points   string
	workers  int
	duration time.Duration
	warmup   time.Duration
	out      string
	outDir   string
	html     string
	fresh    bool
}

func newScalingCmd(stdout, stderr io.Writer) *cobra.Command {
	f := &scalingFlags{}
	cmd := &cobra.Command{
		Use:   "scaling --scenario NAME|PATH [--axis workers|cores] --points 1,2,4,8",
		Short: "Measure throughput at 1, 2, 4, … workers (or cores) and how linearly it scales (H3)",
		Long: `Measure the throughput the target reaches at each point of an axis, and fit
a line through it: Engram's hypothesis H3 (throughput ∝ workers or cores,
R² > 0.95).

Each point saturates the target with a closed loop of N users that send
their next op as soon as the previous one is answered, for --duration after
--warmup. --axis workers: N is the point. --axis cores (embedded engine
only): N is --workers and the point is GOMAXPROCS, set in this process for
the point's run (the engine's parallelism is Go's), up to the machine's
cores. The first point preloads; later points run on the same data, grown
by the stores of the points before them (--fresh: a fresh in-process engine
and preload per point, so every point sees the same data set).

Prints throughput, efficiency (throughput per worker relative to the first
point) and the marginal gain per point, the fits, and H3. --out writes the
last point's result with every point in its "scaling" field; --out-dir
writes each point's result too.

Exit codes: 0 every point ran (whatever H3 says); 2 usage error; 3
interrupted or a point could not run.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runScaling(cmd, f, stdout, stderr)
		},
	}
	fl := cmd.Flags()
	addTargetFlags(fl, &f.target)
	fl.StringVar(&f.axis, "axis", capacity.AxisWorkers, "what varies: workers (concurrent users) or cores (GOMAXPROCS of the in-process engine)")
	fl.StringVar(&f.points, "points", "1,2,4,8", "the axis's settings, comma-separated")
	fl.IntVar(&f.workers, "workers", 0, "users at every point of --axis cores (default 8 × the largest point)")
	fl.DurationVar(&f.duration, "duration", 20*time.Second, "measured length of each point")
	fl.DurationVar(&f.warmup, "warmup", 3*time.Second, "unrecorded warm-up before each point")
	fl.StringVarP(&f.out, "out", "o", "", "write the result (the last point's, with every point in \"scaling\") to this file")
	fl.StringVar(&f.outDir, "out-dir", "", "write each point's own result (point-AXIS-N.json) here")
	fl.StringVar(&f.html, "html", "", "write the HTML report of the result (with H3) to this file")
	fl.BoolVar(&f.fresh, "fresh", false, "a fresh in-process target (and preload) for every point, instead of one preload grown by every point's stores")
	return cmd
}

func parsePoints(s string) ([]int, error) {
	var out []int
	for _, p := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil {
			return nil, usageErr("--points %q: want whole numbers, comma-separated (1,2,4,8)", s)
		}
		out = append(out, n)
	}
	return out, nil
}

func runScaling(cmd *cobra.Command, f *scalingFlags, stdout, stderr io.Writer) error {
	ctx := cmd.Context()
	pts, err := parsePoints(f.points)
	if err != nil {
		return err
	}
	for _, p := range []struct{ flag, path string }{{"out", f.out}, {"html", f.html}} {
		if err := checkWritable(p.flag, p.path); err != nil {
			return err
		}
	}
	rs, err := f.target.resolve(cmd, stderr)
	if err != nil {
		return err
	}
	defer rs.cleanup()
	cfg := capacity.ScalingConfig{Axis: f.axis, Points: pts, Workers: f.workers, Duration: f.duration, Warmup: f.warmup, OutDir: f.outDir}
	if f.fresh {
		if !inProcess(rs.plan.Driver) {
			return usageErr("--fresh: the %s driver's target is not started by engram-bench; restart it yourself between points, or scale on the same data (the default)", rs.plan.Driver)
		}
		cfg.Fresh = freshInProcess(rs.plan)
	}
	if err := cfg.Validate(rs.plan, inProcess(rs.plan.Driver)); err != nil {
		return flagError(err, map[string]string{"axis": "--axis", "points": "--points", "duration": "--duration", "warm-up": "--warmup", "workers": "--workers"})
	}
	if f.outDir != "" {
		if err := os.MkdirAll(f.outDir, 0o755); err != nil {
			return usageErr("--out-dir %s: %v", f.outDir, err)
		}
	}
	var prog *reports.Progress
	if !f.target.quiet {
		fmt.Fprintf(stderr, "engram-bench: scaling %s on %s along %s %s\n", rs.sc.ID, rs.plan.Driver, f.axis, f.points)
		cfg.OnStart = func(x int) {
			fmt.Fprintf(stderr, "engram-bench: %s=%d for %s (+%s warm-up)\n", f.axis, x, f.duration, f.warmup)
			prog = &reports.Progress{W: stderr, TTY: rs.tty, Total: f.duration, Names: workloads.KindNames()}
		}
		rs.plan.Live = func(t reports.Tick) {
			if prog != nil {
				prog.Tick(t)
			}
		}
	}
	fmt.Fprintf(stdout, "engram-bench scaling %s · driver %s · axis %s\n", rs.sc.ID, rs.plan.Driver, f.axis)
	fmt.Fprintf(stdout, "%8s  %12s  %8s  %s\n", f.axis, "throughput", "p99", "verdict of the point's run")
	cfg.OnPoint = func(p reports.ScalingPoint, r *reports.Result) {
		if prog != nil {
			prog.Done()
			prog = nil
		}
		v := r.Verdict
		if r.Harness.Limited {
			v += " (harness-limited: " + r.Harness.Reason + ")"
		}
		fmt.Fprintf(stdout, "%8g  %12.1f  %8s  %s\n", p.X, p.Throughput, reports.FormatNs(p.P99Ns), v)
	}
	res, err := capacity.Scale(ctx, rs.plan, cfg)
	if prog != nil {
		prog.Done()
	}
	if err != nil {
		return &exitError{code: exitInvalid, err: err}
	}
	fmt.Fprintln(stdout)
	if err := reports.WriteScalingText(stdout, res.Scaling); err != nil {
		return &exitError{code: exitInvalid, err: err}
	}
	for _, h := range res.Hypotheses {
		if h.ID == "H3" {
			fmt.Fprintf(stdout, "H3 %s: %s\n", h.Status, h.Detail)
		}
	}
	if f.out != "" {
		if err := res.WriteFile(f.out); err != nil {
			return &exitError{code: exitInvalid, err: err}
		}
	}
	if f.html != "" {
		if err := writeFormat(f.html, "html", res); err != nil {
			return &exitError{code: exitInvalid, err: err}
		}
	}
	if res.Partial || len(res.Scaling.Points) < len(pts) {
		return &exitError{code: exitInvalid, err: errors.New("interrupted: partial scaling run")}
	}
	return nil
}
