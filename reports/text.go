package reports

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// FormatNs renders nanoseconds with three significant digits and a unit:
// "812ns", "45.2µs", "3.41ms", "1.20s".
func FormatNs(ns int64) string {
	d := float64(ns)
	switch {
	case ns < 1000:
		return fmt.Sprintf("%dns", ns)
	case d < 1e6:
		return sig3(d/1e3) + "µs"
	case d < 1e9:
		return sig3(d/1e6) + "ms"
	default:
		return sig3(d/1e9) + "s"
	}
}

func sig3(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

// WriteText writes the human summary of r: per op kind count, throughput,
// p50/p90/p99/p99.9/max and errors, then each target with PASS/FAIL.
func WriteText(w io.Writer, r *Result) error {
	ew := &errWriter{w: w}
	fmt.Fprintf(ew, "engram-bench %s · driver %s · seed %d", r.Scenario, r.Driver, r.Seed)
	if r.Target != "" {
		fmt.Fprintf(ew, " · target %s", r.Target)
	}
	fmt.Fprintln(ew)
	partial := ""
	if r.Partial {
		partial = " (PARTIAL: interrupted)"
	}
	fmt.Fprintf(ew, "  rate: target %.1f ops/s, achieved %.1f ops/s over %s", r.TargetRate, r.AchievedRate, time.Duration(r.DurationS*1e9).Round(time.Millisecond))
	if r.WarmupS > 0 {
		fmt.Fprintf(ew, " (+%s warm-up)", time.Duration(r.WarmupS*1e9).Round(time.Millisecond))
	}
	fmt.Fprintf(ew, ", concurrency %d%s\n", r.Concurrency, partial)
	if r.Preload.Memories > 0 {
		fmt.Fprintf(ew, "  preload: %d memories in %.1fs\n", r.Preload.Memories, r.Preload.DurationS)
	}
	if r.Preload.Errors > 0 {
		fmt.Fprintf(ew, "  preload: %d memories failed, first: %s\n", r.Preload.Errors, r.Preload.FirstError)
	}
	writeShardLines(ew, r)
	h := r.Harness
	limited := "not limiting"
	if h.Limited {
		limited = "LIMITED THE RUN: " + h.Reason
	}
	spin := ""
	if h.Spin != "" {
		spin = fmt.Sprintf(", spin %s %.0f%%", h.Spin, h.SpinPercent)
	}
	fmt.Fprintf(ew, "  harness: dispatch lag p50 %s p99 %s max %s, queued %d, unsent %d, cpu %.0f%%%s — %s\n\n",
		FormatNs(h.LagP50Ns), FormatNs(h.LagP99Ns), FormatNs(h.LagMaxNs), h.Queued, h.Unsent, h.CPUPercent, spin, limited)

	tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "op\tcount\tops/s\tp50\tp90\tp99\tp99.9\tmax\terrors\thit rate\t")
	row := func(name string, s OpStats) {
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", name, s.Count, s.Throughput,
			opLatency(s, s.Latency.P50), opLatency(s, s.Latency.P90), opLatency(s, s.Latency.P99), opLatency(s, s.Latency.P999), opLatency(s, s.Latency.Max), opErrors(s), fractionCell(s.HitRate))
	}
	for _, name := range r.OpNames() {
		row(name, r.Ops[name])
	}
	row("total", r.Total)
	tw.Flush()
	if noneOK, _ := tableMarks(r); noneOK {
		fmt.Fprintln(ew, "  (latency = end − intended start, successful ops; - where none succeeded)")
	} else {
		fmt.Fprintln(ew, "  (latency = end − intended start, successful ops)")
	}
	for _, name := range r.OpNames() {
		for class, n := range r.Ops[name].ErrorsByClass {
			if class == classUnsupported {
				fmt.Fprintf(ew, "  errors: %s unsupported by the target × %d (a capability gap, not a load error)\n", name, n)
				continue
			}
			fmt.Fprintf(ew, "  errors: %s %s × %d\n", name, class, n)
		}
	}
	writeWorkloadSections(ew, r)
	writeProfiles(ew, r)
	writeDrillText(ew, r)
	writeChaosText(ew, r)
	if len(r.Targets) > 0 {
		fmt.Fprintln(ew, "\ntargets")
		for _, t := range r.Targets {
			mark := "PASS"
			if !t.Pass {
				mark = "FAIL"
			}
			cmp := "≤"
			if t.Name == "throughput" || t.Name == "recall_at_10" {
				cmp = "≥"
			}
			fmt.Fprintf(ew, "  %s  %-14s %s %s (target %s %s)\n", mark, t.Name, fmtNum(t.Achieved), t.Unit, cmp, fmtNum(t.Target))
		}
	}
	if len(r.Hypotheses) > 0 {
		fmt.Fprintln(ew, "\nhypotheses")
		for _, h := range r.Hypotheses {
			fmt.Fprintf(ew, "  %-7s %s %-16s %s\n", h.Status, h.ID, h.Name, h.Detail)
		}
	}
	for _, wmsg := range r.Warnings {
		fmt.Fprintf(ew, "warning: %s\n", wmsg)
	}
	fmt.Fprintf(ew, "\nverdict: %s", strings.ToUpper(r.Verdict))
	if len(r.Reasons) > 0 {
		fmt.Fprintf(ew, " (%s)", strings.Join(r.Reasons, "; "))
	}
	fmt.Fprintln(ew)
	return ew.err
}

type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}
