package baselines

import (
	"fmt"
	"math"
	"sort"
	"strings"
)

// Outcome is the gate's answer. Its Code is the CLI's exit status.
type Outcome int

// Outcomes, most benign first.
const (
	// Pass: no gated metric got significantly worse beyond its tolerance
	// (warnings may still be reported).
	Pass Outcome = iota
	// Inconclusive: too few runs, or a gated metric looks worse beyond its
	// failure tolerance with a suggestive p (≤ the policy's inconclusive_p)
	// that is not significant after the correction (too noisy to tell). Exit 4.
	Inconclusive
	// Regression: at least one gated metric got significantly worse beyond
	// its failure tolerance. Exit 1.
	Regression
)

// Code is the exit status for the outcome: 0 pass, 1 regression, 4 inconclusive.
func (o Outcome) Code() int {
	switch o {
	case Regression:
		return 1
	case Inconclusive:
		return 4
	}
	return 0
}

// String is the outcome as the report shows it: PASS, FAIL or INCONCLUSIVE.
func (o Outcome) String() string {
	switch o {
	case Regression:
		return "FAIL"
	case Inconclusive:
		return "INCONCLUSIVE"
	}
	return "PASS"
}

// Status is the judgement of one metric.
type Status string

// Statuses, as shown in the table.
const (
	StatusFail     Status = "FAIL"     // significant, worse beyond fail tolerance
	StatusWarn     Status = "warn"     // significant, worse beyond warn tolerance
	StatusChanged  Status = "changed"  // significant, worse but within tolerance
	StatusImproved Status = "improved" // significant, better
	StatusSame     Status = "~"        // not significant, within the failure tolerance
	StatusNoisy    Status = "noisy"    // looks worse beyond fail tolerance, p suggestive but not significant: inconclusive
	StatusFewRuns  Status = "few runs" // fewer runs than the policy's minimum
	StatusMissing  Status = "missing"  // on one side only
	StatusInfo     Status = ""         // not gated: shown for information
)

// Check is the gate's view of one metric.
type Check struct {
	Row    *Row
	Limits Limits
	// Worse is how much worse the current median is than the baseline's, in
	// the metric's better direction, relative (+0.25 = 25% worse; negative
	// = better); WorseAbs the same in the unit.
	Worse, WorseAbs float64
	// P is the Mann-Whitney U p-value, Q the Benjamini-Hochberg adjusted one
	// (across the gated metrics); NaN when not tested.
	P, Q   float64
	Status Status
}

// Verdict is the result of a gate.
type Verdict struct {
	Outcome Outcome
	// Reasons explain a FAIL or INCONCLUSIVE outcome, one line each.
	Reasons []string
	// Warnings are doubts that do not change the outcome: metrics past their
	// warning tolerance, environment differences, skipped runs.
	Warnings []string
	// Env are the fingerprint differences; Loud ones undermine the comparison.
	Env    []EnvDiff
	Checks []Check
	Policy *Policy
	// Runs per side: the most runs any metric had.
	BaseRuns, CurRuns int
	// Gated is how many metrics took part in the correction.
	Gated int
	Cmp   *Comparison
}

// GateOptions adjust a gate beyond its policy.
type GateOptions struct {
	// MinRuns overrides the policy's min_runs when > 0 (--count).
	MinRuns int
	// RequireSameEnv makes loud fingerprint differences (machine,
	// toolchain, workload) inconclusive instead of a warning, whatever the
	// metrics say.
	RequireSameEnv bool
}

