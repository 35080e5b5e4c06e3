package drivers

import (
	"github.com/engram-bench/engram-bench/reports"
	"github.com/engram-bench/engram-bench/workloads"
)

// MaxSpaceGroups is how many memory spaces get their own row in the
// per-space results; ops of further spaces are counted under "other".
const MaxSpaceGroups = 64

// observers turns every measured op into the breakdowns beside the main
// recorder: recall quality per op kind, per-phase and per-space results,
// and the acknowledged-write ledger. All of it is fixed-size: nothing grows
// with the run's length.
type observers struct {
	sched      *workloads.Schedule
	quality    *reports.Breakdown // one group: recall@10 per kind (no histograms)
	phases     *reports.Breakdown // recorded phases, or nil
	phaseGroup []int              // schedule phase → group, −1 unrecorded
	spaces     *reports.Breakdown // nil for a single space
	spaceIdx   map[string]int     // read-only after construction
	other      int
	ledger     *Ledger
}

func newObservers(sched *workloads.Schedule, sc *workloads.Scenario, spaces, kinds []string, shards int) *observers {
	o := &observers{sched: sched, ledger: NewLedger(), other: -1}
	o.quality = reports.NewBreakdown([]string{"all"}, kinds, shards, 0)
	if sched != nil && len(sc.Phases) > 0 {
		var names []string
		for _, p := range sched.Phases {
			if p.Recorded {
				o.phaseGroup = append(o.phaseGroup, len(names))
				names = append(names, p.Name)
			} else {
				o.phaseGroup = append(o.phaseGroup, -1)
			}
		}
		o.phases = reports.NewBreakdown(names, kinds, shards, reports.SigFigs)
	}
	if len(spaces) > 1 {
		groups := spaces
		if len(groups) > MaxSpaceGroups {
			groups = append(append([]string(nil), spaces[:MaxSpaceGroups]...), "other")
			o.other = MaxSpaceGroups
		}
		o.spaceIdx = make(map[string]int, len(groups))
		for i, n := range groups[:min(len(groups), MaxSpaceGroups)] {
			o.spaceIdx[n] = i
		}
		o.spaces = reports.NewBreakdown(groups, kinds, shards, reports.BreakdownSigFigs)
	}
	return o
}

func isCue(k workloads.Kind) bool {
	return k == workloads.KindRecall || k == workloads.KindSearch || k == workloads.KindComplete
}

// observe is the runner's Observer.
func (o *observers) observe(w int, op *workloads.Op, s *reports.Sample) {
	o.ledger.Observe(op, s) // first: it may unscore a read of an unacknowledged write
	found, expected := 0, 0
	if s.Scored && isCue(op.Kind) && s.Err == "" {
		found, expected = op.Found, op.ExpectedFound()
	}
	o.quality.Record(w, 0, s, found, expected)
	if o.phases != nil {
		if g := o.phaseGroup[o.sched.PhaseOf(op.Index)]; g >= 0 {
			o.phases.Record(w, g, s, found, expected)
		}
	}
	if o.spaces != nil {
		g, ok := o.spaceIdx[op.Space]
		if !ok {
			g = o.other
		}
		o.spaces.Record(w, g, s, found, expected)
	}
}

// keepHistograms makes the per-phase and per-space breakdowns keep their
// latency histograms in the result (a shard's result, for an exact merge).
func (o *observers) keepHistograms(on bool) {
	if o.phases != nil {
		o.phases.KeepHistograms = on
	}
	if o.spaces != nil {
		o.spaces.KeepHistograms = on
	}
}

// fill adds the breakdowns to res; seconds is the measured window, measure
// the run clock where it began, shards the number of shards the op stream
// is split into (1: not sharded).
func (o *observers) fill(res *reports.Result, seconds float64, measure int64, shards int) {
	kinds := workloads.KindNames()
	q := &reports.QualityStats{Ledger: o.ledger.Stats()}
	var found, expected int64
	for k, name := range kinds {
		f, e := o.quality.Recall(k)
		if e == 0 {
			continue
		}
		r := float64(f) / float64(e)
		if st, ok := res.Ops[name]; ok {
			st.RecallAt10, st.RecallExpected = &r, e
			res.Ops[name] = st
		}
		found += f
		expected += e
		if st, ok := res.Ops[name]; ok && isCue(workloads.Kind(k)) {
			q.Scored += st.Scored
		}
	}
	if expected > 0 {
		r := float64(found) / float64(expected)
		q.RecallAt10 = &r
		res.Total.RecallAt10, res.Total.RecallExpected = &r, expected // the total is shaped as an op kind's
	}
	if q.RecallAt10 != nil || q.Ledger.Acknowledged > 0 {
		res.Quality = q
	}
	if o.phases != nil {
		warm := o.sched.Warmup
		stats := o.phases.Stats(func(g int) float64 { p := o.recordedPhase(g); return (p.End - p.Start).Seconds() })
		for g, name := range o.phases.Groups() {
			p := o.recordedPhase(g)
			pr := reports.PhaseResult{Name: name, StartS: (p.Start - warm).Seconds(), EndS: (p.End - warm).Seconds(), TargetRate: p.TargetRate() / float64(max(shards, 1))}
			if st, ok := stats[name]; ok {
				pr.BreakdownGroup = st
				pr.LastEndS = float64(o.phases.LastEnd(g)-measure) / 1e9
				pr.AchievedRate = pr.Achieved()
			} else {
				pr.Ops = map[string]reports.GroupStats{}
			}
			res.Phases = append(res.Phases, pr)
			res.Windows = append(res.Windows, reports.Window{Kind: "phase", Name: name, StartS: pr.StartS, EndS: pr.EndS})
		}
	}
	if o.spaces != nil {
		res.Spaces = o.spaces.Stats(func(int) float64 { return seconds })
	}
}

// recordedPhase returns the schedule phase of recorded group g.
func (o *observers) recordedPhase(g int) *workloads.Phase {
	for i, pg := range o.phaseGroup {
		if pg == g {
			return &o.sched.Phases[i]
		}
	}
	return &o.sched.Phases[0]
}
