package reports

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func sampleResult(t *testing.T) *Result {
	t.Helper()
	rec := NewRecorder([]string{"store", "recall_by_cue"}, 2)
	sh := rec.Shard(0)
	for i := int64(0); i < 1000; i++ {
		sh.Record(Sample{Op: int(i % 2), Intended: i * 1e6, Start: i*1e6 + 1000, End: i*1e6 + 1000 + (i%10+1)*100_000})
	}
	sh.Record(Sample{Op: 0, Intended: 0, Start: 1, End: 2, Err: "timeout"})
	rec.Tick(2e9, nil)
	tot := rec.Cumulative()
	r := &Result{Schema: Schema, Scenario: "x", Driver: "null", Seed: 1, Ops: map[string]OpStats{}, Env: CurrentEnv(), TargetRate: 500, AchievedRate: 500.5, DurationS: 2}
	for i, n := range []string{"store", "recall_by_cue"} {
		r.Ops[n] = Summarize(&tot.Ops[i], 2)
	}
	all := tot.All()
	r.Total = Summarize(&all, 2)
	p99 := 5.0
	thr := 600.0
	r.Evaluate(Limits{P99Ms: &p99, ThroughputOpsSec: &thr})
	return r
}

func TestSummaryAndVerdict(t *testing.T) {
	r := sampleResult(t)
	if r.Total.Count != 1001 || r.Total.Errors != 1 || r.Ops["store"].ErrorsByClass["timeout"] != 1 {
		t.Fatalf("total %+v", r.Total)
	}
	if p := r.Total.Latency.P99; p < 1_000_000 || p > 1_002_000 {
		t.Errorf("p99 = %d, want ≈ 1.001 ms", p)
	}
	if r.Verdict != VerdictFail || len(r.Targets) != 2 || !r.Targets[0].Pass || r.Targets[1].Pass {
		t.Errorf("verdict %s targets %+v", r.Verdict, r.Targets)
	}
	var b bytes.Buffer
	if err := WriteText(&b, r); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"recall_by_cue", "PASS  p99_latency", "FAIL  throughput", "verdict: FAIL", "errors: store timeout × 1"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, b.String())
		}
	}
}

func TestResultFileRoundTrip(t *testing.T) {
	r := sampleResult(t)
	path := filepath.Join(t.TempDir(), "r.json")
	if err := r.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	back, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	h, err := DecodeHistogram(back.Ops["store"].LatencyHDR)
	if err != nil || h.TotalCount() != 500 {
		t.Fatalf("histogram from file: %v, %v", h, err)
	}
}

func TestBadResultFiles(t *testing.T) {
	dir := t.TempDir()
	good := sampleResult(t)
	var b bytes.Buffer
	good.WriteJSON(&b)
	cases := []struct {
		name, content, want string
	}{
		{"empty", "", "empty"},
		{"truncated", b.String()[:b.Len()/2], "truncated"},
		{"foreign JSON", `{"name": "k6 summary"}`, "not an engram-bench result"},
		{"not JSON", "BenchmarkX 1 2 ns/op", "not valid JSON"},
		{"future schema", `{"schema": "engram-bench/result/v9"}`, `schema "engram-bench/result/v9" is not supported`},
		{"other schema", `{"schema": "k6/v1"}`, "is not an engram-bench result"},
		{"a string for a number: the field in the file's terms", `{"schema": "engram-bench/result/v1", "achieved_rate": "fast"}`, `: achieved_rate: "fast": want a number`},
		{"a fraction for a count", `{"schema": "engram-bench/result/v1", "total": {"count": 2.5}}`, `: total.count: 2.5: want a whole number`},
		{"an unknown verdict", `{"schema": "engram-bench/result/v1", "verdict": "MAYBE"}`, `: verdict: "MAYBE": want pass, fail or invalid`},
		{"a negative count", `{"schema": "engram-bench/result/v1", "verdict": "pass", "ops": {"store": {"count": -3}}}`, `: ops.store.count: -3: must be >= 0`},
		{"more errors than ops", `{"schema": "engram-bench/result/v1", "verdict": "fail", "total": {"count": 2, "errors": 5}}`, `: total.errors: 5: must be in [0, count 2]`},
		{"a hit rate over 1", `{"schema": "engram-bench/result/v1", "verdict": "pass", "total": {"count": 2, "hit_rate": 1.5}}`, `: total.hit_rate: 1.5: must be a fraction in [0, 1]`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(dir, c.name+".json")
			os.WriteFile(p, []byte(c.content), 0o644)
			_, err := ReadFile(p)
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), p) {
				t.Errorf("err = %v, want %q naming the file", err, c.want)
			}
		})
	}
	if _, err := ReadFile(filepath.Join(dir, "nope.json")); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("missing file: %v", err)
	}
}

func TestFormatNs(t *testing.T) {
	for ns, want := range map[int64]string{812: "812ns", 45_200: "45.2µs", 3_410_000: "3.41ms", 1_200_000_000: "1.20s", 250_000_000: "250ms"} {
		if got := FormatNs(ns); got != want {
			t.Errorf("FormatNs(%d) = %q, want %q", ns, got, want)
		}
	}
}

