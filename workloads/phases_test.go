package workloads

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

const phased = `name = "phased"
[arrival]
pattern = "constant"
rate = 1000
[operations]
store_weight = 50
recall_weight = 50
max_results = 7

[[phases]]
name = "preload"
memories = 300

[[phases]]
name = "warmup"
duration_seconds = 1

[[phases]]
name = "steady"
duration_seconds = 2
[phases.operations]
recall_by_id_weight = 1

[[phases]]
name = "burst"
duration_seconds = 0.5
[phases.arrival]
pattern = "constant"
rate = 4000

[[phases]]
name = "cooldown"
duration_seconds = 1
[phases.arrival]
pattern = "ramp"
start_rate = 1000
end_rate = 0
ramp_sec = 1
`

func TestPhasedSchedule(t *testing.T) {
	sc, err := Parse("phased.toml", []byte(phased))
	if err != nil {
		t.Fatal(err)
	}
	if sc.PreloadCount() != 300 || sc.Duration.Warmup() != time.Second || sc.Duration.Total() != 3500*time.Millisecond {
		t.Fatalf("preload %d warmup %v total %v", sc.PreloadCount(), sc.Duration.Warmup(), sc.Duration.Total())
	}
	s, err := NewSchedule(sc, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		name         string
		start, end   time.Duration
		first, endOp uint64
		recorded     bool
	}{
		{"warmup", 0, time.Second, 0, 1000, false},
		{"steady", time.Second, 3 * time.Second, 1000, 3000, true},
		{"burst", 3 * time.Second, 3500 * time.Millisecond, 3000, 5000, true},
		{"cooldown", 3500 * time.Millisecond, 4500 * time.Millisecond, 5000, 5500, true},
	}
	if len(s.Phases) != len(want) {
		t.Fatalf("%d phases", len(s.Phases))
	}
	// Measuring starts with steady; burst and cooldown begin within it.
	if b, w := s.Boundaries(), []time.Duration{0, 2 * time.Second, 2500 * time.Millisecond, 3500 * time.Millisecond}; !slices.Equal(b, w) {
		t.Errorf("boundaries %v, want %v", b, w)
	}
	for n, w := range want {
		p := s.Phases[n]
		if p.Name != w.name || p.Start != w.start || p.End != w.end || p.FirstOp != w.first || p.EndOp != w.endOp || p.Recorded != w.recorded {
			t.Errorf("phase %d = %s [%v, %v) ops [%d, %d) recorded %v; want %+v", n, p.Name, p.Start, p.End, p.FirstOp, p.EndOp, p.Recorded, w)
		}
	}
	if s.Warmup != time.Second || s.Measured != 3500*time.Millisecond {
		t.Errorf("warmup %v measured %v", s.Warmup, s.Measured)
	}
	if r := s.Rate(); r < 1285 || r > 1286 {
		t.Errorf("measured rate %v, want 4500 ops / 3.5 s", r)
	}
	cases := []struct {
		name string
		i    uint64
		due  time.Duration
	}{
		{"warmup op 999 at 999ms", 999, 999 * time.Millisecond},
		{"steady starts with op 1000 at 1s", 1000, time.Second},
		{"burst op 3000 at 3s", 3000, 3 * time.Second},
		{"burst op 3001 at 3.00025s", 3001, 3*time.Second + 250*time.Microsecond},
		{"cooldown op 5000 at 3.5s", 5000, 3500 * time.Millisecond},
		{"cooldown ramps down: op 5375 at 4s", 5375, 4 * time.Second},
		{"nothing after the last phase", 5500, NeverDue},
	}
	seq := NewSequence(s)
	all := make([]time.Duration, 5600)
	for i := range all {
		all[i] = seq.Next()
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if d := s.Due(c.i); d != c.due {
				t.Errorf("Due(%d) = %v, want %v", c.i, d, c.due)
			}
			if all[c.i] != c.due {
				t.Errorf("sequence gives %v", all[c.i])
			}
		})
	}

	g, err := NewGeneratorFor(sc, s, 1)
	if err != nil {
		t.Fatal(err)
	}
	// Each phase draws kinds from its own mix; the steady phase's weights
	// replace the top-level ones, its parameters are inherited.
	for i := uint64(0); i < 5500; i++ {
		k := g.KindOf(i)
		inSteady := i >= 1000 && i < 3000
		if inSteady != (k == KindRecallByID) {
			t.Fatalf("op %d (phase %s) is %s", i, s.Phases[s.PhaseOf(i)].Name, k)
		}
		if k == KindRecall {
			if op := g.Op(i); op.K != 7 {
				t.Fatalf("op %d: max_results %d not inherited", i, op.K)
			}
		}
	}
}

