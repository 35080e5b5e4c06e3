package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/engram-bench/engram-bench/reports"
	"github.com/engram-bench/engram-bench/workloads"
)

func newRecordCmd(stdout io.Writer) *cobra.Command {
	var (
		scenario, out    string
		seed             uint64
		rate             float64
		duration, warmup time.Duration
		noPreload        bool
		maxOps           uint64
	)
	cmd := &cobra.Command{
		Use:   "record --scenario NAME|PATH --out TRACE.jsonl.gz",
		Short: "Write a scenario's op stream with intended times to a trace file",
		Long: `Write the op stream of a scenario — its preload, then every op due before its
end with its intended time — to a gzip-compressed JSON Lines trace
(docs/traces.md). "engram-bench replay" sends it again: the same ops at the
same times, optionally sped up.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return usageErr("--out: the trace file to write is required")
			}
			sc, err := workloads.Resolve(scenario)
			if err != nil {
				return &exitError{code: exitUsage, err: err}
			}
			sc = sc.Clone()
			s := scenarioSeed(sc, cmd.Flags().Changed("seed"), seed)
			if err := applyOverrides(sc, rate, duration, warmup, s); err != nil {
				return err
			}
			f, err := reports.CreateAtomic(out)
			if err != nil {
				return usageErr("--out %s: %v", out, err)
			}
			t0 := time.Now()
			info, err := workloads.RecordTrace(f, sc, s, workloads.RecordOptions{NoPreload: noPreload, MaxOps: maxOps})
			if err != nil {
				f.Abort()
				return &exitError{code: exitUsage, err: fmt.Errorf("record %s: %w", sc.ID, err)}
			}
			if err := f.Commit(); err != nil {
				return &exitError{code: exitInvalid, err: err}
			}
			size := int64(0)
			if st, err := os.Stat(out); err == nil {
				size = st.Size()
			}
			fmt.Fprintf(stdout, "recorded %s (seed %d): %d ops over %s after %d preload memories, %d-d, to %s (%.1f MB, %s)\n",
				sc.ID, s, info.Ops, time.Duration(*info.Header.DurationNs), info.Preload, info.Header.Dim, out, float64(size)/1e6, time.Since(t0).Round(time.Millisecond))
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&scenario, "scenario", "s", "quickstart", "built-in scenario name or path to a scenario TOML file")
	fl.StringVarP(&out, "out", "o", "", "trace file to write (gzip JSON Lines, e.g. run.jsonl.gz)")
	fl.Uint64Var(&seed, "seed", 0, "seed of the op stream (default: the scenario's [run] seed, else 1)")
	fl.Float64Var(&rate, "rate", 0, "override the scenario's mean arrival rate, ops/s (shape kept)")
	fl.DurationVar(&duration, "duration", 0, "override the measured duration")
	fl.DurationVar(&warmup, "warmup", -1, "override the warm-up (0 for none)")
	fl.BoolVar(&noPreload, "no-preload", false, "leave the preload out of the trace")
	fl.Uint64Var(&maxOps, "max-ops", 0, "stop after this many ops (0: the whole schedule)")
	return cmd
}