func TestRecorderClampsAndMerges(t *testing.T) {
	rec := NewRecorder([]string{"a"}, 3)
	for w := 0; w < 6; w++ {
		rec.Shard(w).Record(Sample{Op: 0, Intended: 0, Start: 0, End: int64(w+1) * 1000})
	}
	rec.Shard(0).Record(Sample{Op: 0, Intended: 0, Start: 0, End: 100 * HighestNs})
	var delta int64
	rec.Tick(1, func(t Tick) { delta = t.Delta.Ops[0].Count })
	tot := rec.Cumulative()
	if delta != 7 || tot.Ops[0].Latency.TotalCount() != 7 || tot.Saturated != 1 || tot.Ops[0].Latency.Max() < HighestNs*999/1000 {
		t.Errorf("delta %d count %d saturated %d max %d", delta, tot.Ops[0].Latency.TotalCount(), tot.Saturated, tot.Ops[0].Latency.Max())
	}
	rec.Tick(2, func(t Tick) { delta = t.Delta.Ops[0].Count })
	if delta != 0 || rec.Cumulative().Ops[0].Count != 7 {
		t.Errorf("second tick delta %d, cumulative %d", delta, rec.Cumulative().Ops[0].Count)
	}
}

func TestMarkdown(t *testing.T) {
	r := sampleResult(t)
	r.EvaluateHypotheses()
	r.Warnings = []string{"a | pipe"}
	r.Env.GitRevision = "0123456789abcdef"
	var b bytes.Buffer
	if err := Render("md", &b, r); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for _, want := range []string{
		"### engram-bench `x`: ❌ FAIL",
		"**Why:** throughput 500.5 below target 600",
		"| p99_latency | 1.001 ms | ≤ 5 ms | ✅ PASS |",
		"| throughput | 500.5 ops/s | ≥ 600 ops/s | ❌ FAIL |",
		"| `store` | 501 | 250.5 |",
		"| **total** | 1001 |",
		"| H1 throughput |",
		"| H3 linear_scaling | throughput scales linearly with workers or cores (R² > 0.95) | ➖ NOT-RUN |",
		"> - a \\| pipe",
		"`0123456789ab`",
		"<details><summary>environment</summary>",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	// Every table row has as many cells as its header.
	cols := 0
	for _, line := range strings.Split(md, "\n") {
		if !strings.HasPrefix(line, "|") {
			cols = 0
			continue
		}
		n := strings.Count(strings.ReplaceAll(line, `\|`, ""), "|")
		if cols == 0 {
			cols = n
		} else if n != cols {
			t.Errorf("row with %d bars under a header with %d: %s", n, cols, line)
		}
	}
}

// A preload that lost some memories says how many and why in the text
// report.
func TestTextShowsPreloadFailures(t *testing.T) {
	r := sampleResult(t)
	r.Preload = PreloadStats{Memories: 98000, DurationS: 53.5, Errors: 2000, FirstError: "status 504: batch timed out"}
	var b bytes.Buffer
	if err := WriteText(&b, r); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"preload: 98000 memories in 53.5s", "preload: 2000 memories failed, first: status 504: batch timed out"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, b.String())
		}
	}
}

// A complete run whose target held every worker when the drain timeout
// stopped it: the ops it never answered outnumber the p99's tail, so the
// p99 target fails even though the ops that did finish were fast.
func TestEvaluateHeldOpsFailLatency(t *testing.T) {
	p99 := 100.0
	r := &Result{Concurrency: 4}
	r.Total.Count = 30
	r.Total.Latency.P99 = 2e6
	r.Harness.Abandoned, r.Harness.Unsent = 4, 46
	r.Evaluate(Limits{P99Ms: &p99})
	if r.Verdict != VerdictFail || len(r.Reasons) != 1 || !strings.Contains(r.Reasons[0], "never finished") {
		t.Fatalf("verdict %s %v; want fail: 50 of 80 ops never finished", r.Verdict, r.Reasons)
	}
	// A few held ops within the tail leave the p99 to the finished ops.
	r.Total.Count, r.Harness.Unsent = 100_000, 0
	r.Evaluate(Limits{P99Ms: &p99})
	if r.Verdict != VerdictPass {
		t.Fatalf("verdict %s %v; want pass: 4 of 100,004 ops held", r.Verdict, r.Reasons)
	}
}

// An interrupted run is invalid whoever evaluates it (run, replay,
// compare-systems, capacity, a merge), however good the part that ran.
func TestEvaluatePartialIsInvalid(t *testing.T) {
	p99 := 10.0
	r := &Result{Partial: true, Total: OpStats{Count: 100, Latency: Percentiles{P99: 1e6}}, AchievedRate: 100}
	r.Evaluate(Limits{P99Ms: &p99})
	if r.Verdict != VerdictInvalid || len(r.Reasons) == 0 || r.Reasons[0] != "interrupted: partial result" {
		t.Errorf("verdict %s, reasons %q", r.Verdict, r.Reasons)
	}
	r.Partial = false
	r.Evaluate(Limits{P99Ms: &p99})
	if r.Verdict != VerdictPass {
		t.Errorf("the same run complete: verdict %s (%q)", r.Verdict, r.Reasons)
	}
}
