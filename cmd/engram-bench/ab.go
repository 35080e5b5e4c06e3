package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/engram-bench/engram-bench/baselines"
)

func newABCmd(stdout, stderr io.Writer) *cobra.Command {
	var baseBin, candBin, dir, order string
	retries := -1
	var baseArgs, candArgs []string
	f := &gateFlags{}
	cmd := &cobra.Command{
		Use:   "ab --dir DIR [--baseline-bin OLD] [--candidate-bin NEW] -- run RUN-FLAGS...",
		Short: "Interleaved A/B: run two builds alternately on this machine, then gate",
		Long: `Run the baseline build and the candidate build alternately (A B B A A B …),
--count rounds, so that what the machine does meanwhile hits both alike —
the way to gate on a noisy shared CI machine. Everything after -- is the
run command both builds get; each run's result goes to DIR/baseline/ or
DIR/candidate/, and the runs' output to DIR/runs.log. A run that comes out
invalid (exit 3: harness-limited on a busy machine) is repeated in place,
up to --retries times in all. Then the two sides are gated exactly as
'engram-bench gate' does.

  engram-bench ab --dir out/ab --count 5 \
      --candidate-arg=--driver-opt=slowdown=0.25 \
      -- run --scenario quickstart --rate 300 --concurrency 1 --duration 5s -q

Exit codes: as gate (0 pass, 1 regression, 2 bad input, 4 inconclusive).`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			self, err := selfPath()
			if err != nil {
				return &exitError{code: exitInvalid, err: err}
			}
			if baseBin == "" {
				baseBin = self
			}
			if candBin == "" {
				candBin = self
			}
			pol := baselines.DefaultPolicy()
			if f.policy != "" {
				if pol, err = baselines.ReadPolicy(f.policy); err != nil {
					return inputErr(err)
				}
			}
			if f.count == 0 {
				f.count = pol.MinRuns
			}
			if f.count < 1 {
				return usageErr("--count %d: must be > 0", f.count)
			}
			if baselines.MinP(f.count, f.count) > pol.Alpha {
				return usageErr("--count %d: with so few runs per side no change can reach p <= %g; use at least %d", f.count, pol.Alpha, baselines.RunsForP(pol.Alpha))
			}
			it := &baselines.Interleaving{
				Arms: [2]baselines.Arm{
					{Name: "baseline", Bin: baseBin, Args: baseArgs},
					{Name: "candidate", Bin: candBin, Args: candArgs},
				},
				Rounds:  f.count,
				Order:   baselines.Order(order),
				Dir:     dir,
				RunArgs: args,
				Retries: retries,
			}
			if retries < 0 {
				it.Retries = f.count
			}
			if err := it.Validate(); err != nil {
				return usageErr("%v", err)
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return usageErr("--dir %s: %v", dir, err)
			}
			logf, err := os.OpenFile(filepath.Join(dir, "runs.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
			if err != nil {
				return usageErr("--dir %s: %v", dir, err)
			}
			defer logf.Close()
			ctx := cmd.Context()
			err = baselines.Interleave(ctx, it, execStep(logf), func(i, n int, s baselines.Step) {
				again := ""
				if s.Retry > 0 {
					again = fmt.Sprintf(" (again: the last run was invalid, retry %d)", s.Retry)
				}
				fmt.Fprintf(stderr, "%s ab %d/%d: round %d %s%s\n", time.Now().UTC().Format("15:04:05"), i, n, s.Round, it.Arms[s.Arm].Name, again)
			})
			if err != nil {
				if ctx.Err() != nil {
					return &exitError{code: exitInconclusive, err: fmt.Errorf("inconclusive: %v", err)}
				}
				return usageErr("%v (output in %s)", err, filepath.Join(dir, "runs.log"))
			}
			base, err := baselines.Load(it.ArmDir(0), it.ArmDir(0))
			if err != nil {
				return inputErr(err)
			}
			cur, err := baselines.Load(it.ArmDir(1), it.ArmDir(1))
			if err != nil {
				return inputErr(err)
			}
			v, err := gateSets(base, cur, pol, f)
			if err != nil {
				return err
			}
			return finishGate(v, f, stdout, stderr)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&dir, "dir", "", "directory for the results (DIR/baseline, DIR/candidate) and runs.log (required)")
	fl.StringVar(&baseBin, "baseline-bin", "", "engram-bench executable of the baseline build (default: this one)")
	fl.StringVar(&candBin, "candidate-bin", "", "engram-bench executable of the candidate build (default: this one)")
	fl.StringArrayVar(&baseArgs, "baseline-arg", nil, "extra run argument for the baseline only (repeatable)")
	fl.StringArrayVar(&candArgs, "candidate-arg", nil, "extra run argument for the candidate only (repeatable), e.g. --candidate-arg=--driver-opt=slowdown=0.25")
	fl.StringVar(&order, "order", "abba", "abba (who goes first alternates each round) or abab")
	fl.IntVar(&f.count, "count", 0, "rounds, i.e. runs per build (default: the policy's min_runs, 6)")
	fl.IntVar(&retries, "retries", -1, "invalid runs (exit 3, e.g. harness-limited) to repeat in place, in total (default: --count)")
	fl.StringVarP(&f.policy, "policy", "p", "", "policy TOML file (default: built in)")
	fl.StringVarP(&f.format, "format", "f", "text", "stdout format: text or md")
	fl.StringVar(&f.markdown, "markdown", "", "also write the verdict as Markdown to this file")
	fl.StringVar(&f.filter, "filter", "", "keep only matching benchmarks/units, benchstat filter syntax")
	fl.BoolVar(&f.all, "all", false, "show every metric, not only the gated ones")
	_ = cmd.MarkFlagRequired("dir")
	return cmd
}

// selfPath is how this program was started (so that a test harness that
// dispatches on the command name sees the same name), else the executable.
func selfPath() (string, error) {
	if p, err := exec.LookPath(os.Args[0]); err == nil {
		return filepath.Abs(p)
	}
	return os.Executable()
}

// execStep runs one step as a child process, its output appended to log.
func execStep(log io.Writer) baselines.RunFunc {
	return func(ctx context.Context, s baselines.Step) (int, error) {
		fmt.Fprintf(log, "### round %d: %s\n", s.Round, strings.Join(s.Argv, " "))
		c := exec.CommandContext(ctx, s.Argv[0], s.Argv[1:]...)
		c.Stdout, c.Stderr = log, log
		c.Cancel = func() error { return c.Process.Signal(os.Interrupt) }
		c.WaitDelay = 30 * time.Second
		err := c.Run()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode(), nil
		}
		if err != nil {
			return -1, err
		}
		return 0, nil
	}
}
