package drivers

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/engram-bench/engram-bench/reports"
	"github.com/engram-bench/engram-bench/workloads"
)

// ErrUnreachable wraps a failed probe of the target: the run cannot start.
var ErrUnreachable = errors.New("target unreachable")

// Plan is one measured run: a scenario (with any overrides already applied),
// a seed and a driver.
type Plan struct {
	Scenario *workloads.Scenario
	Seed     uint64
	// Driver is the registered driver name; DriverConfig configures it.
	Driver       string
	DriverConfig Config
	// Concurrency is the most ops in flight. Default 64.
	Concurrency int
	// Shard and Shards split the op stream (see RunConfig).
	Shard, Shards int
	// StartAt aligns the schedule's time zero to a wall time (see
	// RunConfig.StartAt); zero: start as soon as the preload is done.
	StartAt time.Time
	// Preload says which shards store the scenario's initial memories
	// (default PreloadAuto).
	Preload PreloadMode
	// MaxLag is the harness-limited threshold (default 1 ms).
	MaxLag time.Duration
	// Interval is the reporting interval (default 1 s).
	Interval time.Duration
	// Live receives every interval as it closes (progress display, exporters).
	Live func(reports.Tick)
	// PreloadProgress is told how many memories are loaded, now and then:
	// every PreloadProgressEvery (default 1 s).
	PreloadProgress      func(done, total int64)
	PreloadProgressEvery time.Duration
	// Env describes the machine; copied into the result.
	Env reports.Env
	// Source, when set, replaces the scenario's generated op stream (trace
	// replay); the scenario then only names the run and sets its targets.
	Source *Source
	// Opened, when set, is called with the driver once it is built and its
	// target answered the probe (comparisons read its Describe).
	Opened func(d Driver)
	// OnStart, when set, is told the instant measuring will begin, before
	// the run sends its first op (see RunConfig.OnStart).
	OnStart func(measureStart time.Time)
	// Wrap, when set, wraps the driver after Opened (chaos records every
	// write through it).
	Wrap func(d Driver) (Driver, error)
	// Started and Observe, when set, are passed to the runner: the run's
	// clock before the first op, and every measured op (beside the
	// breakdowns).
	Started func(RunClock)
	Observe Observer
}

// Source is an op stream that does not come from generating the scenario:
// a trace replay. Plan.Source replaces the scenario's generator, schedule and
// preload.
type Source struct {
	// Ops fills op i (a FailingSource when it reads a file).
	Ops OpSource
	// Arrival gives op i's intended start; Warmup is where measuring starts
	// and Duration the measured window after it.
	Arrival  workloads.Arrival
	Warmup   time.Duration
	Duration time.Duration
	// Preload yields the memories to store before measuring, in order, or is
	// nil; PreloadCount says how many (for progress).
	Preload      func(ctx context.Context, yield func(op *workloads.Op) error) error
	PreloadCount int64
	// Spaces are the memory spaces the ops use (for per-space results).
	Spaces []string
	// Rate is the offered rate over the measured window, ops/s (0: the
	// arrival's Rate).
	Rate float64
}

// ErrSourceFailed wraps a failure of the op source mid-run (a corrupt or
// truncated trace): Execute then returns the partial result with it.
var ErrSourceFailed = errors.New("op source failed")

