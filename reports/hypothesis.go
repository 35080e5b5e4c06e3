package reports

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Hypothesis statuses.
const (
	HypothesisPass   = "PASS"
	HypothesisFail   = "FAIL"
	HypothesisNotRun = "NOT-RUN"
)

// Thresholds of Engram's hypothesis tests (its vision document: H1 sustained
// throughput, H2 P99 < SLA, H3 linear scaling with R² > 0.95, H4 memory
// overhead < 2× raw data).
const (
	H1WindowSeconds = 60.0 // H1 judges every sliding window of this length
	H2Confidence    = 0.95 // H2's two-sided confidence level for P99
	H3MinR2         = 0.95 // H3 passes when R² exceeds this
	H3MinPoints     = 3    // H3 judges a scaling run of at least this many points
	H4MaxRatio      = 2.0  // H4 passes when RSS / raw data is below this
)

// Hypothesis is the outcome of one of Engram's hypothesis tests.
type Hypothesis struct {
	ID     string `json:"id"`     // "H1" … "H4"
	Name   string `json:"name"`   // "throughput", "latency_sla", "linear_scaling", "memory_overhead"
	Status string `json:"status"` // PASS, FAIL or NOT-RUN
	// Claim is what was tested, in words with the threshold.
	Claim string `json:"claim"`
	// Value is the statistic judged (min window ops/s, P99 ms, R², ratio)
	// and Threshold what it was judged against, both in Unit. Low and High
	// bound Value's confidence interval when there is one.
	Value     float64  `json:"value,omitempty"`
	Threshold float64  `json:"threshold,omitempty"`
	Unit      string   `json:"unit,omitempty"`
	Low       *float64 `json:"low,omitempty"`
	High      *float64 `json:"high,omitempty"`
	// Detail gives the numbers behind the status, or why it did not run.
	Detail string `json:"detail"`
}

// EvaluateHypotheses fills r.Hypotheses from the run's data. It does not
// change the verdict: the hypotheses inform, the targets gate.
func (r *Result) EvaluateHypotheses() {
	r.Hypotheses = []Hypothesis{evalH1(r), evalH2(r), evalH3(r), evalH4(r)}
}

func (r *Result) target(name string) (Target, bool) {
	for _, t := range r.Targets {
		if t.Name == name {
			return t, true
		}
	}
	return Target{}, false
}

// evalH1: every sliding 60-s window of the measured run sustains the target
// throughput. The threshold is [validation] expected_throughput_ops_sec when
// set; otherwise the offered rate less three standard deviations of a Poisson
// count over the window (rate − 3·√(rate·W)/W), so that random arrivals alone
// do not fail it.
func evalH1(r *Result) Hypothesis {
	h := Hypothesis{ID: "H1", Name: "throughput", Unit: "ops/s", Status: HypothesisNotRun}
	var thr float64
	basis := ""
	if t, ok := r.target("throughput"); ok {
		thr, basis = t.Target, "expected_throughput_ops_sec"
	} else if r.TargetRate > 0 {
		thr = r.TargetRate - 3*math.Sqrt(r.TargetRate*H1WindowSeconds)/H1WindowSeconds
		basis = fmt.Sprintf("offered %s ops/s less 3σ of a Poisson count", fmtNum(r.TargetRate))
	}
	h.Threshold = thr
	h.Claim = fmt.Sprintf("every %.0f-s window sustains ≥ %s ops/s (%s)", H1WindowSeconds, fmtNum(round3(thr)), basis)
	if thr <= 0 {
		h.Claim = fmt.Sprintf("every %.0f-s window sustains the target throughput", H1WindowSeconds)
		h.Detail = "no throughput target: the scenario sets no expected_throughput_ops_sec and no rate"
		return h
	}
	iv := r.Intervals
	if len(iv) == 0 {
		h.Detail = "no interval data in the result"
		return h
	}
	total := iv[len(iv)-1].EndS - iv[0].StartS
	w := H1WindowSeconds
	note := ""
	if total < w {
		w = total
		note = fmt.Sprintf("; the run is shorter than %.0f s, so its whole %.1f s is one window", H1WindowSeconds, total)
	}
	// For each start interval i, the window runs to the first interval j
	// whose end is at least w seconds later; windows that cannot be
	// completed are not judged. pre[k] counts the ops of iv[:k].
	pre := make([]int64, len(iv)+1)
	for k := range iv {
		pre[k+1] = pre[k] + iv[k].Count
	}
	minRate, minAt := math.Inf(1), 0.0
	windows := 0
	j := 0
	for i := range iv {
		j = max(j, i)
		for j < len(iv) && iv[j].EndS-iv[i].StartS < w-1e-9 {
			j++
		}
		if j == len(iv) {
			break
		}
		span := iv[j].EndS - iv[i].StartS
		if span <= 0 {
			continue
		}
		windows++
		if rate := float64(pre[j+1]-pre[i]) / span; rate < minRate {
			minRate, minAt = rate, iv[i].StartS
		}
	}
	if windows == 0 {
		h.Detail = "no complete window"
		return h
	}
	h.Value = round3(minRate)
	h.Status = HypothesisPass
	if minRate < thr {
		h.Status = HypothesisFail
	}
	h.Detail = fmt.Sprintf("lowest of %d windows: %s ops/s, starting at %.0f s (threshold %s ops/s)%s",
		windows, fmtNum(round3(minRate)), minAt, fmtNum(round3(thr)), note)
	return h
}

