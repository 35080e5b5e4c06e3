package main

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/engram-bench/engram-bench/reports"
)

// newProfileCmd is "engram-bench profile": reading and comparing the pprof
// profiles a run captured (run --profile).
func newProfileCmd(stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "profile top|diff",
		Short: "Read and compare pprof profiles captured under load (run --profile)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usageErr("profile: give a subcommand: top FILE, or diff BASE NEW")
		},
	}
	var n int
	var sampleType string
	var cum bool
	top := &cobra.Command{
		Use:   "top FILE.pb.gz",
		Short: "The functions that took the most (flat and cumulative), as go tool pprof -top",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if n < 1 {
				return usageErr("-n %d: must be >= 1", n)
			}
			p, err := reports.ReadProfile(args[0])
			if err != nil {
				return &exitError{code: exitUsage, err: err}
			}
			idx, err := reports.SampleIndex(p, sampleType)
			if err != nil {
				return usageErr("--sample-type: %s: %v", args[0], err)
			}
			flat, cumul, total := reports.Tops(p, idx, n)
			st := p.SampleType[idx]
			fmt.Fprintf(stdout, "%s: %s, total %s over %s\n", args[0], st.Type, reports.FormatProfileValue(total, st.Unit), reports.FormatNs(p.DurationNanos))
			list := flat
			if cum {
				list = cumul
				fmt.Fprintln(stdout, "by cumulative value:")
			}
			return reports.WriteProfileTop(stdout, list, total, st.Unit)
		},
	}
	top.Flags().IntVarP(&n, "n", "n", 20, "functions to list")
	top.Flags().StringVar(&sampleType, "sample-type", "", "value to rank by (cpu, alloc_space, inuse_space, delay, ...; default: the profile's own)")
	top.Flags().BoolVar(&cum, "cum", false, "rank by cumulative value instead of flat")

	var dn int
	var dType, out string
	var normalize bool
	diff := &cobra.Command{
		Use:   "diff BASE.pb.gz NEW.pb.gz",
		Short: "Which functions grew from BASE to NEW (go tool pprof -diff_base)",
		Long: `Subtract BASE from NEW as go tool pprof -diff_base does (BASE scaled by −1,
labelled pprof::base, merged with NEW) and list the functions whose flat
value grew most, then those that shrank most, with the change as a share of
BASE's total. --normalize first scales NEW to BASE's total (pprof's
-normalize): useful when the runs lasted differently long. --out writes the
difference as a profile that go tool pprof reads.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if dn < 1 {
				return usageErr("-n %d: must be >= 1", dn)
			}
			base, err := reports.ReadProfile(args[0])
			if err != nil {
				return &exitError{code: exitUsage, err: err}
			}
			cur, err := reports.ReadProfile(args[1])
			if err != nil {
				return &exitError{code: exitUsage, err: err}
			}
			idx, err := reports.SampleIndex(base, dType)
			if err != nil {
				return usageErr("--sample-type: %s: %v", args[0], err)
			}
			if len(cur.SampleType) <= idx || cur.SampleType[idx].Type != base.SampleType[idx].Type {
				return usageErr("%s and %s are not the same kind of profile (sample types differ)", args[0], args[1])
			}
			ds, baseTotal, err := reports.CompareProfiles(base, cur, idx, normalize)
			if err != nil {
				return usageErr("%s vs %s: %v", args[0], args[1], err)
			}
			st := base.SampleType[idx]
			fmt.Fprintf(stdout, "%s → %s: %s\n", args[0], args[1], st.Type)
			if err := reports.WriteProfileDiff(stdout, ds, baseTotal, st.Unit, dn); err != nil {
				return &exitError{code: exitInvalid, err: err}
			}
			if out != "" {
				d, err := reports.DiffProfiles(base, cur, normalize)
				if err != nil {
					return usageErr("%v", err)
				}
				b, err := reports.EncodeProfile(d)
				if err != nil {
					return &exitError{code: exitInvalid, err: err}
				}
				if err := os.WriteFile(out, b, 0o644); err != nil {
					return usageErr("--out %s: %v", out, err)
				}
				fmt.Fprintf(stdout, "wrote %s (go tool pprof -top %s)\n", out, out)
			}
			return nil
		},
	}
	diff.Flags().IntVarP(&dn, "n", "n", 15, "functions to list each way")
	diff.Flags().StringVar(&dType, "sample-type", "", "value to compare (default: the profile's own)")
	diff.Flags().BoolVar(&normalize, "normalize", false, "scale NEW to BASE's total first")
	diff.Flags().StringVarP(&out, "out", "o", "", "write the difference as a profile (.pb.gz) here")
	cmd.AddCommand(top, diff)
	return cmd
}
