package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/engram-bench/engram-bench/reports"
)

func newReportCmd(stdout io.Writer) *cobra.Command {
	var format, out, op string
	cmd := &cobra.Command{
		Use:   "report RESULT.json",
		Short: "Render a saved result in another format",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := reports.ReadFile(args[0])
			if err != nil {
				return &exitError{code: exitUsage, err: err}
			}
			if op != "" {
				s, ok := r.Ops[op]
				if !ok {
					return usageErr("--op %q: the result has no such op kind (have %s)", op, strings.Join(r.OpNames(), ", "))
				}
				r.Ops = map[string]reports.OpStats{op: s}
			}
			w := stdout
			if out != "" {
				f, err := os.Create(out)
				if err != nil {
					return usageErr("--out %s: %v", out, err)
				}
				defer f.Close()
				w = f
			}
			if err := reports.Render(format, w, r); err != nil {
				if strings.HasPrefix(err.Error(), "unknown format") {
					return usageErr("--format: %v", err)
				}
				return &exitError{code: exitInvalid, err: fmt.Errorf("render %s: %w", format, err)}
			}
			return nil
		},
	}
	var names []string
	for _, f := range reports.Formats() {
		names = append(names, f.Name)
	}
	cmd.Flags().StringVarP(&format, "format", "f", "text", "output format: "+strings.Join(names, ", "))
	cmd.Flags().StringVarP(&out, "out", "o", "", "write to this file instead of stdout")
	cmd.Flags().StringVar(&op, "op", "", "only this op kind (e.g. store; for hgrm: one plottable distribution)")
	return cmd
}
