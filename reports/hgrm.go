package reports

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

func init() {
	RegisterFormat(FormatMeta{Name: "hgrm", Help: "HdrHistogram percentile distributions (.hgrm, ms), all ops then each op kind", Render: WriteHgrm})
	RegisterFormat(FormatMeta{Name: "hlog", Help: "HdrHistogram interval log (the run's --hlog file, else one whole-run interval)", Render: WriteHLogOf})
}

// WriteHgrm writes the latency distribution of r in HdrHistogram's
// percentile format (as PercentilesPrint and the Java tools write it, values
// in milliseconds, 5 ticks per half distance): every op kind merged, then
// each op kind, each section headed by a '#' comment line. A result holding
// one op kind (report --op) gets that kind alone, ready for a plotter.
func WriteHgrm(w io.Writer, r *Result) error {
	names := r.OpNames()
	hs := make([]*hdr.Histogram, len(names))
	all := NewHistogram()
	for i, n := range names {
		h, err := DecodeHistogram(r.Ops[n].LatencyHDR)
		if err != nil {
			return fmt.Errorf("ops.%s.latency_hdr: %w", n, err)
		}
		hs[i] = h
		all.Merge(h)
	}
	if all.TotalCount() == 0 {
		return errors.New("the result has no latency histogram (no op succeeded)")
	}
	ew := &errWriter{w: w}
	section := func(title string, h *hdr.Histogram) {
		fmt.Fprintf(ew, "# engram-bench %s %s: latency (end − intended start) in ms, %d ops\n", r.Scenario, title, h.TotalCount())
		if ew.err == nil {
			_, ew.err = h.PercentilesPrint(ew, 5, 1e6)
		}
	}
	if len(names) > 1 {
		section("all ops", all)
		fmt.Fprintln(ew)
	}
	for i, n := range names {
		if hs[i].TotalCount() == 0 {
			continue
		}
		section(n, hs[i])
		if i < len(names)-1 {
			fmt.Fprintln(ew)
		}
	}
	return ew.err
}

// HLogPath returns the file of r's interval log ("" if none): Files["hlog"],
// relative to the folder of the file r was read from.
func HLogPath(r *Result) string {
	p := r.Files["hlog"]
	if p == "" || filepath.IsAbs(p) || r.Path == "" {
		return p
	}
	return filepath.Join(filepath.Dir(r.Path), p)
}

// WriteHLogOf writes r's interval log: the file recorded with run --hlog
// when the result names one, else a log of one interval spanning the run,
// built from the whole-run histograms in the result.
func WriteHLogOf(w io.Writer, r *Result) error {
	if p := HLogPath(r); p != "" {
		f, err := os.Open(p)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("interval log %s (files.hlog of the result): not found", p)
			}
			return fmt.Errorf("interval log: %w", err)
		}
		defer f.Close()
		_, err = io.Copy(w, f)
		return err
	}
	return writeWholeRunHLog(w, r)
}

func writeWholeRunHLog(w io.Writer, r *Result) error {
	names := r.OpNames()
	sort.Strings(names)
	tot := &Totals{Ops: make([]OpTotals, len(names)), Lag: NewHistogram(), HarnessLag: NewHistogram()}
	for i, n := range names {
		s := r.Ops[n]
		lat, err := DecodeHistogram(s.LatencyHDR)
		if err != nil {
			return fmt.Errorf("ops.%s.latency_hdr: %w", n, err)
		}
		svc, err := DecodeHistogram(s.ServiceHDR)
		if err != nil {
			return fmt.Errorf("ops.%s.service_hdr: %w", n, err)
		}
		tot.Ops[i] = OpTotals{Latency: lat, Service: svc, Count: s.Count, Errors: map[string]int64{}, Scored: s.Scored}
		for k, v := range s.ErrorsByClass {
			tot.Ops[i].Errors[k] = v
		}
		if s.HitRate != nil {
			tot.Ops[i].Hits = int64(*s.HitRate*float64(s.Scored) + 0.5)
		}
	}
	tot.Queued, tot.Saturated = r.Harness.Queued, r.Harness.Saturated
	start := r.StartedAt
	meta := HLogMeta{Scenario: r.Scenario, Seed: r.Seed, Driver: r.Driver,
		Note: "whole-run histograms: this run was recorded without --hlog, so its one interval spans the run"}
	lw := NewHLogWriter(w, names, meta, func() time.Time { return start.Add(time.Duration(r.DurationS * 1e9)) })
	lw.Tick(Tick{Start: 0, End: int64(r.DurationS * 1e9), Delta: tot, Cumulative: tot})
	return lw.Close(r.Partial)
}
