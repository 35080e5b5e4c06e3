package baselines

import (
	_ "embed"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"

	"github.com/BurntSushi/toml"
	"golang.org/x/perf/benchunit"
)

// DefaultPolicyText is the default gate policy, as TOML (print it with
// `engram-bench gate --print-policy`, edit, pass with --policy).
//
//go:embed default_policy.toml
var DefaultPolicyText string

// Policy says which metrics the gate judges and how much worse each may get.
// The zero value is not useful; start from DefaultPolicy or ParsePolicy.
type Policy struct {
	// Alpha is the false discovery rate across all gated metrics
	// (Benjamini-Hochberg). 0 means 0.05.
	Alpha float64 `toml:"alpha"`
	// MinRuns is the fewest runs per side; fewer makes the gate inconclusive.
	// 0 means 6.
	MinRuns int `toml:"min_runs"`
	// InconclusiveP: a gated metric that looks worse than its failure limit
	// with an uncorrected p ≤ InconclusiveP, yet is not significant after
	// the correction, makes the gate inconclusive (a hint too weak to fail
	// on, too strong to pass). Nil means 0.1; 0 turns the rule off.
	InconclusiveP *float64 `toml:"inconclusive_p"`
	// Rules select metrics and set their tolerances. For each metric every
	// matching rule applies in order, each overriding the fields it sets.
	Rules []Rule `toml:"rule"`
	// Source names where the policy came from, for messages.
	Source string `toml:"-"`
}

// Rule matches metrics by benchmark name, op kind and unit (globs where *
// matches any run of characters, / included) and sets their tolerances. A
// metric is gated when its merged rules set a tolerance and do not ignore it.
//
// A tolerance is crossed when the metric got worse (in its better=
// direction) by more than every kind of tolerance the rule sets: *_pct is
// relative to the baseline median (10 = 10%), *_abs is in the metric's
// tidied unit (seconds for latency, a fraction for errors/op).
type Rule struct {
	Benchmark string   `toml:"benchmark"` // glob over the full name, e.g. "Engram/*" or "DotGo*"; "" matches all
	Op        string   `toml:"op"`        // glob over the op= part of the name; "" matches all, set matches only names with op=
	Unit      string   `toml:"unit"`      // glob over the unit; "p99-ns" and "p99-sec" are the same unit; "" matches all
	WarnPct   *float64 `toml:"warn_pct"`
	FailPct   *float64 `toml:"fail_pct"`
	WarnAbs   *float64 `toml:"warn_abs"`
	FailAbs   *float64 `toml:"fail_abs"`
	Better    string   `toml:"better"` // "higher" or "lower": overrides the unit's metadata
	Ignore    *bool    `toml:"ignore"`
}

// Limits are the merged rules of one metric.
type Limits struct {
	Gated            bool
	WarnPct, FailPct float64 // NaN when not set
	WarnAbs, FailAbs float64 // NaN when not set
	Better           int     // 0: from the unit
}

// String reads like "10%/20%" or "warn 0.0005 / fail 0.001".
func (l Limits) String() string {
	part := func(pct, abs float64) string {
		var s []string
		if !math.IsNaN(pct) {
			s = append(s, fmt.Sprintf("%g%%", pct))
		}
		if !math.IsNaN(abs) {
			s = append(s, fmt.Sprintf("%g", abs))
		}
		if len(s) == 0 {
			return "-"
		}
		return strings.Join(s, "&")
	}
	if !l.Gated {
		return ""
	}
	return part(l.WarnPct, l.WarnAbs) + "/" + part(l.FailPct, l.FailAbs)
}

// DefaultPolicy returns the default policy (DefaultPolicyText).
func DefaultPolicy() *Policy {
	p, err := ParsePolicy("default policy", []byte(DefaultPolicyText))
	if err != nil {
		panic("baselines: default policy: " + err.Error())
	}
	return p
}

// ReadPolicy reads a policy file. Errors wrap ErrBadInput and name the file,
// the rule and the value.
func ReadPolicy(path string) (*Policy, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, badInput("policy %s: not found", path)
		}
		return nil, badInput("policy %s: %v", path, err)
	}
	return ParsePolicy(path, b)
}

// ParsePolicy parses a policy; name labels errors.
func ParsePolicy(name string, b []byte) (*Policy, error) {
	var p Policy
	md, err := toml.Decode(string(b), &p)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, badInput("policy %s:%d: %s", name, pe.Position.Line, pe.Message)
		}
		return nil, badInput("policy %s: %v", name, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		return nil, badInput("policy %s: unknown key %q (have alpha, min_runs, inconclusive_p, [[rule]] with benchmark, op, unit, warn_pct, fail_pct, warn_abs, fail_abs, better, ignore)", name, und[0].String())
	}
	p.Source = name
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return &p, nil
}

