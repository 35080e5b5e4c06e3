package drivers

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/engram-bench/engram-bench/reports"
	"github.com/engram-bench/engram-bench/workloads"
)

// A target that answers instantly for the first part of the window and then
// hangs until the drain timeout: the ops it held are abandoned, the rest of
// the window's ops are never sent. The run must not pass its p99 target.
func TestReviewHungTargetDoesNotPass(t *testing.T) {
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
