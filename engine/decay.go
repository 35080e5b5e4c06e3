package engine

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"time"
)

// CurveKind selects a forgetting curve.
type CurveKind uint8

// Forgetting curves, after Engram's notes on psychological decay: episodic
// (hippocampal) memories fade exponentially, as Ebbinghaus measured; semantic
// (neocortical) memories fade along a power law (Wickelgren; Wixted and
// Carpenter), fast at first and then very slowly.
const (
	CurveDefault     CurveKind = iota // the memory type's default curve
	CurveExponential                  // R(t) = exp(−t/τ)
	CurvePowerLaw                     // R(t) = (1 + t/τ)^−β
	CurveNone                         // R(t) = 1: no forgetting
)

// String returns the curve's name: default, exponential, power_law or none.
func (k CurveKind) String() string {
	switch k {
	case CurveDefault:
		return "default"
	case CurveExponential:
		return "exponential"
	case CurvePowerLaw:
		return "power_law"
	case CurveNone:
		return "none"
	}
	return fmt.Sprintf("curve(%d)", uint8(k))
}

// Curve is a forgetting curve: retention R(t) in [0, 1] of a memory t after
// its last access (its creation if never recalled).
type Curve struct {
	Kind CurveKind
	// Tau is the time scale τ: the e-folding time of the exponential curve,
	// the time at which the power law has fallen to 2^−β.
	Tau time.Duration
	// Beta is the power law's exponent β (ignored by the exponential curve).
	Beta float64
}

// DecayOptions sets the forgetting curves. Zero fields mean the defaults:
// episodic memories exponential with τ = 24 h, semantic memories power law
// with τ = 7 days and β = 0.5, and each recall multiplying τ by 1.5.
type DecayOptions struct {
	Episodic Curve
	Semantic Curve
	// Reinforcement is the stability a recall adds: a memory recalled n
	// times forgets on the time scale τ × (1 + Reinforcement × n). 0 means
	// DefaultReinforcement; negative means none.
	Reinforcement float64
}

func (o *DecayOptions) fill() error {
	if o.Episodic.Kind == CurveDefault {
		o.Episodic = Curve{Kind: CurveExponential, Tau: o.Episodic.Tau, Beta: o.Episodic.Beta}
		if o.Episodic.Tau == 0 {
			o.Episodic.Tau = DefaultEpisodicTau
		}
	}
	if o.Semantic.Kind == CurveDefault {
		o.Semantic = Curve{Kind: CurvePowerLaw, Tau: o.Semantic.Tau, Beta: o.Semantic.Beta}
		if o.Semantic.Tau == 0 {
			o.Semantic.Tau = DefaultSemanticTau
		}
		if o.Semantic.Beta == 0 {
			o.Semantic.Beta = DefaultSemanticBeta
		}
	}
	for _, c := range []struct {
		name string
		c    Curve
	}{{"decay.episodic", o.Episodic}, {"decay.semantic", o.Semantic}} {
		switch c.c.Kind {
		case CurveExponential, CurvePowerLaw:
			if c.c.Tau <= 0 {
				return invalid(c.name+".tau", c.c.Tau.String(), "must be > 0")
			}
			if c.c.Kind == CurvePowerLaw && !(c.c.Beta > 0 && c.c.Beta <= 10) {
				return invalid(c.name+".beta", fmt.Sprint(c.c.Beta), "must be in (0, 10]")
			}
		case CurveNone:
		default:
			return invalid(c.name+".kind", c.c.Kind.String(), "unknown curve")
		}
	}
	if o.Reinforcement == 0 {
		o.Reinforcement = DefaultReinforcement
	}
	if o.Reinforcement < 0 {
		o.Reinforcement = 0
	}
	return nil
}

// Retention is R(t) of the curve for a memory recalled n times, with the
// time scale stretched by reinforcement: τ' = τ × (1 + reinforcement × n).
func (c Curve) Retention(t time.Duration, n int, reinforcement float64) float32 {
	if t <= 0 || c.Kind == CurveNone || c.Tau <= 0 {
		return 1
	}
	tau := float64(c.Tau) * (1 + reinforcement*float64(n))
	x := float64(t) / tau
	switch c.Kind {
	case CurveExponential:
		return float32(math.Exp(-x))
	case CurvePowerLaw:
		return float32(math.Pow(1+x, -c.Beta))
	}
	return 1
}

func (s *Store) curve(t MemoryType) Curve {
	if t == Semantic {
		return s.opts.Decay.Semantic
	}
	return s.opts.Decay.Episodic
}

func (s *Store) retention(t MemoryType, recalls int, age time.Duration) float32 {
	return s.curve(t).Retention(age, recalls, s.opts.Decay.Reinforcement)
}

// decayed is the confidence of a slot now.
func (s *Store) decayed(nm *nodeMeta, flags uint32, now time.Time) float32 {
	t := Episodic
	if flags&flagSemantic != 0 {
		t = Semantic
	}
	last := nm.lastAccess.Load()
	if last == 0 {
		last = nm.created
	}
	return nm.conf * s.retention(t, int(nm.recalls.Load()), now.Sub(time.Unix(0, last)))
}

var timeZero time.Time

// DecayStats is what a Decay sweep did.
type DecayStats struct {
	Space     string
	Scanned   int // live memories examined
	Forgotten int // memories deleted
	Duration  time.Duration
}

// Decay forgets every memory of a space whose decayed confidence is below
// floor (in (0, 1]): it deletes them as Delete does. It reads only memory
// state, never pebble, and yields between slices of the scan.
func (s *Store) Decay(ctx context.Context, spaceID string, floor float32) (DecayStats, error) {
	defer s.slow(s.slowStart())
	if err := s.enter(); err != nil {
		return DecayStats{}, err
	}
	defer s.leave()
	if err := checkSpace(spaceID); err != nil {
		return DecayStats{}, err
	}
	if !(floor > 0 && floor <= 1) {
		return DecayStats{}, invalid("floor", fmt.Sprint(floor), "must be in (0, 1]")
	}
	start := time.Now()
	st := DecayStats{Space: spaceID}
	sp := s.space(spaceID)
	if sp == nil {
		return st, nil
	}
	now := s.opts.Clock()
	var doomed []string
	n := sp.slotCount()
	for r := uint32(0); r < n; r++ {
		nm := sp.m(r)
		f := nm.flags.Load()
		if f&flagLive == 0 {
			continue
		}
		st.Scanned++
		if s.decayed(nm, f, now) < floor {
			doomed = append(doomed, sp.idOf(r))
		}
		if r&chunkMask == chunkMask {
			if err := ctx.Err(); err != nil {
				return st, err
			}
			runtime.Gosched()
		}
	}
	for i, id := range doomed {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		stripe := s.stripe(spaceID, id)
		stripe.Lock()
		err := s.deleteLocked(sp, id, i == len(doomed)-1)
		stripe.Unlock()
		if err == nil {
			st.Forgotten++
		} else if !errorsIsNotFound(err) {
			return st, err
		}
	}
	st.Duration = time.Since(start)
	return st, nil
}

func errorsIsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }
