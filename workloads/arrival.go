package workloads

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"time"
)

// Arrival gives the intended start of every op: the open-loop schedule.
type Arrival interface {
	// Due returns op i's intended start as an offset from the run's time zero.
	// It is a pure function of the arrival's parameters, its seed and i, and is
	// non-decreasing in i. Safe for concurrent use.
	Due(i uint64) time.Duration
	// Rate returns the long-run mean rate in ops per second.
	Rate() float64
}

// Sequence yields Due(0), Due(1), ... in order in O(1) per op, which stochastic
// arrivals cannot offer for random i. It belongs to one goroutine.
type Sequence interface {
	Next() time.Duration
}

// stepper is implemented by arrivals whose Due is cheap only in order.
type stepper interface {
	sequence() Sequence
}

// NewSequence returns a Sequence over a, starting at op 0.
func NewSequence(a Arrival) Sequence {
	if s, ok := a.(stepper); ok {
		return s.sequence()
	}
	return &dueSequence{a: a}
}

type dueSequence struct {
	a Arrival
	i uint64
}

func (s *dueSequence) Next() time.Duration {
	d := s.a.Due(s.i)
	s.i++
	return d
}

// Skipper is a Sequence that can pass over the ops due before a time
// without yielding them one by one: O(log n) Due calls instead of n. The
// sequences of arrivals whose Due is cheap for any i (constant,
// periodic_burst) are Skippers; the stochastic and trace ones are not.
// Counting the ops an overloaded run never sent (asked for 1M ops/s, a
// 10-s run leaves millions) is what it is for.
type Skipper interface {
	Sequence
	// SkipBefore passes over every op Next would return that is due before
	// t, and returns how many.
	SkipBefore(t time.Duration) uint64
}

// SkipBefore implements Skipper by a galloping, then binary, search for
// the first op due at or after t (Due is non-decreasing).
func (s *dueSequence) SkipBefore(t time.Duration) uint64 {
	from := s.i
	if s.a.Due(from) >= t {
		return 0
	}
	lo, step := from, uint64(1) // Due(lo) < t
	hi := from + step
	for hi > lo && s.a.Due(hi) < t {
		lo = hi
		step *= 2
		hi = from + step
	}
	if hi <= lo { // wrapped: no op at or after t below 2⁶⁴
		hi = ^uint64(0)
	}
	for hi-lo > 1 { // Due(lo) < t ≤ Due(hi)
		mid := lo + (hi-lo)/2
		if s.a.Due(mid) < t {
			lo = mid
		} else {
			hi = mid
		}
	}
	s.i = hi
	return hi - from
}

// ArrivalMeta describes a registered arrival pattern.
type ArrivalMeta struct {
	Name string
	Help string
	// Keys lists the [arrival] keys the pattern takes, besides "pattern".
	Keys []string
	// New builds the arrival. Its errors are *SpecError values naming the key.
	New func(spec ArrivalSpec, seed uint64) (Arrival, error)
	// Scale returns spec with its mean rate multiplied by f, its shape kept.
	Scale func(spec ArrivalSpec, f float64) ArrivalSpec
}

var (
	arrivalMu       sync.RWMutex
	arrivalRegistry = map[string]ArrivalMeta{}
)

// RegisterArrival adds an arrival pattern. A duplicate name panics.
func RegisterArrival(m ArrivalMeta) {
	arrivalMu.Lock()
	defer arrivalMu.Unlock()
	if _, dup := arrivalRegistry[m.Name]; dup {
		panic("workloads: arrival pattern " + m.Name + " registered twice")
	}
	arrivalRegistry[m.Name] = m
}

// ArrivalPatterns lists the registered arrival patterns by name.
func ArrivalPatterns() []ArrivalMeta {
	arrivalMu.RLock()
	defer arrivalMu.RUnlock()
	out := make([]ArrivalMeta, 0, len(arrivalRegistry))
	for _, m := range arrivalRegistry {
		out = append(out, m)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Name < out[b].Name })
	return out
}

func lookupArrival(name string) (ArrivalMeta, bool) {
	arrivalMu.RLock()
	defer arrivalMu.RUnlock()
	m, ok := arrivalRegistry[name]
	return m, ok
}

// NewArrival builds the arrival described by spec.
func NewArrival(spec ArrivalSpec, seed uint64) (Arrival, error) {
	m, ok := lookupArrival(spec.Pattern)
	if !ok {
		names := []string{}
		for _, p := range ArrivalPatterns() {
			names = append(names, p.Name)
		}
		return nil, &SpecError{Key: "arrival.pattern", Value: spec.Pattern, Msg: "unknown pattern (want one of " + strings.Join(names, ", ") + ")"}
	}
	return m.New(spec, seed)
}