// evalH2: P99 latency is below the target with 95% confidence. The interval
// is distribution-free: with n samples, the order statistics X(l) and X(u)
// bound the p-quantile when P(l ≤ B < u) ≥ 95% for B ~ Binomial(n, p); the
// ranks come from the exact binomial distribution and the values from the
// histogram (which adds at most 0.1% quantisation). PASS needs the upper bound
// below the target.
func evalH2(r *Result) Hypothesis {
	h := Hypothesis{ID: "H2", Name: "latency_sla", Unit: "ms", Status: HypothesisNotRun}
	t, ok := r.target("p99_latency")
	if !ok {
		h.Claim = "P99 latency < target with 95% confidence"
		h.Detail = "no P99 target: the scenario sets no expected_p99_latency_ms"
		if r.Drill != nil {
			h.Detail = "a disaster-recovery drill: expected_p99_latency_ms judges each recovery window (the rto target), not the whole run"
		}
		return h
	}
	h.Threshold = t.Target
	h.Claim = fmt.Sprintf("P99 latency < %s ms with %.0f%% confidence", fmtNum(t.Target), 100*H2Confidence)
	all := NewHistogram()
	for _, name := range r.OpNames() {
		hh, err := DecodeHistogram(r.Ops[name].LatencyHDR)
		if err != nil {
			h.Detail = fmt.Sprintf("ops.%s.latency_hdr: %v", name, err)
			return h
		}
		all.Merge(hh)
	}
	n := all.TotalCount()
	if n == 0 {
		h.Detail = "no successful op: no latency histogram"
		return h
	}
	p99 := float64(all.ValueAtQuantile(99)) / 1e6
	h.Value = round3(p99)
	l, u, ok := QuantileRanks(n, 0.99, 1-H2Confidence)
	if !ok {
		need := int64(math.Ceil(math.Log((1-H2Confidence)/2) / math.Log(0.99)))
		h.Detail = fmt.Sprintf("p99 %.3f ms from %d samples: at least %d are needed for a %.0f%% upper bound", p99, n, need, 100*H2Confidence)
		return h
	}
	lo := float64(all.ValueAtQuantile(100*float64(l)/float64(n))) / 1e6
	hi := float64(all.ValueAtQuantile(100*float64(u)/float64(n))) / 1e6
	lo, hi = round3(lo), round3(hi)
	h.Low, h.High = &lo, &hi
	h.Status = HypothesisPass
	verdict := "below"
	if hi >= t.Target {
		h.Status = HypothesisFail
		verdict = "not below"
		if p99 < t.Target {
			verdict = "not shown below (the point estimate is, the upper bound is not)"
		}
	}
	h.Detail = fmt.Sprintf("p99 %.3f ms, %.0f%% CI [%.3f, %.3f] ms (order statistics %d–%d of %d): %s the %s ms target",
		p99, 100*H2Confidence, lo, hi, l, u, n, verdict, fmtNum(t.Target))
	return h
}

