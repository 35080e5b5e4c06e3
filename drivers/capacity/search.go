package capacity

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/engram-bench/engram-bench/reports"
)

// Config configures a capacity search. The zero value of each optional
// field means its documented default.
type Config struct {
	// SLO is what every step is held to (required).
	SLO reports.SLO
	// StartRate is the first step's offered rate, ops/s (required).
	StartRate float64
	// StepRate, when > 0, makes the staircase additive: start, start+step,
	// start+2·step, …; otherwise it is geometric by Factor.
	StepRate float64
	// Factor is the geometric staircase's ratio. Default 2.
	Factor float64
	// MaxRate caps the staircase: a search whose every step up to it passes
	// ends there without a knee. Default 1,000,000 ops/s.
	MaxRate float64
	// Resolution ends the bisection once (first failing − last passing) ≤
	// Resolution × last passing. Default 0.05 (5%).
	Resolution float64
	// MaxSteps bounds the whole search. Default 20.
	MaxSteps int
	// StepDuration is the least measured length of a step. A step lasts
	// max(StepDuration, MinSamples / rate), so that even a slow rate
	// collects enough samples for its highest percentile. Default 20 s.
	StepDuration time.Duration
	// Warmup precedes each step's measured window, unrecorded (0: none;
	// the command's default is DefaultWarmup).
	Warmup time.Duration
	// MinSamples overrides SLO.MinSamples (≤ 0: the SLO's).
	MinSamples int64
	// CollapseIntervals is how many consecutive intervals a step's backlog
	// must grow, past what the SLO's largest latency bound allows, before the
	// step is cut short as collapsed. Default 3.
	CollapseIntervals int
	// OnStep is told about every step as soon as it is judged.
	OnStep func(reports.CapacityStep)
}

// Defaults for Config.
const (
	DefaultFactor            = 2.0
	DefaultMaxRate           = 1e6
	DefaultResolution        = 0.05
	DefaultMaxSteps          = 20
	DefaultStepDuration      = 20 * time.Second
	DefaultWarmup            = 3 * time.Second
	DefaultCollapseIntervals = 3
)

// withDefaults returns c with its defaults filled in, or a *FieldError
// naming the field that is out of range.
func (c Config) withDefaults() (Config, error) {
	if c.Factor == 0 {
		c.Factor = DefaultFactor
	}
	if c.MaxRate == 0 {
		c.MaxRate = DefaultMaxRate
	}
	if c.Resolution == 0 {
		c.Resolution = DefaultResolution
	}
	if c.MaxSteps == 0 {
		c.MaxSteps = DefaultMaxSteps
	}
	if c.StepDuration == 0 {
		c.StepDuration = DefaultStepDuration
	}
	if c.Warmup < 0 {
		return c, fieldErr("warm-up", "%s", c.Warmup, "must be >= 0")
	}
	if c.CollapseIntervals == 0 {
		c.CollapseIntervals = DefaultCollapseIntervals
	}
	if c.MinSamples <= 0 {
		c.MinSamples = c.SLO.MinSamples()
	}
	switch {
	case len(c.SLO.Latency) == 0:
		return c, errors.New("the SLO names no latency percentile")
	case !(c.StartRate > 0) || c.StartRate > 1e9:
		return c, fieldErr("start rate", "%g", c.StartRate, "must be > 0 and at most 1e9 ops/s")
	case c.StepRate < 0 || c.StepRate > 1e9 || math.IsNaN(c.StepRate):
		return c, fieldErr("step", "%g", c.StepRate, "must be >= 0 and at most 1e9 ops/s")
	case c.StepRate == 0 && !(c.Factor > 1 && c.Factor <= 100):
		return c, fieldErr("factor", "%g", c.Factor, "must be > 1 and at most 100")
	case !(c.MaxRate >= c.StartRate) || c.MaxRate > 1e9:
		return c, fieldErr("max rate", "%g", c.MaxRate, "must be at least the start rate %g and at most 1e9 ops/s", c.StartRate)
	case !(c.Resolution > 0 && c.Resolution < 1):
		return c, fieldErr("resolution", "%g", c.Resolution, "must be in (0, 1), e.g. 0.05 for 5%%")
	case c.MaxSteps < 1 || c.MaxSteps > 1000:
		return c, fieldErr("max steps", "%d", c.MaxSteps, "must be in [1, 1000]")
	case c.StepDuration < time.Second:
		return c, fieldErr("step duration", "%s", c.StepDuration, "must be at least 1s (a step is judged from whole intervals)")
	case c.CollapseIntervals < 1:
		return c, fieldErr("collapse intervals", "%d", c.CollapseIntervals, "must be >= 1")
	}
	return c, nil
}

