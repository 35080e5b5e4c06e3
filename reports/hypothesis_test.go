package reports

import (
	"math"
	"strings"
	"testing"
)

func intervals(counts ...int64) []Interval {
	iv := make([]Interval, len(counts))
	for i, c := range counts {
		iv[i] = Interval{StartS: float64(i), EndS: float64(i + 1), Count: c, Throughput: float64(c)}
	}
	return iv
}

func repeat(n int, v int64) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = v
	}
	return out
}

func TestH1(t *testing.T) {
	dip := repeat(120, 1000)
	for i := 70; i < 80; i++ {
		dip[i] = 500
	}
	thr := func(v float64) []Target { return []Target{{Name: "throughput", Target: v}} }
	cases := []struct {
		name       string
		r          Result
		status     string
		value      float64
		detailPart string
	}{
		{"steady 1000/s for 120 s meets 950", Result{Targets: thr(950), Intervals: intervals(repeat(120, 1000)...)}, HypothesisPass, 1000, "of 61 windows"},
		{"a 10 s dip to 500/s pulls one window to 916.7/s", Result{Targets: thr(950), Intervals: intervals(dip...)}, HypothesisFail, 916.667, "starting at 20 s"},
		{"a 20 s run is judged as one window", Result{Targets: thr(950), Intervals: intervals(repeat(20, 1000)...)}, HypothesisPass, 1000, "shorter than 60 s"},
		{"without a target the offered rate less 3σ is the bar", Result{TargetRate: 1000, Intervals: intervals(repeat(60, 990)...)}, HypothesisPass, 990, "of 1 windows"},
		{"no target at all", Result{Intervals: intervals(1, 2)}, HypothesisNotRun, 0, "no throughput target"},
		{"no intervals", Result{Targets: thr(10)}, HypothesisNotRun, 0, "no interval data"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := evalH1(&c.r)
			if h.Status != c.status || math.Abs(h.Value-c.value) > 0.01 || !strings.Contains(h.Detail, c.detailPart) {
				t.Errorf("got %s value %v detail %q; want %s %v containing %q", h.Status, h.Value, h.Detail, c.status, c.value, c.detailPart)
			}
		})
	}
	// The Poisson allowance: 1000/s over 60 s is 1000 − 3·√60000/60 ≈ 987.75.
	h := evalH1(&Result{TargetRate: 1000, Intervals: intervals(repeat(60, 985)...)})
	if h.Status != HypothesisFail || math.Abs(h.Threshold-987.753) > 0.01 {
		t.Errorf("985/s against the offered 1000/s: %s, threshold %v", h.Status, h.Threshold)
	}
}

// naiveRanks computes QuantileRanks by summing the whole binomial pmf.
func naiveRanks(n int64, p, alpha float64) (int64, int64) {
	cdf := 0.0
	l, u := int64(1), int64(0)
	for k := int64(0); k <= n; k++ {
		a, _ := math.Lgamma(float64(k) + 1)
		b, _ := math.Lgamma(float64(n-k) + 1)
		c, _ := math.Lgamma(float64(n) + 1)
		pmf := math.Exp(c - a - b + float64(k)*math.Log(p) + float64(n-k)*math.Log1p(-p))
		if cdf+pmf <= alpha/2 {
			l = k + 1
		}
		cdf += pmf
		if cdf >= 1-alpha/2 {
			u = k + 1
			break
		}
	}
	return l, u
}

func TestQuantileRanks(t *testing.T) {
	for _, n := range []int64{368, 400, 1000, 5000, 20000} {
		l, u, ok := QuantileRanks(n, 0.99, 0.05)
		nl, nu := naiveRanks(n, 0.99, 0.05)
		if !ok || l != nl || u != nu {
			t.Errorf("n=%d: ranks %d–%d ok=%v, naive %d–%d", n, l, u, ok, nl, nu)
		}
	}
	// n=1000: B ~ Bin(1000, 0.99) has mean 990 and sd 3.15, so the bounds
	// are near 990 ∓ 1.96·3.15.
	l, u, _ := QuantileRanks(1000, 0.99, 0.05)
	if l < 982 || l > 986 || u < 995 || u > 998 {
		t.Errorf("n=1000: %d–%d", l, u)
	}
	if _, _, ok := QuantileRanks(367, 0.99, 0.05); ok {
		t.Error("367 samples cannot bound p99 from above at 95% (0.99^367 > 0.025)")
	}
	// Large n stays fast and centred.
	l, u, ok := QuantileRanks(1_000_000_000, 0.99, 0.05)
	if !ok || l > 990_000_000 || u < 990_000_000 || u-l > 20000 {
		t.Errorf("n=1e9: %d–%d", l, u)
	}
}

