package drivers

import (
	"testing"
	"time"

	"github.com/engram-bench/engram-bench/reports"
	"github.com/engram-bench/engram-bench/workloads"
)

func TestScheduleCounter(t *testing.T) {
	burst := workloads.PeriodicBurst{Base: 100, Burst: 1000, BurstLen: time.Second, Period: 4 * time.Second}
	cases := []struct {
		name          string
		arr           workloads.Arrival
		warmup        time.Duration
		shard, shards int
		want          []int64
	}{
		{"constant 1000/s: 1000 per second", workloads.Constant{PerSecond: 1000}, 0, 0, 1, []int64{1000, 1000, 1000}},
		{"warm-up is skipped", workloads.Constant{PerSecond: 1000}, 2 * time.Second, 0, 1, []int64{1000, 1000}},
		{"shard 1 of 4 gets a quarter", workloads.Constant{PerSecond: 1000}, 0, 1, 4, []int64{250, 250}},
		{"a burst shows in its second", burst, 0, 0, 1, []int64{1000, 100, 100, 100, 1000}},
		{"nothing is due after the window", workloads.Constant{PerSecond: 1000}, 0, 0, 1, []int64{1000, 1000, 1000, 1000, 1000, 0, 0}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sc := NewScheduleCounter(c.arr, c.warmup, 5*time.Second, c.shard, c.shards)
			start := int64(5e6) + int64(c.warmup) // the run clock of the first tick
			for k, want := range c.want {
				got := sc.Count(reports.Tick{Index: k, Start: start + int64(k)*1e9, End: start + int64(k+1)*1e9})
				if got < want-1 || got > want+1 {
					t.Errorf("interval %d: %d due, want %d", k, got, want)
				}
			}
		})
	}
}

// plainSeq hides a sequence's Skipper, to compare with stepping.
type plainSeq struct{ s workloads.Sequence }

func (p plainSeq) Next() time.Duration { return p.s.Next() }

// TestSkipCountsMatchStepping: the unsent count and the schedule counter
// give exactly what visiting every op gives, for shards of a constant and
// a bursty schedule.
func TestSkipCountsMatchStepping(t *testing.T) {
	arrivals := map[string]workloads.Arrival{
		"constant 7777.7/s": workloads.Constant{PerSecond: 7777.7},
		"burst":             workloads.PeriodicBurst{Base: 300, Burst: 9000, BurstLen: 300 * time.Millisecond, Period: time.Second},
	}
	for name, arr := range arrivals {
		for _, shards := range []int{1, 3} {
			for shard := range shards {
				for _, consumed := range []int{0, 1, 1000} {
					// Unsent: a runner whose cursor has claimed `consumed` ops.
					counts := [2]uint64{}
					for k, skip := range []bool{true, false} {
						r := &runner{cfg: RunConfig{Shard: shard, Shards: shards}, origin: 5e6, end: 5e6 + 4e9}
						r.seq = workloads.NewSequence(arr)
						if !skip {
							r.seq = plainSeq{r.seq}
						}
						r.advance()
						for range consumed {
							r.advance()
						}
						counts[k] = r.countUnsent(5e6 + 2_500_000_123)
					}
					if counts[0] != counts[1] || counts[0] == 0 {
						t.Errorf("%s, shard %d/%d, %d claimed: %d unsent by skipping, %d by stepping", name, shard, shards, consumed, counts[0], counts[1])
					}
				}
				a := NewScheduleCounter(arr, 0, 3500*time.Millisecond, shard, shards)
				b := NewScheduleCounter(arr, 0, 3500*time.Millisecond, shard, shards)
				b.seq = plainSeq{workloads.NewSequence(arr)}
				b.i, b.next = 0, 0
				b.advance()
				for k := range 5 {
					tk := reports.Tick{Index: k, Start: 5e6 + int64(k)*1e9, End: 5e6 + int64(k+1)*1e9 - 333}
					if x, y := a.Count(tk), b.Count(tk); x != y || (k < 3 && x == 0) {
						t.Errorf("%s, shard %d/%d, interval %d: %d due by skipping, %d by stepping", name, shard, shards, k, x, y)
					}
				}
			}
		}
	}
}

func TestShardOps(t *testing.T) {
	for _, shards := range []uint64{1, 2, 3, 7} {
		for shard := range shards {
			for from := range uint64(20) {
				for to := from; to < 40; to++ {
					var want uint64
					for i := from; i < to; i++ {
						if i%shards == shard {
							want++
						}
					}
					if got := shardOps(from, to, shard, shards); got != want {
						t.Fatalf("shardOps(%d, %d, %d, %d) = %d, want %d", from, to, shard, shards, got, want)
					}
				}
			}
		}
	}
}
