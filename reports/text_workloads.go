package reports

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
)

// maxSpaceRows caps the per-space table of the text summary (the JSON has all).
const maxSpaceRows = 16

// writeWorkloadSections writes the per-phase and per-space tables and recall
// quality, when the result has them.
func writeWorkloadSections(w io.Writer, r *Result) {
	if len(r.Phases) > 0 {
		fmt.Fprintln(w, "\nphases")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "phase\tfrom\tto\ttarget ops/s\tachieved\tcount\tp50\tp99\tp99.9\tmax\terrors\trecall@10\t")
		for _, p := range r.Phases {
			fmt.Fprintf(tw, "%s\t%.1fs\t%.1fs\t%.1f\t%.1f\t%s\n", p.Name, p.StartS, p.EndS, p.TargetRate, p.AchievedRate, groupCells(p.Total))
		}
		tw.Flush()
	}
	if len(r.Spaces) > 1 {
		names := spacesByLoad(r)
		fmt.Fprintln(w, "\nmemory spaces (busiest first)")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "space\tops/s\tcount\tp50\tp99\tp99.9\tmax\terrors\trecall@10\t")
		for i, n := range names {
			if i == maxSpaceRows {
				fmt.Fprintf(tw, "… %d more in the JSON result\t\n", len(names)-maxSpaceRows)
				break
			}
			g := r.Spaces[n].Total
			fmt.Fprintf(tw, "%s\t%.1f\t%s\n", n, g.Throughput, groupCells(g))
		}
		tw.Flush()
	}
	q := r.Quality
	if q == nil {
		return
	}
	fmt.Fprintln(w, "\nrecall quality under load")
	if q.RecallAt10 != nil {
		var per []string
		for _, n := range r.OpNames() {
			if s := r.Ops[n]; s.RecallAt10 != nil {
				per = append(per, fmt.Sprintf("%s %.3f", n, *s.RecallAt10))
			}
		}
		fmt.Fprintf(w, "  recall@10 %.3f over %d scored cues (%s)\n", *q.RecallAt10, q.Scored, strings.Join(per, ", "))
	}
	if l := q.Ledger; l != nil && l.Acknowledged > 0 {
		fmt.Fprintf(w, "  writes: %d acknowledged, %d followed (sample %.1f%%), %d read after their ack", l.Acknowledged, l.Tracked, 100*l.SampleRate, l.Checked)
		if l.FoundShare != nil {
			fmt.Fprintf(w, ": %d found (%.2f%%), %d never found", l.Found, 100**l.FoundShare, l.NeverFound)
		}
		fmt.Fprintln(w)
		if l.Found > 0 {
			a := l.AckToFoundNs
			fmt.Fprintf(w, "  ack → first found: p50 %s p99 %s max %s; first read after ack missed: %d\n", FormatNs(a.P50), FormatNs(a.P99), FormatNs(a.Max), l.FirstReadMissed)
		}
		if len(l.MissingExamples) > 0 {
			fmt.Fprintf(w, "  never found, e.g.: %s\n", strings.Join(l.MissingExamples, ", "))
		}
	}
}

func groupCells(g GroupStats) string {
	lat := func(ns int64) string { return groupLatency(g, ns) }
	return fmt.Sprintf("%d\t%s\t%s\t%s\t%s\t%s\t%s\t", g.Count, lat(g.Latency.P50), lat(g.Latency.P99), lat(g.Latency.P999), lat(g.Latency.Max), groupErrors(g), fractionCell(g.RecallAt10))
}

// spacesByLoad returns the names of r's memory spaces, busiest (most ops)
// first, ties by name: the order of every format's per-space table.
func spacesByLoad(r *Result) []string {
	names := make([]string, 0, len(r.Spaces))
	for n := range r.Spaces {
		names = append(names, n)
	}
	sort.Slice(names, func(a, b int) bool {
		ca, cb := r.Spaces[names[a]].Total.Count, r.Spaces[names[b]].Total.Count
		if ca != cb {
			return ca > cb
		}
		return names[a] < names[b]
	})
	return names
}
