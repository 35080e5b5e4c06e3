package chaos

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/engram-bench/engram-bench/reports"
)

// fakeProcess counts what the timeline does to it.
type fakeProcess struct{ kills, restarts, pauses, resumes atomic.Int32 }

func (p *fakeProcess) Kill() error   { p.kills.Add(1); return nil }
func (p *fakeProcess) Pause() error  { p.pauses.Add(1); return nil }
func (p *fakeProcess) Resume() error { p.resumes.Add(1); return nil }
func (p *fakeProcess) Restart(context.Context) (time.Duration, error) {
	p.restarts.Add(1)
	return time.Millisecond, nil
}
func (p *fakeProcess) Stop(context.Context, time.Duration) error { return nil }
func (p *fakeProcess) Running() bool                             { return true }
func (p *fakeProcess) DataDir() string                           { return "" }
func (p *fakeProcess) URL() string                               { return "" }

func TestTimelineWindows(t *testing.T) {
	p := &fakeProcess{}
	specs := []Spec{{Kind: "pause", At: 100 * time.Millisecond, Duration: 100 * time.Millisecond}, {Kind: "kill", At: 600 * time.Millisecond}}
	tl, err := NewTimeline(specs, &Env{Process: p})
	if err != nil {
		t.Fatal(err)
	}
	healthy := atomic.Bool{}
	tl.Health = func(context.Context) error {
		if healthy.Load() {
			return nil
		}
		healthy.Store(true) // unhealthy at the first probe after each heal
		return context.DeadlineExceeded
	}
	zero := time.Now()
	tl.Run(context.Background(), zero)
	if p.pauses.Load() != 1 || p.resumes.Load() != 1 || p.kills.Load() != 1 || p.restarts.Load() != 1 {
		t.Fatalf("pauses %d resumes %d kills %d restarts %d", p.pauses.Load(), p.resumes.Load(), p.kills.Load(), p.restarts.Load())
	}
	// Ops are placed by the times the faults really happened (a loaded
	// machine injects late): one before the pause, two in it, one after it
	// (before the kill), one after the kill.
	out := tl.Results(nil, 0, 1)
	ns := func(s float64) int64 { return int64(s * 1e9) }
	ps, pe, ks, ke := ns(out[0].StartS), ns(out[0].EndS), ns(out[1].StartS), ns(out[1].EndS)
	if !(ps >= ns(0.1) && pe > ps && ks > pe && ke >= ks) {
		t.Fatalf("times: pause %v–%v, kill %v–%v", out[0].StartS, out[0].EndS, out[1].StartS, out[1].EndS)
	}
	ms := int64(time.Millisecond)
	tl.Observe(ps/2, 2*ms, "")
	tl.Observe(ps+(pe-ps)/3, 90*ms, "")
	tl.Observe(ps+2*(pe-ps)/3, 90*ms, "timeout")
	tl.Observe((pe+ks)/2, 3*ms, "")
	tl.Observe(ke+100*ms, 4*ms, "connection_refused")
	out = tl.Results(nil, 0, 1)
	pause, kill := out[0], out[1]
	if pause.Before.Count != 1 || pause.During.Count != 2 || pause.During.Errors != 1 || pause.During.Availability != 0.5 || pause.After.Count != 1 {
		t.Errorf("pause windows %+v / %+v / %+v", pause.Before, pause.During, pause.After)
	}
	if pause.During.ErrorsByClass["timeout"] != 1 || pause.During.Latency.P50 < 89*ms {
		t.Errorf("pause during %+v", pause.During)
	}
	if kill.Before.Count != 1 || kill.After.Count != 1 || kill.After.Availability != 0 {
		t.Errorf("kill windows %+v / %+v", kill.Before, kill.After)
	}
	if pause.RecoverHealthS == nil || kill.RecoverHealthS == nil {
		t.Errorf("recovery %v %v", pause.RecoverHealthS, kill.RecoverHealthS)
	}
	// p99 recovery: the first interval after the heal with no errors and a
	// p99 under the target.
	ivs := []reports.Interval{
		{StartS: 0, EndS: 1, Count: 5, Ops: map[string]reports.IntervalOpStat{"store": {P99Ns: 200 * ms}}},
		{StartS: 1, EndS: 2, Count: 5, Errors: 1, Ops: map[string]reports.IntervalOpStat{"store": {P99Ns: 5 * ms}}},
		{StartS: 2, EndS: 3, Count: 5, Ops: map[string]reports.IntervalOpStat{"store": {P99Ns: 5 * ms}}},
	}
	out = tl.Results(ivs, 10, 3)
	if r, want := out[0].RecoverP99S, 3-pause.EndS; r == nil || math.Abs(*r-want) > 0.01 {
		t.Errorf("p99 recovery %v, want %.3f s (the end of the third interval − the heal)", r, want)
	}
}

