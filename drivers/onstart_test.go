package drivers

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/engram-bench/engram-bench/workloads"
)

// OnStart is told, once and before any op, the instant measuring begins:
// the warm-up after the schedule's time zero. The first measured op is due
// then, never before.
func TestOnStart(t *testing.T) {
	var calls atomic.Int32
	var at time.Time
	var firstMeasured atomic.Int64
	d := DriverFunc(func(ctx context.Context, op *workloads.Op) error {
		if calls.Load() == 0 {
			t.Error("an op ran before OnStart")
		}
		if op.Index == 50 { // op 50 is due at 50 ms: the first measured one
			firstMeasured.Store(time.Now().UnixNano())
		}
		return nil
	})
	st, err := Run(context.Background(), RunConfig{Arrival: workloads.Constant{PerSecond: 1000}, Ops: indexSource{}, Concurrency: 4,
		Warmup: 50 * time.Millisecond, Duration: 200 * time.Millisecond, Recorder: newRec(),
		OnStart: func(m time.Time) { calls.Add(1); at = m }}, d)
	if err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 1 {
		t.Fatalf("OnStart called %d times", calls.Load())
	}
	if want := st.Start.Add(50 * time.Millisecond); !at.Equal(want) {
		t.Errorf("measuring begins at %s, want the schedule's zero + 50ms = %s", at, want)
	}
	if f := firstMeasured.Load(); f == 0 || time.Unix(0, f).Before(at) {
		t.Errorf("op 50 ran at %v, before measuring began at %v", time.Unix(0, f), at)
	}
}