// Validate fills in c's defaults and checks every field; the error for a
// field out of range is a *FieldError naming it.
func Validate(c Config) error {
	_, err := c.withDefaults()
	return err
}

// Method describes c as the capacity file records it.
func (c Config) Method() reports.CapacityMethod {
	m := reports.CapacityMethod{StartRate: c.StartRate, StepRate: c.StepRate, MaxRate: c.MaxRate, Resolution: c.Resolution,
		MaxSteps: c.MaxSteps, StepS: c.StepDuration.Seconds(), WarmupS: c.Warmup.Seconds(), MinSamples: c.MinSamples,
		CollapseIntervals: c.CollapseIntervals, Data: "continue"}
	if c.StepRate == 0 {
		m.Factor = c.Factor
	}
	return m
}

// StepDurationAt is how long a step at rate is measured: long enough for
// MinSamples successful ops, and at least StepDuration; rounded up to whole
// seconds (the runner's intervals).
func (c Config) StepDurationAt(rate float64) time.Duration {
	need := time.Duration(math.Ceil(float64(c.MinSamples)/rate)) * time.Second
	return max(c.StepDuration, need).Round(time.Second)
}

// StepSpec is one step the search asks for.
type StepSpec struct {
	N     int // 1-based
	Phase string
	// Rate is the offered rate, ops/s.
	Rate float64
	// Warmup is unrecorded; Duration is measured.
	Warmup, Duration time.Duration
	// Collapse says when to cut the step short (see Watch).
	Collapse WatchConfig
}

// Outcome is what a Stepper returns for one step.
type Outcome struct {
	Result *reports.Result
	// Collapsed is set when the step was cut short by its Watch, CutAt
	// into the measured window.
	Collapsed bool
	CutAt     time.Duration
	// Memories is about how many memories the target held when the step
	// began (0: unknown).
	Memories int64
	// File is where the step's result was written ("" if it was not).
	File string
}

// Stepper runs one step: the workload at a fixed offered rate, open loop.
// An error means the step could not run at all (not that it failed the SLO).
type Stepper interface {
	Step(ctx context.Context, s StepSpec) (Outcome, error)
}

// StepperFunc adapts a function to Stepper.
type StepperFunc func(ctx context.Context, s StepSpec) (Outcome, error)

// Step implements Stepper.
func (f StepperFunc) Step(ctx context.Context, s StepSpec) (Outcome, error) { return f(ctx, s) }

// Search finds the highest offered rate that meets the SLO and fills c's
// method, steps, knee and stop reason (the caller fills in what was run).
//
// The search has three phases. Step up: from StartRate, each step StepRate
// higher (or Factor times higher), until the first step that does not pass
// or MaxRate. Step down, only when the very first step failed: StartRate /
// Factor (or halved), again and again, until one passes. Bisect: the midpoint
// of the last passing and first failing rates, until the interval is within
// Resolution of the passing end or MaxSteps is reached. Every step is its
// own open-loop run at a fixed offered rate, judged by SLO.Judge; a step that
// cannot be judged (harness-limited, too few samples) counts as not passing
// — the knee is the highest rate *shown* to meet the SLO — and the knee says
// so. A step whose backlog grows without bound is cut short (Watch). The
// search stops early when the target stops answering.
//
// On cancellation Search returns what it measured with c.Partial set and a
// nil error; an error means a step could not run at all.
func Search(ctx context.Context, cfg Config, st Stepper, c *reports.Capacity) error {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return err
	}
	method := cfg.Method()
	method.Data, method.Arrival = c.Method.Data, c.Method.Arrival
	if method.Data == "" {
		method.Data = "continue"
	}
	c.Method = method
	if c.SLO == "" {
		c.SLO = cfg.SLO.String()
	}
	s := &search{cfg: cfg, st: st, c: c}
	s.run(ctx)
	s.knee()
	return s.err
}

