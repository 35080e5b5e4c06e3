package drivers

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/engram-bench/engram-bench/reports"
	"github.com/engram-bench/engram-bench/workloads"
)

// indexSource fills only the op index (and a fixed kind).
type indexSource struct{}

func (indexSource) Fill(i uint64, op *workloads.Op) {
	*op = workloads.Op{Index: i, Kind: workloads.KindRecallByID}
}

// DriverFunc adapts a function to Driver.
type DriverFunc func(ctx context.Context, op *workloads.Op) error

func (f DriverFunc) Do(ctx context.Context, op *workloads.Op) error { return f(ctx, op) }

func newRec() *reports.Recorder { return reports.NewRecorder(workloads.KindNames(), 4) }

func countAbove(t *testing.T, tot *reports.OpTotals, latency bool, v int64) int64 {
	t.Helper()
	h := tot.Service
	if latency {
		h = tot.Latency
	}
	var n int64
	for _, b := range h.Distribution() {
		if b.From > v {
			n += b.Count
		}
	}
	return n
}

// Coordinated omission: one 200 ms stall while ops keep falling due at
// 1000/s with one worker. The ops due during the stall wait, and that wait is
// in their latency (max ≈ 200 ms, ~100 ops above 100 ms) but not in their
// service time (only the stalled op is above 100 ms).
func TestCoordinatedOmission(t *testing.T) {
	var calls atomic.Int64
	d := DriverFunc(func(ctx context.Context, op *workloads.Op) error {
		if calls.Add(1) == 100 {
			time.Sleep(200 * time.Millisecond)
		}
		return nil
	})
	rec := newRec()
	st, err := Run(context.Background(), RunConfig{Arrival: workloads.Constant{PerSecond: 1000}, Ops: indexSource{}, Concurrency: 1, Duration: time.Second, Recorder: rec}, d)
	if err != nil {
		t.Fatal(err)
	}
	tot := &rec.Cumulative().Ops[workloads.KindRecallByID]
	if st.Sent != 1000 || tot.Count != 1000 || st.Unsent != 0 {
		t.Fatalf("sent %d, recorded %d, unsent %d; want 1000, 1000, 0", st.Sent, tot.Count, st.Unsent)
	}
	// Generous upper bound: a loaded machine adds scheduling delay, never less.
	if max := tot.Latency.Max(); max < 195e6 || max > 400e6 {
		t.Errorf("latency max %v, want ≈ 200ms", time.Duration(max))
	}
	// Op 99 (the 100th) stalls 200 ms; ops due in the first 100 ms of the stall wait > 100 ms.
	if n := countAbove(t, tot, true, 100e6); n < 90 || n > 200 {
		t.Errorf("%d ops with latency above 100ms, want ≈ 100", n)
	}
	if n := countAbove(t, tot, false, 100e6); n != 1 {
		t.Errorf("%d ops with service time above 100ms, want 1 (the stalled op)", n)
	}
	if rec.Cumulative().Queued < 150 {
		t.Errorf("queued = %d, want the ~200 ops due during the stall", rec.Cumulative().Queued)
	}
}

// A slow target never loses ops: they queue, are started late, and the lag
// is in their latency.
func TestNoOpIsDropped(t *testing.T) {
	d := DriverFunc(func(ctx context.Context, op *workloads.Op) error {
		time.Sleep(10 * time.Millisecond)
		return nil
	})
	rec := newRec()
	st, err := Run(context.Background(), RunConfig{Arrival: workloads.Constant{PerSecond: 500}, Ops: indexSource{}, Concurrency: 2, Duration: 500 * time.Millisecond, Recorder: rec}, d)
	if err != nil {
		t.Fatal(err)
	}
	if st.Sent != 250 || st.Unsent != 0 {
		t.Fatalf("sent %d unsent %d, want 250 and 0", st.Sent, st.Unsent)
	}
	tot := &rec.Cumulative().Ops[workloads.KindRecallByID]
	// 250 ops at 2 × 100/s take ≥ 1.25 s: the last waits ≥ 0.7 s past its due time.
	if tot.Latency.Max() < 600e6 {
		t.Errorf("latency max %v: the backlog's wait is missing", time.Duration(tot.Latency.Max()))
	}
	if p50 := tot.Service.ValueAtQuantile(50); p50 > 50e6 {
		t.Errorf("service p50 %v: the wait leaked into service time", time.Duration(p50))
	}
}

func TestWarmupIsNotRecorded(t *testing.T) {
	rec := newRec()
	var n atomic.Int64
	d := DriverFunc(func(context.Context, *workloads.Op) error { n.Add(1); return nil })
	st, err := Run(context.Background(), RunConfig{Arrival: workloads.Constant{PerSecond: 1000}, Ops: indexSource{}, Warmup: 300 * time.Millisecond, Duration: 200 * time.Millisecond, Recorder: rec}, d)
	if err != nil {
		t.Fatal(err)
	}
	if st.WarmupOps != 300 || st.Sent != 200 || n.Load() != 500 {
		t.Errorf("warm-up %d, measured %d, executed %d; want 300, 200, 500", st.WarmupOps, st.Sent, n.Load())
	}
	if got := rec.Cumulative().All().Count; got != 200 {
		t.Errorf("recorded %d, want 200", got)
	}
}

