package reports

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// Quantiles are the percentiles the "quantiles" format prints, in percent.
var Quantiles = []float64{50, 90, 95, 99, 99.9, 99.99, 100}

// WriteQuantiles writes, per op kind, the latency (end − intended start) at
// each of Quantiles, in milliseconds, from the result's full histograms —
// the figures to hold against a known ground truth (docs/benchmarking.md).
// A line "op q=… ms" per value keeps it easy to grep in scripts.
func WriteQuantiles(w io.Writer, r *Result) error {
	ew := &errWriter{w: w}
	tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "op\tcount\t")
	for _, q := range Quantiles {
		fmt.Fprintf(tw, "p%g\t", q)
	}
	fmt.Fprintln(tw)
	names := r.OpNames()
	for _, name := range names {
		s := r.Ops[name]
		h, err := DecodeHistogram(s.LatencyHDR)
		if err != nil {
			return fmt.Errorf("op %s: %w", name, err)
		}
		fmt.Fprintf(tw, "%s\t%d\t", name, h.TotalCount())
		for _, q := range Quantiles {
			fmt.Fprintf(tw, "%.3f\t", float64(h.ValueAtQuantile(q))/1e6)
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
	fmt.Fprintln(ew, "(latency in ms = end − intended start, successful ops)")
	return ew.err
}

func init() {
	RegisterFormat(FormatMeta{Name: "quantiles", Help: "latency at p50 … p99.99 and max per op, in ms, from the full histograms", Render: WriteQuantiles})
}