// Validate checks the policy, naming the rule, field and value.
func (p *Policy) Validate() error {
	if p.Alpha == 0 {
		p.Alpha = 0.05
	}
	if p.MinRuns == 0 {
		p.MinRuns = 6
	}
	if p.InconclusiveP == nil {
		v := 0.1
		p.InconclusiveP = &v
	}
	if ip := *p.InconclusiveP; !(ip >= 0 && ip <= 1) {
		return badInput("policy %s: inconclusive_p: must be in [0, 1], got %g", p.Source, ip)
	}
	if !(p.Alpha > 0 && p.Alpha <= 0.5) {
		return badInput("policy %s: alpha: must be in (0, 0.5], got %g", p.Source, p.Alpha)
	}
	if p.MinRuns < 2 {
		return badInput("policy %s: min_runs: must be >= 2, got %d", p.Source, p.MinRuns)
	}
	if MinP(p.MinRuns, p.MinRuns) > p.Alpha {
		return badInput("policy %s: min_runs %d: with so few runs per side no change can reach p <= %g (the smallest possible p is %.3f); use at least %d", p.Source, p.MinRuns, p.Alpha, MinP(p.MinRuns, p.MinRuns), RunsForP(p.Alpha))
	}
	if len(p.Rules) == 0 {
		return badInput("policy %s: no [[rule]]: nothing would be gated", p.Source)
	}
	for i, r := range p.Rules {
		at := fmt.Sprintf("policy %s: rule %d", p.Source, i+1)
		for _, f := range []struct {
			name string
			v    *float64
		}{{"warn_pct", r.WarnPct}, {"fail_pct", r.FailPct}, {"warn_abs", r.WarnAbs}, {"fail_abs", r.FailAbs}} {
			if f.v != nil && (*f.v < 0 || math.IsNaN(*f.v) || math.IsInf(*f.v, 0)) {
				return badInput("%s: %s: must be a number >= 0, got %g", at, f.name, *f.v)
			}
		}
		if r.WarnPct != nil && r.FailPct != nil && *r.WarnPct > *r.FailPct {
			return badInput("%s: warn_pct %g is above fail_pct %g", at, *r.WarnPct, *r.FailPct)
		}
		if r.WarnAbs != nil && r.FailAbs != nil && *r.WarnAbs > *r.FailAbs {
			return badInput("%s: warn_abs %g is above fail_abs %g", at, *r.WarnAbs, *r.FailAbs)
		}
		switch r.Better {
		case "", "higher", "lower":
		default:
			return badInput("%s: better: want \"higher\" or \"lower\", got %q", at, r.Better)
		}
		for _, g := range []struct{ name, v string }{{"benchmark", r.Benchmark}, {"op", r.Op}, {"unit", r.Unit}} {
			if strings.ContainsAny(g.v, "[]\\") {
				return badInput("%s: %s %q: only * and ? are special in a pattern", at, g.name, g.v)
			}
		}
	}
	return nil
}

// Limits merges the rules that match a metric.
func (p *Policy) Limits(benchmark, unit string) Limits {
	l := Limits{WarnPct: math.NaN(), FailPct: math.NaN(), WarnAbs: math.NaN(), FailAbs: math.NaN()}
	ignore := false
	op, hasOp := opOf(benchmark)
	for _, r := range p.Rules {
		if r.Benchmark != "" && !glob(r.Benchmark, stripPkg(benchmark)) && !glob(r.Benchmark, benchmark) {
			continue
		}
		if r.Op != "" && (!hasOp || !glob(r.Op, op)) {
			continue
		}
		if r.Unit != "" && !glob(tidyPattern(r.Unit), unit) {
			continue
		}
		set := func(dst *float64, v *float64) {
			if v != nil {
				*dst = *v
			}
		}
		set(&l.WarnPct, r.WarnPct)
		set(&l.FailPct, r.FailPct)
		set(&l.WarnAbs, r.WarnAbs)
		set(&l.FailAbs, r.FailAbs)
		switch r.Better {
		case "higher":
			l.Better = 1
		case "lower":
			l.Better = -1
		}
		if r.Ignore != nil {
			ignore = *r.Ignore
		}
	}
	l.Gated = !ignore && !(math.IsNaN(l.WarnPct) && math.IsNaN(l.FailPct) && math.IsNaN(l.WarnAbs) && math.IsNaN(l.FailAbs))
	return l
}

// tidyPattern rewrites ns to sec (and MB to B) in a unit pattern, as the
// benchmark reader does to units.
func tidyPattern(u string) string {
	_, t := benchunit.Tidy(1, u)
	return t
}

func stripPkg(name string) string {
	if i := strings.Index(name, ":"); i >= 0 {
		return name[i+1:]
	}
	return name
}

// opOf returns the value of the op= part of a benchmark name.
func opOf(name string) (string, bool) {
	for _, part := range strings.Split(stripPkg(name), "/") {
		if v, ok := strings.CutPrefix(part, "op="); ok {
			return v, true
		}
	}
	return "", false
}

// glob matches s against pattern, where * matches any run of characters
// (including /) and ? any one character.
func glob(pattern, s string) bool {
	px, sx := 0, 0
	nextPx, nextSx := -1, -1
	for px < len(pattern) || sx < len(s) {
		if px < len(pattern) {
			switch c := pattern[px]; c {
			case '*':
				nextPx, nextSx = px, sx+1
				px++
				continue
			case '?':
				if sx < len(s) {
					px++
					sx++
					continue
				}
			default:
				if sx < len(s) && s[sx] == c {
					px++
					sx++
					continue
				}
			}
		}
		if nextSx > 0 && nextSx <= len(s) {
			px, sx = nextPx, nextSx
			continue
		}
		return false
	}
	return true
}

// MinP is the smallest two-sided p-value a Mann-Whitney U test of n1 and n2
// untied values can give: 2 / C(n1+n2, n1), reached when the samples do not
// overlap at all.
func MinP(n1, n2 int) float64 {
	if n1 < 1 || n2 < 1 {
		return 1
	}
	c := 1.0
	for i := 1; i <= n1; i++ {
		c = c * float64(n2+i) / float64(i)
	}
	return math.Min(1, 2/c)
}

// RunsForP is the fewest runs per side with which a Mann-Whitney U test can
// reach p ≤ alpha.
func RunsForP(alpha float64) int {
	for n := 2; n < 1000; n++ {
		if MinP(n, n) <= alpha {
			return n
		}
	}
	return 1000
}
