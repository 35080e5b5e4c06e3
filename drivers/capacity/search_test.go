package capacity

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/engram-bench/engram-bench/reports"
	"github.com/engram-bench/engram-bench/workloads"
)

// model is a target whose behaviour is a function of the offered rate: up to
// capacity every op takes 1 ms and the rate is achieved; above it the
// target serves capacity ops/s and half the ops wait 2 s.
type model struct {
	capacity    float64
	limitedFrom float64 // from this rate on the harness is the limit (0: never)
	deadFrom    float64 // from this rate on the target is unreachable (0: never)
	collapse    bool    // overloaded steps come back cut short
	cancelAt    int     // cancel the context when step n starts (0: never)
	cancel      context.CancelFunc
	rates       []float64
}

func (m *model) Step(ctx context.Context, s StepSpec) (Outcome, error) {
	m.rates = append(m.rates, s.Rate)
	if m.cancelAt == s.N {
		m.cancel()
	}
	secs := s.Duration.Seconds()
	h := reports.NewHistogram()
	r := &reports.Result{TargetRate: s.Rate, DurationS: secs, LoadModel: "open", Ops: map[string]reports.OpStats{}}
	out := Outcome{Result: r}
	switch {
	case m.deadFrom > 0 && s.Rate >= m.deadFrom:
		n := int64(s.Rate * secs)
		r.Total = reports.OpStats{Count: n, Errors: n, ErrorRate: 1, ErrorsByClass: map[string]int64{"connection_refused": n}}
		return out, nil
	case s.Rate <= m.capacity:
		h.RecordValues(1_000_000, int64(s.Rate*secs))
		r.AchievedRate = s.Rate
	default:
		n := int64(m.capacity * secs)
		h.RecordValues(1_000_000, n/2)
		h.RecordValues(2_000_000_000, n-n/2)
		r.AchievedRate = m.capacity
		if m.collapse {
			out.Collapsed, out.CutAt = true, 4*time.Second
		}
	}
	if ctx.Err() != nil {
		r.Partial = true
	}
	if m.limitedFrom > 0 && s.Rate >= m.limitedFrom {
		r.Harness.Limited, r.Harness.Reason = true, "dispatch lag p99 9ms"
	}
	st := reports.OpStats{Count: h.TotalCount(), LatencyHDR: reports.EncodeHistogram(h), Latency: reports.PercentilesOf(h)}
	r.Ops["store"] = st
	r.Total = st
	return out, nil
}

func mustSLO(t *testing.T, s string) reports.SLO {
	t.Helper()
	slo, err := reports.ParseSLO(s)
	if err != nil {
		t.Fatal(err)
	}
	return slo
}

