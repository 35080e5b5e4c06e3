package workloads

import (
	"math"
	"testing"
	"time"
)

func mustArrival(t *testing.T, s ArrivalSpec, seed uint64) Arrival {
	t.Helper()
	a, err := NewArrival(s, seed)
	if err != nil {
		t.Fatalf("%+v: %v", s, err)
	}
	return a
}

// Each shape pinned at points computed by hand from its Λ(t).
func TestShapedArrivals(t *testing.T) {
	ramp := ArrivalSpec{Pattern: "ramp", StartRate: 0, EndRate: 1000, RampSec: 10}
	down := ArrivalSpec{Pattern: "ramp", StartRate: 1000, EndRate: 0, RampSec: 2}
	flat := ArrivalSpec{Pattern: "ramp", StartRate: 400, EndRate: 400, RampSec: 3}
	stairs := ArrivalSpec{Pattern: "step", Rate: 100, Step: 100, HoldSec: 1}
	capped := ArrivalSpec{Pattern: "step", Rate: 100, Step: 100, HoldSec: 1, Steps: 1}
	sine := ArrivalSpec{Pattern: "sine", Rate: 100, Amplitude: 50, PeriodSec: 10}
	cases := []struct {
		name string
		spec ArrivalSpec
		i    uint64
		want time.Duration
	}{
		{"ramp 0→1000/s over 10s: op 0 at 0", ramp, 0, 0},
		{"ramp 0→1000/s over 10s: Λ(t)=50t², op 50 at 1s", ramp, 50, time.Second},
		{"ramp 0→1000/s over 10s: op 1250 at 5s", ramp, 1250, 5 * time.Second},
		{"ramp 0→1000/s over 10s: op 5000 ends the ramp at 10s", ramp, 5000, 10 * time.Second},
		{"ramp then holds 1000/s: op 6000 at 11s", ramp, 6000, 11 * time.Second},
		{"ramp 1000→0/s over 2s: op 750 at 1s", down, 750, time.Second},
		{"ramp down to 0: op 1000 is never due", down, 1000, NeverDue},
		{"ramp 400→400/s is constant: op 1000 at 2.5s", flat, 1000, 2500 * time.Millisecond},
		{"step 100/s +100 every 1s: op 50 at 0.5s", stairs, 50, 500 * time.Millisecond},
		{"step: op 100 at 1s", stairs, 100, time.Second},
		{"step: op 200 at 1.5s (200/s)", stairs, 200, 1500 * time.Millisecond},
		{"step: op 300 at 2s", stairs, 300, 2 * time.Second},
		{"step: op 600 at 3s", stairs, 600, 3 * time.Second},
		{"step: op 5500 at 10s (Λ(10)=100·55)", stairs, 5500, 10 * time.Second},
		{"step capped at 1 increment: op 500 at 3s (200/s after 1s)", capped, 500, 3 * time.Second},
		{"sine mean 100/s period 10s: op 1000 after one period at 10s", sine, 1000, 10 * time.Second},
		{"sine: op 3000 after three periods at 30s", sine, 3000, 30 * time.Second},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := mustArrival(t, c.spec, 1)
			got := a.Due(c.i)
			if d := got - c.want; d < -time.Microsecond || d > time.Microsecond {
				t.Errorf("Due(%d) = %v, want %v", c.i, got, c.want)
			}
		})
	}
	// The sine's first half period carries more than half its ops:
	// Λ(P/2) = m·P/2 + A·P/π = 659.15, so op 659 is due just before 5s.
	a := mustArrival(t, sine, 1)
	if d := a.Due(659); d >= 5*time.Second || d < 4990*time.Millisecond {
		t.Errorf("sine: op 659 due at %v, want just before 5s", d)
	}
	if d := a.Due(660); d <= 5*time.Second {
		t.Errorf("sine: op 660 due at %v, want just after 5s", d)
	}
}

