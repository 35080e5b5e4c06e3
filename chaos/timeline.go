package chaos

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/engram-bench/engram-bench/reports"
)

// Timeline runs a fault schedule beside the load and accounts for every
// measured op around each fault: before it, while it is active, after it.
//
// Concurrency: Observe is safe for concurrent use and allocates nothing on
// its common path; Run is called once.
type Timeline struct {
	specs  []Spec
	kinds  []*Kind
	faults []Fault
	env    *Env
	// Health probes the target (nil: no health check). After each heal
	// the timeline polls it until it answers, or until it returns an error
	// wrapping ErrGone.
	Health func(ctx context.Context) error
	// RecoverTimeout bounds that wait. Default 30 s.
	RecoverTimeout time.Duration
	// RestartUnhealthyAfter restarts the owned process when it is still
	// unhealthy this long after a heal (a supervisor's liveness probe).
	// Default 3 s; negative: never.
	RestartUnhealthyAfter time.Duration

	injected, healed []atomic.Int64 // ns since measuring started; MaxInt64 until it happened
	acc              [][3]window

	mu      sync.Mutex
	results []reports.FaultResult
	done    chan struct{}
}

type window struct {
	mu      sync.Mutex
	count   int64
	errors  int64
	classes map[string]int64
	lat     *hdr.Histogram
}

// NewTimeline validates and builds every fault of specs for env. Faults
// run in order of At.
func NewTimeline(specs []Spec, env *Env) (*Timeline, error) {
	specs = append([]Spec(nil), specs...)
	sort.SliceStable(specs, func(a, b int) bool { return specs[a].At < specs[b].At })
	t := &Timeline{specs: specs, env: env, done: make(chan struct{}),
		injected: make([]atomic.Int64, len(specs)), healed: make([]atomic.Int64, len(specs)),
		acc: make([][3]window, len(specs)), results: make([]reports.FaultResult, len(specs))}
	for i, s := range specs {
		f, k, err := Build(s, env, i)
		if err != nil {
			var se *SpecError
			if errors.As(err, &se) {
				se.Index = i
			}
			return nil, fmt.Errorf("fault %d (%s): %w", i+1, s, err)
		}
		t.faults = append(t.faults, f)
		t.kinds = append(t.kinds, k)
		t.injected[i].Store(math.MaxInt64)
		t.healed[i].Store(math.MaxInt64)
		for w := range t.acc[i] {
			t.acc[i][w].lat = reports.NewHistogram()
			t.acc[i][w].classes = map[string]int64{}
		}
		t.results[i] = reports.FaultResult{Spec: s.String(), Kind: s.Kind, Class: k.Class}
	}
	prevNote := env.Note
	env.Note = func(i int, format string, args ...any) {
		t.mu.Lock()
		if i >= 0 && i < len(t.results) {
			t.results[i].Notes = append(t.results[i].Notes, fmt.Sprintf(format, args...))
		}
		t.mu.Unlock()
		if prevNote != nil {
			prevNote(i, format, args...)
		}
	}
	prevHerd := env.HerdDone
	env.HerdDone = func(i int, hs *reports.HerdStats) {
		t.mu.Lock()
		if i >= 0 && i < len(t.results) {
			t.results[i].Herd = hs
		}
		t.mu.Unlock()
		if prevHerd != nil {
			prevHerd(i, hs)
		}
	}
	return t, nil
}

// Specs returns the schedule, in order of At.
func (t *Timeline) Specs() []Spec { return t.specs }

// LossAllowed reports whether a fault of the schedule destroys stored data
// on purpose (lost writes are then expected).
func (t *Timeline) LossAllowed() bool {
	for _, k := range t.kinds {
		if k.LossAllowed {
			return true
		}
	}
	return false
}

// Done is closed when Run has returned.
func (t *Timeline) Done() <-chan struct{} { return t.done }

// Run injects and heals every fault on time, zero being the wall time
// measuring started. When ctx ends first, every injected fault is healed at
// once. It returns when every fault was healed (and its recovery waited
// for).
func (t *Timeline) Run(ctx context.Context, zero time.Time) {
	defer close(t.done)
	var wg sync.WaitGroup
	for i := range t.faults {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t.runOne(ctx, zero, i)
		}()
	}
	wg.Wait()
}

