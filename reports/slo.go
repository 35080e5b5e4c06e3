package reports

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// SLO is a service-level objective a capacity search holds every step to:
// latency percentiles, an error budget and, optionally, recall quality.
// Its text form is "p99=10ms,p999=50ms,errors=0.1%,recall10=0.95"
// (ParseSLO, String).
type SLO struct {
	// Latency bounds percentiles of end − intended start of successful ops.
	Latency []LatencyObjective
	// MaxErrorRate is the largest share of failed ops (0.001 = 0.1%); nil
	// when the SLO names no error budget.
	MaxErrorRate *float64
	// MinRecallAt10 is the least recall@10 of scored cues; nil: not judged.
	MinRecallAt10 *float64
}

// LatencyObjective bounds one latency percentile.
type LatencyObjective struct {
	// Quantile is in (0, 1): 0.99 for p99, 0.999 for p99.9.
	Quantile float64
	// Max is the bound.
	Max time.Duration
}

// Name is the percentile's key: "p99", "p999", "p50", "p99.95" → "p9995".
func (o LatencyObjective) Name() string { return quantileKey(o.Quantile) }

// quantileKey writes q as the SLO key: the percent's digits without the
// point (p50, p99, p999, p9999).
func quantileKey(q float64) string {
	pct := math.Round(100*q*1e6) / 1e6
	ip, frac, _ := strings.Cut(strconv.FormatFloat(pct, 'f', -1, 64), ".")
	for len(ip) < 2 {
		ip = "0" + ip // 5% → p05, 0.5% → p005: the first two digits are the integer part
	}
	return "p" + ip + frac
}

// ErrSLO wraps every problem ParseSLO finds.
var ErrSLO = errors.New("invalid SLO")

// ParseSLO reads an SLO: comma-separated key=value pairs.
//
//	pNN=DURATION   a latency percentile: p50, p90, p99, p999 (= p99.9), p9999,
//	               or with a point (p99.5); the duration in Go's syntax (10ms, 1.5s)
//	errors=X       the error budget, a percentage (0.1%) or a fraction (0.001)
//	recall10=X     the least recall@10, a fraction in (0, 1]
//
// A key may appear once. At least one latency percentile is required.
func ParseSLO(s string) (SLO, error) {
	var slo SLO
	seen := map[string]bool{}
	fail := func(part, msg string, args ...any) (SLO, error) {
		return SLO{}, fmt.Errorf("%w %q: %s: %s", ErrSLO, s, part, fmt.Sprintf(msg, args...))
	}
	if strings.TrimSpace(s) == "" {
		return SLO{}, fmt.Errorf("%w: empty (want e.g. p99=10ms,p999=50ms,errors=0.1%%)", ErrSLO)
	}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		k, v, ok := strings.Cut(part, "=")
		k, v = strings.TrimSpace(strings.ToLower(k)), strings.TrimSpace(v)
		if !ok || k == "" || v == "" {
			return fail(part, "want key=value")
		}
		switch {
		case k == "errors" || k == "error_rate":
			if seen["errors"] {
				return fail(part, "errors given twice")
			}
			seen["errors"] = true
			x, err := parseFraction(v)
			if err != nil || x < 0 || x > 1 {
				return fail(part, "want a percentage (0.1%%) or a fraction (0.001) in [0, 1]")
			}
			slo.MaxErrorRate = &x
		case k == "recall10" || k == "recall@10" || k == "recall_at_10":
			if seen["recall10"] {
				return fail(part, "recall10 given twice")
			}
			seen["recall10"] = true
			x, err := parseFraction(v)
			if err != nil || !(x > 0) || x > 1 {
				return fail(part, "want a fraction in (0, 1], e.g. 0.95")
			}
			slo.MinRecallAt10 = &x
		case strings.HasPrefix(k, "p"):
			q, err := parseQuantileKey(k[1:])
			if err != nil {
				return fail(part, "%v", err)
			}
			key := quantileKey(q)
			if seen[key] {
				return fail(part, "%s given twice", key)
			}
			seen[key] = true
			d, err := time.ParseDuration(strings.ReplaceAll(v, "µ", "u"))
			if err != nil || d <= 0 {
				return fail(part, "want a positive duration such as 10ms or 1.5s")
			}
			slo.Latency = append(slo.Latency, LatencyObjective{Quantile: q, Max: d})
		default:
			return fail(part, "unknown key %q (want pNN, errors or recall10)", k)
		}
	}
	if len(slo.Latency) == 0 {
		return SLO{}, fmt.Errorf("%w %q: no latency percentile (want at least one, e.g. p99=10ms)", ErrSLO, s)
	}
	sort.Slice(slo.Latency, func(a, b int) bool { return slo.Latency[a].Quantile < slo.Latency[b].Quantile })
	return slo, nil
}

