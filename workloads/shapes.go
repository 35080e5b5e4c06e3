package workloads

import (
	"fmt"
	"math"
	"sync"
	"time"
)

// NeverDue is the intended start of an op that a finite or fading schedule
// never sends (a trace past its last op, a ramp down to zero): far beyond any
// run's end, yet safe to add to a run-clock offset without overflow.
const NeverDue = time.Duration(1 << 62)

// Time-varying arrivals share one construction, the time change of a point
// process: a rate function λ(t) ≥ 0 with cumulative count Λ(t) = ∫₀ᵗ λ(s) ds
// turns unit-spaced points x₀ = 0, x₁, x₂, … into op times tᵢ = Λ⁻¹(xᵢ).
//
//   - deterministic spacing (the default): xᵢ = i, so op i is due exactly
//     where the expected count reaches i (constant and periodic_burst are
//     special cases);
//   - poisson = true: xᵢ is the sum of i unit exponential gaps (gap k drawn
//     from (seed, k)), which makes tᵢ an inhomogeneous Poisson process with
//     intensity λ(t);
//   - bursty is always Poisson: a Markov-modulated Poisson process (MMPP)
//     whose λ(t) alternates between on_rate and off_rate for exponentially
//     distributed on and off periods, period k drawn from (seed, k).
//
// Due(i) is therefore a pure function of (parameters, seed, i) and
// non-decreasing in i.

// rateShape is a rate function with its cumulative count and inverse.
type rateShape interface {
	// inv returns the smallest t (seconds) with Λ(t) = x, or +Inf when the
	// schedule never reaches x ops.
	inv(x float64) float64
	// mean is the rate --rate scales against (documented per pattern).
	mean() float64
}

// cursorShape is a shape whose inverse is cheaper for non-decreasing x.
type cursorShape interface {
	cursor() func(x float64) float64
}

// Shaped is an arrival whose op times follow a rate shape (ramp, step, sine,
// bursty). It is safe for concurrent use.
type Shaped struct {
	shape   rateShape
	poisson bool
	unit    *Poisson // unit-rate gaps when poisson
}

func newShaped(s rateShape, poisson bool, seed uint64) *Shaped {
	a := &Shaped{shape: s, poisson: poisson}
	if poisson {
		a.unit = NewPoisson(1, seed)
	}
	return a
}

// Due implements Arrival.
func (a *Shaped) Due(i uint64) time.Duration {
	x := float64(i)
	if a.poisson {
		x = a.unit.dueSeconds(i)
	}
	return toDue(a.shape.inv(x))
}

// Rate implements Arrival: the rate --rate scales against (the long-run mean
// for sine and bursty, the final rate of a ramp, the first step of a staircase).
func (a *Shaped) Rate() float64 { return a.shape.mean() }

func (a *Shaped) sequence() Sequence {
	s := &shapedSequence{a: a}
	if c, ok := a.shape.(cursorShape); ok {
		s.inv = c.cursor()
	} else {
		s.inv = a.shape.inv
	}
	if a.poisson {
		s.unit = &poissonSequence{p: a.unit}
	}
	return s
}

type shapedSequence struct {
	a    *Shaped
	inv  func(float64) float64
	unit *poissonSequence
	i    uint64
}

func (s *shapedSequence) Next() time.Duration {
	x := float64(s.i)
	if s.unit != nil {
		x = s.unit.nextSeconds()
	}
	s.i++
	return toDue(s.inv(x))
}

func toDue(t float64) time.Duration {
	if math.IsInf(t, 1) || math.IsNaN(t) || t*1e9 >= float64(NeverDue) {
		return NeverDue
	}
	return secondsToDuration(t)
}

// rampShape: λ(t) = a + (b−a)·t/T for t < T, then b.
//
//	Λ(t) = a·t + (b−a)·t²/(2T)        t < T
//	Λ(t) = (a+b)·T/2 + b·(t−T)        t ≥ T
//
// inverted in closed form (the stable root 2x / (a + √(a² + 2(b−a)x/T))).
type rampShape struct{ a, b, T float64 }

func (r rampShape) inv(x float64) float64 {
	if x <= 0 {
		return 0
	}
	atT := (r.a + r.b) * r.T / 2
	if x < atT {
		return 2 * x / (r.a + math.Sqrt(r.a*r.a+2*(r.b-r.a)*x/r.T))
	}
	if r.b == 0 {
		return math.Inf(1)
	}
	return r.T + (x-atT)/r.b
}

func (r rampShape) mean() float64 {
	if r.b == 0 {
		return r.a
	}
	return r.b
}

// stepShape: a staircase. λ(t) = r + s·min(⌊t/H⌋, n) (n = 0: no cap).
// Before step k (k ≤ n) the count is Λ(kH) = H·(k·r + s·k(k−1)/2); inverting
// that quadratic gives the step, then the rest is linear.
type stepShape struct {
	r, s, H float64
	n       int
}