func TestBadPhases(t *testing.T) {
	base := "[arrival]\npattern = \"constant\"\nrate = 10\n[operations]\nstore_weight = 1\n"
	cases := []struct {
		name, text string
		want       []string
	}{
		{"preload not first", base + "[[phases]]\nname = \"steady\"\nduration_seconds = 1\n[[phases]]\nname = \"preload\"\n", []string{"bad.toml:10", "phases[1].name", "must come first"}},
		{"no duration", base + "[[phases]]\nname = \"steady\"\n", []string{"bad.toml:6", "phases[0].duration_seconds", "must be > 0"}},
		{"bad phase arrival key", base + "[[phases]]\nname = \"steady\"\nduration_seconds = 1\n[phases.arrival]\npattern = \"constant\"\nrate = 5\nlambda = 3\n", []string{"bad.toml:12", "phases[0].arrival.lambda", "not used by pattern"}},
		{"bad phase rate, second phase", base + "[[phases]]\nname = \"a\"\nduration_seconds = 1\n[[phases]]\nname = \"b\"\nduration_seconds = 1\n[phases.arrival]\npattern = \"constant\"\nrate = -1\n", []string{"bad.toml:14", "phases[1].arrival.rate", "got -1"}},
		{"bad phase weight", base + "[[phases]]\nname = \"a\"\nduration_seconds = 1\n[phases.operations]\nrecall_weight = -2\n", []string{"bad.toml:10", "phases[0].operations.recall_weight", "got -2"}},
		{"warm-up after measuring", base + "[[phases]]\nname = \"steady\"\nduration_seconds = 1\n[[phases]]\nname = \"warmup\"\nduration_seconds = 1\n", []string{"phases[1].record", "before recorded"}},
		{"duration beside phases", base + "[duration]\ntotal_seconds = 5\n[[phases]]\nname = \"a\"\nduration_seconds = 1\n", []string{"bad.toml:7", "duration.total_seconds", "duration_seconds"}},
		{"duplicate names", base + "[[phases]]\nname = \"a\"\nduration_seconds = 1\n[[phases]]\nname = \"a\"\nduration_seconds = 1\n", []string{"phases[1].name", "earlier phase"}},
		{"preload with a duration", base + "[[phases]]\nname = \"preload\"\nduration_seconds = 3\n", []string{"phases[0].duration_seconds", "takes only name and memories"}},
		{"unknown phase key", base + "[[phases]]\nname = \"a\"\nduration_seconds = 1\nspeed = 3\n", []string{"bad.toml:9", "phases.speed", "unknown key"}},
		{"only warm-up", base + "[[phases]]\nname = \"warmup\"\nduration_seconds = 1\n", []string{"no recorded phase"}},
		{"closed loop in a phase", base + "[[phases]]\nname = \"a\"\nduration_seconds = 1\n[phases.arrival]\npattern = \"closed_loop\"\nusers = 3\n", []string{"phases[0].arrival.pattern", "not allowed inside phases"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("bad.toml", []byte(c.text))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// A phase without its own arrival needs the top-level one.
func TestPhaseInheritsArrival(t *testing.T) {
	_, err := Parse("p.toml", []byte("[operations]\nstore_weight = 1\n[[phases]]\nname = \"a\"\nduration_seconds = 1\n"))
	if err == nil || !strings.Contains(err.Error(), "phases[0].arrival") {
		t.Errorf("err = %v", err)
	}
	sc, err := Parse("p.toml", []byte("[operations]\nstore_weight = 1\n[[phases]]\nname = \"a\"\nduration_seconds = 1\n[phases.arrival]\npattern = \"poisson\"\nlambda = 50\n"))
	if err != nil {
		t.Fatal(err)
	}
	if sc.Phases[0].Arrival.Lambda != 50 || sc.Phases[0].Operations.StoreWeight != 1 {
		t.Errorf("phase = %+v", sc.Phases[0])
	}
}

// TestScaleRateScalesThroughputTarget: --rate rescales the offered rate and,
// by the same factor, the throughput target (a share of the offered rate):
// quickstart's 990 of 1,000 ops/s becomes 297 of 300.
func TestScaleRateScalesThroughputTarget(t *testing.T) {
	sc, err := LoadBuiltin("quickstart")
	if err != nil {
		t.Fatal(err)
	}
	if err := sc.ScaleRate(300, 1); err != nil {
		t.Fatal(err)
	}
	if v := sc.Validation.ExpectedThroughputOpsSec; v == nil || math.Abs(*v-297) > 1e-9 || sc.Arrival.Rate != 300 {
		t.Errorf("no phases: rate %g, target %v, want 300 and 297", sc.Arrival.Rate, v)
	}
	phased, err := Parse("phased.toml", []byte(`
[arrival]
pattern = "constant"
rate = 100.0
[operations]
store_weight = 1
[data]
preload = 0
embedding_dim = 8
[validation]
expected_throughput_ops_sec = 50.0
[[phases]]
name = "low"
duration_seconds = 10
arrival = { pattern = "constant", rate = 50.0 }
[[phases]]
name = "high"
duration_seconds = 10
arrival = { pattern = "constant", rate = 150.0 }
`))
	if err != nil {
		t.Fatal(err)
	}
	// The phases offer 100 ops/s on average: 200 doubles both rates and the target.
	if err := phased.ScaleRate(200, 1); err != nil {
		t.Fatal(err)
	}
	if v := phased.Validation.ExpectedThroughputOpsSec; v == nil || math.Abs(*v-100) > 1e-9 || phased.Phases[0].Arrival.Rate != 100 || phased.Phases[1].Arrival.Rate != 300 {
		t.Errorf("phases: rates %g, %g, target %v, want 100, 300 and 100", phased.Phases[0].Arrival.Rate, phased.Phases[1].Arrival.Rate, v)
	}
}