// Execute probes the target, preloads the scenario's memories, runs the
// measured load and returns its Result (evaluated against the scenario's
// targets). On cancellation it returns the partial result, marked Partial.
// When the op source fails mid-run it returns the partial result, marked
// Partial and invalid, together with an error wrapping ErrSourceFailed.
func Execute(ctx context.Context, p Plan) (*reports.Result, error) {
	sc := p.Scenario
	var (
		sched   *workloads.Schedule
		ops     OpSource
		arr     workloads.Arrival
		closed  *workloads.ClosedLoop
		spaces  []string
		warmup  time.Duration
		measure time.Duration
		preload func(ctx context.Context, yield func(op *workloads.Op) error) error
		nPre    int64
	)
	if p.Source == nil {
		var err error
		if sched, err = workloads.NewSchedule(sc, p.Seed); err != nil {
			return nil, err
		}
		gen, err := workloads.NewGeneratorFor(sc, sched, p.Seed)
		if err != nil {
			return nil, err
		}
		ops, arr, closed, spaces = gen, sched, sched.Closed, gen.Spaces()
		warmup, measure = sched.Warmup, sched.Measured
		nPre = int64(gen.PreloadCount())
		preload = func(ctx context.Context, yield func(op *workloads.Op) error) error {
			var op workloads.Op
			for j := uint64(0); j < gen.PreloadCount(); j++ {
				gen.FillPreload(j, &op)
				if err := yield(&op); err != nil {
					return err
				}
			}
			return nil
		}
	} else {
		src := p.Source
		ops, arr, spaces, warmup, measure = src.Ops, src.Arrival, src.Spaces, src.Warmup, src.Duration
		preload, nPre = src.Preload, src.PreloadCount
	}
	if p.Concurrency <= 0 {
		p.Concurrency = DefaultConcurrency
	}
	if closed != nil {
		p.Concurrency = closed.Users
	}
	cfg := p.DriverConfig
	cfg.Concurrency = p.Concurrency
	if cfg.Dim == 0 {
		cfg.Dim = sc.Data.EmbeddingDim
	}
	d, err := New(ctx, p.Driver, cfg)
	if err != nil {
		return nil, err
	}
	defer Close(d)
	if pr, ok := d.(Prober); ok {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := pr.Probe(pctx)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrUnreachable, err)
		}
	}
	if p.Opened != nil {
		p.Opened(d)
	}
	warmer, _ := d.(Warmer) // the driver's own, not a wrapper's
	if p.Wrap != nil {
		w, err := p.Wrap(d)
		if err != nil {
			return nil, err
		}
		d = w
	}

	res := &reports.Result{
		Schema:         reports.Schema,
		Scenario:       sc.ID,
		ScenarioName:   sc.Name,
		ScenarioSource: sc.Source,
		ScenarioText:   sc.Text,
		Seed:           p.Seed,
		Driver:         p.Driver,
		Target:         cfg.Target,
		Concurrency:    p.Concurrency,
		WarmupS:        warmup.Seconds(),
		Env:            p.Env,
		Ops:            map[string]reports.OpStats{},
		LoadModel:      "open",
	}
	if len(cfg.Options) > 0 || cfg.NoSync {
		res.DriverOptions = map[string]string{}
		for k, v := range cfg.Options {
			res.DriverOptions[k] = v
		}
		if cfg.NoSync {
			res.DriverOptions["no_sync"] = "true"
		}
	}

	namer, ownOps := d.(OpNamer) // a driver with its own ops gets no preload
	// Preload: by default only shard 0 fills a shared target, and every
	// shard fills its own in-process engine (see PreloadMode).
	preloads, mode, err := p.Preload.Applies(p.Driver, p.Shard)
	if err != nil {
		return nil, err
	}
	shards := max(p.Shards, 1)
	if shards > 1 || !p.StartAt.IsZero() {
		res.Shard = &reports.ShardInfo{Index: p.Shard, Count: shards, Preload: string(mode), MeasuredS: measure.Seconds()}
		if !p.StartAt.IsZero() {
			at := p.StartAt.UTC()
			res.Shard.StartAt = &at
		}
	}
	if !p.StartAt.IsZero() && time.Now().After(p.StartAt) {
		return nil, LateStartError(p.StartAt, time.Now())
	}
	if preloads && nPre > 0 && preload != nil && !ownOps {
		t0 := time.Now()
		out, err := runPreload(ctx, d, preload, nPre, p.Concurrency, p.PreloadProgress, p.PreloadProgressEvery)
		res.Preload = reports.PreloadStats{Memories: out.done, DurationS: time.Since(t0).Seconds(), Errors: out.failed}
		if out.first != nil {
			res.Preload.FirstError = out.first.Error()
		}
		if err != nil {
			return nil, err
		}
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("interrupted during preload: %w", ctx.Err())
	}
	if warmer != nil {
		// Connections not opened in 10 s are dialled when an op needs one;
		// a target that refuses them is unreachable.
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := warmer.Warm(wctx)
		late := wctx.Err() != nil
		cancel()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("interrupted while opening connections: %w", ctx.Err())
		}
		if err != nil && !late {
			return nil, fmt.Errorf("%w: opening connections before measuring: %v", ErrUnreachable, err)
		}
	}

	names := workloads.KindNames()
	if ownOps {
		names = namer.OpNames()
	}
	shardsN := min(p.Concurrency, 4*runtime.GOMAXPROCS(0))
	rec := reports.NewRecorder(names, shardsN)
	obs := newObservers(sched, sc, spaces, workloads.KindNames(), min(shardsN, 4))
	obs.keepHistograms(shards > 1) // merge needs the breakdowns' histograms
	tick := p.Interval
	if tick <= 0 {
		tick = DefaultInterval
	}
	intervals := reports.NewIntervalBuilder(names, reports.TicksPerInterval(measure, tick))
	// Each interval's scheduled ops (the target line of its charts) are
	// counted on the run's own schedule, phases and all. A replayed trace
	// is not read a second time for it.
	var due *ScheduleCounter
	if sched != nil && closed == nil {
		due = NewScheduleCounter(sched, warmup, measure, p.Shard, p.Shards)
	}
	rc := RunConfig{
		Arrival:     arr,
		Ops:         ops,
		Concurrency: p.Concurrency,
		Warmup:      warmup,
		Duration:    measure,
		Shard:       p.Shard,
		Shards:      p.Shards,
		StartAt:     p.StartAt,
		Interval:    p.Interval,
		MaxLag:      p.MaxLag,
		Recorder:    rec,
		Observe:     obs.observe,
		Closed:      closed,
		OnStart:     p.OnStart,
		OnTick: func(t reports.Tick) {
			var n int64
			if due != nil {
				n = due.Count(t)
			}
			intervals.Add(t, n)
			if p.Live != nil {
				p.Live(t)
			}
		},
	}
	// The run covers the window its schedule covers, however sparse its
	// last ops: a generated schedule up to where its arrival ends (a trace
	// arrival may end early), a replayed trace up to its recorded end.
	switch {
	case p.Source != nil:
		rc.Hold = measure
	case sched != nil && closed == nil:
		rc.Hold = sched.Window()
	}
	if fs, ok := d.(FillSkipper); ok && fs.SkipsFill() {
		rc.Observe = nil // ops carry only their index: nothing to break down
	}
	rc.Started = p.Started
	if extra := p.Observe; extra != nil {
		if own := rc.Observe; own != nil {
			rc.Observe = func(w int, op *workloads.Op, s *reports.Sample) { own(w, op, s); extra(w, op, s) }
		} else {
			rc.Observe = extra
		}
	}
	stats, err := Run(ctx, rc, d)
	if err != nil {
		if errors.Is(err, ErrLateStart) && res.Preload.Memories > 0 {
			err = fmt.Errorf("%w (this shard's preload of %d memories took %.1fs)", err, res.Preload.Memories, res.Preload.DurationS)
		}
		return nil, err
	}
	res.StartedAt = stats.Start.Add(rc.Warmup).UTC()
	res.Intervals = intervals.Intervals()
	res.TargetRate = offeredRate(sched, arr) / float64(shards)
	if p.Source != nil && p.Source.Rate > 0 {
		res.TargetRate = p.Source.Rate / float64(shards)
	}
	if closed != nil {
		res.TargetRate = 0
		res.LoadModel = "closed"
	}
	if res.Shard != nil {
		res.Shard.StreamRate = res.TargetRate * float64(shards)
	}
	Finish(res, rec.Cumulative(), stats, names, p.MaxLag)
	obs.fill(res, stats.Seconds(), stats.MeasureStart, shards)
	if sched != nil && closed == nil {
		switch window := sched.Window(); {
		case window <= 0 && sched.Measured > 0:
			res.Warnings = append(res.Warnings, fmt.Sprintf("the trace arrival ends before the measured window begins (after the %s warm-up): nothing of it was measured", sched.Warmup.Round(time.Millisecond)))
		case window < sched.Measured:
			res.Warnings = append(res.Warnings, fmt.Sprintf("the trace arrival ends %s into the measured window, before its %s were up: the run ended with the trace, and the target rate is its ops over those %s", window.Round(time.Millisecond), sched.Measured.Round(time.Millisecond), window.Round(time.Millisecond)))
		}
	}
	if closed != nil {
		res.Warnings = append(res.Warnings, fmt.Sprintf("closed loop (%d users, think time %s): each user waits for a reply before sending again, so a slow target slows the load down and latency hides queueing; use an open-loop arrival to measure it", closed.Users, closed.ThinkMean))
	}
	res.Evaluate(ShardLimits(sc, shards))
	if stats.SourceErr != nil {
		res.Partial = true
		res.Verdict = reports.VerdictInvalid
		res.Reasons = append([]string{"incomplete: the op source failed mid-run: " + stats.SourceErr.Error()}, res.Reasons...)
		return res, fmt.Errorf("%w: %w", ErrSourceFailed, stats.SourceErr)
	}
	return res, nil
}