type search struct {
	cfg Config
	st  Stepper
	c   *reports.Capacity
	err error

	pass, fail             float64 // highest passing, lowest failing above it (0: none)
	passAchieved           float64
	failInvalid            string // why the failing end is not a measured failure ("" if it is)
	unreachable, cancelled bool
	stepLimited, atMaxRate bool // why a search without a knee stopped rising
}

// step runs one step and records it; ok is false when the search must stop.
func (s *search) step(ctx context.Context, phase string, rate float64) (pass, ok bool) {
	if len(s.c.Steps) >= s.cfg.MaxSteps {
		s.c.Stopped = fmt.Sprintf("the step limit (%d) was reached", s.cfg.MaxSteps)
		s.stepLimited = true
		return false, false
	}
	if ctx.Err() != nil {
		s.cancelled = true
		return false, false
	}
	spec := StepSpec{N: len(s.c.Steps) + 1, Phase: phase, Rate: rate, Warmup: s.cfg.Warmup, Duration: s.cfg.StepDurationAt(rate),
		Collapse: WatchConfig{Rate: rate, MaxLatency: s.cfg.SLO.MaxLatency(), Intervals: s.cfg.CollapseIntervals}}
	out, err := s.st.Step(ctx, spec)
	if err != nil {
		if ctx.Err() != nil {
			s.cancelled = true
			return false, false
		}
		s.err = fmt.Errorf("step %d at %g ops/s: %w", spec.N, rate, err)
		s.c.Stopped = "step " + fmt.Sprint(spec.N) + " could not run: " + err.Error()
		return false, false
	}
	r := out.Result
	if r.Partial && !out.Collapsed && ctx.Err() != nil {
		// Interrupted mid-step: keep what ran, judged by nobody.
		st := reports.StepFrom(r, reports.Judgement{Verdict: reports.VerdictInvalid, Reasons: []string{"interrupted: partial step, not judged"}})
		st.N, st.Phase, st.Offered, st.Memories, st.Result = spec.N, phase, rate, out.Memories, out.File
		s.c.Steps = append(s.c.Steps, st)
		if s.cfg.OnStep != nil {
			s.cfg.OnStep(st)
		}
		s.cancelled = true
		return false, false
	}
	j := s.cfg.SLO.Judge(r, s.cfg.MinSamples)
	if out.Collapsed && j.Verdict != reports.VerdictFail {
		// A cut step falls short of its window by construction: it failed.
		j.Verdict = reports.VerdictFail
	}
	st := reports.StepFrom(r, j)
	st.N, st.Phase, st.Offered = spec.N, phase, rate
	st.Collapsed, st.CutAtS, st.Memories, st.Result = out.Collapsed, out.CutAt.Seconds(), out.Memories, out.File
	if out.Collapsed {
		st.Reasons = append([]string{fmt.Sprintf("collapsed: the backlog grew past %s of arrivals for %d intervals in a row; cut at %.0fs",
			s.cfg.SLO.MaxLatency(), s.cfg.CollapseIntervals, out.CutAt.Seconds())}, st.Reasons...)
	}
	s.c.Steps = append(s.c.Steps, st)
	if s.cfg.OnStep != nil {
		s.cfg.OnStep(st)
	}
	switch {
	case st.Verdict == reports.VerdictPass:
		if rate > s.pass {
			s.pass, s.passAchieved = rate, r.AchievedRate
		}
		return true, true
	case st.Verdict == reports.VerdictInvalid && strings.Contains(strings.Join(st.Reasons, ";"), "unreachable"):
		s.unreachable = true
		s.c.Stopped = fmt.Sprintf("the target stopped answering at step %d (%g ops/s)", spec.N, rate)
		s.markFail(rate, st)
		return false, false
	default:
		s.markFail(rate, st)
		return false, true
	}
}