// ScaleArrival returns spec with its mean rate set to rate, shape kept.
func ScaleArrival(spec ArrivalSpec, rate float64) (ArrivalSpec, error) {
	m, ok := lookupArrival(spec.Pattern)
	if !ok {
		return spec, &SpecError{Key: "arrival.pattern", Value: spec.Pattern, Msg: "unknown pattern"}
	}
	a, err := m.New(spec, 0)
	if err != nil {
		return spec, err
	}
	if !(a.Rate() > 0) {
		return spec, &SpecError{Key: "arrival.pattern", Value: spec.Pattern, Msg: "has no offered rate to scale (a closed loop's rate is set by users and think time)"}
	}
	return m.Scale(spec, rate/a.Rate()), nil
}

var allArrivalKeys = []string{"rate", "lambda", "base_rate", "burst_rate", "burst_duration_sec", "burst_period_sec",
	"start_rate", "end_rate", "ramp_sec", "step", "hold_sec", "steps", "amplitude", "period_sec", "poisson",
	"on_rate", "off_rate", "mean_on_sec", "mean_off_sec", "file", "rate_multiplier", "users", "think_time_sec", "think_distribution"}

func validateArrival(v *validator, spec *ArrivalSpec) {
	validateArrivalAt(v, "arrival", spec, func(k string) bool { return v.defined("arrival." + k) })
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}

func checkRate(key string, x float64) error {
	if !(x > 0) || math.IsInf(x, 0) || x > 1e9 {
		return &SpecError{Key: key, Value: x, Msg: "must be > 0 and at most 1e9 ops/s"}
	}
	return nil
}

func init() {
	RegisterArrival(ArrivalMeta{
		Name: "constant",
		Help: "fixed interval: op i is due at i/rate",
		Keys: []string{"rate"},
		New: func(s ArrivalSpec, _ uint64) (Arrival, error) {
			if err := checkRate("arrival.rate", s.Rate); err != nil {
				return nil, err
			}
			return Constant{PerSecond: s.Rate}, nil
		},
		Scale: func(s ArrivalSpec, f float64) ArrivalSpec { s.Rate *= f; return s },
	})
	poissonNew := func(s ArrivalSpec, seed uint64) (Arrival, error) {
		key, rate := "arrival.lambda", s.Lambda
		if rate == 0 && s.Rate != 0 {
			key, rate = "arrival.rate", s.Rate
		}
		if err := checkRate(key, rate); err != nil {
			return nil, err
		}
		return NewPoisson(rate, seed), nil
	}
	poissonScale := func(s ArrivalSpec, f float64) ArrivalSpec { s.Lambda *= f; s.Rate *= f; return s }
	RegisterArrival(ArrivalMeta{
		Name:  "poisson",
		Help:  "memoryless: exponential gaps with mean 1/lambda, seeded",
		Keys:  []string{"lambda", "rate"},
		New:   poissonNew,
		Scale: poissonScale,
	})
	RegisterArrival(ArrivalMeta{
		Name:  "exponential",
		Help:  "same as poisson (Engram's name for exponential inter-arrival times)",
		Keys:  []string{"lambda", "rate"},
		New:   poissonNew,
		Scale: poissonScale,
	})
	RegisterArrival(ArrivalMeta{
		Name: "periodic_burst",
		Help: "base_rate, except burst_rate for the first burst_duration_sec of every burst_period_sec",
		Keys: []string{"base_rate", "burst_rate", "burst_duration_sec", "burst_period_sec"},
		New: func(s ArrivalSpec, _ uint64) (Arrival, error) {
			if !(s.BaseRate >= 0) || s.BaseRate > 1e9 {
				return nil, &SpecError{Key: "arrival.base_rate", Value: s.BaseRate, Msg: "must be >= 0 and at most 1e9 ops/s"}
			}
			if err := checkRate("arrival.burst_rate", s.BurstRate); err != nil {
				return nil, err
			}
			if !(s.BurstPeriodSec > 0) || math.IsInf(s.BurstPeriodSec, 0) {
				return nil, &SpecError{Key: "arrival.burst_period_sec", Value: s.BurstPeriodSec, Msg: "must be > 0"}
			}
			if !(s.BurstDurationSec > 0) || s.BurstDurationSec > s.BurstPeriodSec {
				return nil, &SpecError{Key: "arrival.burst_duration_sec", Value: s.BurstDurationSec, Msg: fmt.Sprintf("must be > 0 and at most burst_period_sec (%g)", s.BurstPeriodSec)}
			}
			return PeriodicBurst{Base: s.BaseRate, Burst: s.BurstRate, BurstLen: seconds(s.BurstDurationSec), Period: seconds(s.BurstPeriodSec)}, nil
		},
		Scale: func(s ArrivalSpec, f float64) ArrivalSpec { s.BaseRate *= f; s.BurstRate *= f; return s },
	})
}

