package drivers

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/engram-bench/engram-bench/workloads"
)

// firstDues wraps an arrival and notes when each of its first ops' due times
// was first asked for. It is not a stepper, so the runner reads it through
// Due(0), Due(1), … (a trace replay then decodes op 0 — reading past the
// preload section — inside Due(0)).
type firstDues struct {
	workloads.Arrival
	mu    sync.Mutex
	asked map[uint64]time.Time
}

func (a *firstDues) Due(i uint64) time.Duration {
	d := a.Arrival.Due(i)
	a.mu.Lock()
	if _, ok := a.asked[i]; !ok && i < 8 {
		a.asked[i] = time.Now()
	}
	a.mu.Unlock()
	return d
}

// recordPreloadTrace records a short trace with a preload section of n
// memories and returns its path.
func recordPreloadTrace(t *testing.T, n int) string {
	t.Helper()
	return recordTestTrace(t, "name = \"prime\"\n[duration]\ntotal_seconds = 0.1\nwarmup_seconds = 0\n[arrival]\npattern = \"constant\"\nrate = 200\n[operations]\nrecall_by_id_weight = 1\n[data]\nembedding_dim = 64\npreload = "+strconv.Itoa(n)+"\n")
}

// recordTestTrace records the trace of the scenario text (seed 1) into a
// temporary file and returns its path.
func recordTestTrace(t *testing.T, text string) string {
	t.Helper()
	sc, err := workloads.Parse("trace-source.toml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "t.jsonl.gz")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := workloads.RecordTrace(f, sc, 1, workloads.RecordOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// The schedule is positioned at the shard's first op before the run clock
// starts: whatever the first op's due time costs to find (a trace replay
// reads past its preload section) is paid before time zero, so it cannot
// make the first ops late. Ordering of monotonic clock readings, not a
// duration, is what is checked.
func TestScheduleIsPrimedBeforeTheClockStarts(t *testing.T) {
	trace := recordPreloadTrace(t, 500)
	cases := []struct {
		name          string
		arrival       func(t *testing.T) workloads.Arrival
		shard, shards int
	}{
		{"constant", func(*testing.T) workloads.Arrival { return workloads.Constant{PerSecond: 1000} }, 0, 1},
		{"constant shard 2 of 3", func(*testing.T) workloads.Arrival { return workloads.Constant{PerSecond: 1000} }, 2, 3},
		{"trace replay after a preload section", func(t *testing.T) workloads.Arrival {
			rp, err := workloads.NewReplay(trace, 1, 64)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { rp.Close() })
			return rp
		}, 0, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			arr := &firstDues{Arrival: tc.arrival(t), asked: map[uint64]time.Time{}}
			var ops OpSource = indexSource{}
			if rp, ok := arr.Arrival.(*workloads.Replay); ok {
				ops = rp
			}
			var zero time.Time
			st, err := Run(context.Background(), RunConfig{Arrival: arr, Ops: ops, Concurrency: 2, Duration: 50 * time.Millisecond,
				Shard: tc.shard, Shards: tc.shards, Recorder: newRec(), Started: func(c RunClock) { zero = c.Zero }}, DriverFunc(func(context.Context, *workloads.Op) error { return nil }))
			if err != nil {
				t.Fatal(err)
			}
			if st.Sent == 0 || st.SourceErr != nil {
				t.Fatalf("sent %d, source error %v", st.Sent, st.SourceErr)
			}
			arr.mu.Lock()
			defer arr.mu.Unlock()
			for i := uint64(0); i <= uint64(tc.shard); i++ {
				at, ok := arr.asked[i]
				if !ok {
					t.Fatalf("op %d's due time never asked for", i)
				}
				if at.After(zero) {
					t.Errorf("op %d's due time was read %v after the run clock started: the first ops are late by it", i, at.Sub(zero))
				}
			}
		})
	}
}