func (s *search) markFail(rate float64, st reports.CapacityStep) {
	if s.fail == 0 || rate < s.fail {
		s.fail = rate
		s.failInvalid = ""
		if st.Verdict == reports.VerdictInvalid {
			s.failInvalid = strings.Join(st.Reasons, "; ")
		}
	}
}

func (s *search) next(rate float64) float64 {
	if s.cfg.StepRate > 0 {
		return rate + s.cfg.StepRate
	}
	return rate * s.cfg.Factor
}

func (s *search) run(ctx context.Context) {
	rate := s.cfg.StartRate
	// Step up.
	for {
		pass, ok := s.step(ctx, reports.PhaseStepUp, rate)
		if !ok {
			s.stopIfCancelled()
			return
		}
		if !pass {
			break
		}
		if rate >= s.cfg.MaxRate {
			s.c.Stopped = fmt.Sprintf("every step up to the max rate %g ops/s passed", s.cfg.MaxRate)
			s.atMaxRate = true
			return
		}
		rate = math.Min(s.next(rate), s.cfg.MaxRate)
	}
	// Step down, when even the first step failed.
	if s.pass == 0 {
		for rate > 1e-3 {
			if s.cfg.StepRate > 0 {
				rate /= 2 // an additive staircase has no ratio to step down by
			} else {
				rate /= s.cfg.Factor
			}
			pass, ok := s.step(ctx, reports.PhaseStepDown, rate)
			if !ok {
				s.stopIfCancelled()
				return
			}
			if pass {
				break
			}
		}
		if s.pass == 0 {
			s.c.Stopped = "no step passed, down to 0.001 ops/s"
			return
		}
	}
	// Bisect.
	for s.fail-s.pass > s.cfg.Resolution*s.pass {
		mid := (s.pass + s.fail) / 2
		if _, ok := s.step(ctx, reports.PhaseBisect, mid); !ok {
			s.stopIfCancelled()
			return
		}
	}
	s.c.Stopped = fmt.Sprintf("the knee is within %g%% (resolution reached)", 100*s.cfg.Resolution)
}

func (s *search) stopIfCancelled() {
	if s.cancelled {
		s.c.Partial = true
		s.c.Stopped = "interrupted"
	}
}

// knee fills the capacity's knee from the passing and failing ends.
func (s *search) knee() {
	k := reports.Knee{Pass: s.pass, Fail: s.fail, PassAchieved: s.passAchieved, Found: s.pass > 0 && s.fail > 0}
	var notes []string
	if s.failInvalid != "" {
		notes = append(notes, fmt.Sprintf("the failing end %g ops/s was not a measured failure of the target (%s): the true knee may be higher", s.fail, s.failInvalid))
	}
	if k.Found && k.Width() > s.cfg.Resolution {
		notes = append(notes, fmt.Sprintf("wider than the %g%% resolution: the search stopped early", 100*s.cfg.Resolution))
	}
	switch {
	case k.Found || k.Pass == 0:
	case s.atMaxRate:
		notes = append(notes, "raise --max-rate to find the knee")
	case s.stepLimited:
		notes = append(notes, "raise --max-steps to find the knee")
	}
	if falling := s.throughputFalls(); falling != "" {
		notes = append(notes, falling)
	}
	k.Note = strings.Join(notes, "; ")
	s.c.Knee = k
}

// throughputFalls reports a congestion collapse: a step whose achieved rate
// is below that of a step offered less (more load, less work done).
func (s *search) throughputFalls() string {
	best := 0.0
	bestAt := 0.0
	steps := append([]reports.CapacityStep(nil), s.c.Steps...)
	// In order of offered rate.
	for i := 1; i < len(steps); i++ {
		for j := i; j > 0 && steps[j].Offered < steps[j-1].Offered; j-- {
			steps[j], steps[j-1] = steps[j-1], steps[j]
		}
	}
	for _, st := range steps {
		if st.Achieved < 0.9*best {
			return fmt.Sprintf("throughput collapse: %g ops/s offered achieved %.1f ops/s, less than the %.1f achieved at %g offered", st.Offered, st.Achieved, best, bestAt)
		}
		if st.Achieved > best {
			best, bestAt = st.Achieved, st.Offered
		}
	}
	return ""
}
