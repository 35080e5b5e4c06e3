package drivers

import (
	"context"
	"math"
	"testing"
	"time"
)

// A sparse schedule whose last op falls due well before the window ends is
// still measured over its whole window: the achieved rate is its ops over
// the window, as the target rate is, and the quiet tail is ticked. Ctrl-C
// during that tail ends the run as interrupted.
func TestExecuteHoldsSparseWindow(t *testing.T) {
	// Ops due at 0, 0.25, 0.5 and 0.75 s of a 1-s window.
	sc := parse(t, "[duration]\ntotal_seconds = 1\nwarmup_seconds = 0\n[arrival]\npattern = \"constant\"\nrate = 4\n[operations]\nstore_weight = 1\n[data]\nembedding_dim = 4\npreload = 0\n")
	res, err := Execute(context.Background(), Plan{Scenario: sc, Seed: 1, Driver: "memory", MaxLag: time.Second, Interval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Total.Count != 4 || res.DurationS < 1 || res.DurationS > 1.05 {
		t.Fatalf("%d ops measured over %.3fs, want 4 over the whole 1-s window", res.Total.Count, res.DurationS)
	}
	if math.Abs(res.AchievedRate-res.TargetRate) > 0.25 {
		t.Errorf("achieved %.3f ops/s against a target of %.3f: not over one window", res.AchievedRate, res.TargetRate)
	}
	if last := res.Intervals[len(res.Intervals)-1]; last.EndS < 0.99 || last.Count != 0 {
		t.Errorf("the last interval %+v: want the quiet tail, up to the window's end", last)
	}
	if res.Partial {
		t.Error("a complete run marked partial")
	}

	ctx, cancel := context.WithCancel(context.Background())
	res, err = Execute(ctx, Plan{Scenario: sc, Seed: 1, Driver: "memory", MaxLag: time.Second,
		OnStart: func(start time.Time) { time.AfterFunc(time.Until(start.Add(850*time.Millisecond)), cancel) }})
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	if !res.Partial || res.Total.Count != 4 || res.DurationS > 0.95 {
		t.Errorf("interrupted in the quiet tail: partial %v, %d ops over %.3fs", res.Partial, res.Total.Count, res.DurationS)
	}
}