func sleepUntil(ctx context.Context, at time.Time) bool {
	d := time.Until(at)
	if d <= 0 {
		return ctx.Err() == nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-tm.C:
		return true
	}
}

func (t *Timeline) runOne(ctx context.Context, zero time.Time, i int) {
	s := t.specs[i]
	since := func() int64 { return int64(time.Since(zero)) }
	if !sleepUntil(ctx, zero.Add(s.At)) {
		t.healed[i].Store(since())
		t.injected[i].Store(since())
		t.note(i, "not injected: the run ended first")
		return
	}
	// A fault's own work (a restart) must finish even when the run ends.
	wctx := context.WithoutCancel(ctx)
	t.injected[i].Store(since())
	err := t.faults[i].Inject(wctx)
	t.mu.Lock()
	t.results[i].StartS = float64(t.injected[i].Load()) / 1e9
	if err != nil {
		t.results[i].InjectError = err.Error()
	}
	t.mu.Unlock()
	if err != nil && errors.Is(err, ErrRefused) {
		// Detected corruption: the target stays down; nothing to heal.
		now := since()
		t.healed[i].Store(now)
		t.mu.Lock()
		t.results[i].EndS = float64(now) / 1e9
		t.mu.Unlock()
		return
	}
	sleepUntil(ctx, zero.Add(s.End()))
	healAt := since()
	t.healed[i].Store(healAt)
	herr := t.faults[i].Heal(wctx)
	t.mu.Lock()
	t.results[i].EndS = float64(healAt) / 1e9
	if herr != nil {
		t.results[i].HealError = herr.Error()
	}
	t.mu.Unlock()
	t.recover(wctx, i, zero, healAt)
}

