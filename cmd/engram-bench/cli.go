package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"

	"github.com/spf13/cobra"

	"github.com/engram-bench/engram-bench/drivers"
	_ "github.com/engram-bench/engram-bench/drivers/embedded"
	_ "github.com/engram-bench/engram-bench/drivers/engram"
	_ "github.com/engram-bench/engram-bench/drivers/http"
	_ "github.com/engram-bench/engram-bench/drivers/null"
	_ "github.com/engram-bench/engram-bench/drivers/postgres"
	_ "github.com/engram-bench/engram-bench/drivers/redis"
	"github.com/engram-bench/engram-bench/reports"
	"github.com/engram-bench/engram-bench/workloads"
)

// Exit codes.
const (
	exitPass    = 0
	exitFail    = 1
	exitUsage   = 2
	exitInvalid = 3
)

// exitError carries an exit code out of a cobra command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return ""
	}
	return e.err.Error()
}

func usageErr(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRoot(ctx, stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitPass
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil && ee.err.Error() != "" {
			fmt.Fprintln(stderr, "engram-bench:", ee.err)
		}
		return ee.code
	}
	// cobra's own errors (unknown flag, bad value) are usage errors.
	fmt.Fprintln(stderr, "engram-bench:", err)
	return exitUsage
}

func newRoot(ctx context.Context, stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "engram-bench",
		Short:         "Load tests and benchmarks for Engram-style cognitive memory databases",
		SilenceUsage:  true,
		SilenceErrors: true,
		// A bad environment setting is a usage error before anything starts
		// (not after a preload).
		PersistentPreRunE: func(*cobra.Command, []string) error {
			if _, err := drivers.SpinFromEnv(); err != nil {
				return &exitError{code: exitUsage, err: err}
			}
			return nil
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(newRunCmd(stdout, stderr))
	root.AddCommand(newListCmd(stdout))
	root.AddCommand(newReportCmd(stdout))
	root.AddCommand(newRecordCmd(stdout))
	root.AddCommand(newReplayCmd(stdout, stderr))
	root.AddCommand(newCompareSystemsCmd(stdout, stderr))
	root.AddCommand(newMergeCmd(stdout))
	root.AddCommand(newHTTPCmd(stdout, stderr))
	root.AddCommand(newStubServerCmd(stdout))
	root.AddCommand(newCapacityCmd(stdout, stderr))
	root.AddCommand(newScalingCmd(stdout, stderr))
	root.AddCommand(newProfileCmd(stdout))
	root.AddCommand(newSizingCmd(stdout, stderr))
	root.AddCommand(newPlanCmd(stdout))
	root.AddCommand(newEngramdCmd(stdout, stderr))
	root.AddCommand(newChaosCmd(stdout, stderr))
	root.AddCommand(newCompareCmd(stdout, stderr))
	root.AddCommand(newGateCmd(stdout, stderr))
	root.AddCommand(newABCmd(stdout, stderr))
	root.AddCommand(newBaselineCmd(stdout, stderr))
	return root
}

func newListCmd(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List built-in scenarios, drivers and arrival patterns",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintln(stdout, "scenarios:")
			for _, n := range workloads.BuiltinNames() {
				sc, err := workloads.LoadBuiltin(n)
				if err != nil {
					return err
				}
				fmt.Fprintf(stdout, "  %-20s %s\n", n, sc.Description)
			}
			fmt.Fprintln(stdout, "drivers:")
			for _, m := range drivers.List() {
				fmt.Fprintf(stdout, "  %-20s %s\n", m.Name, m.Help)
			}
			fmt.Fprintln(stdout, "arrival patterns:")
			for _, m := range workloads.ArrivalPatterns() {
				fmt.Fprintf(stdout, "  %-20s %s\n", m.Name, m.Help)
			}
			return nil
		},
	}
}

// gitRevision returns the checkout's revision when the binary did not record one.
func gitRevision(env *reports.Env) {
	if env.GitRevision != "" {
		return
	}
	out, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		return
	}
	env.GitRevision = strings.TrimSpace(string(out))
	if err := exec.Command("git", "diff", "--quiet", "HEAD").Run(); err != nil {
		env.GitDirty = true
	}
	env.Command = strings.Join(os.Args, " ")
}
