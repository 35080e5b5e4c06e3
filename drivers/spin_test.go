package drivers

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/engram-bench/engram-bench/reports"
	"github.com/engram-bench/engram-bench/workloads"
)

func TestParseProcStat(t *testing.T) {
	const stat = `cpu  100 5 50 800 20 3 2 10 7 0
cpu0 50 2 25 400 10 1 1 5 3 0
cpu1 50 3 25 400 10 2 1 5 4 0
intr 12345
ctxt 999
`
	all := func(int) bool { return true }
	s, ok := parseProcStat([]byte(stat), all)
	if !ok {
		t.Fatal("parse failed")
	}
	// total: user..steal = 100+5+50+800+20+3+2+10; idle: idle+iowait.
	if s.total != 990 || s.idle != 820 || s.cpus != 2 {
		t.Fatalf("got %+v, want total 990, idle 820, cpus 2", s)
	}
	// Pinned to cpu1 (taskset): only its line counts.
	if s1, ok := parseProcStat([]byte(stat), func(c int) bool { return c == 1 }); !ok || s1.total != 496 || s1.idle != 410 || s1.cpus != 1 {
		t.Errorf("cpu1 only: got %+v, %v; want total 496, idle 410, cpus 1", s1, ok)
	}
	next := idleSample{idle: s.idle + 150, total: s.total + 200, cpus: 2}
	if got := next.idleCores(s); got != 1.5 {
		t.Errorf("idle cores %v, want 1.5 (150 of 200 ticks on 2 cpus)", got)
	}
	if got := s.idleCores(next); got != 0 {
		t.Errorf("idle cores of a counter going backwards %v, want 0", got)
	}
	for _, bad := range []string{"", "intr 1\n", "cpu  1 2 3 4 5\ncpu0 1 2 x 4 5\n", "cpu 1 2\ncpu0 1\n", "cpu  1 2 3 4 5\ncpuX 1 2 3 4 5\n"} {
		if _, ok := parseProcStat([]byte(bad), all); ok {
			t.Errorf("parseProcStat(%q) succeeded, want a failure", bad)
		}
	}
}

// A cgroup CPU quota bounds the idle cores: 1.5 cores of quota with 1.2
// used leaves 0.3 spare, however idle the machine is.
func TestIdleCoresUnderQuota(t *testing.T) {
	if got := parseCPUMax([]byte("150000 100000\n")); got != 1.5 {
		t.Errorf("cpu.max 150000 100000 = %v cores, want 1.5", got)
	}
	for _, none := range []string{"max 100000\n", "", "x 1", "0 100000"} {
		if got := parseCPUMax([]byte(none)); got != 0 {
			t.Errorf("cpu.max %q = %v, want 0 (no quota)", none, got)
		}
	}
	if u, ok := parseCPUStatUsage([]byte("usage_usec 123456\nuser_usec 1\n")); !ok || u != 123456 {
		t.Errorf("usage_usec = %d, %v", u, ok)
	}
	s0 := idleSample{idle: 0, total: 0, cpus: 4, quota: 1.5, cgUsage: 0, at: 0}
	s1 := idleSample{idle: 300, total: 400, cpus: 4, quota: 1.5, cgUsage: 1_200_000, at: 1e9} // 3 idle cores; 1.2 s of CPU in 1 s
	if got := s1.idleCores(s0); got < 0.299 || got > 0.301 {
		t.Errorf("idle cores under a 1.5-core quota with 1.2 used = %v, want 0.3", got)
	}
	s1.cgUsage = 2_000_000 // over quota (bursts): no spare core, never negative
	if got := s1.idleCores(s0); got != 0 {
		t.Errorf("idle cores over quota = %v, want 0", got)
	}
}

