package capacity

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/engram-bench/engram-bench/drivers"
	_ "github.com/engram-bench/engram-bench/drivers/null"
	"github.com/engram-bench/engram-bench/reports"
	"github.com/engram-bench/engram-bench/workloads"
)

const tinyScenario = `
name = "tiny"
[duration]
total_seconds = 10
[arrival]
pattern = "constant"
rate = 100.0
[operations]
store_weight = 1.0
recall_weight = 1.0
[data]
num_nodes = 0
preload = 0
embedding_dim = 8
memory_spaces = 1
embedding_distribution = { type = "uniform" }
`

// TestSearchFindsKnownCapacity runs a real search — open-loop steps through
// drivers.Execute — against the null driver serving at most 1,000 ops/s
// (capacity=1000: one server, 1 ms per op), and checks the knee brackets
// 1,000 ops/s within the search's 10% resolution.
//
// The SLO is loose (p99 ≤ 150 ms) because this machine is shared: with a
// load average of 8 on 2 cores, scheduling alone puts tens of milliseconds
// into the p99 of a target that is keeping up. Overload still shows plainly:
// offered 5% above capacity for 3 s, the backlog at the end of the step is
// 5% × 3 s = 150 ms of work, and it only grows from there.
func TestSearchFindsKnownCapacity(t *testing.T) {
	if testing.Short() {
		t.Skip("a real search takes ~20 s")
	}
	const capacity = 1000.0
	sc, err := workloads.Parse("tiny.toml", []byte(tinyScenario))
	if err != nil {
		t.Fatal(err)
	}
	slo := mustSLO(t, "p99=150ms,errors=0.1%")
	dir := t.TempDir()
	r := &Runner{
		Plan: drivers.Plan{Scenario: sc, Seed: 1, Driver: "null", Concurrency: 64, MaxLag: time.Second,
			DriverConfig: drivers.Config{Options: map[string]string{"capacity": "1000"}}},
		SLO:    slo,
		OutDir: dir,
	}
	cfg := Config{SLO: slo, StartRate: 600, StepDuration: 3 * time.Second, Warmup: 500 * time.Millisecond, Resolution: 0.1, MaxSteps: 8}
	var c reports.Capacity
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := Search(ctx, cfg, r, &c); err != nil {
		t.Fatal(err)
	}
	for _, s := range c.Steps {
		t.Logf("step %d %-6s offered %6.1f achieved %6.1f p99 %s %s %v", s.N, s.Phase, s.Offered, s.Achieved, reports.FormatNs(s.Latency.P99), s.Verdict, s.Reasons)
	}
	// The harness cannot judge a target while it is itself descheduled for
	// tens of milliseconds (a shared machine under heavy load): then a step
	// well below capacity fails on the harness's own lateness.
	for _, s := range c.Steps {
		if s.Offered < 0.9*capacity && s.Verdict != reports.VerdictPass && s.LagP99Ns > int64(20*time.Millisecond) {
			t.Skipf("the machine is too loaded to judge latency: step %d at %g ops/s failed with the harness's own dispatch lag p99 at %s",
				s.N, s.Offered, reports.FormatNs(s.LagP99Ns))
		}
	}
	k := c.Knee
	if !k.Found {
		t.Fatalf("no knee: %+v (%s)", k, c.Stopped)
	}
	// The knee brackets the capacity to the 10% resolution (a step a
	// little above it may still pass: a short step's backlog stays small).
	if k.Pass < 0.9*capacity || k.Pass > 1.05*capacity || k.Fail > 1.15*capacity || k.Fail <= k.Pass || k.Width() > 0.1 {
		t.Errorf("knee [%g, %g], want it to bracket %g within 10%%", k.Pass, k.Fail, capacity)
	}
	// Every step left its result beside the search.
	for _, s := range c.Steps {
		if s.Result == "" {
			t.Errorf("step %d: no result file", s.N)
			continue
		}
		res, err := reports.ReadFile(filepath.Join(dir, s.Result))
		if err != nil {
			t.Fatal(err)
		}
		if res.TargetRate != s.Offered || len(res.Targets) == 0 {
			t.Errorf("step %d result: rate %g, targets %v", s.N, res.TargetRate, res.Targets)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "step-01.json")); err != nil {
		t.Error(err)
	}
}
