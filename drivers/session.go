package drivers

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
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
	// MaxLag is the harness-limited threshold (default 1 ms).
	MaxLag time.Duration
	// Interval is the reporting interval (default 1 s).
	Interval time.Duration
	// Live receives every interval as it closes (progress display, exporters).
	Live func(reports.Tick)
	// PreloadProgress is told how many memories are loaded, now and then.
	PreloadProgress func(done, total int64)
	// Env describes the machine; copied into the result.
	Env reports.Env
}

// Execute probes the target, preloads the scenario's memories, runs the
// measured load and returns its Result (evaluated against the scenario's
// targets). On cancellation it returns the partial result, marked Partial.
func Execute(ctx context.Context, p Plan) (*reports.Result, error) {
	sc := p.Scenario
	gen, err := workloads.NewGenerator(sc, p.Seed)
	if err != nil {
		return nil, err
	}
	arr, err := workloads.NewArrival(sc.Arrival, p.Seed)
	if err != nil {
		return nil, err
	}
	if p.Concurrency <= 0 {
		p.Concurrency = DefaultConcurrency
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
		WarmupS:        sc.Duration.Warmup().Seconds(),
		Env:            p.Env,
		Ops:            map[string]reports.OpStats{},
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

	// Preload (only shard 0 loads, so shards do not repeat it).
	if p.Shard == 0 && gen.PreloadCount() > 0 {
		t0 := time.Now()
		n, errs, err := preload(ctx, d, gen, p.Concurrency, p.PreloadProgress)
		res.Preload = reports.PreloadStats{Memories: n, DurationS: time.Since(t0).Seconds(), Errors: errs}
		if err != nil {
			return nil, err
		}
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("interrupted during preload: %w", ctx.Err())
	}

	names := workloads.KindNames()
	rec := reports.NewRecorder(names, min(p.Concurrency, 4*runtime.GOMAXPROCS(0)))
	var intervals []reports.Interval
	var origin int64
	rc := RunConfig{
		Arrival:     arr,
		Ops:         gen,
		Concurrency: p.Concurrency,
		Warmup:      sc.Duration.Warmup(),
		Duration:    sc.Duration.Total(),
		Shard:       p.Shard,
		Shards:      p.Shards,
		Interval:    p.Interval,
		MaxLag:      p.MaxLag,
		Recorder:    rec,
		OnTick: func(t reports.Tick) {
			if t.End > t.Start || t.Delta.All().Count > 0 {
				intervals = append(intervals, reports.SummarizeTick(t, names, origin))
			}
			if p.Live != nil {
				p.Live(t)
			}
		},
	}
	origin = int64(startDelay) + int64(rc.Warmup)
	res.StartedAt = time.Now().Add(startDelay + rc.Warmup).UTC()
	stats, err := Run(ctx, rc, d)
	if err != nil {
		return nil, err
	}
	res.Intervals = intervals
	shards := max(p.Shards, 1)
	res.TargetRate = arr.Rate() / float64(shards)
	Finish(res, rec.Cumulative(), stats, names, p.MaxLag)
	v := sc.Validation
	res.Evaluate(reports.Limits{P50Ms: v.ExpectedP50LatencyMs, P99Ms: v.ExpectedP99LatencyMs, P999Ms: v.ExpectedP999LatencyMs, ThroughputOpsSec: v.ExpectedThroughputOpsSec, MaxErrorRate: v.MaxErrorRate})
	return res, nil
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
	h.MaxLagNs = int64(maxLag)
	if secs > 0 {
		h.CPUPercent = 100 * stats.CPU.Seconds() / secs
	}
	// The harness limited the run when it could not dispatch at the target
	// rate although the target kept up (ops rarely waited for a worker), or
	// when its own lag (ops that had a free worker yet started late) is
	// most of the tail it measured.
	queuedShare := 0.0
	if res.Total.Count > 0 {
		queuedShare = float64(h.Queued) / float64(res.Total.Count)
	}
	lagShare := float64(h.HarnessLagP99Ns) / float64(max(res.Total.Latency.P99, 1))
	switch {
	case !stats.Interrupted && res.TargetRate > 0 && res.AchievedRate < minAchieved*res.TargetRate && queuedShare < 0.01 && res.Total.Count > 0:
		h.Limited = true
		h.Reason = fmt.Sprintf("achieved %.1f ops/s of %.1f ops/s while the target kept up (%.2f%% of ops waited for a worker): the harness could not dispatch at the rate",
			res.AchievedRate, res.TargetRate, 100*queuedShare)
	case h.HarnessLagP99Ns > int64(maxLag) && lagShare > limitShare:
		h.Limited = true
		h.Reason = fmt.Sprintf("dispatch lag p99 %s with free workers is %.0f%% of the latency p99 %s: the measured tail is mostly the harness's own lateness",
			reports.FormatNs(h.HarnessLagP99Ns), 100*lagShare, reports.FormatNs(res.Total.Latency.P99))
	case h.HarnessLagP99Ns > int64(maxLag):
		res.Warnings = append(res.Warnings, fmt.Sprintf("dispatch lag p99 %s with free workers exceeds %s (%.0f%% of the latency p99 %s; the lag is part of every latency)",
			reports.FormatNs(h.HarnessLagP99Ns), reports.FormatNs(int64(maxLag)), 100*lagShare, reports.FormatNs(res.Total.Latency.P99)))
	}
	if stats.Unsent > 0 && !stats.Interrupted {
		res.Warnings = append(res.Warnings, fmt.Sprintf("%d ops fell due in the window but never started before the drain timeout", stats.Unsent))
	}
	if stats.Abandoned > 0 {
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
// latency p99 (and above MaxLag), or an achieved rate below minAchieved of
// the target while ops did not wait for workers.
const (
	limitShare  = 0.5
	minAchieved = 0.99
)

// preloadBatch is how many memories one preload call stores.
const preloadBatch = 500

// preload stores the generator's preload memories: through Preloader in
// batches when the driver has it, else one op at a time, with bounded
// parallelism either way.
func preload(ctx context.Context, d Driver, gen *workloads.Generator, concurrency int, progress func(done, total int64)) (int64, int64, error) {
	total := gen.PreloadCount()
	batcher, _ := d.(Preloader)
	workers := runtime.GOMAXPROCS(0) * 2
	if batcher == nil {
		workers = max(workers, min(concurrency, 256))
	}
	var done, failed atomic.Int64
	var firstErr error
	var errOnce sync.Once
	var next atomic.Uint64
	chunk := uint64(preloadBatch)
	var wg sync.WaitGroup
	stopProgress := make(chan struct{})
	if progress != nil {
		go func() {
			t := time.NewTicker(time.Second)
			defer t.Stop()
			for {
				select {
				case <-stopProgress:
					return
				case <-t.C:
					progress(done.Load(), int64(total))
				}
			}
		}()
	}
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			byspace := map[string][]workloads.Op{}
			flush := func(space string) {
				ops := byspace[space]
				if len(ops) == 0 {
					return
				}
				if err := batcher.Preload(ctx, ops); err != nil {
					failed.Add(int64(len(ops)))
					errOnce.Do(func() { firstErr = err })
				} else {
					done.Add(int64(len(ops)))
				}
				byspace[space] = ops[:0]
			}
			var op workloads.Op
			for ctx.Err() == nil {
				lo := next.Add(chunk) - chunk
				if lo >= total {
					break
				}
				hi := min(lo+chunk, total)
				for j := lo; j < hi; j++ {
					if batcher == nil {
						gen.FillPreload(j, &op)
						if err := d.Do(ctx, &op); err != nil {
							failed.Add(1)
							errOnce.Do(func() { firstErr = err })
						} else {
							done.Add(1)
						}
						continue
					}
					sp := gen.SpaceOf(workloads.PreloadKey(j))
					ops := byspace[sp]
					ops = append(ops, workloads.Op{})
					gen.FillPreload(j, &ops[len(ops)-1])
					byspace[sp] = ops
					if len(ops) >= preloadBatch {
						flush(sp)
					}
				}
			}
			for sp := range byspace {
				flush(sp)
			}
		}()
	}
	wg.Wait()
	close(stopProgress)
	if progress != nil {
		progress(done.Load(), int64(total))
	}
	if f := failed.Load(); f > 0 && done.Load() == 0 {
		return done.Load(), f, fmt.Errorf("preload failed: %w", firstErr)
	}
	return done.Load(), failed.Load(), nil
}
