package drivers

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/engram-bench/engram-bench/reports"
	"github.com/engram-bench/engram-bench/workloads"
)

// A target far too slow for the rate: when the drain timeout ends the run,
// every op due in the window is accounted for — finished, abandoned in
// flight, or unsent — none silently vanish.
func TestDrainTimeoutCountsUnsent(t *testing.T) {
	d := DriverFunc(func(ctx context.Context, op *workloads.Op) error {
		select {
		case <-time.After(150 * time.Millisecond):
		case <-ctx.Done():
		}
		return nil
	})
	rec := newRec()
	st, err := Run(context.Background(), RunConfig{Arrival: workloads.Constant{PerSecond: 200}, Ops: indexSource{}, Concurrency: 2,
		Duration: 500 * time.Millisecond, DrainTimeout: 200 * time.Millisecond, Recorder: rec}, d)
	if err != nil {
		t.Fatal(err)
	}
	done := uint64(rec.Cumulative().Ops[workloads.KindRecallByID].Count)
	if got := done + st.Unsent + st.Abandoned; got != 100 {
		t.Errorf("finished %d + unsent %d + abandoned %d = %d, want the 100 ops due", done, st.Unsent, st.Abandoned, got)
	}
	if st.Unsent < 80 {
		t.Errorf("unsent %d: most ops never started", st.Unsent)
	}
}

// A target still serving the warm-up's backlog when the window ends: no
// measured op finishes, every worker is held by the target when the drain
// timeout stops the run. That is the target failing the load, not the
// harness falling behind: the run is judged (fail), not harness-limited.
func TestWarmupBacklogIsTheTargets(t *testing.T) {
	d := DriverFunc(func(ctx context.Context, op *workloads.Op) error {
		select {
		case <-time.After(5 * time.Second):
		case <-ctx.Done():
			return ctx.Err()
		}
		return nil
	})
	rec := newRec()
	st, err := Run(context.Background(), RunConfig{Arrival: workloads.Constant{PerSecond: 200}, Ops: indexSource{}, Concurrency: 4,
		Warmup: 100 * time.Millisecond, Duration: 200 * time.Millisecond, DrainTimeout: 200 * time.Millisecond, Recorder: rec}, d)
	if err != nil {
		t.Fatal(err)
	}
	// 20 warm-up ops and 40 measured ones fall due; 4 warm-up ops start.
	if st.Sent != 0 || st.Abandoned != 4 || st.Unsent != 56 {
		t.Fatalf("sent %d, abandoned %d, unsent %d; want 0, 4 (every worker on a warm-up op), 56", st.Sent, st.Abandoned, st.Unsent)
	}
	res := &reports.Result{Concurrency: 4, TargetRate: 200, Ops: map[string]reports.OpStats{}}
	Finish(res, rec.Cumulative(), st, workloads.KindNames(), 0)
	if res.Harness.Limited {
		t.Fatalf("judged harness-limited (%s): the workers were all waiting on the target", res.Harness.Reason)
	}
	tp := 100.0
	res.Evaluate(reports.Limits{ThroughputOpsSec: &tp})
	if res.Verdict != reports.VerdictFail || len(res.Reasons) == 0 || !strings.Contains(res.Reasons[0], "waiting on the target") {
		t.Errorf("verdict %s %v, want fail because the target held every worker", res.Verdict, res.Reasons)
	}
	found := false
	for _, w := range res.Warnings {
		found = found || strings.Contains(w, "the target held the workers")
	}
	if !found {
		t.Errorf("no warning says the target held the workers: %v", res.Warnings)
	}
}

// A target that answers instantly for the first part of the window and then
// hangs until the drain timeout: the ops it held are abandoned, the rest of
// the window's ops are never sent. The run must not pass its p99 target.
func TestHungTargetDoesNotPass(t *testing.T) {
	var n atomic.Int64
	d := DriverFunc(func(ctx context.Context, op *workloads.Op) error {
		if n.Add(1) <= 30 {
			return nil
		}
		<-ctx.Done() // the target hangs
		return ctx.Err()
	})
	rec := newRec()
	st, err := Run(context.Background(), RunConfig{Arrival: workloads.Constant{PerSecond: 200}, Ops: indexSource{}, Concurrency: 4,
		Duration: 400 * time.Millisecond, DrainTimeout: 200 * time.Millisecond, Recorder: rec}, d)
	if err != nil {
		t.Fatal(err)
	}
	res := &reports.Result{Concurrency: 4, TargetRate: 200, Ops: map[string]reports.OpStats{}}
	Finish(res, rec.Cumulative(), st, workloads.KindNames(), 0)
	p99 := 100.0
	res.Evaluate(reports.Limits{P99Ms: &p99})
	t.Logf("sent %d abandoned %d unsent %d limited %v verdict %s reasons %v warnings %v", st.Sent, st.Abandoned, st.Unsent, res.Harness.Limited, res.Verdict, res.Reasons, res.Warnings)
	if res.Verdict == reports.VerdictPass {
		t.Errorf("verdict pass: %d of %d ops due never finished (abandoned %d, unsent %d)", st.Abandoned+st.Unsent, st.Sent+st.Abandoned+st.Unsent, st.Abandoned, st.Unsent)
	}
}
