package workloads

import (
	"math"
	"testing"
	"time"
)

func TestArrivalShapes(t *testing.T) {
	burst := PeriodicBurst{Base: 100, Burst: 1000, BurstLen: time.Second, Period: 10 * time.Second}
	cases := []struct {
		name string
		a    Arrival
		i    uint64
		want time.Duration
	}{
		{"constant 2000/s: op 0 is due at 0", Constant{2000}, 0, 0},
		{"constant 2000/s: op 10 is due at 5ms", Constant{2000}, 10, 5 * time.Millisecond},
		{"constant 3/s: op 1 is due at 333.333ms", Constant{3}, 1, 333333333},
		{"burst: op 999 is inside the 1s burst at 999ms", burst, 999, 999 * time.Millisecond},
		{"burst: op 1000 ends the burst at 1s", burst, 1000, time.Second},
		{"burst: op 1100 is 100 base ops later at 2s", burst, 1100, 2 * time.Second},
		{"burst: op 1900 starts the next period at 10s", burst, 1900, 10 * time.Second},
		{"burst: op 2900 ends the second burst at 11s", burst, 2900, 11 * time.Second},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.a.Due(c.i); got != c.want {
				t.Errorf("Due(%d) = %v, want %v", c.i, got, c.want)
			}
		})
	}
	if r := burst.Rate(); math.Abs(r-190) > 1e-9 {
		t.Errorf("burst mean rate = %v, want 190", r)
	}
}

func TestPoisson(t *testing.T) {
	p := NewPoisson(1000, 7)
	const n = 200_000
	seq := NewSequence(p)
	var prev time.Duration
	var sum, sumSq float64
	for i := uint64(0); i < n; i++ {
		d := seq.Next()
		if i == 0 && d != 0 {
			t.Fatalf("op 0 due at %v, want 0", d)
		}
		if i > 0 {
			g := (d - prev).Seconds()
			sum += g
			sumSq += g * g
		}
		if i%9973 == 0 {
			if r := p.Due(i); r != d {
				t.Fatalf("random access Due(%d) = %v, sequence gives %v", i, r, d)
			}
		}
		prev = d
	}
	mean := sum / (n - 1)
	sd := math.Sqrt(sumSq/(n-1) - mean*mean)
	if math.Abs(mean-0.001) > 0.00002 {
		t.Errorf("mean gap %.6fs, want 0.001 (exponential)", mean)
	}
	if math.Abs(sd-0.001) > 0.00003 {
		t.Errorf("gap std dev %.6fs, want 0.001 (exponential: sd = mean)", sd)
	}
	// Same seed, same schedule; another seed, another one.
	if NewPoisson(1000, 7).Due(5000) != p.Due(5000) || NewPoisson(1000, 8).Due(5000) == p.Due(5000) {
		t.Error("poisson schedule is not a pure function of the seed")
	}
}

func TestScaleArrival(t *testing.T) {
	for _, spec := range []ArrivalSpec{
		{Pattern: "constant", Rate: 100},
		{Pattern: "poisson", Lambda: 100},
		{Pattern: "periodic_burst", BaseRate: 50, BurstRate: 500, BurstDurationSec: 1, BurstPeriodSec: 10},
	} {
		s, err := ScaleArrival(spec, 777)
		if err != nil {
			t.Fatal(err)
		}
		a, err := NewArrival(s, 1)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(a.Rate()-777) > 1e-6 {
			t.Errorf("%s scaled to 777: rate %v", spec.Pattern, a.Rate())
		}
	}
}

func TestArrivalsAreMonotonic(t *testing.T) {
	for _, a := range []Arrival{Constant{12345}, NewPoisson(5000, 3), PeriodicBurst{Base: 0, Burst: 10, BurstLen: time.Second, Period: 3 * time.Second}} {
		seq := NewSequence(a)
		prev := time.Duration(-1)
		for i := 0; i < 50000; i++ {
			d := seq.Next()
			if d < prev {
				t.Fatalf("%T: op %d due %v before op %d at %v", a, i, d, i-1, prev)
			}
			prev = d
		}
	}
}

// TestSkipBefore: skipping gives the same count and leaves the sequence
// where stepping through one op at a time would.
func TestSkipBefore(t *testing.T) {
	arrivals := map[string]Arrival{
		"constant":       Constant{PerSecond: 1000},
		"constant-odd":   Constant{PerSecond: 7777.7},
		"periodic-burst": PeriodicBurst{Base: 100, Burst: 5000, Period: time.Second, BurstLen: 200 * time.Millisecond},
	}
	for name, a := range arrivals {
		t.Run(name, func(t *testing.T) {
			sk, ok := NewSequence(a).(Skipper)
			if !ok {
				t.Fatal("not a Skipper")
			}
			ref := NewSequence(a)
			next := ref.Next()
			var at uint64
			for _, until := range []time.Duration{0, 1, 999 * time.Microsecond, time.Millisecond, 1500 * time.Millisecond, 1500 * time.Millisecond, 3 * time.Second, 3*time.Second + 1, 10 * time.Second} {
				var want uint64
				for next < until {
					want++
					next = ref.Next()
				}
				got := sk.SkipBefore(until)
				at += got
				if got != want {
					t.Fatalf("SkipBefore(%s) = %d, stepping gives %d", until, got, want)
				}
				if d := sk.Next(); d != next {
					t.Fatalf("after SkipBefore(%s) (op %d): Next = %s, want %s", until, at, d, next)
				}
				next = ref.Next()
				at++
			}
		})
	}
	if _, ok := NewSequence(&Poisson{}).(Skipper); ok {
		t.Error("a Poisson sequence should not claim to skip (its Due is cheap only in order)")
	}
}