// QuantileRanks returns the 1-based ranks l ≤ u of the order statistics that
// bound the p-quantile of n samples with confidence 1−alpha:
// P(B < l) ≤ alpha/2 and P(B ≥ u) ≤ alpha/2 for B ~ Binomial(n, p). ok is
// false when n is too small for an upper bound.
func QuantileRanks(n int64, p, alpha float64) (l, u int64, ok bool) {
	if n <= 0 || p <= 0 || p >= 1 {
		return 0, 0, false
	}
	mean := float64(n) * p
	sd := math.Sqrt(mean * (1 - p))
	if sd > 1e5 {
		// Past ~10^12 samples the exact sum would take too long; the normal
		// approximation is exact to far below one rank there.
		z := math.Sqrt2 * math.Erfinv(1-alpha)
		l = max(int64(math.Floor(mean-z*sd)), 1)
		u = min(int64(math.Ceil(mean+z*sd))+1, n)
		return l, u, true
	}
	lo := max(int64(0), int64(mean-14*sd-10))
	hi := min(n, int64(mean+14*sd+10))
	lgN, _ := math.Lgamma(float64(n) + 1)
	lp, lq := math.Log(p), math.Log1p(-p)
	cdf := 0.0
	l = 1
	for k := lo; k <= hi; k++ {
		a, _ := math.Lgamma(float64(k) + 1)
		b, _ := math.Lgamma(float64(n-k) + 1)
		pmf := math.Exp(lgN - a - b + float64(k)*lp + float64(n-k)*lq)
		if cdf+pmf <= alpha/2 {
			l = k + 1 // F(l−1) = F(k) ≤ alpha/2
		}
		cdf += pmf
		if cdf >= 1-alpha/2 {
			u = k + 1 // F(u−1) = F(k) ≥ 1 − alpha/2
			break
		}
	}
	if u == 0 || u > n {
		return max(l, 1), n, false
	}
	return max(l, 1), u, true
}

// evalH3: throughput grows linearly with workers or cores — in proportion:
// the least-squares line through the origin, throughput = k·x, explains more
// than 95% of the variance of the throughputs (R² = 1 − Σ(y − k·x)² /
// Σ(y − ȳ)², which goes below 0 when the proportional line fits worse than
// the mean) and rises. The line is forced through the origin because a
// saturated target also lies on a straight line — a nearly flat one, far
// from proportional — and an ordinary fit with a free intercept would pass
// it; that fit's R² and slope are in the detail too.
func evalH3(r *Result) Hypothesis {
	h := Hypothesis{ID: "H3", Name: "linear_scaling", Unit: "R²", Threshold: H3MinR2, Status: HypothesisNotRun,
		Claim: fmt.Sprintf("throughput scales linearly with workers or cores (R² > %.2f)", H3MinR2)}
	s := r.Scaling
	if s == nil || len(s.Points) == 0 {
		h.Detail = fmt.Sprintf("needs a scaling run (engram-bench scaling, whose result's scaling field holds its points; at least %d); this run was not one", H3MinPoints)
		return h
	}
	pts := append([]ScalingPoint(nil), s.Points...)
	sort.Slice(pts, func(a, b int) bool { return pts[a].X < pts[b].X })
	if len(pts) < H3MinPoints {
		xs := make([]string, len(pts))
		for i, p := range pts {
			xs[i] = fmtNum(p.X)
		}
		h.Detail = fmt.Sprintf("needs at least %d scaling points to judge a line, and this scaling run has %d (%s %s); rerun with %d or more --points",
			H3MinPoints, len(pts), s.Axis, strings.Join(xs, ", "), H3MinPoints)
		if s.Axis == "cores" {
			h.Detail += " (on the cores axis, no more than the machine's cores: on a smaller machine scale --axis workers)"
		}
		return h
	}
	prop, ok1 := FitProportional(pts)
	fit, ok2 := FitScaling(pts)
	if !ok1 || !ok2 {
		h.Detail = "every scaling point has the same " + s.Axis
		return h
	}
	h.Claim = fmt.Sprintf("throughput scales linearly with %s (R² > %.2f of throughput ∝ %s)", s.Axis, H3MinR2, singular(s.Axis))
	// Rounded, but never onto the other side of the threshold.
	h.Value, _ = strconv.ParseFloat(FormatAgainst(prop.R2, H3MinR2, 3, 2), 64)
	h.Status = HypothesisPass
	if prop.R2 <= H3MinR2 || prop.Slope <= 0 {
		h.Status = HypothesisFail
	}
	h.Detail = fmt.Sprintf("R² %s of throughput = %s ops/s × %s over %d points (%s %s–%s); an ordinary fit: %s ops/s per %s + %s, R² %.3f",
		FormatAgainst(prop.R2, H3MinR2, 3, 2), fmtNum(round3(prop.Slope)), singular(s.Axis), len(pts), s.Axis, fmtNum(pts[0].X), fmtNum(pts[len(pts)-1].X),
		fmtNum(round3(fit.Slope)), singular(s.Axis), fmtNum(round3(fit.Intercept)), fit.R2)
	return h
}

