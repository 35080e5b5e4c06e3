package drivers

import (
	"context"
	"testing"
	"time"

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