// Gate judges a comparison of two sides (baseline first; further sides are
// ignored) by a policy (nil: DefaultPolicy):
// Mann-Whitney U per metric (from Compare), Benjamini-Hochberg across the
// gated metrics, then each metric's tolerances. It fails when, and only when,
// a gated metric got worse by more than its failure tolerance and that change
// is significant after correction.
func Gate(c *Comparison, p *Policy, opt GateOptions) *Verdict {
	if p == nil {
		p = DefaultPolicy()
	}
	minRuns := p.MinRuns
	if opt.MinRuns > 0 {
		minRuns = opt.MinRuns
	}
	v := &Verdict{Policy: p, Cmp: c}
	if len(c.Env) > 0 {
		v.Env = c.Env[0]
	}
	alpha := p.Alpha
	var ps []float64
	var tested []int
	for i := range c.Rows {
		r := &c.Rows[i]
		l := p.Limits(r.Benchmark, r.Unit)
		better := r.Better
		if l.Better != 0 {
			better = l.Better
		}
		ck := Check{Row: r, Limits: l, P: math.NaN(), Q: math.NaN(), Worse: math.NaN(), WorseAbs: math.NaN()}
		old, cur := r.Cells[0], r.Cells[1]
		v.BaseRuns = max(v.BaseRuns, old.N())
		v.CurRuns = max(v.CurRuns, cur.N())
		switch {
		case old == nil || cur == nil:
			if l.Gated {
				ck.Status = StatusMissing
			}
		default:
			o, n := old.Summary.Center, cur.Summary.Center
			ck.WorseAbs = float64(-better) * (n - o)
			switch {
			case o != 0:
				ck.Worse = ck.WorseAbs / math.Abs(o)
			case n == o:
				ck.Worse = 0
			default:
				ck.Worse = math.Inf(1) * math.Copysign(1, ck.WorseAbs)
			}
			ck.P = r.Deltas[0].P
			if l.Gated {
				switch {
				case old.N() < minRuns || cur.N() < minRuns:
					ck.Status = StatusFewRuns
				case constant(old, cur):
					// Every run of both sides measured the same value (no
					// errors at all, say): no test can find anything, and
					// this does not depend on which side a run is on, so
					// leaving it out of the correction is valid
					// (independent filtering) and keeps power for the rest.
					ck.Status = StatusSame
				default:
					ps = append(ps, ck.P)
					tested = append(tested, len(v.Checks))
				}
			}
		}
		v.Checks = append(v.Checks, ck)
	}
	v.Gated = len(tested)
	for i, q := range AdjustBH(ps) {
		ck := &v.Checks[tested[i]]
		ck.Q = q
		sig := q <= alpha
		l := ck.Limits
		switch {
		case sig && crosses(ck, l.FailPct, l.FailAbs):
			ck.Status = StatusFail
		case sig && crosses(ck, l.WarnPct, l.WarnAbs):
			ck.Status = StatusWarn
		case sig && ck.WorseAbs > 0:
			ck.Status = StatusChanged
		case sig && ck.WorseAbs < 0:
			ck.Status = StatusImproved
		case !sig && ck.P <= *p.InconclusiveP && crosses(ck, l.FailPct, l.FailAbs):
			ck.Status = StatusNoisy
		default:
			ck.Status = StatusSame
		}
	}

	// Outcome and reasons.
	var fails, noisy, few, missing []string
	for i := range v.Checks {
		ck := &v.Checks[i]
		what := ck.Row.Unit + " of " + ck.Row.Benchmark
		switch ck.Status {
		case StatusFail:
			fails = append(fails, fmt.Sprintf("%s: %s worse (limit %s, p=%.4f, q=%.4f)", what, fmtWorse(ck), ck.Limits, ck.P, ck.Q))
		case StatusWarn:
			v.Warnings = append(v.Warnings, fmt.Sprintf("%s: %s worse, past the warning limit (limit %s, q=%.4f)", what, fmtWorse(ck), ck.Limits, ck.Q))
		case StatusNoisy:
			noisy = append(noisy, fmt.Sprintf("%s: looks %s worse (limit %s) but is not significant (p=%.3f, q=%.3f; spread ±%s baseline, ±%s current): too noisy to tell", what, fmtWorse(ck), ck.Limits, ck.P, ck.Q, ck.Row.Cells[0].Summary.PctRangeString(), ck.Row.Cells[1].Summary.PctRangeString()))
		case StatusFewRuns:
			few = append(few, fmt.Sprintf("%s: %d baseline and %d current runs", what, ck.Row.Cells[0].N(), ck.Row.Cells[1].N()))
		case StatusMissing:
			side := "current"
			if ck.Row.Cells[0] == nil {
				side = "baseline"
			}
			missing = append(missing, fmt.Sprintf("%s: not in the %s runs", what, side))
		}
	}
	v.Warnings = append(v.Warnings, missing...)
	for _, d := range v.Env {
		if d.Loud {
			v.Warnings = append(v.Warnings, "ENVIRONMENT DIFFERS: "+d.String())
		}
	}
	v.Warnings = append(v.Warnings, c.Notes...)
	switch {
	case len(fails) > 0:
		v.Outcome = Regression
		v.Reasons = fails
	case v.Gated == 0 && len(few) == 0:
		v.Outcome = Inconclusive
		v.Reasons = append(v.Reasons, "no metric in these files is gated by the policy "+p.Source+" (see --print-policy)")
	case len(few) > 0 || len(noisy) > 0:
		v.Outcome = Inconclusive
		if len(few) > 0 {
			v.Reasons = append(v.Reasons, fmt.Sprintf("too few runs: the policy needs %d per side (%s); run more (--count)", minRuns, summarize(few)))
		}
		v.Reasons = append(v.Reasons, noisy...)
	default:
		v.Outcome = Pass
	}
	if opt.RequireSameEnv {
		var diffs []string
		for _, d := range v.Env {
			if d.Loud {
				diffs = append(diffs, "environments differ and --require-same-env is set: "+d.String())
			}
		}
		if len(diffs) > 0 {
			// Neither a pass nor a failure means anything across machines.
			v.Outcome = Inconclusive
			v.Reasons = append(diffs, v.Reasons...)
		}
	}
	if v.Gated > 0 && v.Outcome != Regression {
		if lim := MinP(v.BaseRuns, v.CurRuns); lim > alpha/float64(v.Gated) {
			v.Warnings = append(v.Warnings, fmt.Sprintf("with %d+%d runs the smallest possible p is %.4f, above alpha/m = %.4f for m=%d gated metrics: a change in one metric alone cannot be flagged, only a change shared by several; %d runs per side can flag a lone change",
				v.BaseRuns, v.CurRuns, lim, alpha/float64(v.Gated), v.Gated, RunsForP(alpha/float64(v.Gated))))
		}
	}
	return v
}