// recover waits for the target's health check after fault i was healed at
// healAt, restarting the owned process if it stays unhealthy.
func (t *Timeline) recover(ctx context.Context, i int, zero time.Time, healAt int64) {
	if t.Health == nil {
		return
	}
	timeout := t.RecoverTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	restartAfter := t.RestartUnhealthyAfter
	if restartAfter == 0 {
		restartAfter = 3 * time.Second
	}
	start := zero.Add(time.Duration(healAt))
	deadline := start.Add(timeout)
	restarted := false
	for {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		err := t.Health(pctx)
		cancel()
		if err == nil {
			r := time.Since(start).Seconds()
			t.mu.Lock()
			t.results[i].RecoverHealthS = &r
			t.mu.Unlock()
			return
		}
		if errors.Is(err, ErrGone) {
			t.note(i, "health not OK after the heal: %v", err)
			return
		}
		if time.Now().After(deadline) {
			t.note(i, "health not OK %s after the heal: %v", timeout, err)
			return
		}
		if !restarted && restartAfter > 0 && t.env.Process != nil && time.Since(start) > restartAfter {
			restarted = true
			took, rerr := t.env.Process.Restart(ctx)
			t.mu.Lock()
			t.results[i].Restarts++
			t.mu.Unlock()
			if rerr != nil {
				t.note(i, "still unhealthy %s after the heal (%v); restart failed: %v", restartAfter, err, rerr)
			} else {
				t.note(i, "still unhealthy %s after the heal (%v): restarted in %s", restartAfter, err, took.Round(time.Millisecond))
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (t *Timeline) note(i int, format string, args ...any) {
	t.mu.Lock()
	t.results[i].Notes = append(t.results[i].Notes, fmt.Sprintf(format, args...))
	t.mu.Unlock()
}

// afterLen is how long the "after" window of fault i lasts: as long as the
// fault, at least 5 s.
func (t *Timeline) afterLen(i int) int64 { return int64(max(t.specs[i].Duration, 5*time.Second)) }

// Observe accounts for one measured op: intended is its intended start in
// ns since measuring started, latency its end − intended start, class its
// error class ("" for success).
func (t *Timeline) Observe(intended, latency int64, class string) {
	for i := range t.specs {
		w := t.phase(i, intended)
		if w < 0 {
			continue
		}
		a := &t.acc[i][w]
		a.mu.Lock()
		a.count++
		if class != "" {
			a.errors++
			a.classes[class]++
		} else {
			a.lat.RecordValue(min(max(latency, 1), reports.HighestNs))
		}
		a.mu.Unlock()
	}
}

// phase returns 0 (before), 1 (during), 2 (after) or −1 for an op intended
// at ns. A fault not injected yet when the op finished was injected after
// it was intended, so the op is "before" it (and likewise for the heal).
func (t *Timeline) phase(i int, ns int64) int {
	inj, heal := t.injected[i].Load(), t.healed[i].Load()
	switch {
	case ns < inj:
		if i == 0 || ns >= t.healed[i-1].Load() {
			return 0
		}
	case ns < heal:
		return 1
	case heal != math.MaxInt64 && ns < heal+t.afterLen(i) && (i+1 == len(t.specs) || ns < t.injected[i+1].Load()):
		return 2
	}
	return -1
}

// Results summarises every fault after the run. intervals are the run's
// Result.Intervals, for the p99 recovery; p99TargetMs the target p99 (0:
// twice the p99 before the fault) and endS the end of the measured run.
//
// The intervals are not always a second long: one is a tick (1 s) in runs
// of up to reports.MaxIntervals ticks (an hour), and merges
// reports.TicksPerInterval ticks in longer ones (2 s up to two hours, 24 s
// in a 24-hour run). RecoverP99S is read on their grid, with their own
// start and end: the end of the first interval that starts at or after the
// heal and meets the target, less the heal (the interval the heal falls in
// is skipped: it holds ops of the fault). So it is at least one interval
// long and over-states the recovery by up to two intervals: seconds in an
// hour's run, up to 48 s in a 24-hour one.
func (t *Timeline) Results(intervals []reports.Interval, p99TargetMs, endS float64) []reports.FaultResult {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]reports.FaultResult, len(t.results))
	for i := range t.results {
		r := t.results[i]
		r.Notes = append([]string(nil), r.Notes...)
		inj, heal := float64(t.injected[i].Load())/1e9, float64(t.healed[i].Load())/1e9
		if t.injected[i].Load() == math.MaxInt64 {
			inj = endS
		}
		if t.healed[i].Load() == math.MaxInt64 {
			heal = endS
		}
		prev := 0.0
		if i > 0 {
			prev = math.Min(float64(t.healed[i-1].Load())/1e9, endS)
		}
		next := endS
		if i+1 < len(t.specs) {
			next = math.Min(next, float64(t.injected[i+1].Load())/1e9)
		}
		bounds := [3][2]float64{{prev, inj}, {inj, heal}, {heal, math.Min(heal+float64(t.afterLen(i))/1e9, next)}}
		ws := [3]*reports.WindowStats{&r.Before, &r.During, &r.After}
		for w := 0; w < 3; w++ {
			a := &t.acc[i][w]
			a.mu.Lock()
			st := reports.WindowStats{StartS: bounds[w][0], EndS: math.Max(bounds[w][0], bounds[w][1]), Count: a.count, Errors: a.errors, Availability: 1, Latency: reports.PercentilesOf(a.lat)}
			if a.count > 0 {
				st.Availability = float64(a.count-a.errors) / float64(a.count)
			}
			if len(a.classes) > 0 {
				st.ErrorsByClass = map[string]int64{}
				for k, v := range a.classes {
					st.ErrorsByClass[k] = v
				}
			}
			a.mu.Unlock()
			*ws[w] = st
		}
		target := p99TargetMs
		if target <= 0 && r.Before.Count > 0 {
			target = 2 * float64(r.Before.Latency.P99) / 1e6
		}
		if target > 0 && r.InjectError == "" {
			r.P99TargetMs = target
			for _, iv := range intervals {
				if iv.StartS < heal-1e-9 || iv.Count == 0 {
					continue
				}
				var p99 int64
				for _, o := range iv.Ops {
					p99 = max(p99, o.P99Ns)
				}
				if iv.Errors == 0 && float64(p99)/1e6 <= target {
					d := iv.EndS - heal
					r.RecoverP99S = &d
					break
				}
			}
		}
		out[i] = r
	}
	return out
}
