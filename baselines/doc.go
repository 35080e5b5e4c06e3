// Package baselines answers "is it worse than before?": it compares repeated
// runs of two builds with golang.org/x/perf's statistics and turns the
// comparison into a regression gate that can fail.
//
// It is the "baselines" room. What flows in: engram-bench results (JSON) and
// files in the Go benchmark format (`go test -bench` output, or
// `engram-bench report --format bench`), one side of a comparison each, read
// by [Load] into a [Set]. What flows out: a [Comparison] (benchstat's table:
// medians, confidence intervals, Mann-Whitney U p-values, all from x/perf's
// benchfmt, benchproc and benchmath — no statistics of our own), a [Verdict]
// from [Gate] (Benjamini-Hochberg across the gated metrics, then a [Policy]'s
// tolerances: pass, regression or inconclusive), saved baselines ([Save]:
// one directory per environment with a [Fingerprint]), and interleaved A/B
// experiments ([Interleave]: the two builds run alternately on one machine).
// It never makes load itself: Interleave starts runs through a RunFunc the
// caller provides.
//
// Every [reports.Result] is written as Go benchmark lines by [WriteBench]
// (registered as `engram-bench report --format bench`): one line per op kind,
// named Engram/scenario=S/driver=D/rate=R/op=OP, with units ops/s, p50-ns,
// p99-ns, p99.9-ns, svc-p50-ns, svc-p99-ns, svc-p99.9-ns, errors/op and
// hit-rate, each declared better=higher or better=lower. The stock benchstat
// reads these files.
//
// Bad input (a missing, empty, foreign or malformed file, no benchmarks,
// nothing in common, mismatched units, a bad policy) is an error wrapping
// [ErrBadInput] that names the file and the value.
//
// Concurrency: functions are safe for concurrent use on distinct values; a
// Set, Comparison or Verdict must not be changed while another goroutine
// reads it.
//
// Adding a metric: give it a unit in bench.go (with its better= direction),
// and, if the gate should judge it by default, a [[rule]] in
// default_policy.toml; document it in docs/regression-gate.md. Adding an
// input format: convert it to Go benchmark lines in Set.readFile so the rest
// of the package sees one format.
package baselines