// constant reports whether every value of both cells is the same.
func constant(a, b *Cell) bool {
	v := a.Values[0]
	for _, c := range [2]*Cell{a, b} {
		for _, x := range c.Values {
			if x != v {
				return false
			}
		}
	}
	return true
}

// crosses reports whether a check is worse than every tolerance set.
func crosses(ck *Check, pct, abs float64) bool {
	if math.IsNaN(pct) && math.IsNaN(abs) {
		return false
	}
	if !math.IsNaN(pct) && !(ck.Worse > pct/100) {
		return false
	}
	if !math.IsNaN(abs) && !(ck.WorseAbs > abs) {
		return false
	}
	return true
}

func fmtWorse(ck *Check) string {
	if !math.IsNaN(ck.Limits.WarnAbs) || !math.IsNaN(ck.Limits.FailAbs) {
		if math.IsNaN(ck.Limits.WarnPct) && math.IsNaN(ck.Limits.FailPct) {
			return fmt.Sprintf("%+.4g", ck.WorseAbs)
		}
	}
	if math.IsInf(ck.Worse, 0) {
		return fmt.Sprintf("%+.4g (from 0)", ck.WorseAbs)
	}
	return fmt.Sprintf("%+.1f%%", 100*ck.Worse)
}

func summarize(items []string) string {
	sort.Strings(items)
	if len(items) > 3 {
		return strings.Join(items[:3], "; ") + fmt.Sprintf("; and %d more", len(items)-3)
	}
	return strings.Join(items, "; ")
}