func TestH2(t *testing.T) {
	mk := func(n int, slow int, target float64) *Result {
		rec := NewRecorder([]string{"store"}, 1)
		for i := 0; i < n; i++ {
			lat := int64(1_000_000) // 1 ms
			if i < slow {
				lat = 20_000_000 // 20 ms
			}
			rec.Shard(0).Record(Sample{Op: 0, End: lat})
		}
		rec.Tick(1, nil)
		r := &Result{Ops: map[string]OpStats{"store": Summarize(&rec.Cumulative().Ops[0], 1)}}
		if target > 0 {
			r.Targets = []Target{{Name: "p99_latency", Target: target}}
		}
		return r
	}
	cases := []struct {
		name   string
		r      *Result
		status string
		detail string
	}{
		{"0.5% slow: p99 1 ms and its bound well below 10 ms", mk(10000, 50, 10), HypothesisPass, "CI [1.000, 1.000]"},
		{"2% slow: p99 20 ms", mk(10000, 200, 10), HypothesisFail, "not below"},
		{"1% slow sits on the p99: the bound reaches 20 ms", mk(10000, 95, 10), HypothesisFail, "not shown below"},
		{"too few samples", mk(100, 0, 10), HypothesisNotRun, "at least 368 are needed"},
		{"no target", mk(1000, 0, 0), HypothesisNotRun, "no P99 target"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := evalH2(c.r)
			if h.Status != c.status || !strings.Contains(h.Detail, c.detail) {
				t.Errorf("got %s %q, want %s containing %q", h.Status, h.Detail, c.status, c.detail)
			}
			if h.Status != HypothesisNotRun && (h.Low == nil || h.High == nil || *h.Low > h.Value || *h.High < h.Value) {
				t.Errorf("interval %v–%v does not hold the estimate %v", h.Low, h.High, h.Value)
			}
		})
	}
}

func TestH3(t *testing.T) {
	pts := func(ys ...float64) *Scaling {
		s := &Scaling{Axis: "workers"}
		for i, y := range ys {
			s.Points = append(s.Points, ScalingPoint{X: float64(int(1) << i), Throughput: y})
		}
		return s
	}
	cores := pts(1000, 1900)
	cores.Axis = "cores"
	cases := []struct {
		name   string
		s      *Scaling
		status string
		r2     float64
		detail string // in h.Detail
	}{
		{"perfectly linear", pts(1000, 2000, 4000, 8000), HypothesisPass, 1, "over 4 points (workers 1–8)"},
		{"flattening at 4 workers", pts(1000, 2000, 2400, 2500), HypothesisFail, -1.081, "over 4 points"},
		{"falling", pts(4000, 3000, 2000, 1000), HypothesisFail, -3.409, "over 4 points"},
		{"saturated: flat but on a straight line (an ordinary fit's R² is 1)", pts(2400, 2500, 2700, 3100), HypothesisFail, -23.894, "an ordinary fit"},
		{"linear with noise", pts(1000, 1900, 4100, 7800), HypothesisPass, 0.996, "over 4 points"},
		{"two points are not enough", pts(1000, 2000), HypothesisNotRun, 0, "needs at least 3 scaling points to judge a line, and this scaling run has 2 (workers 1, 2)"},
		{"two cores are not enough", cores, HypothesisNotRun, 0, "this scaling run has 2 (cores 1, 2); rerun with 3 or more --points (on the cores axis"},
		{"no scaling run", nil, HypothesisNotRun, 0, "needs a scaling run"},
		{"a scaling field without points", &Scaling{Axis: "workers"}, HypothesisNotRun, 0, "this run was not one"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := evalH3(&Result{Scaling: c.s})
			if h.Status != c.status || math.Abs(h.Value-c.r2) > 0.01 || !strings.Contains(h.Detail, c.detail) {
				t.Errorf("got %s R² %v (%s), want %s %v naming %q", h.Status, h.Value, h.Detail, c.status, c.r2, c.detail)
			}
			if c.s != nil && len(c.s.Points) < H3MinPoints && strings.Contains(h.Detail, "was not one") && len(c.s.Points) > 0 {
				t.Errorf("a scaling run of %d points is told it was not one: %s", len(c.s.Points), h.Detail)
			}
		})
	}
}

func TestH4(t *testing.T) {
	mb := int64(1 << 20)
	cases := []struct {
		name   string
		res    *Resources
		status string
		ratio  float64
	}{
		{"30 MiB over a 10 MiB baseline for 10 MiB of data", &Resources{Source: "process", RSSPeakBytes: 30 * mb, RSSBaselineBytes: 10 * mb, Memories: 10240, RawBytesPerMemory: 1024}, HypothesisFail, 2},
		{"15 MiB for 10 MiB", &Resources{Source: "target", RSSPeakBytes: 15 * mb, Memories: 10240, RawBytesPerMemory: 1024}, HypothesisPass, 1.5},
		{"no data", &Resources{RSSPeakBytes: mb}, HypothesisNotRun, 0},
		{"10 MiB of data under 200 MiB of bounded caches", &Resources{Source: "process", RSSPeakBytes: 260 * mb, RSSBaselineBytes: 40 * mb, Memories: 10240, RawBytesPerMemory: 1024, BoundedBytes: 200 * mb}, HypothesisNotRun, 0},
		{"400 MiB of data above 200 MiB of bounded caches", &Resources{Source: "process", RSSPeakBytes: 1000 * mb, RSSBaselineBytes: 40 * mb, Memories: 400 * 1024, RawBytesPerMemory: 1024, BoundedBytes: 200 * mb}, HypothesisFail, 2.4},
		{"not measured", nil, HypothesisNotRun, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := evalH4(&Result{Resources: c.res})
			if h.Status != c.status || math.Abs(h.Value-c.ratio) > 0.001 {
				t.Errorf("got %s %v (%s), want %s %v", h.Status, h.Value, h.Detail, c.status, c.ratio)
			}
		})
	}
}