func (st stepShape) cumAt(k float64) float64 { return st.H * (k*st.r + st.s*k*(k-1)/2) }

func (st stepShape) inv(x float64) float64 {
	if x <= 0 {
		return 0
	}
	if st.n > 0 {
		if top := st.cumAt(float64(st.n)); x >= top {
			return float64(st.n)*st.H + (x-top)/(st.r+float64(st.n)*st.s)
		}
	}
	// Largest k with cumAt(k) ≤ x: s/2·k² + (r − s/2)·k − x/H = 0.
	a, b := st.s/2, st.r-st.s/2
	k := math.Floor((-b + math.Sqrt(b*b+4*a*x/st.H)) / (2 * a))
	for k > 0 && st.cumAt(k) > x {
		k--
	}
	for st.cumAt(k+1) <= x {
		k++
	}
	return k*st.H + (x-st.cumAt(k))/(st.r+k*st.s)
}

func (st stepShape) mean() float64 { return st.r }

// sineShape: λ(t) = m + A·sin(2πt/P), A ≤ m.
//
//	Λ(t) = m·t + A·P/(2π)·(1 − cos(2πt/P)),  Λ(P) = m·P
//
// inverted per period by safeguarded Newton iteration.
type sineShape struct{ m, A, P float64 }

func (s sineShape) cum(t float64) float64 {
	return s.m*t + s.A*s.P/(2*math.Pi)*(1-math.Cos(2*math.Pi*t/s.P))
}

func (s sineShape) inv(x float64) float64 {
	if x <= 0 {
		return 0
	}
	per := s.m * s.P
	k := math.Floor(x / per)
	r := x - k*per
	// Λ is increasing on [0, P) from 0 to m·P: bracket and refine.
	lo, hi := 0.0, s.P
	t := r / s.m
	for it := 0; it < 100; it++ {
		f := s.cum(t) - r
		if math.Abs(f) < 1e-9*max(1, r) {
			break
		}
		if f > 0 {
			hi = t
		} else {
			lo = t
		}
		d := s.m + s.A*math.Sin(2*math.Pi*t/s.P)
		nt := t - f/d
		if !(d > 0) || nt <= lo || nt >= hi {
			nt = (lo + hi) / 2
		}
		if nt == t {
			break
		}
		t = nt
	}
	return k*s.P + t
}

func (s sineShape) mean() float64 { return s.m }

// burstyShape: λ(t) alternates on_rate (for an exponential on-period of mean
// meanOn) and off_rate (exponential off-period of mean meanOff), starting on.
// Cycle k's two lengths are drawn from (seed, k). Random access memoises the
// cycle start every burstBlock cycles; the cursor walks cycles in order.
type burstyShape struct {
	on, off, meanOn, meanOff float64
	seed                     uint64

	mu     sync.Mutex
	blocks []cyclePos // blocks[b] = start of cycle b·burstBlock
}

type cyclePos struct{ t, x float64 } // time and cumulative count at a cycle start

const burstBlock = 256

func newBursty(on, off, meanOn, meanOff float64, seed uint64) *burstyShape {
	return &burstyShape{on: on, off: off, meanOn: meanOn, meanOff: meanOff, seed: seed, blocks: []cyclePos{{}}}
}

func (b *burstyShape) cycle(k uint64) (dOn, dOff float64) {
	r := newRNG(b.seed, streamBursty, k)
	return r.exp() * b.meanOn, r.exp() * b.meanOff
}

// step returns the start of cycle k+1 from the start p of cycle k.
func (b *burstyShape) step(k uint64, p cyclePos) cyclePos {
	dOn, dOff := b.cycle(k)
	return cyclePos{t: p.t + dOn + dOff, x: p.x + b.on*dOn + b.off*dOff}
}

// within inverts inside cycle k, which starts at p and contains x.
func (b *burstyShape) within(k uint64, p cyclePos, x float64) float64 {
	dOn, _ := b.cycle(k)
	r := x - p.x
	if onX := b.on * dOn; r < onX || b.off == 0 {
		return p.t + r/b.on
	} else {
		return p.t + dOn + (r-onX)/b.off
	}
}