// ShardLimits are the scenario's validation targets for one of shards
// shards: the latency, error-rate and recall targets as they are, the
// throughput target divided by shards (each shard offers its share of the
// rate; `engram-bench merge` judges the whole against the full target).
func ShardLimits(sc *workloads.Scenario, shards int) reports.Limits {
	v := sc.Validation
	l := reports.Limits{P50Ms: v.ExpectedP50LatencyMs, P99Ms: v.ExpectedP99LatencyMs, P999Ms: v.ExpectedP999LatencyMs, ThroughputOpsSec: v.ExpectedThroughputOpsSec, MaxErrorRate: v.MaxErrorRate, RecallAt10: v.ExpectedRecallAt10}
	if shards > 1 && l.ThroughputOpsSec != nil {
		t := *l.ThroughputOpsSec / float64(shards)
		l.ThroughputOpsSec = &t
	}
	return l
}

// offeredRate is the rate the run offered over its measured window: the
// arrival's own rate for constant and Poisson arrivals, else the ops due in
// the window over its length (ramps, steps, bursts, phases, traces; a
// trace that ends before the window does cuts it short: see
// Schedule.Offered).
func offeredRate(sched *workloads.Schedule, arr workloads.Arrival) float64 {
	if sched == nil {
		return arr.Rate()
	}
	if len(sched.Phases) == 1 {
		switch sched.Phases[0].Arrival.(type) {
		case workloads.Constant, *workloads.Poisson:
			return sched.Phases[0].Arrival.Rate()
		}
	}
	ops, window := sched.Offered()
	if window <= 0 {
		return 0
	}
	return float64(ops) / window.Seconds()
}

