package capacity

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/engram-bench/engram-bench/drivers"
	"github.com/engram-bench/engram-bench/reports"
	"github.com/engram-bench/engram-bench/workloads"
)

// Runner runs each step as one drivers.Execute of the scenario at the step's
// offered rate: the scenario's own arrival pattern (constant, Poisson, …)
// scaled to the rate, its op mix and seed unchanged, its targets replaced by
// the SLO. It implements Stepper.
//
// Data between steps. By default the target is preloaded once, by the first
// step, and every later step runs on the same data (drivers.PreloadNone):
// reloading 100,000 memories into a server per step would cost more than the
// search itself, and operators size a running system, not an empty one. Each
// step replays the op stream from op 0 with the same seed, so the memories a
// step stores have the ids (and contents) of the earlier steps' first stores
// and rewrite them: the data set grows to the preload plus the stores of the
// longest step, not their sum, and Outcome.Memories says about how many
// memories each step began with. With Fresh set, every step gets a fresh
// target and its own preload instead (in-process engines only, where it is
// cheap enough to be worth the exactness).
type Runner struct {
	// Plan is every step's template: scenario, seed, driver and its config,
	// concurrency, environment. Plan.Live, when set, is fed every tick.
	Plan drivers.Plan
	// SLO becomes each step's validation targets, so a step's own result
	// carries them too.
	SLO reports.SLO
	// Fresh, when set, prepares a fresh target for step n and returns the
	// driver config to reach it and a cleanup to call after the step.
	Fresh func(ctx context.Context, n int) (drivers.Config, func(), error)
	// OutDir, when set, receives each step's result as step-NN.json.
	OutDir string
	// OnStart, when set, is told about each step before it starts.
	OnStart func(s StepSpec)

	preloaded bool
	preload   int64
	maxStored int64
}

var _ Stepper = (*Runner)(nil)

// Step implements Stepper.
func (r *Runner) Step(ctx context.Context, s StepSpec) (Outcome, error) {
	if r.Plan.Scenario == nil {
		return Outcome{}, errors.New("capacity runner: no scenario")
	}
	sc := r.Plan.Scenario.Clone()
	if err := sc.ScaleRate(s.Rate, r.Plan.Seed); err != nil {
		return Outcome{}, fmt.Errorf("scale to %g ops/s: %w", s.Rate, err)
	}
	if err := sc.SetDurations(s.Duration, s.Warmup); err != nil {
		return Outcome{}, err
	}
	l := r.SLO.Limits()
	sc.Validation = workloads.ValidationSpec{ExpectedP50LatencyMs: l.P50Ms, ExpectedP99LatencyMs: l.P99Ms, ExpectedP999LatencyMs: l.P999Ms,
		MaxErrorRate: l.MaxErrorRate, ExpectedRecallAt10: l.RecallAt10}
	sched, err := workloads.NewSchedule(sc, r.Plan.Seed)
	if err != nil {
		return Outcome{}, err
	}
	if sched.Closed != nil {
		return Outcome{}, errors.New("a capacity search needs an open-loop arrival: the scenario's is a closed loop, whose rate the target sets")
	}
	p := r.Plan
	p.Scenario = sc
	if r.OnStart != nil {
		r.OnStart(s)
	}
	var out Outcome
	if r.Fresh != nil {
		cfg, cleanup, err := r.Fresh(ctx, s.N)
		if err != nil {
			return Outcome{}, fmt.Errorf("fresh target: %w", err)
		}
		defer cleanup()
		p.DriverConfig = cfg
	} else if r.preloaded {
		p.Preload = drivers.PreloadNone
		out.Memories = r.preload + r.maxStored
	}
	watch := NewWatch(s.Collapse, sched, sched.Warmup, sched.Measured)
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	live := r.Plan.Live
	p.Live = func(t reports.Tick) {
		if live != nil {
			live(t)
		}
		if watch.Tick(t) {
			cancel()
		}
	}
	res, err := drivers.Execute(sctx, p)
	if err != nil {
		return Outcome{}, err
	}
	if res.Preload.Memories > 0 {
		r.preloaded, r.preload = true, res.Preload.Memories
		out.Memories = res.Preload.Memories
	} else if !r.preloaded && p.Preload != drivers.PreloadNone {
		r.preloaded = true // nothing to preload: later steps must not try again either
	}
	r.maxStored = max(r.maxStored, reports.StoredMemories(res, sc.Operations.BatchSize)-res.Preload.Memories)
	if watch.collapse && ctx.Err() == nil {
		out.Collapsed, out.CutAt = true, watch.CutAt()
		res.Verdict = reports.VerdictFail
		res.Reasons = append([]string{fmt.Sprintf("cut short at %s: the backlog (%d ops) kept growing past %s of arrivals", watch.CutAt(), watch.Backlog(), s.Collapse.MaxLatency)}, res.Reasons...)
	}
	res.EvaluateHypotheses()
	out.Result = res
	if r.OutDir != "" {
		name := fmt.Sprintf("step-%02d.json", s.N)
		if err := os.MkdirAll(r.OutDir, 0o755); err != nil {
			return out, err
		}
		if err := res.WriteFile(filepath.Join(r.OutDir, name)); err != nil {
			return out, err
		}
		out.File = name
	}
	return out, nil
}