func (b *burstyShape) inv(x float64) float64 {
	if x <= 0 {
		return 0
	}
	b.mu.Lock()
	for {
		last := len(b.blocks) - 1
		if b.blocks[last].x > x {
			break
		}
		p := b.blocks[last]
		for k := uint64(last) * burstBlock; k < uint64(last+1)*burstBlock; k++ {
			p = b.step(k, p)
		}
		b.blocks = append(b.blocks, p)
	}
	// The last block start with x ≤ target.
	lo, hi := 0, len(b.blocks)-1
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if b.blocks[mid].x <= x {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	p := b.blocks[lo]
	b.mu.Unlock()
	k := uint64(lo) * burstBlock
	for {
		n := b.step(k, p)
		if n.x > x {
			return b.within(k, p, x)
		}
		p = n
		k++
	}
}

func (b *burstyShape) cursor() func(float64) float64 {
	var k uint64
	var p cyclePos
	next := b.step(0, p)
	return func(x float64) float64 {
		if x <= 0 {
			return 0
		}
		for next.x <= x {
			p = next
			k++
			next = b.step(k, p)
		}
		return b.within(k, p, x)
	}
}

func (b *burstyShape) mean() float64 {
	return (b.on*b.meanOn + b.off*b.meanOff) / (b.meanOn + b.meanOff)
}

// ClosedLoop is the closed-loop alternative to an open-loop arrival: Users
// simulated users each send an op, wait for its reply, think, and send the
// next. The runner, not a schedule, decides when ops start, so a slow target
// slows the users down and the queueing an open-loop arrival would expose is
// hidden (coordinated omission by design). Results of such a run say so.
//
// User u of a run with U users sends ops u, u+U, u+2U, … (of its shard's op
// sequence), so op i is still a pure function of (seed, i). Think time before
// op i is Think(i).
type ClosedLoop struct {
	Users int
	// ThinkMean is the mean think time; Exponential draws it from an
	// exponential distribution (seeded by op index), else it is constant.
	ThinkMean   time.Duration
	Exponential bool
	seed        uint64
}

// Think returns the think time before op i.
func (c *ClosedLoop) Think(i uint64) time.Duration {
	if !c.Exponential || c.ThinkMean == 0 {
		return c.ThinkMean
	}
	r := newRNG(c.seed, streamThink, i)
	return time.Duration(r.exp() * float64(c.ThinkMean))
}

// Due implements Arrival as a lower bound only: op i's start if the target
// answered instantly (user i mod Users, its think times summed). The runner
// never paces a closed-loop run by it.
func (c *ClosedLoop) Due(i uint64) time.Duration {
	u := uint64(c.Users)
	var d time.Duration
	for j := i % u; j <= i; j += u {
		d += c.Think(j)
	}
	return d
}

// Rate implements Arrival: 0, a closed loop has no offered rate (its rate is
// whatever the target allows).
func (c *ClosedLoop) Rate() float64 { return 0 }

func init() {
	RegisterArrival(ArrivalMeta{
		Name: "ramp",
		Help: "linear from start_rate to end_rate over ramp_sec, then end_rate (poisson = true for random gaps)",
		Keys: []string{"start_rate", "end_rate", "ramp_sec", "poisson"},
		New: func(s ArrivalSpec, seed uint64) (Arrival, error) {
			if !(s.StartRate >= 0) || s.StartRate > 1e9 {
				return nil, &SpecError{Key: "arrival.start_rate", Value: s.StartRate, Msg: "must be >= 0 and at most 1e9 ops/s"}
			}
			if !(s.EndRate >= 0) || s.EndRate > 1e9 {
				return nil, &SpecError{Key: "arrival.end_rate", Value: s.EndRate, Msg: "must be >= 0 and at most 1e9 ops/s"}
			}
			if s.StartRate == 0 && s.EndRate == 0 {
				return nil, &SpecError{Key: "arrival.end_rate", Value: s.EndRate, Msg: "start_rate and end_rate cannot both be 0"}
			}
			if !(s.RampSec > 0) || math.IsInf(s.RampSec, 0) {
				return nil, &SpecError{Key: "arrival.ramp_sec", Value: s.RampSec, Msg: "must be > 0"}
			}
			return newShaped(rampShape{a: s.StartRate, b: s.EndRate, T: s.RampSec}, s.Poisson, seed), nil
		},
		Scale: func(s ArrivalSpec, f float64) ArrivalSpec { s.StartRate *= f; s.EndRate *= f; return s },
	})
	RegisterArrival(ArrivalMeta{
		Name: "step",
		Help: "staircase: rate, then rate+step after each hold_sec (at most steps increments; 0 = no cap)",
		Keys: []string{"rate", "step", "hold_sec", "steps", "poisson"},
		New: func(s ArrivalSpec, seed uint64) (Arrival, error) {
			if err := checkRate("arrival.rate", s.Rate); err != nil {
				return nil, err
			}
			if !(s.Step > 0) || s.Step > 1e9 {
				return nil, &SpecError{Key: "arrival.step", Value: s.Step, Msg: "must be > 0 and at most 1e9 ops/s"}
			}
			if !(s.HoldSec > 0) || math.IsInf(s.HoldSec, 0) {
				return nil, &SpecError{Key: "arrival.hold_sec", Value: s.HoldSec, Msg: "must be > 0"}
			}
			if s.Steps < 0 || s.Steps > 1_000_000 {
				return nil, &SpecError{Key: "arrival.steps", Value: s.Steps, Msg: "must be in [0, 1000000]"}
			}
			return newShaped(stepShape{r: s.Rate, s: s.Step, H: s.HoldSec, n: s.Steps}, s.Poisson, seed), nil
		},
		Scale: func(s ArrivalSpec, f float64) ArrivalSpec { s.Rate *= f; s.Step *= f; return s },
	})
	RegisterArrival(ArrivalMeta{
		Name: "sine",
		Help: "diurnal wave: rate + amplitude·sin(2πt/period_sec), amplitude ≤ rate (poisson = true for random gaps)",
		Keys: []string{"rate", "amplitude", "period_sec", "poisson"},
		New: func(s ArrivalSpec, seed uint64) (Arrival, error) {
			if err := checkRate("arrival.rate", s.Rate); err != nil {
				return nil, err
			}
			if !(s.Amplitude >= 0) || s.Amplitude > s.Rate {
				return nil, &SpecError{Key: "arrival.amplitude", Value: s.Amplitude, Msg: fmt.Sprintf("must be in [0, rate] (rate = %g)", s.Rate)}
			}
			if !(s.PeriodSec > 0) || math.IsInf(s.PeriodSec, 0) {
				return nil, &SpecError{Key: "arrival.period_sec", Value: s.PeriodSec, Msg: "must be > 0"}
			}
			return newShaped(sineShape{m: s.Rate, A: s.Amplitude, P: s.PeriodSec}, s.Poisson, seed), nil
		},
		Scale: func(s ArrivalSpec, f float64) ArrivalSpec { s.Rate *= f; s.Amplitude *= f; return s },
	})
	RegisterArrival(ArrivalMeta{
		Name: "bursty",
		Help: "on/off Markov-modulated Poisson: on_rate for exponential on-periods (mean mean_on_sec), off_rate between (mean mean_off_sec)",
		Keys: []string{"on_rate", "off_rate", "mean_on_sec", "mean_off_sec"},
		New: func(s ArrivalSpec, seed uint64) (Arrival, error) {
			if err := checkRate("arrival.on_rate", s.OnRate); err != nil {
				return nil, err
			}
			if !(s.OffRate >= 0) || s.OffRate > 1e9 {
				return nil, &SpecError{Key: "arrival.off_rate", Value: s.OffRate, Msg: "must be >= 0 and at most 1e9 ops/s"}
			}
			if !(s.MeanOnSec > 0) || math.IsInf(s.MeanOnSec, 0) {
				return nil, &SpecError{Key: "arrival.mean_on_sec", Value: s.MeanOnSec, Msg: "must be > 0"}
			}
			if !(s.MeanOffSec > 0) || math.IsInf(s.MeanOffSec, 0) {
				return nil, &SpecError{Key: "arrival.mean_off_sec", Value: s.MeanOffSec, Msg: "must be > 0"}
			}
			return newShaped(newBursty(s.OnRate, s.OffRate, s.MeanOnSec, s.MeanOffSec, seed), true, seed^0x5bd1e995), nil
		},
		Scale: func(s ArrivalSpec, f float64) ArrivalSpec { s.OnRate *= f; s.OffRate *= f; return s },
	})
	RegisterArrival(ArrivalMeta{
		Name: "closed_loop",
		Help: "closed loop (not open-loop!): users each send, wait for the reply, think think_time_sec (constant or exponential), send again; latency then hides queueing",
		Keys: []string{"users", "think_time_sec", "think_distribution"},
		New: func(s ArrivalSpec, seed uint64) (Arrival, error) {
			if s.Users < 1 || s.Users > 100_000 {
				return nil, &SpecError{Key: "arrival.users", Value: s.Users, Msg: "must be in [1, 100000]"}
			}
			if !(s.ThinkTimeSec >= 0) || s.ThinkTimeSec > 3600 {
				return nil, &SpecError{Key: "arrival.think_time_sec", Value: s.ThinkTimeSec, Msg: "must be in [0, 3600]"}
			}
			c := &ClosedLoop{Users: s.Users, ThinkMean: seconds(s.ThinkTimeSec), seed: seed}
			switch s.ThinkDistribution {
			case "", "constant":
			case "exponential":
				c.Exponential = true
			default:
				return nil, &SpecError{Key: "arrival.think_distribution", Value: s.ThinkDistribution, Msg: "must be constant or exponential"}
			}
			return c, nil
		},
		Scale: func(s ArrivalSpec, f float64) ArrivalSpec { return s },
	})
}
