package recovery

import (
	"fmt"
	"strings"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/engram-bench/engram-bench/reports"
	"github.com/engram-bench/engram-bench/workloads"
)

// window is one reporting interval of the run, on the wall clock: how many
// ops finished, how many failed, and the latency of the successful ones
// (every op kind together, exactly: from the merged histogram).
type window struct {
	Start, End     time.Time
	Count, Errors  int64
	P50, P99, P999 time.Duration
	HasLatency     bool
	Judgeable      bool
}

// windowOf summarises one tick. lat is scratch for the successful ops'
// latency, every kind's histogram added into it (it is reset first, unless
// empty), so that a tick costs no new histogram.
func windowOf(t reports.Tick, start, end time.Time, interval time.Duration, lat *hdr.Histogram) window {
	w := window{Start: start, End: end}
	if lat.TotalCount() > 0 {
		lat.Reset()
	}
	for i := range t.Delta.Ops {
		o := &t.Delta.Ops[i]
		w.Count += o.Count
		w.Errors += o.ErrorCount()
		if o.Latency != nil && o.Latency.TotalCount() > 0 {
			lat.Merge(o.Latency)
		}
	}
	if lat.TotalCount() > 0 {
		w.HasLatency = true
		w.P50 = time.Duration(lat.ValueAtQuantile(50))
		w.P99 = time.Duration(lat.ValueAtQuantile(99))
		w.P999 = time.Duration(lat.ValueAtQuantile(99.9))
	}
	w.Judgeable = end.Sub(start) >= interval/2
	return w
}

// criteria say when the workload is "within its targets" in a window: the
// scenario's latency targets (of successful ops, every kind together) and
// its error-rate target, for Stable windows in a row.
type criteria struct {
	P50, P99, P999 time.Duration // 0: no target
	MaxErrorRate   float64
	Stable         int
	Window         time.Duration
}

// DefaultMaxErrorRate is the error rate a recovered window may have when
// the scenario sets no max_error_rate.
const DefaultMaxErrorRate = 0.01

func criteriaOf(sc *workloads.Scenario) criteria {
	v, d := sc.Validation, sc.Drill
	c := criteria{MaxErrorRate: DefaultMaxErrorRate, Stable: d.StableWindows, Window: d.RecoveryWindow()}
	ms := func(p *float64) time.Duration {
		if p == nil {
			return 0
		}
		return time.Duration(*p * 1e6)
	}
	c.P50, c.P99, c.P999 = ms(v.ExpectedP50LatencyMs), ms(v.ExpectedP99LatencyMs), ms(v.ExpectedP999LatencyMs)
	if v.MaxErrorRate != nil {
		c.MaxErrorRate = *v.MaxErrorRate
	}
	return c
}

func (c criteria) String() string {
	var parts []string
	for _, t := range []struct {
		name string
		d    time.Duration
	}{{"p50", c.P50}, {"p99", c.P99}, {"p99.9", c.P999}} {
		if t.d > 0 {
			parts = append(parts, fmt.Sprintf("%s ≤ %s", t.name, t.d))
		}
	}
	parts = append(parts, fmt.Sprintf("errors ≤ %g%%", 100*c.MaxErrorRate))
	return fmt.Sprintf("%s, %d windows of %s in a row", strings.Join(parts, ", "), c.Stable, c.Window)
}

// meets reports whether window w is within the targets.
func (c criteria) meets(w window) bool {
	if !w.Judgeable || w.Count == 0 || w.Errors == w.Count || !w.HasLatency {
		return false
	}
	if float64(w.Errors) > c.MaxErrorRate*float64(w.Count) {
		return false
	}
	return (c.P50 == 0 || w.P50 <= c.P50) && (c.P99 == 0 || w.P99 <= c.P99) && (c.P999 == 0 || w.P999 <= c.P999)
}

// recoveryTracker finds when the workload was back within the targets as
// the windows close, so that a drill keeps a bounded number of windows
// however long it runs (memory constant in run length): the start of the
// first run of c.Stable windows in a row that meet the targets, among the
// windows that end after healthy (the restored server's first answer), but
// never before healthy.
//
// Once healthy is known each window is judged as it comes and none is kept.
// Until then (before the disaster, during the outage) the newest windows
// wait in pending, at most maxPending of them (reports.MaxIntervals): the
// answer stays exact as long as no window that ended after healthy was
// dropped before healthy was known, which would take maxPending windows
// closing between the server's first answer and the drill noting it. Should
// it ever happen, inexact says so.
//
// Not safe for concurrent use: the drill guards it with winMu.
type recoveryTracker struct {
	c          criteria
	maxPending int

	healthy    time.Time // zero until known
	pending    []window  // windows closed while healthy was unknown, oldest first
	droppedEnd time.Time // the latest end of a window dropped from pending

	run   int       // windows in a row that met the targets
	first time.Time // the start of that run
	done  bool      // recovered at at
	at    time.Time
	// inexact: a window dropped from pending ended after healthy.
	inexact bool
}

func newRecoveryTracker(c criteria) *recoveryTracker {
	return &recoveryTracker{c: c, maxPending: reports.MaxIntervals}
}

// add takes the next window (windows come in order).
func (t *recoveryTracker) add(w window) {
	switch {
	case t.done:
	case !t.healthy.IsZero():
		t.judge(w)
	default:
		if len(t.pending) >= t.maxPending {
			// Drop the older half at once: amortised O(1) a window.
			drop := len(t.pending) - t.maxPending/2
			if e := t.pending[drop-1].End; e.After(t.droppedEnd) {
				t.droppedEnd = e
			}
			n := copy(t.pending, t.pending[drop:])
			clear(t.pending[n:])
			t.pending = t.pending[:n]
		}
		t.pending = append(t.pending, w)
	}
}

// setHealthy records the restored server's first answer (once) and judges
// the windows that waited for it.
func (t *recoveryTracker) setHealthy(h time.Time) {
	if !t.healthy.IsZero() || h.IsZero() {
		return
	}
	t.healthy = h
	t.inexact = t.droppedEnd.After(h)
	for _, w := range t.pending {
		if t.done {
			break
		}
		t.judge(w)
	}
	t.pending = nil
}

// judge takes one window once healthy is known.
func (t *recoveryTracker) judge(w window) {
	if !w.End.After(t.healthy) {
		return
	}
	if !w.Judgeable && w.Count == 0 {
		return // an empty stub at the very end
	}
	if !t.c.meets(w) {
		t.run = 0
		return
	}
	if t.run == 0 {
		t.first = w.Start
	}
	t.run++
	if t.run >= t.c.Stable {
		t.done, t.at = true, t.first
		if t.at.Before(t.healthy) {
			t.at = t.healthy
		}
	}
}

// recovered returns when the workload was back within the targets; false
// when it was not (yet), or healthy is not known.
func (t *recoveryTracker) recovered() (time.Time, bool) {
	return t.at, t.done
}