func TestSearchFindsTheKnee(t *testing.T) {
	cases := []struct {
		name      string
		cfg       Config
		m         model
		pass      float64 // knee ends expected
		fail      float64
		found     bool
		rates     []float64 // the steps, in order (nil: not checked)
		stopped   string
		note      string
		partial   bool
		collapsed bool
	}{
		{name: "geometric from 100 against a 1000 ops/s target: knee [1000, 1050] within 5%",
			cfg: Config{StartRate: 100}, m: model{capacity: 1000}, pass: 1000, fail: 1050, found: true,
			rates: []float64{100, 200, 400, 800, 1600, 1200, 1000, 1100, 1050}, stopped: "resolution reached"},
		{name: "additive staircase: +300 from 300 against 1000: knee [975, 1012.5]",
			cfg: Config{StartRate: 300, StepRate: 300}, m: model{capacity: 1000}, pass: 975, fail: 1012.5, found: true,
			rates: []float64{300, 600, 900, 1200, 1050, 975, 1012.5}},
		{name: "first step fails: steps down by the factor, then bisects",
			cfg: Config{StartRate: 8000, Resolution: 0.1}, m: model{capacity: 1000}, pass: 1000, fail: 1062.5, found: true,
			rates: []float64{8000, 4000, 2000, 1000, 1500, 1250, 1125, 1062.5}},
		{name: "every step up to the max rate passes: no knee",
			cfg: Config{StartRate: 100, MaxRate: 500}, m: model{capacity: 1e9}, pass: 500, found: false,
			rates: []float64{100, 200, 400, 500}, stopped: "max rate 500", note: "raise --max-rate"},
		{name: "a harness-limited step is not a pass, and the knee says its end is the harness's",
			cfg: Config{StartRate: 250, Resolution: 0.2}, m: model{capacity: 1e9, limitedFrom: 2000}, pass: 1750, fail: 2000, found: true,
			note: "not a measured failure of the target"},
		{name: "the target stops answering: the search stops",
			cfg: Config{StartRate: 500}, m: model{capacity: 1e9, deadFrom: 2000}, pass: 1000, fail: 2000, found: true,
			rates: []float64{500, 1000, 2000}, stopped: "stopped answering at step 3"},
		{name: "the step limit ends the search with a wide knee",
			cfg: Config{StartRate: 100, MaxSteps: 6}, m: model{capacity: 1000}, pass: 800, fail: 1200, found: true,
			stopped: "step limit (6)", note: "wider than the 5% resolution"},
		{name: "the step limit ends the search before any step failed: raise --max-steps, not --max-rate",
			cfg: Config{StartRate: 100, MaxSteps: 2}, m: model{capacity: 1000}, pass: 200, found: false,
			rates: []float64{100, 200}, stopped: "step limit (2)", note: "raise --max-steps to find the knee"},
		{name: "a collapsed step is a failure, recorded as cut",
			cfg: Config{StartRate: 400, Resolution: 0.3}, m: model{capacity: 1000, collapse: true}, pass: 1000, fail: 1200, found: true,
			collapsed: true},
		{name: "interrupted during step 3: partial, steps so far kept",
			cfg: Config{StartRate: 100}, m: model{capacity: 1000, cancelAt: 3}, pass: 200, found: false,
			rates: []float64{100, 200, 400}, stopped: "interrupted", partial: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			m := c.m
			m.cancel = cancel
			c.cfg.SLO = mustSLO(t, "p99=10ms,errors=0.1%")
			c.cfg.StepDuration = 20 * time.Second
			var cp reports.Capacity
			var seen int
			c.cfg.OnStep = func(reports.CapacityStep) { seen++ }
			if err := Search(ctx, c.cfg, &m, &cp); err != nil {
				t.Fatal(err)
			}
			k := cp.Knee
			if k.Pass != c.pass || (c.fail != 0 && k.Fail != c.fail) || k.Found != c.found {
				t.Errorf("knee %+v, want pass %g fail %g found %v (rates %v)", k, c.pass, c.fail, c.found, m.rates)
			}
			if c.rates != nil && !equal(m.rates, c.rates) {
				t.Errorf("rates %v, want %v", m.rates, c.rates)
			}
			if !strings.Contains(cp.Stopped, c.stopped) {
				t.Errorf("stopped %q, want %q", cp.Stopped, c.stopped)
			}
			if !strings.Contains(k.Note, c.note) {
				t.Errorf("note %q, want %q", k.Note, c.note)
			}
			if cp.Partial != c.partial {
				t.Errorf("partial %v", cp.Partial)
			}
			if seen != len(cp.Steps) || len(cp.Steps) != len(m.rates) {
				t.Errorf("%d steps recorded, %d told, %d run", len(cp.Steps), seen, len(m.rates))
			}
			collapsed := false
			for i, s := range cp.Steps {
				if s.N != i+1 || s.Offered != m.rates[i] {
					t.Errorf("step %d: %+v", i, s)
				}
				if s.Collapsed {
					collapsed = true
					if s.Verdict != reports.VerdictFail || !strings.HasPrefix(s.Reasons[0], "collapsed") {
						t.Errorf("collapsed step %+v", s)
					}
				}
				wantPass := s.Offered <= m.capacity && (m.limitedFrom == 0 || s.Offered < m.limitedFrom) && (m.deadFrom == 0 || s.Offered < m.deadFrom)
				if (s.Verdict == reports.VerdictPass) != wantPass && !(c.partial && i == len(cp.Steps)-1) {
					t.Errorf("step %d at %g: verdict %s (%v)", s.N, s.Offered, s.Verdict, s.Reasons)
				}
			}
			if collapsed != c.collapsed {
				t.Errorf("collapsed %v", collapsed)
			}
			if cp.Method.MinSamples != 1000 || cp.SLO != "p99=10ms,errors=0.1%" {
				t.Errorf("method %+v slo %q", cp.Method, cp.SLO)
			}
		})
	}
}