// Constant sends at a fixed interval: op i is due at i / PerSecond.
type Constant struct{ PerSecond float64 }

// Due implements Arrival.
func (c Constant) Due(i uint64) time.Duration { return secondsToDuration(float64(i) / c.PerSecond) }

// Rate implements Arrival.
func (c Constant) Rate() float64 { return c.PerSecond }

func secondsToDuration(s float64) time.Duration { return time.Duration(math.Round(s * 1e9)) }

// PeriodicBurst sends at Burst ops/s for the first BurstLen of every Period
// and at Base ops/s for the rest. Op i is due where the cumulative count
// Λ(t) = ∫ rate reaches i, which for piecewise-constant rates is piecewise linear:
//
//	n = Burst·BurstLen + Base·(Period−BurstLen)   ops per period
//	k = ⌊i/n⌋, x = i − k·n
//	t = k·Period + x/Burst                          if x < Burst·BurstLen
//	t = k·Period + BurstLen + (x − Burst·BurstLen)/Base  otherwise
type PeriodicBurst struct {
	Base, Burst      float64
	BurstLen, Period time.Duration
}

// Due implements Arrival.
func (p PeriodicBurst) Due(i uint64) time.Duration {
	bl, per := p.BurstLen.Seconds(), p.Period.Seconds()
	inBurst := p.Burst * bl
	n := inBurst + p.Base*(per-bl)
	x := float64(i)
	k := math.Floor(x / n)
	x -= k * n
	t := k * per
	if x < inBurst || p.Base == 0 {
		t += x / p.Burst
	} else {
		t += bl + (x-inBurst)/p.Base
	}
	return secondsToDuration(t)
}

// Rate implements Arrival: the time-weighted mean.
func (p PeriodicBurst) Rate() float64 {
	f := p.BurstLen.Seconds() / p.Period.Seconds()
	return p.Burst*f + p.Base*(1-f)
}

// Poisson is a Poisson process: gaps are exponential with mean 1/Lambda,
// gap k a pure function of (seed, k). Op i is due at the sum of gaps 0..i-1
// (so op 0 is due at 0). Random access memoises a running sum every
// poissonBlock ops; a Sequence adds one gap per op.
type Poisson struct {
	lambda float64
	seed   uint64

	mu     sync.Mutex
	prefix []float64 // prefix[b] = Due(b·poissonBlock) in seconds
}

const poissonBlock = 4096

// NewPoisson returns a Poisson arrival with mean rate lambda ops/s.
func NewPoisson(lambda float64, seed uint64) *Poisson {
	return &Poisson{lambda: lambda, seed: seed, prefix: []float64{0}}
}

func (p *Poisson) gap(k uint64) float64 {
	r := newRNG(p.seed, streamArrival, k)
	return r.exp() / p.lambda
}

// Due implements Arrival.
func (p *Poisson) Due(i uint64) time.Duration { return secondsToDuration(p.dueSeconds(i)) }

func (p *Poisson) dueSeconds(i uint64) float64 {
	b := i / poissonBlock
	p.mu.Lock()
	for uint64(len(p.prefix)) <= b {
		last := uint64(len(p.prefix) - 1)
		s := p.prefix[last]
		for k := last * poissonBlock; k < (last+1)*poissonBlock; k++ {
			s += p.gap(k)
		}
		p.prefix = append(p.prefix, s)
	}
	s := p.prefix[b]
	p.mu.Unlock()
	for k := b * poissonBlock; k < i; k++ {
		s += p.gap(k)
	}
	return s
}

// Rate implements Arrival.
func (p *Poisson) Rate() float64 { return p.lambda }

func (p *Poisson) sequence() Sequence { return &poissonSequence{p: p} }

type poissonSequence struct {
	p *Poisson
	k uint64
	s float64
}

func (q *poissonSequence) Next() time.Duration { return secondsToDuration(q.nextSeconds()) }

func (q *poissonSequence) nextSeconds() float64 {
	s := q.s
	q.s += q.p.gap(q.k)
	q.k++
	return s
}
