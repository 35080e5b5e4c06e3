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
