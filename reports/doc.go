// Package reports records what happened in a run and renders it.
//
// It is the "reports" room. Workers record finished ops through a [Recorder]
// (HDR histograms of latency — end minus intended start, so coordinated
// omission cannot hide a stall — and of service time — end minus actual
// start — per op kind, plus errors by class and the harness's own dispatch
// lag). Once per interval [Recorder.Tick] merges the workers' histograms into
// an interval delta and the run totals; renderers turn the totals into a
// [Result] (JSON, schema "engram-bench/result/v1", documented in
// docs/result-format.md) and a text summary.
//
// Beside the Recorder, a [Breakdown] keeps per-group (phase, memory space)
// counts, quality counters and latency histograms for the Result's phases and
// spaces.
//
// Concurrency: a [ShardRecorder] is safe for concurrent use (each has its own
// uncontended mutex; give each worker its own); Tick and Snapshot are called
// by one goroutine. Nothing here runs load.
//
// Around the recorder: live consumers fed once per interval with a [Tick]
// (never per op) — [Progress], the Prometheus [Exporter], the streamed
// [HLogWriter] — and the target [Scraper]; [Result.EvaluateHypotheses] adds
// Engram's H1–H4. Renderers registered with [RegisterFormat]: text, json,
// md ([WriteMarkdown]), html ([WriteHTML], hand-written SVG in svg.go,
// template, CSS and script in html/), hgrm and hlog. docs/reports.md is the
// operator's guide.
//
// Sharded runs: [Merge] combines the results of the shards of one run
// (each with its interval log) into the whole run's result, adding the
// interval histograms exactly and refusing results that are not shards of
// one run ([MergeError]); [ShardInfo] and [MergeInfo] describe them.
//
// Capacity planning (docs/capacity-planning.md): [SLO] parses and judges
// objectives on confidence bounds, [Capacity] is a knee search's file,
// [Scaling] and [FitScaling] a scaling run's curve (read by H3), [Sizing] and
// [FitSizing] the memory and disk lines and CPU per op of a sizing run, and
// [Project] turns a Sizing (and a Capacity) into a plan whose every number
// carries its arithmetic and source. Profiles captured under load are read
// by [ReadProfile] and compared with [DiffProfiles] (profile top and diff).
//
// Adding a field to Result: say in reports/shard.go how Merge combines it
// (added, the worst shard's, the first shard's), or merged results lose it.
//
// Adding a new renderer: write a func(io.Writer, *Result) error in its own
// file, register it with RegisterFormat in that file's init (the report
// command and run's flags list what is registered), test it on a Result
// with every optional part filled (see richResult in html_test.go) and on
// empty and partial ones, and document it in docs/reports.md.
//
// Adding a new live consumer: give it a Tick(Tick) method that copies what
// it keeps (Tick's histograms are reused), keeps constant memory, and does
// no blocking I/O longer than a moment (it runs on the reporting goroutine);
// wire it into run's Live fan-out in cmd/engram-bench/outputs.go.
package reports
