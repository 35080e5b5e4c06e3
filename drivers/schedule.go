package drivers

import (
	"time"

	"github.com/engram-bench/engram-bench/reports"
	"github.com/engram-bench/engram-bench/workloads"
)

// ScheduleCounter counts, interval by interval, how many ops the arrival
// schedule made due for one shard: the "target" line of throughput charts,
// right for bursty and ramped arrivals where the mean rate is not. Feed it
// every Tick of a run (a Live callback) in order; it walks the schedule once,
// in step with the run, so its memory is constant.
type ScheduleCounter struct {
	seq           workloads.Sequence
	warmup, end   int64 // ns from schedule zero: measuring starts at warmup; no op is due from end
	shard, shards uint64
	i             uint64
	next          int64 // offset of the next op of this shard, ns from schedule zero
	origin        int64 // run clock of schedule zero, from the first tick
	started       bool
}

// NewScheduleCounter counts arr's ops for shard of shards (shards ≤ 1: all)
// in the measured window of duration after a warm-up of warmup (the runner
// sends no op due after the window, however long the drain takes).
func NewScheduleCounter(arr workloads.Arrival, warmup, duration time.Duration, shard, shards int) *ScheduleCounter {
	if shards <= 1 {
		shard, shards = 0, 1
	}
	c := &ScheduleCounter{seq: workloads.NewSequence(arr), warmup: int64(warmup), end: int64(warmup + duration), shard: uint64(shard), shards: uint64(shards)}
	c.advance()
	return c
}

func (c *ScheduleCounter) advance() {
	for {
		d := int64(c.seq.Next())
		i := c.i
		c.i++
		if i%c.shards == c.shard {
			c.next = d
			return
		}
	}
}

// Count returns how many of the shard's ops fell due in t's interval. The
// first tick starts where measuring starts: warm-up after schedule zero.
func (c *ScheduleCounter) Count(t reports.Tick) int64 {
	if !c.started {
		c.started = true
		c.origin = t.Start - c.warmup
		for c.next < c.warmup {
			c.advance()
		}
	}
	end := min(t.End-c.origin, c.end)
	var n int64
	if sk, ok := c.seq.(workloads.Skipper); ok && c.next < end {
		// The held op and the ops after it due before end, counted without
		// visiting them one by one.
		from := c.i
		skipped := sk.SkipBefore(time.Duration(end))
		c.i += skipped
		n = 1 + int64(shardOps(from, c.i, c.shard, c.shards))
		c.advance()
	}
	for c.next < end {
		n++
		c.advance()
	}
	return n
}
