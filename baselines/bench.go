package baselines

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"golang.org/x/perf/benchfmt"

	"github.com/engram-bench/engram-bench/reports"
)

// OpAll is the op= value of the line for all op kinds together (the
// result's total: what a scenario's throughput and p99 targets judge).
const OpAll = "all"

// BenchPrefix is the benchmark name every Result line starts with (after
// "Benchmark"); the key=value sub-names follow it.
const BenchPrefix = "Engram"

// Units written by WriteBench, as they appear in the file. Readers of the Go
// benchmark format (benchstat, Compare) tidy "ns" to "sec", so the latency
// units show as p50-sec, svc-p99-sec and so on.
const (
	UnitThroughput  = "ops/s"        // finished ops of this kind per second; higher is better
	UnitLatencyP50  = "p50-ns"       // latency (end − intended start) p50, ns; lower is better
	UnitLatencyP99  = "p99-ns"       // latency p99, ns
	UnitLatencyP999 = "p99.9-ns"     // latency p99.9, ns
	UnitServiceP50  = "svc-p50-ns"   // service time (end − actual start) p50, ns
	UnitServiceP99  = "svc-p99-ns"   // service time p99, ns
	UnitServiceP999 = "svc-p99.9-ns" // service time p99.9, ns
	UnitErrorRate   = "errors/op"    // failed ops / finished ops (0–1); lower is better
	UnitHitRate     = "hit-rate"     // recall quality: share of scored ops that found their memory (0–1); higher is better
	UnitRecall10    = "recall@10"    // expected memories found in the first min(k, 10) results (0–1); higher is better
)

// metric is one value written per op line.
type metric struct {
	unit   string
	better string // "higher" or "lower"
	get    func(o *reports.OpStats) (float64, bool)
}

// metrics lists what a Result line carries, in column order.
var metrics = []metric{
	{UnitThroughput, "higher", func(o *reports.OpStats) (float64, bool) { return o.Throughput, true }},
	{UnitLatencyP50, "lower", latency(func(p reports.Percentiles) int64 { return p.P50 }, false)},
	{UnitLatencyP99, "lower", latency(func(p reports.Percentiles) int64 { return p.P99 }, false)},
	{UnitLatencyP999, "lower", latency(func(p reports.Percentiles) int64 { return p.P999 }, false)},
	{UnitServiceP50, "lower", latency(func(p reports.Percentiles) int64 { return p.P50 }, true)},
	{UnitServiceP99, "lower", latency(func(p reports.Percentiles) int64 { return p.P99 }, true)},
	{UnitServiceP999, "lower", latency(func(p reports.Percentiles) int64 { return p.P999 }, true)},
	{UnitErrorRate, "lower", func(o *reports.OpStats) (float64, bool) { return o.ErrorRate, o.Count > 0 }},
	{UnitHitRate, "higher", func(o *reports.OpStats) (float64, bool) {
		if o.HitRate == nil {
			return 0, false
		}
		return *o.HitRate, true
	}},
	{UnitRecall10, "higher", func(o *reports.OpStats) (float64, bool) {
		if o.RecallAt10 == nil {
			return 0, false
		}
		return *o.RecallAt10, true
	}},
}

// latency reads a percentile of successful ops; a kind whose every op
// failed has no latency to report.
func latency(pick func(reports.Percentiles) int64, service bool) func(o *reports.OpStats) (float64, bool) {
	return func(o *reports.OpStats) (float64, bool) {
		if o.Count-o.Errors <= 0 {
			return 0, false
		}
		p := o.Latency
		if service {
			p = o.Service
		}
		return float64(pick(p)), true
	}
}

// BenchName is the Go benchmark name (without the "Benchmark" prefix) of op
// kind op in r: Engram/scenario=S/driver=D/rate=R/op=OP. Each part is a
// lowercase key=value so benchstat can group and filter by it; the rate is
// the run's target arrival rate, because results at different rates are
// different experiments.
func BenchName(r *reports.Result, op string) string {
	return fmt.Sprintf("%s/scenario=%s/driver=%s/rate=%s/op=%s", BenchPrefix,
		nameValue(r.Scenario), nameValue(r.Driver), strconv.FormatFloat(r.TargetRate, 'g', -1, 64), nameValue(op))
}

// nameValue keeps a name part free of the separators of the format.
func nameValue(s string) string {
	if s == "" {
		return "none"
	}
	return strings.Map(func(r rune) rune {
		switch r {
		case '/', ' ', '\t', '\n', '\r':
			return '_'
		}
		return r
	}, s)
}

// WriteBench writes results in the Go benchmark format: a header of
// file-level configuration (goos, goarch), the unit metadata (better=higher or
// lower for every unit), then one line per op kind per result and one for all
// of them (op=all, the result's total), the op count as the iteration count. Every result is one repetition; benchstat and
// Compare read the file as is.
//
// The header holds no key whose value changes from run to run or machine to
// machine (commit, cpu, date): benchstat splits tables by such keys and would
// refuse to compare. The environment goes into the baseline's fingerprint.
func WriteBench(w io.Writer, results ...*reports.Result) error {
	bw := benchfmt.NewWriter(w)
	for _, m := range metrics {
		md := &benchfmt.UnitMetadata{UnitMetadataKey: benchfmt.UnitMetadataKey{Unit: m.unit, Key: "better"}, OrigUnit: m.unit, Value: m.better}
		if err := bw.Write(md); err != nil {
			return err
		}
	}
	for _, r := range results {
		cfg := []benchfmt.Config{
			{Key: "goos", Value: []byte(orDefault(r.Env.OS, "unknown")), File: true},
			{Key: "goarch", Value: []byte(orDefault(r.Env.Arch, "unknown")), File: true},
		}
		for _, op := range r.OpNames() {
			o := r.Ops[op]
			if o.Count == 0 {
				continue
			}
			res := &benchfmt.Result{Config: cfg, Name: benchfmt.Name(BenchName(r, op)), Iters: int(o.Count)}
			for _, m := range metrics {
				if v, ok := m.get(&o); ok {
					res.Values = append(res.Values, benchfmt.Value{Value: v, Unit: m.unit})
				}
			}
			if err := bw.Write(res); err != nil {
				return err
			}
		}
		if r.Total.Count > 0 {
			t := r.Total
			if q := r.Quality; q != nil && t.RecallAt10 == nil {
				t.RecallAt10 = q.RecallAt10 // a result from before the total carried it
			}
			res := &benchfmt.Result{Config: cfg, Name: benchfmt.Name(BenchName(r, OpAll)), Iters: int(t.Count)}
			for _, m := range metrics {
				if v, ok := m.get(&t); ok {
					res.Values = append(res.Values, benchfmt.Value{Value: v, Unit: m.unit})
				}
			}
			if err := bw.Write(res); err != nil {
				return err
			}
		}
	}
	return nil
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func init() {
	reports.RegisterFormat(reports.FormatMeta{
		Name: "bench",
		Help: "Go benchmark format (one line per op kind) for benchstat and engram-bench compare/gate",
		Render: func(w io.Writer, r *reports.Result) error {
			return WriteBench(w, r)
		},
	})
}