func equal(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestConfigErrors(t *testing.T) {
	slo := mustSLO(t, "p99=10ms")
	nan := math.NaN()
	cases := []struct {
		name  string
		cfg   Config
		field string // the *FieldError's Field; "" for an error about no one field
		want  string
	}{
		{"no start rate", Config{SLO: slo}, "start rate", "start rate 0: must be > 0"},
		{"NaN start rate", Config{SLO: slo, StartRate: nan}, "start rate", "start rate NaN: must be > 0"},
		{"no SLO", Config{StartRate: 10}, "", "names no latency"},
		{"factor 1 never rises", Config{SLO: slo, StartRate: 10, Factor: 1}, "factor", "factor 1: must be > 1"},
		{"NaN factor", Config{SLO: slo, StartRate: 10, Factor: nan}, "factor", "factor NaN"},
		{"max below start", Config{SLO: slo, StartRate: 10, MaxRate: 5}, "max rate", "max rate 5: must be at least the start rate 10"},
		{"negative max", Config{SLO: slo, StartRate: 10, MaxRate: -1}, "max rate", "max rate -1"},
		{"resolution 100%", Config{SLO: slo, StartRate: 10, Resolution: 1}, "resolution", "resolution 1"},
		{"half-second steps", Config{SLO: slo, StartRate: 10, StepDuration: 500 * time.Millisecond}, "step duration", "step duration 500ms: must be at least 1s"},
		{"negative step", Config{SLO: slo, StartRate: 10, StepRate: -5}, "step", "step -5"},
		{"negative warm-up", Config{SLO: slo, StartRate: 10, Warmup: -time.Second}, "warm-up", "warm-up -1s"},
		{"too many steps", Config{SLO: slo, StartRate: 10, MaxSteps: 5000}, "max steps", "max steps 5000"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := Search(context.Background(), c.cfg, StepperFunc(func(context.Context, StepSpec) (Outcome, error) {
				t.Fatal("a step ran")
				return Outcome{}, nil
			}), &reports.Capacity{})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v, want %q", err, c.want)
			}
			var fe *FieldError
			if errors.As(err, &fe) != (c.field != "") || (fe != nil && fe.Field != c.field) {
				t.Errorf("err %v (%#v): want a FieldError for %q", err, fe, c.field)
			}
		})
	}
}

func TestStepDuration(t *testing.T) {
	cases := []struct {
		name string
		slo  string
		min  time.Duration
		rate float64
		want time.Duration
	}{
		{"p99 at 1000/s: 1,000 samples take 1s, the 20s floor wins", "p99=10ms", 20 * time.Second, 1000, 20 * time.Second},
		{"p99.9 at 100/s: 10,000 samples take 100s", "p999=50ms", 20 * time.Second, 100, 100 * time.Second},
		{"p99.9 at 300/s: 33.3s rounds up to 34s", "p99=10ms,p999=50ms", 5 * time.Second, 300, 34 * time.Second},
		{"p50 only: 20 samples, the floor", "p50=1ms", 2 * time.Second, 5, 4 * time.Second},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := Config{SLO: mustSLO(t, c.slo), StartRate: 1, StepDuration: c.min}.withDefaults()
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.StepDurationAt(c.rate); got != c.want {
				t.Errorf("StepDurationAt(%g) = %s, want %s", c.rate, got, c.want)
			}
		})
	}
}

// tick builds an interval [k s, k+1 s) with done ops finished.
func tick(k int, done int64) reports.Tick {
	return reports.Tick{Index: k, Start: int64(k) * 1e9, End: int64(k+1) * 1e9, Delta: &reports.Totals{Ops: []reports.OpTotals{{Count: done}}}}
}

func TestWatch(t *testing.T) {
	arr := workloads.Constant{PerSecond: 1000}
	cases := []struct {
		name    string
		done    []int64 // ops finished per 1-s interval; 1000 are due in each
		cutAt   int     // 1-based interval at which it collapses; 0: never
		backlog int64
	}{
		{"keeping up: never", []int64{1000, 1000, 1000, 1000, 1000, 1000}, 0, 0},
		{"a short stall then catch-up: never (the backlog shrinks)", []int64{900, 800, 1300, 1000, 1000}, 0, 0},
		{"serving 800 of 1000: backlog passes 50 (1000/s × 50 ms) and grows for 3 intervals",
			[]int64{800, 800, 800, 800, 800}, 3, 1000},
		{"growing but within the bound: never", []int64{990, 990, 990, 990, 990}, 0, 50},
		{"growth interrupted once: the count restarts", []int64{800, 800, 1100, 800, 800, 800}, 6, 900},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := NewWatch(WatchConfig{Rate: 1000, MaxLatency: 50 * time.Millisecond, Intervals: 3}, arr, 0, time.Minute)
			got := 0
			for k, d := range c.done {
				if w.Tick(tick(k, d)) && got == 0 {
					got = k + 1
				}
			}
			if got != c.cutAt {
				t.Fatalf("collapsed at interval %d, want %d", got, c.cutAt)
			}
			if got > 0 && w.CutAt() != time.Duration(got)*time.Second {
				t.Errorf("cut at %s", w.CutAt())
			}
			if w.Backlog() != c.backlog {
				t.Errorf("backlog %d, want %d", w.Backlog(), c.backlog)
			}
		})
	}
}
