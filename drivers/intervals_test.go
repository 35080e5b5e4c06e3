package drivers

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/engram-bench/engram-bench/reports"
)

// A run planned for more ticks than reports.MaxIntervals keeps at most that
// many intervals (memory and result size constant in run length), and the
// merged intervals still account for every op, error and scheduled op,
// back to back over the whole measured window.
func TestExecuteIntervalsBounded(t *testing.T) {
	sc := parse(t, "[duration]\ntotal_seconds = 3\nwarmup_seconds = 0\n[arrival]\npattern = \"constant\"\nrate = 2000\n[operations]\nrecall_by_id_weight = 1\nstore_weight = 1\n[data]\nembedding_dim = 4\npreload = 100\n")
	tick := 500 * time.Microsecond // 6,000 ticks in 3 s: two per interval
	var ticks int64
	res, err := Execute(context.Background(), Plan{Scenario: sc, Seed: 1, Driver: "memory", MaxLag: time.Second, Interval: tick,
		Live: func(reports.Tick) { ticks++ }})
	if err != nil {
		t.Fatal(err)
	}
	ivs := res.Intervals
	// Under the race detector the ticks fall behind (each merges the
	// shards' histograms) and the last one takes the rest of the window:
	// fewer ticks, still two per interval.
	if len(ivs) > reports.MaxIntervals || int64(len(ivs)) < ticks/2 || int64(len(ivs)) > (ticks+1)/2 {
		t.Fatalf("%d intervals from %d ticks, want one per two ticks and at most %d", len(ivs), ticks, reports.MaxIntervals)
	}
	var count, errs, sched int64
	for i, iv := range ivs {
		count += iv.Count
		errs += iv.Errors
		sched += iv.Scheduled
		if i > 0 && math.Abs(iv.StartS-ivs[i-1].EndS) > 1e-9 {
			t.Fatalf("interval %d starts at %v, the one before ended at %v", i, iv.StartS, ivs[i-1].EndS)
		}
		if i < len(ivs)-1 && math.Abs(iv.EndS-iv.StartS-2*tick.Seconds()) > 1e-6 {
			t.Fatalf("interval %d spans %v s, want two ticks (%v s)", i, iv.EndS-iv.StartS, 2*tick.Seconds())
		}
	}
	if count != res.Total.Count || errs != res.Total.Errors {
		t.Errorf("intervals hold %d ops (%d errors), the run %d (%d)", count, errs, res.Total.Count, res.Total.Errors)
	}
	if sched != 6000 {
		t.Errorf("intervals hold %d scheduled ops, the schedule made 6000 due (2,000/s for 3 s)", sched)
	}
	if ivs[0].StartS != 0 || math.Abs(ivs[len(ivs)-1].EndS-res.DurationS) > 0.01 {
		t.Errorf("intervals span %v–%v s, the run measured %v s", ivs[0].StartS, ivs[len(ivs)-1].EndS, res.DurationS)
	}
}