func singular(axis string) string {
	if n := len(axis); n > 1 && axis[n-1] == 's' {
		return axis[:n-1]
	}
	return axis
}

// evalH4: the memory the system under test used is below twice the raw data
// it holds: (peak RSS − baseline RSS) / (memories × (dim×4 + metadata)) < 2.
func evalH4(r *Result) Hypothesis {
	h := Hypothesis{ID: "H4", Name: "memory_overhead", Unit: "×", Threshold: H4MaxRatio, Status: HypothesisNotRun,
		Claim: fmt.Sprintf("memory used < %s× the raw data (RSS / (memories × (dim×4 + metadata)))", fmtNum(H4MaxRatio))}
	res := r.Resources
	if res == nil || res.RSSPeakBytes <= 0 {
		h.Detail = "the target's memory was not measured (an in-process engine, or a target exposing process_resident_memory_bytes, is needed)"
		return h
	}
	raw := res.RawBytes()
	if raw <= 0 {
		h.Detail = "the target held no data"
		return h
	}
	used := res.RSSPeakBytes - res.RSSBaselineBytes
	usedText := "RSS peak " + fmtBytes(res.RSSPeakBytes)
	if res.RSSBaselineBytes > 0 {
		usedText += fmt.Sprintf(" − baseline %s = %s", fmtBytes(res.RSSBaselineBytes), fmtBytes(used))
	}
	if res.BoundedBytes > raw {
		h.Detail = fmt.Sprintf("not judged: the run's raw data (%d memories × %d B = %s) is below the memory the target holds whatever the data (%s of caches and write buffers, which fill with use); %s. A run whose raw data is well above %s (a larger preload) tests it",
			res.Memories, res.RawBytesPerMemory, fmtBytes(raw), fmtBytes(res.BoundedBytes), usedText, fmtBytes(res.BoundedBytes))
		return h
	}
	ratio := float64(used) / float64(raw)
	h.Value = round3(ratio)
	h.Status = HypothesisPass
	if ratio >= H4MaxRatio {
		h.Status = HypothesisFail
	}
	h.Detail = fmt.Sprintf("%s for %d memories × %d B = %s raw (%s)",
		usedText, res.Memories, res.RawBytesPerMemory, fmtBytes(raw), res.Source)
	return h
}

func fmtBytes(b int64) string {
	switch v := float64(b); {
	case math.Abs(v) >= 1<<30:
		return fmt.Sprintf("%.2f GiB", v/(1<<30))
	case math.Abs(v) >= 1<<20:
		return fmt.Sprintf("%.1f MiB", v/(1<<20))
	case math.Abs(v) >= 1<<10:
		return fmt.Sprintf("%.1f KiB", v/(1<<10))
	default:
		return fmt.Sprintf("%d B", b)
	}
}

func round3(v float64) float64 { return math.Round(v*1000) / 1000 }