// A run that ends early heals what is injected and skips what is not due.
func TestTimelineHealsOnCancel(t *testing.T) {
	p := &fakeProcess{}
	specs := []Spec{{Kind: "pause", At: 0, Duration: time.Hour}, {Kind: "kill", At: time.Hour}}
	tl, err := NewTimeline(specs, &Env{Process: p})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(50 * time.Millisecond); cancel() }()
	done := make(chan struct{})
	go func() { tl.Run(ctx, time.Now()); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if p.pauses.Load() != 1 || p.resumes.Load() != 1 || p.kills.Load() != 0 {
		t.Errorf("pauses %d resumes %d kills %d", p.pauses.Load(), p.resumes.Load(), p.kills.Load())
	}
	out := tl.Results(nil, 0, 0.05)
	if len(out[1].Notes) == 0 || out[1].Notes[0] != "not injected: the run ended first" {
		t.Errorf("notes %v", out[1].Notes)
	}
}

// A probe that says the target is gone ends the wait for its recovery at
// once, however long RecoverTimeout is.
func TestTimelineTargetGone(t *testing.T) {
	p := &fakeProcess{}
	tl, err := NewTimeline([]Spec{{Kind: "pause", At: 0, Duration: 10 * time.Millisecond}}, &Env{Process: p})
	if err != nil {
		t.Fatal(err)
	}
	probes := atomic.Int32{}
	tl.Health = func(context.Context) error {
		probes.Add(1)
		return fmt.Errorf("%w: store closed", ErrGone)
	}
	tl.RecoverTimeout = time.Hour
	tl.RestartUnhealthyAfter = -1
	done := make(chan struct{})
	go func() { tl.Run(context.Background(), time.Now()); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run waited for a target that is gone")
	}
	out := tl.Results(nil, 0, 0.05)
	if out[0].RecoverHealthS != nil || probes.Load() != 1 || p.restarts.Load() != 0 {
		t.Errorf("recovery %v after %d probes, %d restarts", out[0].RecoverHealthS, probes.Load(), p.restarts.Load())
	}
	if len(out[0].Notes) != 1 || !strings.Contains(out[0].Notes[0], "target gone: store closed") {
		t.Errorf("notes %q", out[0].Notes)
	}
}

// TestRecoverP99OnMergedIntervals checks the p99 recovery is read on the
// intervals' own grid: in a run over an hour each interval merges several
// seconds (24 in a 24-hour run), and recover_p99_s is the end of the first
// whole interval after the heal that met the target, less the heal — in
// steps of the interval, never of a second.
func TestRecoverP99OnMergedIntervals(t *testing.T) {
	p := &fakeProcess{}
	tl, err := NewTimeline([]Spec{{Kind: "pause", At: 0, Duration: 10 * time.Millisecond}}, &Env{Process: p})
	if err != nil {
		t.Fatal(err)
	}
	tl.Run(context.Background(), time.Now())
	heal := tl.Results(nil, 0, 1)[0].EndS
	per := reports.TicksPerInterval(24*time.Hour, time.Second)
	if per != 24 {
		t.Fatalf("a 24-hour run merges %d ticks per interval, want 24", per)
	}
	l := float64(per) // seconds per interval
	ms := int64(time.Millisecond)
	iv := func(n int, p99 int64, errors int64) reports.Interval {
		return reports.Interval{StartS: float64(n) * l, EndS: float64(n+1) * l, Count: 100, Errors: errors,
			Ops: map[string]reports.IntervalOpStat{"store": {P99Ns: p99}}}
	}
	for _, tc := range []struct {
		name string
		ivs  []reports.Interval
		want float64 // in intervals after the first's end; -1: never
	}{
		{"back at once: the interval the heal falls in is skipped", []reports.Interval{iv(0, 5*ms, 0), iv(1, 5*ms, 0)}, 2},
		{"one slow interval after the heal", []reports.Interval{iv(0, 500*ms, 0), iv(1, 500*ms, 0), iv(2, 5*ms, 0)}, 3},
		{"errors in the first interval after the heal", []reports.Interval{iv(0, 5*ms, 3), iv(1, 5*ms, 1), iv(2, 5*ms, 0)}, 3},
		{"never", []reports.Interval{iv(0, 5*ms, 0), iv(1, 500*ms, 0)}, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tl.Results(tc.ivs, 10, 3*l)[0].RecoverP99S
			if tc.want < 0 {
				if r != nil {
					t.Fatalf("recover_p99_s %v, want never", *r)
				}
				return
			}
			want := tc.want*l - heal
			if r == nil || math.Abs(*r-want) > 1e-6 {
				t.Fatalf("recover_p99_s %v, want %.3f s (the end of interval %g of %g s, less the heal at %.3f s)", r, want, tc.want, l, heal)
			}
			if *r < l {
				t.Errorf("recover_p99_s %.3f s is under one interval (%g s)", *r, l)
			}
		})
	}
}