// Finish fills the measured part of res from the run's totals and stats.
func Finish(res *reports.Result, tot *reports.Totals, stats RunStats, names []string, maxLag time.Duration) {
	if maxLag <= 0 {
		maxLag = DefaultMaxLag
	}
	secs := stats.Seconds()
	res.DurationS = secs
	res.Partial = stats.Interrupted
	for k := range tot.Ops {
		if tot.Ops[k].Count > 0 {
			res.Ops[names[k]] = reports.Summarize(&tot.Ops[k], secs)
		}
	}
	all := tot.All()
	res.Total = reports.Summarize(&all, secs)
	res.Total.LatencyHDR, res.Total.ServiceHDR = "", ""
	if secs > 0 {
		res.AchievedRate = float64(res.Total.Count) / secs
	}
	h := &res.Harness
	lag := reports.PercentilesOf(tot.Lag)
	h.LagP50Ns, h.LagP99Ns, h.LagP999Ns, h.LagMaxNs = lag.P50, lag.P99, lag.P999, lag.Max
	if tot.HarnessLag.TotalCount() > 0 {
		h.HarnessLagP99Ns = tot.HarnessLag.ValueAtQuantile(99)
	}
	h.Queued, h.Unsent, h.Saturated = tot.Queued, int64(stats.Unsent), tot.Saturated
	h.Abandoned = int64(stats.Abandoned)
	h.MaxLagNs = int64(maxLag)
	if secs > 0 {
		h.CPUPercent = 100 * stats.CPU.Seconds() / secs
	}
	h.Spin, h.SpinPercent = stats.Spin.String(), 100*stats.SpinShare
	// The harness limited the run when it could not dispatch at the target
	// rate although the target kept up (ops rarely waited for a worker), or
	// when its own lag (ops that had a free worker yet started late) is
	// most of the tail it measured.
	queuedShare := 0.0
	if res.Total.Count > 0 {
		queuedShare = float64(h.Queued) / float64(res.Total.Count)
	}
	// Ops due in the window that had not started when it ended, for reasons
	// of the harness (not a busy target): more than --max-lag of schedule
	// (and at least 1% of the ops) means the harness fell behind the rate.
	// When the drain timeout stopped the run with most workers still
	// waiting on the target (abandoned), the ops left unsent waited for the
	// target too, even if none of them was measured as queued: a target
	// still serving the warm-up's backlog when the window ended. (Not when
	// the op source failed: that stopped the run, not the target.)
	held := stats.SourceErr == nil && reports.HeldByTarget(int64(stats.Abandoned), res.Concurrency)
	behind := stats.StartedLate
	if queuedShare < 0.01 && !held {
		behind += stats.Unsent
	}
	due := float64(stats.Sent + stats.Unsent)
	allowedBehind := uint64(max(minBehindShare*due, res.TargetRate*maxLag.Seconds()+1))
	lagShare := float64(h.HarnessLagP99Ns) / float64(max(res.Total.Latency.P99, 1))
	switch {
	case !stats.Interrupted && behind > allowedBehind:
		h.Limited = true
		h.Reason = fmt.Sprintf("when the window ended the harness was %d ops behind the schedule (%.1f ms of it at %.0f ops/s) while workers were free: it could not dispatch at the rate",
			behind, 1e3*float64(behind)/max(res.TargetRate, 1e-9), res.TargetRate)
	case h.HarnessLagP99Ns > int64(maxLag) && lagShare > limitShare:
		h.Limited = true
		h.Reason = fmt.Sprintf("dispatch lag p99 %s with free workers is %.0f%% of the latency p99 %s: the measured tail is mostly the harness's own lateness",
			reports.FormatNs(h.HarnessLagP99Ns), 100*lagShare, reports.FormatNs(res.Total.Latency.P99))
	case h.HarnessLagP99Ns > int64(maxLag):
		res.Warnings = append(res.Warnings, fmt.Sprintf("dispatch lag p99 %s with free workers exceeds %s (%.0f%% of the latency p99 %s; the lag is part of every latency)",
			reports.FormatNs(h.HarnessLagP99Ns), reports.FormatNs(int64(maxLag)), 100*lagShare, reports.FormatNs(res.Total.Latency.P99)))
	}
	h.WarmupSpill = int64(stats.WarmupSpill)
	if res.Total.Count > 0 && stats.WarmupSpill > uint64(res.Total.Count)/100 || res.Total.Count == 0 && stats.WarmupSpill > 0 {
		who := "the target was behind from the start"
		if h.Limited {
			who = "the run was behind from the start"
		}
		res.Warnings = append(res.Warnings, fmt.Sprintf("%d ops due in the warm-up finished only inside the measured window (%s): the window's throughput counts the %d measured ops, not everything the target served",
			stats.WarmupSpill, who, res.Total.Count))
	}
	if stats.Unsent > 0 && !stats.Interrupted {
		res.Warnings = append(res.Warnings, fmt.Sprintf("%d ops fell due in the window but never started before the drain timeout", stats.Unsent))
	}
	if held && !stats.Interrupted {
		res.Warnings = append(res.Warnings, fmt.Sprintf("%d ops were still in flight when the drain timeout stopped the run, of at most %d: the target held the workers and fell behind the load; those ops are not counted", stats.Abandoned, res.Concurrency))
	} else if stats.Abandoned > 0 {
		res.Warnings = append(res.Warnings, fmt.Sprintf("%d ops were still in flight when the run stopped and are not counted", stats.Abandoned))
	}
	if res.Total.Count > 0 && float64(h.Queued) > 0.01*float64(res.Total.Count) {
		res.Warnings = append(res.Warnings, fmt.Sprintf("%.1f%% of ops waited for a free worker: the target (or --concurrency %d) limited the rate; their wait is in the latency", 100*float64(h.Queued)/float64(res.Total.Count), res.Concurrency))
	}
	if h.Saturated > 0 {
		res.Warnings = append(res.Warnings, fmt.Sprintf("%d latencies exceeded the 60 s histogram ceiling and were clamped", h.Saturated))
	}
}

// Harness-limited thresholds: harness lag above limitShare of the measured
// latency p99 (and above MaxLag), or, when the window ended, more ops not yet
// started for the harness's own reasons than minBehindShare of the window's
// ops and than MaxLag worth of schedule.
const (
	limitShare     = 0.5
	minBehindShare = 0.01
)