// parseQuantileKey reads the part after "p": "99" → 0.99, "999" → 0.999,
// "50" → 0.5, "99.5" → 0.995.
func parseQuantileKey(s string) (float64, error) {
	bad := fmt.Errorf("percentile %q: want p50, p90, p99, p999, p9999 or p99.5", "p"+s)
	if s == "" || strings.Trim(s, "0123456789.") != "" || strings.Count(s, ".") > 1 {
		return 0, bad
	}
	var pct float64
	if strings.Contains(s, ".") {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return 0, bad
		}
		pct = v
	} else {
		if len(s) < 2 || len(s) > 8 || (len(s) > 2 && s[len(s)-1] == '0') {
			return 0, bad // p100, p990: a trailing zero would read as 10%, 99.0%
		}
		v, err := strconv.ParseFloat(s[:2]+"."+s[2:], 64)
		if err != nil {
			return 0, bad
		}
		pct = v
	}
	if !(pct > 0) || pct >= 100 {
		return 0, bad
	}
	return math.Round(pct*1e6) / 1e8, nil
}

// parseFraction reads "0.1%" (a percentage) or "0.001" (a fraction).
func parseFraction(v string) (float64, error) {
	if p, ok := strings.CutSuffix(v, "%"); ok {
		x, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || math.IsNaN(x) {
			return 0, errors.New("not a number")
		}
		return x / 100, nil
	}
	x, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(x) {
		return 0, errors.New("not a number")
	}
	return x, nil
}

// String writes the SLO in ParseSLO's syntax, percentiles in rising order.
func (s SLO) String() string {
	var parts []string
	for _, o := range s.Latency {
		parts = append(parts, o.Name()+"="+o.Max.String())
	}
	if s.MaxErrorRate != nil {
		parts = append(parts, "errors="+strconv.FormatFloat(100**s.MaxErrorRate, 'f', -1, 64)+"%")
	}
	if s.MinRecallAt10 != nil {
		parts = append(parts, "recall10="+strconv.FormatFloat(*s.MinRecallAt10, 'f', -1, 64))
	}
	return strings.Join(parts, ",")
}

// MaxLatency is the largest latency bound of the SLO.
func (s SLO) MaxLatency() time.Duration {
	var m time.Duration
	for _, o := range s.Latency {
		m = max(m, o.Max)
	}
	return m
}

// Bound returns the SLO's bound on quantile q, if it names one.
func (s SLO) Bound(q float64) (time.Duration, bool) {
	for _, o := range s.Latency {
		if math.Abs(o.Quantile-q) < 1e-12 {
			return o.Max, true
		}
	}
	return 0, false
}

// Covers reports whether meeting s implies meeting other: every objective of
// other is bounded by s at least as tightly (a latency bound on the same
// percentile no larger, or on a higher percentile no larger; an error budget
// no larger; a recall floor no lower). A capacity measured under s then holds
// for other too. why names the first objective of other that s does not cover.
func (s SLO) Covers(other SLO) (ok bool, why string) {
	for _, o := range other.Latency {
		covered := false
		for _, m := range s.Latency {
			// A higher percentile below the bound bounds every lower one.
			if m.Quantile >= o.Quantile-1e-12 && m.Max <= o.Max {
				covered = true
				break
			}
		}
		if !covered {
			return false, fmt.Sprintf("%s=%s is not bounded by %s", o.Name(), o.Max, s)
		}
	}
	if other.MaxErrorRate != nil && (s.MaxErrorRate == nil || *s.MaxErrorRate > *other.MaxErrorRate) {
		return false, fmt.Sprintf("errors=%s%% is not bounded by %s", strconv.FormatFloat(100**other.MaxErrorRate, 'f', -1, 64), s)
	}
	if other.MinRecallAt10 != nil && (s.MinRecallAt10 == nil || *s.MinRecallAt10 < *other.MinRecallAt10) {
		return false, fmt.Sprintf("recall10=%g is not bounded by %s", *other.MinRecallAt10, s)
	}
	return true, ""
}

// MinSamples is how many successful ops a step needs before its highest
// percentile can be trusted: 10 / (1 − q) for the highest q the SLO names
// (1,000 for p99, 10,000 for p99.9). With that many, about ten samples lie
// above the percentile, so its 95% confidence interval is bounded by real
// order statistics rather than by the single largest sample (the bare
// minimum for an upper bound at all is ln(0.025) / ln(q): 368 for p99, 3,688
// for p99.9).
func (s SLO) MinSamples() int64 {
	var n int64 = 1
	for _, o := range s.Latency {
		v := 10 / (1 - o.Quantile)
		n = max(n, int64(math.Ceil(v-1e-6*v)))
	}
	return n
}

