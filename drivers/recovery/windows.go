package recovery

import (
	"fmt"
	"strings"
	"time"

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

// windowOf summarises one tick.
func windowOf(t reports.Tick, start, end time.Time, interval time.Duration) window {
	all := t.Delta.All()
	w := window{Start: start, End: end, Count: all.Count, Errors: all.ErrorCount()}
	if all.Latency != nil && all.Latency.TotalCount() > 0 {
		w.HasLatency = true
		w.P50 = time.Duration(all.Latency.ValueAtQuantile(50))
		w.P99 = time.Duration(all.Latency.ValueAtQuantile(99))
		w.P999 = time.Duration(all.Latency.ValueAtQuantile(99.9))
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

// recoveredAt returns when the workload was back within the targets: the
// start of the first run of c.Stable windows in a row that meet them, among
// the windows that end after healthy (the restored server's first answer),
// but never before healthy.
func recoveredAt(ws []window, healthy time.Time, c criteria) (time.Time, bool) {
	run := 0
	var first time.Time
	for _, w := range ws {
		if !w.End.After(healthy) {
			continue
		}
		if !w.Judgeable && w.Count == 0 {
			continue // an empty stub at the very end
		}
		if !c.meets(w) {
			run = 0
			continue
		}
		if run == 0 {
			first = w.Start
		}
		run++
		if run >= c.Stable {
			if first.Before(healthy) {
				first = healthy
			}
			return first, true
		}
	}
	return time.Time{}, false
}
