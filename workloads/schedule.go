package workloads

import (
	"fmt"
	"sort"
	"time"
)

// Phase is one stretch of a run's timeline, resolved: its time window on the
// schedule, the op indices it covers and its arrival.
type Phase struct {
	Name string
	// Start and End bound the phase on the schedule (offsets from time zero).
	Start, End time.Duration
	// FirstOp and EndOp bound the op indices due in the phase: [FirstOp, EndOp).
	FirstOp, EndOp uint64
	// Recorded is false for warm-up phases.
	Recorded bool
	// Arrival gives the phase's own schedule: op FirstOp+j is due at
	// Start + Arrival.Due(j).
	Arrival Arrival
	// Ops is the phase's op mix and parameters.
	Ops OperationsSpec
}

// TargetRate is the phase's offered rate: ops due in it over its length.
func (p *Phase) TargetRate() float64 {
	if d := (p.End - p.Start).Seconds(); d > 0 {
		return float64(p.EndOp-p.FirstOp) / d
	}
	return 0
}

// Schedule is the timeline of a scenario: its phases in order (a scenario
// without [[phases]] has one, "main", whose warm-up is the first
// warmup_seconds of it). It implements Arrival over the whole run and is safe
// for concurrent use.
type Schedule struct {
	Phases []Phase
	// Warmup is where measuring starts; Measured is the measured length.
	Warmup, Measured time.Duration
	// Closed is set for a closed-loop scenario (no phases, no schedule).
	Closed *ClosedLoop
	single bool
}

// phaseSeed keeps the random gaps of different phases apart; a scenario
// without phases uses the run's seed as is.
func phaseSeed(seed uint64, n int) uint64 { return seed ^ mix64(uint64(n)+0x7f4a7c15) }

// NewSchedule resolves the timeline of sc for seed. For phases it steps each
// phase's arrival to count the ops due in it (O(ops), ~10–20 ns per op), so
// that op i's phase, and with it its mix, is a pure function of i.
func NewSchedule(sc *Scenario, seed uint64) (*Schedule, error) {
	s := &Schedule{}
	if len(sc.Phases) == 0 {
		a, err := NewArrival(sc.Arrival, seed)
		if err != nil {
			return nil, err
		}
		if c, ok := a.(*ClosedLoop); ok {
			s.Closed = c
		}
		s.single = true
		s.Warmup, s.Measured = sc.Duration.Warmup(), sc.Duration.Total()
		end := s.Warmup + s.Measured
		p := Phase{Name: "main", Start: 0, End: end, Recorded: true, Arrival: a, Ops: sc.Operations, EndOp: ^uint64(0)}
		s.Phases = []Phase{p}
		return s, nil
	}
	var at time.Duration
	var first uint64
	for n := range sc.Phases {
		ps := &sc.Phases[n]
		if ps.IsPreload() {
			continue
		}
		a, err := NewArrival(*ps.Arrival, phaseSeed(seed, n))
		if err != nil {
			return nil, fmt.Errorf("phase %s: %w", ps.Name, err)
		}
		d := seconds(ps.DurationSeconds)
		p := Phase{Name: ps.Name, Start: at, End: at + d, Recorded: ps.Recorded(), Arrival: a, Ops: *ps.Operations, FirstOp: first}
		p.EndOp = first + countDue(a, d)
		if !p.Recorded {
			s.Warmup = p.End
		}
		s.Phases = append(s.Phases, p)
		at, first = p.End, p.EndOp
	}
	s.Measured = at - s.Warmup
	return s, nil
}

// Finite is an Arrival whose schedule ends on its own (the "trace" pattern):
// End is where it ends, an offset from its time zero; every op is due before
// it, and a Sequence returns NeverDue after the last one. A run whose
// schedule ends this way ends with it, even before its duration is up.
type Finite interface {
	Arrival
	End() time.Duration
}

// countDue counts the ops of a due before d.
func countDue(a Arrival, d time.Duration) uint64 {
	if f, ok := a.(interface {
		countBefore(time.Duration) (uint64, bool)
	}); ok {
		if n, ok := f.countBefore(d); ok {
			return n
		}
	}
	if c, ok := a.(Constant); ok {
		// op i is due at round(i/rate s): count i with that below d.
		n := uint64(d.Seconds() * c.PerSecond)
		for n > 0 && c.Due(n-1) >= d {
			n--
		}
		for c.Due(n) < d {
			n++
		}
		return n
	}
	seq := NewSequence(a)
	var n uint64
	for seq.Next() < d {
		n++
	}
	return n
}

