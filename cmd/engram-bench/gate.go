package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/engram-bench/engram-bench/baselines"
)

type gateFlags struct {
	baseline       []string
	current        []string
	policy         string
	count          int
	format         string
	markdown       string
	filter         string
	all            bool
	requireSameEnv bool
	printPolicy    bool
}

func newGateCmd(stdout, stderr io.Writer) *cobra.Command {
	f := &gateFlags{}
	cmd := &cobra.Command{
		Use:   "gate --baseline DIR --current FILE...",
		Short: "Fail when, and only when, something got significantly worse than the baseline",
		Long: `Judge repeated current runs against a baseline: a Mann-Whitney U test per
metric, Benjamini-Hochberg correction across the gated metrics, then the
policy's tolerances (default: throughput and p99 latency of the whole run warn
past 10% and fail past 20%; median service time per op kind warns past 10%
and fails past 15%; see --print-policy and docs/regression-gate.md).

Files after the flags are current runs too, so shell globs work:
  engram-bench gate --baseline baselines/ci --current out/run-*.json

Exit codes: 0 pass; 1 regression; 2 bad input; 4 inconclusive (too few runs,
or a metric looks worse than its failure limit but the runs are too noisy to
tell), with the reason.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runGate(f, args, stdout, stderr)
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVarP(&f.baseline, "baseline", "b", nil, "baseline: a saved baseline directory, result files or Go benchmark files (repeatable)")
	fl.StringArrayVarP(&f.current, "current", "c", nil, "current runs: result files, Go benchmark files or a directory (repeatable; extra arguments count too)")
	fl.StringVarP(&f.policy, "policy", "p", "", "policy TOML file (default: the built-in policy, see --print-policy)")
	fl.IntVar(&f.count, "count", 0, "runs required per side (default: the policy's min_runs, 6)")
	fl.StringVarP(&f.format, "format", "f", "text", "stdout format: text or md")
	fl.StringVar(&f.markdown, "markdown", "", "also write the verdict as Markdown to this file (for a PR comment)")
	fl.StringVar(&f.filter, "filter", "", "keep only matching benchmarks/units, benchstat filter syntax")
	fl.BoolVar(&f.all, "all", false, "show every metric, not only the gated ones")
	fl.BoolVar(&f.requireSameEnv, "require-same-env", false, "inconclusive (exit 4) when the machines, toolchains or workloads differ")
	fl.BoolVar(&f.printPolicy, "print-policy", false, "print the default policy and exit")
	return cmd
}

func runGate(f *gateFlags, args []string, stdout, stderr io.Writer) error {
	if f.printPolicy {
		_, err := io.WriteString(stdout, baselines.DefaultPolicyText)
		return err
	}
	current := append(append([]string(nil), f.current...), args...)
	if len(f.baseline) == 0 {
		return usageErr("--baseline: required (a saved baseline directory or result files)")
	}
	if len(current) == 0 {
		return usageErr("--current: required (result files of the runs to judge)")
	}
	if f.count < 0 {
		return usageErr("--count %d: must be > 0", f.count)
	}
	pol := baselines.DefaultPolicy()
	if f.policy != "" {
		var err error
		if pol, err = baselines.ReadPolicy(f.policy); err != nil {
			return inputErr(err)
		}
	}
	if f.count > 0 && baselines.MinP(f.count, f.count) > pol.Alpha {
		return usageErr("--count %d: with so few runs per side no change can reach p <= %g; use at least %d", f.count, pol.Alpha, baselines.RunsForP(pol.Alpha))
	}
	base, err := baselines.Load(strings.Join(f.baseline, ","), f.baseline...)
	if err != nil {
		return inputErr(err)
	}
	cur, err := baselines.Load(currentLabel(current), current...)
	if err != nil {
		return inputErr(err)
	}
	v, err := gateSets(base, cur, pol, f)
	if err != nil {
		return err
	}
	return finishGate(v, f, stdout, stderr)
}

func currentLabel(paths []string) string {
	if len(paths) == 1 {
		return paths[0]
	}
	return fmt.Sprintf("%s and %d more", paths[0], len(paths)-1)
}

func gateSets(base, cur *baselines.Set, pol *baselines.Policy, f *gateFlags) (*baselines.Verdict, error) {
	c, err := baselines.Compare([]*baselines.Set{base, cur}, baselines.Options{Alpha: pol.Alpha, Filter: f.filter})
	if err != nil {
		return nil, inputErr(err)
	}
	return baselines.Gate(c, pol, baselines.GateOptions{MinRuns: f.count, RequireSameEnv: f.requireSameEnv}), nil
}

// finishGate prints the verdict and turns it into the exit code.
func finishGate(v *baselines.Verdict, f *gateFlags, stdout, stderr io.Writer) error {
	var err error
	switch f.format {
	case "text":
		err = v.WriteText(stdout, f.all)
	case "md", "markdown":
		err = v.WriteMarkdown(stdout, f.all)
	default:
		return usageErr("--format %q: want text or md", f.format)
	}
	if err != nil {
		return &exitError{code: exitInvalid, err: err}
	}
	if f.markdown != "" {
		fh, err := os.Create(f.markdown)
		if err != nil {
			return usageErr("--markdown %s: %v", f.markdown, err)
		}
		err = v.WriteMarkdown(fh, f.all)
		if cerr := fh.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return &exitError{code: exitInvalid, err: fmt.Errorf("--markdown %s: %w", f.markdown, err)}
		}
	}
	for _, d := range v.Env {
		if d.Loud {
			fmt.Fprintln(stderr, "engram-bench: WARNING: baseline and current come from different environments:", d)
		}
	}
	switch v.Outcome {
	case baselines.Regression:
		return &exitError{code: exitFail, err: errors.New("")}
	case baselines.Inconclusive:
		why := v.Reasons[0]
		if len(v.Reasons) > 1 {
			why += fmt.Sprintf(" (and %d more reasons above)", len(v.Reasons)-1)
		}
		return &exitError{code: exitInconclusive, err: fmt.Errorf("inconclusive: %s", why)}
	}
	return nil
}