func TestParseSpinPolicy(t *testing.T) {
	for in, want := range map[string]SpinPolicy{"auto": SpinAuto, "ON": SpinOn, " off ": SpinOff, "": SpinAuto} {
		if got, err := ParseSpinPolicy(in); err != nil || got != want {
			t.Errorf("ParseSpinPolicy(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := ParseSpinPolicy("fast"); err == nil || !strings.Contains(err.Error(), `"fast"`) {
		t.Errorf("ParseSpinPolicy(fast) error %v, want one naming the value", err)
	}
}

// A bad ENGRAM_BENCH_SPIN stops the run before it starts, naming the variable
// and the value; a good one is the default policy and is reported.
func TestSpinEnv(t *testing.T) {
	d := DriverFunc(func(context.Context, *workloads.Op) error { return nil })
	cfg := func() RunConfig {
		return RunConfig{Arrival: workloads.Constant{PerSecond: 1000}, Ops: indexSource{}, Duration: 100 * time.Millisecond, Recorder: newRec()}
	}
	t.Setenv(SpinEnv, "sometimes")
	_, err := Run(context.Background(), cfg(), d)
	if err == nil || !strings.Contains(err.Error(), SpinEnv) || !strings.Contains(err.Error(), "sometimes") {
		t.Fatalf("error %v, want one naming %s and its value", err, SpinEnv)
	}
	for _, c := range []struct {
		env   string
		want  SpinPolicy
		share float64
	}{{"off", SpinOff, 0}, {"on", SpinOn, 1}} {
		t.Setenv(SpinEnv, c.env)
		st, err := Run(context.Background(), cfg(), d)
		if err != nil {
			t.Fatal(err)
		}
		if st.Spin != c.want || st.SpinShare != c.share || st.Sent != 100 {
			t.Errorf("%s=%s: policy %v, share %v, sent %d; want %v, %v, 100", SpinEnv, c.env, st.Spin, st.SpinShare, st.Sent, c.want, c.share)
		}
	}
	// The config's policy wins over the environment.
	c := cfg()
	c.Spin = SpinOn
	if st, err := Run(context.Background(), c, d); err != nil || st.Spin != SpinOn {
		t.Errorf("RunConfig.Spin on under %s=off: policy %v, error %v", SpinEnv, st.Spin, err)
	}
}

// Without a spin, ops still start at or after their due time (never early:
// latency is measured from the due time) and the schedule holds.
func TestSpinOffKeepsTheSchedule(t *testing.T) {
	var early atomic.Int64
	d := DriverFunc(func(context.Context, *workloads.Op) error { return nil })
	rec := newRec()
	st, err := Run(context.Background(), RunConfig{
		Arrival: workloads.Constant{PerSecond: 5000}, Ops: indexSource{}, Concurrency: 4, Duration: 400 * time.Millisecond,
		Recorder: rec, Spin: SpinOff,
		Observe: func(_ int, _ *workloads.Op, s *reports.Sample) {
			if s.Start < s.Intended {
				early.Add(1)
			}
		},
	}, d)
	if err != nil {
		t.Fatal(err)
	}
	if st.Sent != 2000 || st.Unsent != 0 {
		t.Fatalf("sent %d, unsent %d; want 2000 and 0", st.Sent, st.Unsent)
	}
	if n := early.Load(); n != 0 {
		t.Errorf("%d ops started before they were due", n)
	}
	if st.SpinShare != 0 {
		t.Errorf("spin share %v with spinning off", st.SpinShare)
	}
}

// The auto gate starts closed, spins once one and a half cores are idle and
// stops when less than half a core is, and accounts the measured window.
func TestSpinGateHysteresis(t *testing.T) {
	g := newSpinGate(SpinAuto)
	g.measure, g.end = 0, 1000
	if g.spin() != (g.src == nil) {
		t.Errorf("auto gate starts with spin %v; want closed until a sample shows a spare core", g.spin())
	}
	g.allow.Store(false)
	steps := []struct {
		idle float64
		want bool
	}{{1.0, false}, {1.6, true}, {1.0, true}, {0.4, false}, {1.4, false}, {1.5, true}, {0.6, true}, {0.2, false}}
	for i, s := range steps {
		g.observe(s.idle)
		if got := g.spin(); got != s.want {
			t.Errorf("step %d (idle %.1f cores): spin %v, want %v", i, s.idle, got, s.want)
		}
	}
	clock := int64(0)
	now := func() int64 { return clock }
	g.allow.Store(true)
	clock = 400
	last := g.account(now, -100, true) // [−100, 400): 400 ns inside the window
	g.allow.Store(false)
	clock = 1500
	g.account(now, last, false) // [400, 1000) inside
	if g.windowNs != 1000 || g.allowedNs != 400 || g.share() != 0.4 {
		t.Errorf("window %d ns, allowed %d ns, share %v; want 1000, 400, 0.4", g.windowNs, g.allowedNs, g.share())
	}
}

// The sleeper's two estimators converge to the 80th and 20th percentiles of
// the overshoot.
func TestSleeperQuantiles(t *testing.T) {
	var hi, lo int64
	x := uint64(1)
	for range 200_000 {
		x = splitmixTest(x)
		over := int64(x % 100_000) // uniform on [0, 100 µs)
		learn(&hi, over, 800, 200)
		learn(&lo, over, 200, 800)
	}
	if hi < 75_000 || hi > 85_000 || lo < 15_000 || lo > 25_000 {
		t.Errorf("p80 estimate %d ns, p20 %d ns; want ≈ 80,000 and 20,000", hi, lo)
	}
}

func splitmixTest(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// Without spinning, a wait long enough for a sleep always gets one, however
// high the learned margin: otherwise the estimate, which learns only from
// sleeps, could never come down again, and every wait would be spun.
func TestThriftyMarginLeavesASleep(t *testing.T) {
	var sl sleeper
	for _, d := range []int64{60_000, 100_000, 500_000} {
		if m := sl.margin(d, false); d-m <= spinMinSleep(false) {
			t.Errorf("fresh sleeper, %d ns to wait: margin %d leaves no sleep (minimum %d)", d, m, spinMinSleep(false))
		}
		sl.lo[sleepBucket(d)] = 10 * d // learned absurdly high
		if m := sl.margin(d, false); d-m <= spinMinSleep(false) {
			t.Errorf("high estimate, %d ns to wait: margin %d leaves no sleep", d, m)
		}
	}
	if m := sl.margin(100_000, true); m != int64(defaultMargin) {
		t.Errorf("spinning margin %d, want the p80 estimate (default %d)", m, int64(defaultMargin))
	}
}
