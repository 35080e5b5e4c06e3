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

// exitInconclusive is the gate's "cannot tell" (too few runs, too noisy).
const exitInconclusive = 4

// inputErr maps a baselines error to an exit code: bad input is 2.
func inputErr(err error) error {
	if errors.Is(err, baselines.ErrBadInput) {
		return &exitError{code: exitUsage, err: err}
	}
	return &exitError{code: exitInvalid, err: err}
}

func newCompareCmd(stdout, stderr io.Writer) *cobra.Command {
	var format, filter, out string
	var alpha, confidence float64
	cmd := &cobra.Command{
		Use:   "compare [LABEL=]OLD [LABEL=]NEW...",
		Short: "Compare runs benchstat-style: medians, confidence intervals, change and p-value",
		Long: `Compare two or more sides with golang.org/x/perf's statistics (the benchstat
table): each side is a result file, a Go benchmark file (go test -bench output
or 'report --format bench'), or a directory of them (a saved baseline). A
result file is one run; a directory or a Go benchmark file holds repetitions.
The first side is the base; a change is shown where the Mann-Whitney U test
says it is significant, else ~.

Exit codes: 0 compared; 2 bad input (missing, empty or foreign file, no
benchmarks, nothing in common, mismatched units).`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var sets []*baselines.Set
			for _, a := range args {
				label, path := sideArg(a)
				s, err := baselines.Load(label, path)
				if err != nil {
					return inputErr(err)
				}
				sets = append(sets, s)
			}
			c, err := baselines.Compare(sets, baselines.Options{Alpha: alpha, Confidence: confidence, Filter: filter})
			if err != nil {
				return inputErr(err)
			}
			w, done, err := output(stdout, out)
			if err != nil {
				return err
			}
			defer done()
			switch format {
			case "text":
				err = c.WriteText(w)
			case "md", "markdown":
				err = c.WriteMarkdown(w)
			default:
				return usageErr("--format %q: want text or md", format)
			}
			if err != nil {
				return &exitError{code: exitInvalid, err: err}
			}
			for _, diffs := range c.Env {
				for _, d := range diffs {
					if d.Loud {
						fmt.Fprintln(stderr, "engram-bench: WARNING: the sides come from different environments:", d)
					}
				}
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&format, "format", "f", "text", "output format: text or md")
	fl.StringVar(&filter, "filter", "", "keep only matching benchmarks/units, benchstat filter syntax (e.g. '/op:store', '.unit:ops/s')")
	fl.Float64Var(&alpha, "alpha", 0.05, "significance level of each test")
	fl.Float64Var(&confidence, "confidence", 0.95, "confidence level of the median's interval")
	fl.StringVarP(&out, "out", "o", "", "write to this file instead of stdout")
	return cmd
}

// sideArg splits LABEL=PATH (a label without '/' before an existing path);
// anything else is a path labelled by itself.
func sideArg(a string) (label, path string) {
	if l, p, ok := strings.Cut(a, "="); ok && l != "" && !strings.ContainsAny(l, `/\`) {
		if _, err := os.Stat(p); err == nil {
			return l, p
		}
	}
	return a, a
}

// output opens path for writing, or returns stdout when path is "".
func output(stdout io.Writer, path string) (io.Writer, func(), error) {
	if path == "" {
		return stdout, func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, nil, usageErr("--out %s: %v", path, err)
	}
	return f, func() { f.Close() }, nil
}
