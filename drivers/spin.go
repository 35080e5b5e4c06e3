package drivers

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// SpinPolicy says whether the open-loop dispatcher may busy-wait the last
// microseconds before an op is due.
//
// Why it matters: a nanosleep wakes tens of microseconds late on a virtual
// machine, so dispatching each op on time to the microsecond takes a spin
// before it. That spin costs the CPU of the wait itself. With a spare core
// it is free and buys precise dispatch; on a machine the harness shares with
// a busy target (two cores, engramd on loopback) it takes that core from the
// target and makes the target slower than it is. Measured on the 2-core VM,
// 2026-11-27, at 10,000 req/s against the loopback stub: spinning cost 90 µs
// of harness CPU per request against 64 without, and the target's p50 rose
// from 205 to 409 µs.
//
// Without a spin, an op starts when the nanosleep wakes: a few microseconds
// late at the median (the sleep aims a low quantile of its learned overshoot
// before due). Latency is measured from the intended start either way, so
// the lateness is in the results, never hidden.
type SpinPolicy uint8

const (
	// SpinDefault is the zero value: ENGRAM_BENCH_SPIN if set, else SpinAuto.
	SpinDefault SpinPolicy = iota
	// SpinAuto spins while the machine has a spare core: it starts
	// without, spins once one and a half cores are idle and stops when less
	// than half a core is. Idle means idle on the CPUs the process may run
	// on (its affinity), and within its cgroup v2 CPU quota if it has one.
	// Where idle time cannot be read (not Linux), it always spins.
	SpinAuto
	// SpinOn always spins: the most precise dispatch, at a core's cost.
	SpinOn
	// SpinOff never spins (except for the few microseconds when a sleep
	// woke early).
	SpinOff
)

// SpinEnv is the environment variable that sets the default SpinPolicy:
// auto, on or off.
const SpinEnv = "ENGRAM_BENCH_SPIN"

// ParseSpinPolicy parses auto, on or off.
func ParseSpinPolicy(s string) (SpinPolicy, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "auto", "":
		return SpinAuto, nil
	case "on":
		return SpinOn, nil
	case "off":
		return SpinOff, nil
	}
	return 0, fmt.Errorf("spin policy %q: want auto, on or off", s)
}

func (p SpinPolicy) String() string {
	switch p {
	case SpinAuto:
		return "auto"
	case SpinOn:
		return "on"
	case SpinOff:
		return "off"
	}
	return "default"
}

// SpinFromEnv is the policy ENGRAM_BENCH_SPIN sets (SpinAuto when unset),
// or an error naming the variable and its value: commands check it before
// they start anything.
func SpinFromEnv() (SpinPolicy, error) { return resolveSpin(SpinDefault) }

// resolveSpin turns SpinDefault into the environment's policy.
func resolveSpin(p SpinPolicy) (SpinPolicy, error) {
	if p != SpinDefault {
		return p, nil
	}
	v, ok := os.LookupEnv(SpinEnv)
	if !ok {
		return SpinAuto, nil
	}
	p, err := ParseSpinPolicy(v)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", SpinEnv, err)
	}
	return p, nil
}

// Hysteresis of SpinAuto, in idle cores over the last sample period.
const (
	spinStopIdle  = 0.5
	spinStartIdle = 1.5
	spinPeriod    = 200 * time.Millisecond
)

// spinGate decides, for the whole run, whether waits may end in a spin. Under
// SpinAuto a sampler goroutine reads the machine's idle time every
// spinPeriod and flips the gate with hysteresis.
type spinGate struct {
	policy SpinPolicy
	allow  atomic.Bool

	// The measured window's account (sampler goroutine, then read after
	// it stopped): run-clock ns in which spinning was allowed, of all.
	measure, end        int64
	allowedNs, windowNs int64

	src   *idleSource // SpinAuto with idle time readable; else nil
	first idleSample
}

func newSpinGate(p SpinPolicy) *spinGate {
	g := &spinGate{policy: p}
	switch p {
	case SpinOn:
		g.allow.Store(true)
	case SpinAuto:
		// Closed until a sample shows a spare core (on one CPU, never);
		// where idle time cannot be read, open, as SpinOn.
		g.src = newIdleSource()
		var ok bool
		if g.first, ok = g.src.read(); !ok {
			g.src = nil
			g.allow.Store(true)
		}
	}
	return g
}

func (g *spinGate) spin() bool { return g.allow.Load() }

// spinMinSleep is the shortest wait worth a nanosleep: when spinning is not
// allowed, a sleep shorter than minThriftySleep would cost about as much CPU
// as the spin it replaces, and wake late.
func spinMinSleep(spin bool) int64 {
	if spin {
		return int64(minSleep)
	}
	return int64(minThriftySleep)
}