// Limits turns the SLO into a run's validation targets, so that a step's
// own Result carries the same targets (as point estimates).
func (s SLO) Limits() Limits {
	var l Limits
	ms := func(d time.Duration) *float64 { v := float64(d) / 1e6; return &v }
	for _, o := range s.Latency {
		switch o.Name() {
		case "p50":
			l.P50Ms = ms(o.Max)
		case "p99":
			l.P99Ms = ms(o.Max)
		case "p999":
			l.P999Ms = ms(o.Max)
		}
	}
	l.MaxErrorRate, l.RecallAt10 = s.MaxErrorRate, s.MinRecallAt10
	return l
}

// Check is one objective of an SLO judged on one run.
type Check struct {
	// Name is the objective's key: "p99", "errors", "recall10", "throughput".
	Name string `json:"name"`
	// Limit is the bound (ms for latency, a fraction for errors and recall,
	// ops/s for throughput); Value the point estimate in the same unit.
	Limit float64 `json:"limit"`
	Value float64 `json:"value"`
	Unit  string  `json:"unit"`
	// Low and High bound a latency percentile with 95% confidence
	// (distribution-free, from order statistics; see QuantileRanks); nil
	// when there were too few samples.
	Low  *float64 `json:"low,omitempty"`
	High *float64 `json:"high,omitempty"`
	Pass bool     `json:"pass"`
	// Detail says why, in words.
	Detail string `json:"detail,omitempty"`
}

// Judgement is the verdict of one run against an SLO.
type Judgement struct {
	// Verdict is VerdictPass (every check passed), VerdictFail or
	// VerdictInvalid (the run cannot say: harness-limited, nothing
	// finished, the target unreachable, too few samples).
	Verdict string   `json:"verdict"`
	Checks  []Check  `json:"checks"`
	Reasons []string `json:"reasons,omitempty"`
}

// JudgeConfidence is the confidence level of the latency bounds a step is
// judged by.
const JudgeConfidence = 0.95

// MinAchievedShare is the least share of the offered rate a passing step must
// achieve, before the allowance for Poisson noise (see Judge).
const MinAchievedShare = 0.98