// Sequence and random access agree exactly, and times never go back.
func TestShapedSequenceMatchesDue(t *testing.T) {
	specs := []ArrivalSpec{
		{Pattern: "ramp", StartRate: 10, EndRate: 5000, RampSec: 2},
		{Pattern: "ramp", StartRate: 10, EndRate: 5000, RampSec: 2, Poisson: true},
		{Pattern: "step", Rate: 500, Step: 700, HoldSec: 0.5, Poisson: true},
		{Pattern: "sine", Rate: 3000, Amplitude: 3000, PeriodSec: 1},
		{Pattern: "sine", Rate: 3000, Amplitude: 2000, PeriodSec: 1, Poisson: true},
		{Pattern: "bursty", OnRate: 10000, OffRate: 100, MeanOnSec: 0.05, MeanOffSec: 0.2},
		{Pattern: "bursty", OnRate: 10000, OffRate: 0, MeanOnSec: 0.01, MeanOffSec: 0.01},
	}
	for _, s := range specs {
		t.Run(s.Pattern, func(t *testing.T) {
			a := mustArrival(t, s, 9)
			seq := NewSequence(a)
			prev := time.Duration(-1)
			for i := uint64(0); i < 30000; i++ {
				d := seq.Next()
				if d < prev {
					t.Fatalf("op %d due %v before op %d at %v", i, d, i-1, prev)
				}
				prev = d
				if i%1237 == 0 || i == 29999 {
					if r := a.Due(i); r != d {
						t.Fatalf("Due(%d) = %v, sequence gives %v", i, r, d)
					}
				}
			}
		})
	}
}

// Poisson variants: the number of ops by time t matches Λ(t) within a few
// standard deviations (a Poisson count has variance Λ(t)).
func TestShapedPoissonCounts(t *testing.T) {
	cases := []struct {
		name string
		spec ArrivalSpec
		t    float64 // seconds
		want float64 // Λ(t)
	}{
		{"ramp 0→2000/s over 10s: Λ(5)=2500", ArrivalSpec{Pattern: "ramp", EndRate: 2000, RampSec: 10, Poisson: true}, 5, 2500},
		{"step 1000/s +1000 per 2s: Λ(6)=2·(1000+2000+3000)", ArrivalSpec{Pattern: "step", Rate: 1000, Step: 1000, HoldSec: 2, Poisson: true}, 6, 12000},
		{"sine 1000±800/s period 4s: Λ(2)=2000+800·4/π", ArrivalSpec{Pattern: "sine", Rate: 1000, Amplitude: 800, PeriodSec: 4, Poisson: true}, 2, 2000 + 3200/math.Pi},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for seed := uint64(1); seed <= 3; seed++ {
				seq := NewSequence(mustArrival(t, c.spec, seed))
				n := 0
				for seq.Next().Seconds() < c.t {
					n++
				}
				if z := (float64(n) - c.want) / math.Sqrt(c.want); math.Abs(z) > 4.5 {
					t.Errorf("seed %d: %d ops by %gs, want %.0f ± %.0f", seed, n, c.t, c.want, math.Sqrt(c.want))
				}
			}
		})
	}
}

// bursty is a Markov-modulated Poisson process: the long-run rate is the
// time-weighted mean of on_rate and off_rate, and the share of time in bursts
// is mean_on/(mean_on+mean_off).
func TestBurstyStatistics(t *testing.T) {
	spec := ArrivalSpec{Pattern: "bursty", OnRate: 5000, OffRate: 500, MeanOnSec: 0.2, MeanOffSec: 0.8}
	a := mustArrival(t, spec, 4)
	if r := a.Rate(); math.Abs(r-1400) > 1e-9 {
		t.Errorf("Rate() = %v, want 0.2·5000+0.8·500 = 1400", r)
	}
	seq := NewSequence(a)
	const horizon = 400.0 // seconds: ~400 on/off cycles
	n := 0
	for seq.Next().Seconds() < horizon {
		n++
	}
	if got := float64(n) / horizon; math.Abs(got-1400)/1400 > 0.06 {
		t.Errorf("long-run rate %.0f ops/s, want 1400 ±6%%", got)
	}
	// The gaps are far burstier than a Poisson process of the same mean:
	// their coefficient of variation is above 1.
	seq = NewSequence(a)
	prev := seq.Next()
	var sum, sumSq float64
	const m = 100000
	for i := 0; i < m; i++ {
		d := seq.Next()
		g := (d - prev).Seconds()
		sum += g
		sumSq += g * g
		prev = d
	}
	mean := sum / m
	cv := math.Sqrt(sumSq/m-mean*mean) / mean
	if cv < 1.3 {
		t.Errorf("gap coefficient of variation %.2f, want > 1.3 (Poisson gives 1)", cv)
	}
}