// run samples idle time until stop is closed. now is the run clock and
// [measure, end) the measured window.
func (g *spinGate) run(stop <-chan struct{}, now func() int64, measure, end int64) {
	g.measure, g.end = measure, end
	if g.src == nil {
		<-stop
		g.account(now, measure, g.allow.Load())
		return
	}
	prev := g.first
	t := time.NewTicker(spinPeriod)
	defer t.Stop()
	last := now()
	for {
		select {
		case <-stop:
			g.account(now, last, g.allow.Load())
			return
		case <-t.C:
		}
		cur, ok := g.src.read()
		if !ok {
			continue
		}
		last = g.account(now, last, g.allow.Load())
		g.observe(cur.idleCores(prev))
		prev = cur
	}
}

// observe flips the gate on one sample of idle cores, with hysteresis.
func (g *spinGate) observe(idle float64) {
	switch {
	case g.allow.Load() && idle < spinStopIdle:
		g.allow.Store(false)
	case !g.allow.Load() && idle >= spinStartIdle:
		g.allow.Store(true)
	}
}

// account adds the part of [from, now) inside the measured window and
// returns now.
func (g *spinGate) account(now func() int64, from int64, allowed bool) int64 {
	t := now()
	if d := min(t, g.end) - max(from, g.measure); d > 0 {
		g.windowNs += d
		if allowed {
			g.allowedNs += d
		}
	}
	return t
}

// share is the fraction of the measured window in which spinning was
// allowed.
func (g *spinGate) share() float64 {
	if g.windowNs <= 0 {
		return 0
	}
	return float64(g.allowedNs) / float64(g.windowNs)
}

// idleSample is one reading of the CPU times of the cores this process may
// run on, and of its cgroup's CPU quota and usage.
type idleSample struct {
	idle, total uint64 // clock ticks, summed over the allowed CPUs
	cpus        int    // allowed CPUs
	// A cgroup v2 quota (cpu.max), in cores, 0 if none; the cgroup's CPU
	// usage (cpu.stat usage_usec) and the wall time of the reading, ns.
	quota   float64
	cgUsage int64
	at      int64
}

// idleCores is the number of idle cores between s0 and s: idle time on the
// allowed CPUs, and no more than what the cgroup's quota leaves.
func (s idleSample) idleCores(s0 idleSample) float64 {
	dt := s.total - s0.total
	if dt == 0 || s.total < s0.total || s.idle < s0.idle {
		return 0
	}
	idle := float64(s.idle-s0.idle) / float64(dt) * float64(s.cpus)
	if s.quota > 0 && s.at > s0.at && s.cgUsage >= s0.cgUsage {
		used := float64(s.cgUsage-s0.cgUsage) * 1e3 / float64(s.at-s0.at)
		idle = min(idle, s.quota-used)
	}
	return max(idle, 0)
}

// parseProcStat sums /proc/stat's per-CPU lines (cpuN) of the CPUs allowed
// reports true for: idle (idle and iowait) and total (user, nice, system,
// idle, iowait, irq, softirq, steal; guest time is already in user and
// nice). Steal counts as busy: a core the hypervisor gave to someone else is
// not spare.
func parseProcStat(b []byte, allowed func(cpu int) bool) (idleSample, bool) {
	var s idleSample
	for line := range bytes.Lines(b) {
		if !bytes.HasPrefix(line, []byte("cpu")) {
			break // the cpu lines come first
		}
		f := bytes.Fields(line)
		if len(f) < 5 {
			return idleSample{}, false
		}
		if string(f[0]) == "cpu" {
			continue // the sum over all CPUs
		}
		n, err := strconv.Atoi(string(f[0][3:]))
		if err != nil {
			return idleSample{}, false
		}
		if !allowed(n) {
			continue
		}
		s.cpus++
		for i := 1; i < len(f) && i <= 8; i++ {
			v, err := strconv.ParseUint(string(f[i]), 10, 64)
			if err != nil {
				return idleSample{}, false
			}
			s.total += v
			if i == 4 || i == 5 {
				s.idle += v
			}
		}
	}
	return s, s.cpus > 0
}

// parseCPUMax parses cgroup v2's cpu.max ("max 100000" or "QUOTA PERIOD")
// into cores; 0 means no quota.
func parseCPUMax(b []byte) float64 {
	f := bytes.Fields(b)
	if len(f) != 2 || string(f[0]) == "max" {
		return 0
	}
	q, err1 := strconv.ParseFloat(string(f[0]), 64)
	p, err2 := strconv.ParseFloat(string(f[1]), 64)
	if err1 != nil || err2 != nil || q <= 0 || p <= 0 {
		return 0
	}
	return q / p
}

// parseCPUStatUsage returns usage_usec from cgroup v2's cpu.stat.
func parseCPUStatUsage(b []byte) (int64, bool) {
	for line := range bytes.Lines(b) {
		if v, ok := bytes.CutPrefix(line, []byte("usage_usec ")); ok {
			n, err := strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}