// Judge holds r to the SLO. A latency objective passes only when the upper
// bound of its 95% confidence interval is within the bound — the step is
// shown to meet it, not merely estimated to — and needs at least minSamples
// successful ops (SLO.MinSamples when minSamples ≤ 0). The achieved rate must
// reach the offered rate less max(2%, 3/√n) of it (n = ops offered), so a
// target that kept latency low by falling behind does not pass. Errors and
// recall are judged on their point estimates.
func (s SLO) Judge(r *Result, minSamples int64) Judgement {
	if minSamples <= 0 {
		minSamples = s.MinSamples()
	}
	j := Judgement{Verdict: VerdictPass}
	invalid := func(why string) {
		j.Verdict = VerdictInvalid
		j.Reasons = append(j.Reasons, why)
	}
	switch {
	case r.Harness.Limited:
		invalid("harness-limited: " + r.Harness.Reason)
	case r.Total.Count == 0:
		invalid("no op finished")
	case r.Total.Errors == r.Total.Count && unreachable(r.Total.ErrorsByClass):
		invalid("the target was unreachable: every op failed to connect")
	}
	all := NewHistogram()
	for _, name := range r.OpNames() {
		h, err := DecodeHistogram(r.Ops[name].LatencyHDR)
		if err != nil {
			invalid(fmt.Sprintf("ops.%s.latency_hdr: %v", name, err))
			continue
		}
		all.Merge(h)
	}
	n := all.TotalCount()
	for _, o := range s.Latency {
		lim := float64(o.Max) / 1e6
		c := Check{Name: o.Name(), Limit: lim, Unit: "ms"}
		if n > 0 {
			c.Value = round3(float64(all.ValueAtQuantile(100*o.Quantile)) / 1e6)
		}
		l, u, ok := QuantileRanks(n, o.Quantile, 1-JudgeConfidence)
		switch {
		case n == 0:
			c.Detail = "no successful op"
		case !ok:
			c.Detail = fmt.Sprintf("%d samples cannot bound %s (a %.0f%% upper bound needs at least %d)", n, o.Name(), 100*JudgeConfidence, minForBound(o.Quantile))
		default:
			lo := round3(float64(all.ValueAtQuantile(100*float64(l)/float64(n))) / 1e6)
			hi := round3(float64(all.ValueAtQuantile(100*float64(u)/float64(n))) / 1e6)
			c.Low, c.High = &lo, &hi
			c.Pass = hi <= lim
			switch {
			case c.Pass:
				c.Detail = fmt.Sprintf("%s %s, %.0f%% CI [%s, %s] within %s", o.Name(), fmtMs(c.Value), 100*JudgeConfidence, fmtMs(lo), fmtMs(hi), fmtMs(lim))
			case c.Value <= lim:
				c.Detail = fmt.Sprintf("%s %s is within %s but its %.0f%% upper bound %s is not", o.Name(), fmtMs(c.Value), fmtMs(lim), 100*JudgeConfidence, fmtMs(hi))
			default:
				c.Detail = fmt.Sprintf("%s %s above %s (%.0f%% CI [%s, %s])", o.Name(), fmtMs(c.Value), fmtMs(lim), 100*JudgeConfidence, fmtMs(lo), fmtMs(hi))
			}
		}
		j.Checks = append(j.Checks, c)
	}
	if s.MaxErrorRate != nil {
		c := Check{Name: "errors", Limit: *s.MaxErrorRate, Value: r.Total.ErrorRate, Unit: "fraction", Pass: r.Total.ErrorRate <= *s.MaxErrorRate}
		// The rate leaves out ops the target does not support (errorRate),
		// and so do the counts beside it.
		u := r.Total.ErrorsByClass[classUnsupported]
		c.Detail = fmt.Sprintf("%d of %d ops failed (%.3f%%, budget %.3f%%)", r.Total.Errors-u, r.Total.Count-u, 100*r.Total.ErrorRate, 100**s.MaxErrorRate)
		if u > 0 {
			c.Detail += fmt.Sprintf("; %d unsupported ops left out", u)
		}
		j.Checks = append(j.Checks, c)
	}
	if s.MinRecallAt10 != nil {
		c := Check{Name: "recall10", Limit: *s.MinRecallAt10, Unit: "fraction"}
		if r.Quality != nil && r.Quality.RecallAt10 != nil {
			c.Value = round3(*r.Quality.RecallAt10)
			c.Pass = *r.Quality.RecallAt10 >= *s.MinRecallAt10
			c.Detail = fmt.Sprintf("recall@10 %.3f over %d scored cues (floor %.3f)", *r.Quality.RecallAt10, r.Quality.Scored, *s.MinRecallAt10)
		} else {
			c.Detail = "no recall@10 was measured (the scenario scores no cues)"
		}
		j.Checks = append(j.Checks, c)
	}
	if r.TargetRate > 0 && r.LoadModel != "closed" {
		expected := r.TargetRate * r.DurationS
		share := MinAchievedShare
		if expected > 0 {
			share = math.Min(share, 1-3/math.Sqrt(expected))
		}
		need := share * r.TargetRate
		c := Check{Name: "throughput", Limit: round3(need), Value: round3(r.AchievedRate), Unit: "ops/s", Pass: r.AchievedRate >= need}
		c.Detail = fmt.Sprintf("achieved %s of %s ops/s offered (needs %.1f%%)", fmtNum(round3(r.AchievedRate)), fmtNum(round3(r.TargetRate)), 100*share)
		j.Checks = append(j.Checks, c)
	}
	if n < minSamples && j.Verdict != VerdictInvalid {
		// Too few samples to trust the tail: a failure if the target fell
		// behind (the throughput check says so), else the step was too short.
		if th, ok := j.check("throughput"); ok && !th.Pass {
			j.Verdict = VerdictFail
		} else {
			invalid(fmt.Sprintf("only %d successful ops: the SLO's highest percentile needs at least %d to be trusted", n, minSamples))
		}
	}
	if j.Verdict == VerdictPass {
		for _, c := range j.Checks {
			if !c.Pass {
				j.Verdict = VerdictFail
			}
		}
	}
	for _, c := range j.Checks {
		if !c.Pass {
			j.Reasons = append(j.Reasons, c.Detail)
		}
	}
	return j
}

func (j Judgement) check(name string) (Check, bool) {
	for _, c := range j.Checks {
		if c.Name == name {
			return c, true
		}
	}
	return Check{}, false
}

// minForBound is the least sample count with a distribution-free upper
// bound on quantile q at JudgeConfidence: P(all n below the q-quantile) =
// q^n ≤ (1 − confidence)/2.
func minForBound(q float64) int64 {
	return int64(math.Ceil(math.Log((1-JudgeConfidence)/2) / math.Log(q)))
}

func fmtMs(ms float64) string { return FormatNs(int64(math.Round(ms * 1e6))) }