func TestClosedLoopThink(t *testing.T) {
	c := mustArrival(t, ArrivalSpec{Pattern: "closed_loop", Users: 4, ThinkTimeSec: 0.01, ThinkDistribution: "exponential"}, 3).(*ClosedLoop)
	var sum time.Duration
	const n = 50000
	for i := uint64(0); i < n; i++ {
		sum += c.Think(i)
	}
	if mean := sum / n; mean < 9800*time.Microsecond || mean > 10200*time.Microsecond {
		t.Errorf("mean think %v, want 10ms", mean)
	}
	k := mustArrival(t, ArrivalSpec{Pattern: "closed_loop", Users: 4, ThinkTimeSec: 0.01}, 3).(*ClosedLoop)
	if k.Think(7) != 10*time.Millisecond {
		t.Errorf("constant think %v", k.Think(7))
	}
	// op 9 is user 1's third op: two think times before it, plus its own.
	if d := k.Due(9); d != 30*time.Millisecond {
		t.Errorf("lower-bound Due(9) = %v, want 30ms", d)
	}
	if _, err := ScaleArrival(ArrivalSpec{Pattern: "closed_loop", Users: 2}, 100); err == nil {
		t.Error("a closed loop was scaled to a rate")
	}
}

func TestShapedScale(t *testing.T) {
	for _, spec := range []ArrivalSpec{
		{Pattern: "ramp", StartRate: 10, EndRate: 100, RampSec: 1},
		{Pattern: "step", Rate: 100, Step: 50, HoldSec: 1},
		{Pattern: "sine", Rate: 100, Amplitude: 20, PeriodSec: 1},
		{Pattern: "bursty", OnRate: 100, OffRate: 10, MeanOnSec: 1, MeanOffSec: 1},
	} {
		s, err := ScaleArrival(spec, 300)
		if err != nil {
			t.Fatal(err)
		}
		if r := mustArrival(t, s, 1).Rate(); math.Abs(r-300) > 1e-6 {
			t.Errorf("%s scaled to 300: rate %v", spec.Pattern, r)
		}
	}
}

func TestBadShapedArrivals(t *testing.T) {
	cases := []struct {
		name string
		spec ArrivalSpec
		key  string
	}{
		{"ramp with no rate at all", ArrivalSpec{Pattern: "ramp", RampSec: 1}, "arrival.end_rate"},
		{"ramp without duration", ArrivalSpec{Pattern: "ramp", EndRate: 5}, "arrival.ramp_sec"},
		{"step without step", ArrivalSpec{Pattern: "step", Rate: 5, HoldSec: 1}, "arrival.step"},
		{"sine deeper than its mean", ArrivalSpec{Pattern: "sine", Rate: 5, Amplitude: 6, PeriodSec: 1}, "arrival.amplitude"},
		{"bursty without off period", ArrivalSpec{Pattern: "bursty", OnRate: 5, MeanOnSec: 1}, "arrival.mean_off_sec"},
		{"closed loop without users", ArrivalSpec{Pattern: "closed_loop"}, "arrival.users"},
		{"closed loop with odd think time", ArrivalSpec{Pattern: "closed_loop", Users: 1, ThinkDistribution: "gamma"}, "arrival.think_distribution"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := NewArrival(c.spec, 1)
			se, ok := err.(*SpecError)
			if !ok || se.Key != c.key {
				t.Errorf("err = %v, want a SpecError on %s", err, c.key)
			}
		})
	}
}
