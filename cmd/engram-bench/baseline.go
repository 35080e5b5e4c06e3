package main

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/engram-bench/engram-bench/baselines"
)

func newBaselineCmd(stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "baseline",
		Short: "Save and inspect stored baselines (one directory per environment)",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return usageErr("baseline: give a subcommand: save --name ENV RESULT..., or show DIR")
		},
	}
	var root, name string
	var force bool
	save := &cobra.Command{
		Use:   "save --name ENV RESULT...",
		Short: "Store runs as the baseline ENV: DIR/ENV/runs/ and an environment fingerprint",
		Long: `Store repeated runs (result files, Go benchmark files, or a directory of them)
as the baseline of one environment: DIR/ENV/runs/ holds copies of the files
and DIR/ENV/fingerprint.json the machine (CPU model, cores, GOMAXPROCS),
toolchain (Go version, OS, kernel), build (git revision) and workload
(scenario, rate, concurrency, engine options). Invalid runs are left out;
runs from different environments are refused. Gate against it later with
'engram-bench gate --baseline DIR/ENV'.

Exit codes: 0 saved; 2 bad input (no runs, foreign file, mixed environments,
the baseline exists without --force).`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if name == "" {
				return usageErr("--name: required (the environment, e.g. ci-linux-2core)")
			}
			info, err := baselines.Save(root, name, args, force, time.Now())
			if err != nil {
				return inputErr(err)
			}
			fp := info.Fingerprint
			fmt.Fprintf(stdout, "saved baseline %s: %d runs in %s\n", info.Name, info.Runs, filepath.Join(root, name))
			fmt.Fprintf(stdout, "  machine: %s, %d cores, GOMAXPROCS %d, %s/%s, %s\n", fp.CPUModel, fp.Cores, fp.GOMAXPROCS, fp.OS, fp.Arch, fp.GoVersion)
			if fp.Scenario != "" {
				fmt.Fprintf(stdout, "  workload: scenario %s, driver %s, rate %g ops/s, concurrency %d\n", fp.Scenario, fp.Driver, fp.TargetRate, fp.Concurrency)
			}
			for _, s := range info.Skipped {
				fmt.Fprintln(stderr, "engram-bench: warning:", s)
			}
			return nil
		},
	}
	save.Flags().StringVar(&name, "name", "", "environment name, e.g. ci-linux-2core (required)")
	save.Flags().StringVar(&root, "dir", "baselines", "directory that holds one folder per environment")
	save.Flags().BoolVar(&force, "force", false, "replace an existing baseline of that name")

	show := &cobra.Command{
		Use:   "show DIR",
		Short: "Print a saved baseline's fingerprint",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			info, err := baselines.ReadInfo(args[0])
			if err != nil {
				return inputErr(err)
			}
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(info)
		},
	}
	cmd.AddCommand(save, show)
	return cmd
}
