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
// Adding a new renderer: write a function from *Result to an io.Writer, give it
// a golden test in testdata/ (refresh with go test ./reports -update), and
// list its format in the report command.
package reports