// A target too slow for the warm-up's load is still serving it when
// measuring begins: those ops are counted as warm-up spill, never recorded.
func TestWarmupSpill(t *testing.T) {
	for _, c := range []struct {
		name     string
		service  time.Duration
		min, max uint64
	}{
		// The last warm-up ops may end just past the window's start on a
		// busy machine.
		{"fast target", 0, 0, 5},
		// 2 workers: 400 ops/s against 1000 asked; about 120 of the 200
		// warm-up ops are still to come when measuring begins.
		{"slow target", 5 * time.Millisecond, 50, 200},
	} {
		t.Run(c.name, func(t *testing.T) {
			rec := newRec()
			d := DriverFunc(func(context.Context, *workloads.Op) error { time.Sleep(c.service); return nil })
			st, err := Run(context.Background(), RunConfig{Arrival: workloads.Constant{PerSecond: 1000}, Ops: indexSource{}, Concurrency: 2,
				Warmup: 200 * time.Millisecond, Duration: 200 * time.Millisecond, DrainTimeout: 500 * time.Millisecond, Recorder: rec}, d)
			if err != nil {
				t.Fatal(err)
			}
			if st.WarmupSpill < c.min || st.WarmupSpill > c.max || st.WarmupSpill > st.WarmupOps {
				t.Errorf("warm-up spill %d of %d warm-up ops, want %d to %d", st.WarmupSpill, st.WarmupOps, c.min, c.max)
			}
		})
	}
}

func TestCancelReturnsPartial(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	rec := newRec()
	time.AfterFunc(300*time.Millisecond, cancel)
	start := time.Now()
	st, err := Run(ctx, RunConfig{Arrival: workloads.Constant{PerSecond: 1000}, Ops: indexSource{}, Duration: 10 * time.Second, Recorder: rec}, DriverFunc(func(context.Context, *workloads.Op) error { return nil }))
	if err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("cancelled run took %v", el)
	}
	if !st.Interrupted || st.Sent < 200 || st.Sent > 400 {
		t.Errorf("interrupted %v, sent %d", st.Interrupted, st.Sent)
	}
	if got := rec.Cumulative().All().Count; got != int64(st.Sent) {
		t.Errorf("recorded %d of %d sent", got, st.Sent)
	}
}

// Shards partition the op stream exactly: shard k runs ops i with i mod N = k.
func TestShards(t *testing.T) {
	const n = 3
	var mu sync.Mutex
	seen := map[uint64]int{}
	for k := 0; k < n; k++ {
		d := DriverFunc(func(_ context.Context, op *workloads.Op) error {
			mu.Lock()
			seen[op.Index] = k
			mu.Unlock()
			return nil
		})
		if _, err := Run(context.Background(), RunConfig{Arrival: workloads.Constant{PerSecond: 3000}, Ops: indexSource{}, Duration: 200 * time.Millisecond, Shard: k, Shards: n, Recorder: newRec()}, d); err != nil {
			t.Fatal(err)
		}
	}
	if len(seen) != 600 {
		t.Fatalf("%d distinct ops ran, want 600", len(seen))
	}
	for i, k := range seen {
		if int(i%n) != k {
			t.Fatalf("op %d ran on shard %d", i, k)
		}
	}
}

func TestErrorsAreClassified(t *testing.T) {
	rec := newRec()
	d := DriverFunc(func(_ context.Context, op *workloads.Op) error {
		switch op.Index % 4 {
		case 1:
			return WithClass("5xx", errors.New("boom"))
		case 2:
			return context.DeadlineExceeded
		case 3:
			return ErrUnsupported
		}
		return nil
	})
	if _, err := Run(context.Background(), RunConfig{Arrival: workloads.Constant{PerSecond: 1000}, Ops: indexSource{}, Duration: 200 * time.Millisecond, Recorder: rec}, d); err != nil {
		t.Fatal(err)
	}
	tot := &rec.Cumulative().Ops[workloads.KindRecallByID]
	if tot.Count != 200 || tot.Errors["5xx"] != 50 || tot.Errors["timeout"] != 50 || tot.Errors["unsupported"] != 50 || tot.Latency.TotalCount() != 50 {
		t.Errorf("count %d errors %v successes %d", tot.Count, tot.Errors, tot.Latency.TotalCount())
	}
}

// Ticks cover the measured window in order, one per interval.
func TestTicks(t *testing.T) {
	rec := newRec()
	var ticks []reports.Tick
	var counts []int64
	_, err := Run(context.Background(), RunConfig{Arrival: workloads.Constant{PerSecond: 1000}, Ops: indexSource{}, Duration: 550 * time.Millisecond, Interval: 100 * time.Millisecond, Recorder: rec,
		OnTick: func(tk reports.Tick) { ticks = append(ticks, tk); counts = append(counts, tk.Delta.All().Count) }}, DriverFunc(func(context.Context, *workloads.Op) error { return nil }))
	if err != nil {
		t.Fatal(err)
	}
	// 5 full intervals and a partial one; a loaded machine may delay the
	// ticker (late ticks merge into the final one) or drain for a few more.
	if len(ticks) < 2 || len(ticks) > 12 {
		t.Fatalf("%d ticks, want about 6 (5 full + 1 partial)", len(ticks))
	}
	var sum int64
	for i, c := range counts {
		sum += c
		if i > 0 && ticks[i].Start != ticks[i-1].End {
			t.Errorf("tick %d starts at %d, previous ended at %d", i, ticks[i].Start, ticks[i-1].End)
		}
	}
	if sum != 550 {
		t.Errorf("ticks hold %d ops, want 550", sum)
	}
}
