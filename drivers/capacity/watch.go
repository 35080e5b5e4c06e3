package capacity

import (
	"time"

	"github.com/engram-bench/engram-bench/drivers"
	"github.com/engram-bench/engram-bench/reports"
	"github.com/engram-bench/engram-bench/workloads"
)

// WatchConfig says when a step has collapsed.
type WatchConfig struct {
	// Rate is the step's offered rate, ops/s.
	Rate float64
	// MaxLatency is the SLO's largest latency bound.
	MaxLatency time.Duration
	// Intervals is how many consecutive intervals the backlog must grow
	// past the limit.
	Intervals int
}

// Watch decides, interval by interval, whether a step has collapsed: its
// backlog — ops due so far in the measured window less ops finished — grew
// in each of the last Intervals intervals and exceeds Rate × MaxLatency.
// Past that point the newest op waits longer than the SLO's largest bound
// just to get to the front of the queue, even if the target served at the
// offered rate, and the growth says it does not: the queue grows without
// bound and the rest of the step can only fail. Cutting it saves the time
// and spares the target.
//
// Ops due are counted exactly from the arrival schedule (a ScheduleCounter),
// so a Poisson arrival's random surges are not mistaken for a backlog.
type Watch struct {
	cfg      WatchConfig
	sched    *drivers.ScheduleCounter
	due      int64
	done     int64
	last     int64
	growing  int
	started  bool
	origin   int64
	cutAt    time.Duration
	collapse bool
}

// NewWatch watches a step whose op schedule is arr with the given warm-up and
// measured duration.
func NewWatch(cfg WatchConfig, arr workloads.Arrival, warmup, duration time.Duration) *Watch {
	return &Watch{cfg: cfg, sched: drivers.NewScheduleCounter(arr, warmup, duration, 0, 1)}
}

// Tick takes one interval (feed every tick, in order) and reports whether the
// step has collapsed; once it has, it stays collapsed.
func (w *Watch) Tick(t reports.Tick) bool {
	if !w.started {
		w.started, w.origin = true, t.Start
	}
	w.due += w.sched.Count(t)
	for i := range t.Delta.Ops {
		w.done += t.Delta.Ops[i].Count
	}
	if w.collapse {
		return true
	}
	backlog := w.due - w.done
	limit := int64(w.cfg.Rate * w.cfg.MaxLatency.Seconds())
	if backlog > limit && backlog > w.last {
		w.growing++
	} else {
		w.growing = 0
	}
	w.last = backlog
	if w.cfg.Intervals > 0 && w.growing >= w.cfg.Intervals {
		w.collapse = true
		w.cutAt = time.Duration(t.End - w.origin)
	}
	return w.collapse
}

// Backlog is ops due so far less ops finished, as of the last tick.
func (w *Watch) Backlog() int64 { return w.due - w.done }

// CutAt is where in the measured window the step collapsed.
func (w *Watch) CutAt() time.Duration { return w.cutAt }
