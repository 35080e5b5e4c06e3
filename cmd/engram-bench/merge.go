package main

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/engram-bench/engram-bench/reports"
)

func newMergeCmd(stdout io.Writer) *cobra.Command {
	var out, hlog string
	var allowPartial bool
	cmd := &cobra.Command{
		Use:   "merge SHARD_RESULT.json... --out merged.json",
		Short: "Merge the results of the shards of one run (run --shard i/N) exactly",
		Long: `Merge the results of the shards of one run into the result of the whole run.

Each shard must have been run with --hlog: per interval and per op kind, the
shards' HDR histograms are added exactly, so the merged percentiles are those
of every sample together. Throughput adds up; the scenario's targets and
Engram's hypotheses are evaluated on the merged data. Results of different
scenarios, seeds, shard counts, rates or start times, a duplicate shard or a
missing one are refused (exit 2); --allow-partial merges what is there and
marks the result partial (verdict invalid).

The merged interval log goes beside --out (merged.hlog for merged.json), so
that report --format html|hlog works on the merged result.

Exit codes: 0 every target met; 1 a target missed; 2 usage error or refused
merge; 3 invalid (partial, harness-limited, or unwritable output).`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runMerge(args, out, hlog, cmd.Flags().Changed("hlog"), allowPartial, stdout)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&out, "out", "o", "", "write the merged JSON result to this file")
	fl.StringVar(&hlog, "hlog", "", "write the merged interval log to this file (default: beside --out, with .hlog for .json)")
	fl.BoolVar(&allowPartial, "allow-partial", false, "merge even when shards are missing; the result is marked partial (verdict invalid)")
	return cmd
}

func runMerge(paths []string, out, hlog string, hlogGiven, allowPartial bool, stdout io.Writer) error {
	var shards []*reports.Result
	for _, p := range paths {
		r, err := reports.ReadFile(p)
		if err != nil {
			return &exitError{code: exitUsage, err: err}
		}
		shards = append(shards, r)
	}
	if !hlogGiven && out != "" {
		hlog = strings.TrimSuffix(out, ".json") + ".hlog"
	}
	for _, f := range []struct{ flag, path string }{{"out", out}, {"hlog", hlog}} {
		if err := checkDirWritable(f.flag, f.path); err != nil {
			return err
		}
	}
	// The targets are the shards' own (a throughput target is split among
	// them), which --rate scaled as it scaled the rate; the scenario text
	// in a result is the file as written.
	opt := reports.MergeOptions{AllowPartial: allowPartial}
	var hf *reports.AtomicFile
	if hlog != "" {
		var err error
		if hf, err = reports.CreateAtomic(hlog); err != nil {
			return usageErr("--hlog %s: %v", hlog, err)
		}
		opt.HLog = hf
	}
	res, err := reports.Merge(shards, opt)
	if hf != nil {
		if err != nil {
			hf.Abort()
		} else {
			err = hf.Commit()
		}
	}
	if err != nil {
		var me *reports.MergeError
		if errors.As(err, &me) {
			return &exitError{code: exitUsage, err: err}
		}
		return &exitError{code: exitInvalid, err: err}
	}
	if hlog != "" {
		res.Files = map[string]string{"hlog": companionPath(out, hlog)}
	}
	if out != "" {
		if err := res.WriteFile(out); err != nil {
			return &exitError{code: exitInvalid, err: err}
		}
		res.Path = out
	}
	if err := reports.WriteText(stdout, res); err != nil {
		return &exitError{code: exitInvalid, err: err}
	}
	return verdictExit(res.Verdict)
}

// checkDirWritable fails early when path's folder cannot take a file,
// without leaving anything behind (a refused merge writes nothing).
func checkDirWritable(flag, path string) error {
	if path == "" {
		return nil
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".engram-bench-check-*")
	if err != nil {
		return usageErr("--%s %s: %v", flag, path, err)
	}
	f.Close()
	return os.Remove(f.Name())
}