// PhaseOf returns the index in Phases of the phase op i belongs to (ops past
// the last phase belong to it).
func (s *Schedule) PhaseOf(i uint64) int {
	if len(s.Phases) == 1 {
		return 0
	}
	k := sort.Search(len(s.Phases), func(k int) bool { return s.Phases[k].EndOp > i })
	return min(k, len(s.Phases)-1)
}

// Due implements Arrival over the whole timeline.
func (s *Schedule) Due(i uint64) time.Duration {
	p := &s.Phases[s.PhaseOf(i)]
	if !s.single && i >= p.EndOp {
		return NeverDue
	}
	return p.Start + p.Arrival.Due(i-p.FirstOp)
}

// Rate implements Arrival: the offered rate over the measured window (ops
// due in it per second); for a scenario without phases, its arrival's rate.
func (s *Schedule) Rate() float64 {
	if s.single {
		return s.Phases[0].Arrival.Rate()
	}
	var n uint64
	for _, p := range s.Phases {
		if p.Recorded {
			n += p.EndOp - p.FirstOp
		}
	}
	if s.Measured <= 0 {
		return 0
	}
	return float64(n) / s.Measured.Seconds()
}

// MeasuredOps counts the ops due in the measured window (for a scenario
// without phases by stepping its arrival; closed loops: 0).
func (s *Schedule) MeasuredOps() uint64 {
	if s.Closed != nil {
		return 0
	}
	if s.single {
		a := s.Phases[0].Arrival
		return countDue(a, s.Warmup+s.Measured) - countDue(a, s.Warmup)
	}
	var n uint64
	for _, p := range s.Phases {
		if p.Recorded {
			n += p.EndOp - p.FirstOp
		}
	}
	return n
}

// Window is the length of the measured window the schedule fills: the
// measured duration, cut short where a Finite arrival of the last phase (a
// trace) ends before it — the run then ends with it — and 0 when it ends
// before measuring begins. Cheap but for a trace's first End (one read of
// the file).
func (s *Schedule) Window() time.Duration {
	end := s.Warmup + s.Measured
	if s.Closed == nil {
		if last := &s.Phases[len(s.Phases)-1]; last.End >= end {
			if f, ok := last.Arrival.(Finite); ok {
				end = min(end, max(last.Start+f.End(), s.Warmup))
			}
		}
	}
	return end - s.Warmup
}

// Boundaries returns where the measured window and its phases begin and
// end, as offsets from the start of measuring, in order and without
// repeats: 0, the start of every phase that begins within the window, and
// the window's end (Window). A closed-loop schedule has its start and end.
func (s *Schedule) Boundaries() []time.Duration {
	end := s.Window()
	out := []time.Duration{0}
	if s.Closed == nil {
		for i := range s.Phases {
			if o := s.Phases[i].Start - s.Warmup; o > out[len(out)-1] && o < end {
				out = append(out, o)
			}
		}
	}
	if end > out[len(out)-1] {
		out = append(out, end)
	}
	return out
}

// Offered returns the ops due in the measured window and the window's
// length (Window); the offered rate is ops / window. For a single phase it
// steps the arrival (O(ops) for stochastic and trace arrivals).
func (s *Schedule) Offered() (ops uint64, window time.Duration) {
	window = s.Window()
	if s.Closed != nil {
		return 0, window
	}
	if s.single {
		a := s.Phases[0].Arrival
		return countDue(a, s.Warmup+window) - countDue(a, s.Warmup), window
	}
	for _, p := range s.Phases {
		if p.Recorded {
			ops += p.EndOp - p.FirstOp
		}
	}
	return ops, window
}

func (s *Schedule) sequence() Sequence {
	if s.single {
		return NewSequence(s.Phases[0].Arrival)
	}
	q := &scheduleSequence{s: s}
	q.local = NewSequence(s.Phases[0].Arrival)
	return q
}

type scheduleSequence struct {
	s     *Schedule
	p     int
	i     uint64
	local Sequence
}

func (q *scheduleSequence) Next() time.Duration {
	for q.p < len(q.s.Phases) && q.i >= q.s.Phases[q.p].EndOp {
		q.p++
		if q.p < len(q.s.Phases) {
			q.local = NewSequence(q.s.Phases[q.p].Arrival)
		}
	}
	q.i++
	if q.p >= len(q.s.Phases) {
		return NeverDue
	}
	return q.s.Phases[q.p].Start + q.local.Next()
}

// Err reports a read failure of a trace arrival ("trace" pattern).
func (s *Schedule) Err() error {
	for _, p := range s.Phases {
		if fa, ok := p.Arrival.(interface{ Err() error }); ok {
			if err := fa.Err(); err != nil {
				return err
			}
		}
	}
	return nil
}
