package reports

import "time"

// MaxIntervals bounds how many Intervals a run's Result holds, so that its
// memory, its JSON and its report's charts stay the same size however long
// the run: up to an hour of 1-s ticks is kept tick by tick; a longer run's
// intervals each merge several consecutive ticks (a 24-hour soak: 24 s).
// It bounds the planned window's intervals: ticks of a drain past the
// window (ops finishing late, at most the runner's drain timeout) add theirs.
const MaxIntervals = 3600

// TicksPerInterval is how many consecutive ticks of length tick one Interval
// merges in a run planned to last planned: 1 while the run's ticks fit in
// MaxIntervals.
func TicksPerInterval(planned, tick time.Duration) int {
	if planned <= 0 || tick <= 0 {
		return 1
	}
	ticks := (planned + tick - 1) / tick
	return max(1, int((int64(ticks)+MaxIntervals-1)/MaxIntervals))
}

// IntervalBuilder turns a run's ticks into its Result.Intervals: one Interval
// per group of consecutive ticks (see TicksPerInterval). A group's
// histograms are added before its percentiles are read, so a merged
// interval's p99 is the p99 of its ops, not an average of p99s. Memory
// stays bounded: one group's totals and the Intervals so far.
type IntervalBuilder struct {
	names []string
	per   int

	origin     int64
	haveOrigin bool

	acc       *Totals // the group so far (per > 1)
	n         int     // ticks in acc
	start     int64
	end       int64
	scheduled int64
	inFlight  int

	out []Interval
}

// NewIntervalBuilder returns a builder for the named op kinds that merges
// per consecutive ticks into one Interval (per < 1: 1).
func NewIntervalBuilder(names []string, per int) *IntervalBuilder {
	b := &IntervalBuilder{names: names, per: max(per, 1)}
	if b.per > 1 {
		b.acc = newTotals(len(names))
	}
	return b
}

// Add takes one tick and how many ops the arrival schedule made due in it
// (0 when unknown). The first tick's start is where measuring starts. An
// empty zero-length tick (the one a run may close with) is left out.
func (b *IntervalBuilder) Add(t Tick, scheduled int64) {
	if !b.haveOrigin {
		b.origin, b.haveOrigin = t.Start, true
	}
	if t.End <= t.Start && t.Delta.All().Count == 0 {
		return
	}
	if b.per == 1 {
		iv := SummarizeTick(t, b.names, b.origin)
		iv.Scheduled, iv.InFlight = scheduled, t.InFlight
		b.out = append(b.out, iv)
		return
	}
	if b.n == 0 {
		b.start = t.Start
	}
	b.acc.merge(t.Delta)
	b.end = t.End
	b.scheduled += scheduled
	b.inFlight = t.InFlight
	b.n++
	if b.n == b.per {
		b.flush()
	}
}

// flush closes the open group into an Interval.
func (b *IntervalBuilder) flush() {
	iv := SummarizeTick(Tick{Start: b.start, End: b.end, Delta: b.acc}, b.names, b.origin)
	iv.Scheduled, iv.InFlight = b.scheduled, b.inFlight
	b.out = append(b.out, iv)
	b.acc.reset()
	b.n, b.scheduled, b.inFlight = 0, 0, 0
}

// Intervals returns the Intervals so far, closing a group the run ended in
// the middle of (an interrupted or shortened run). Add must not be called
// after it.
func (b *IntervalBuilder) Intervals() []Interval {
	if b.n > 0 {
		b.flush()
	}
	return b.out
}
