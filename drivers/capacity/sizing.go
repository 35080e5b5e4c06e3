package capacity

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/engram-bench/engram-bench/drivers"
	"github.com/engram-bench/engram-bench/drivers/systems"
	"github.com/engram-bench/engram-bench/reports"
)

// SizingSampleEvery is how often Size samples the target's memory and disk
// while loading: often enough for a few seconds' load to give a line, rarely
// enough that reading /proc/PID/smaps_rollup and walking the data directory
// cost the load little.
const SizingSampleEvery = 200 * time.Millisecond

// SizingConfig configures a sizing measurement.
type SizingConfig struct {
	// Memories to load (required, at least 1,000).
	Memories int64
	// Rate is the steady rate the CPU per op is measured at, ops/s
	// (required); Duration its measured window and Warmup its warm-up.
	Rate             float64
	Duration, Warmup time.Duration
	// PID is the process whose memory and CPU are the target's (with Tree,
	// its children too); DataDir the directory whose disk use is.
	PID     int
	Tree    bool
	DataDir string
	// InProcess is set when PID is this process (the embedded engine): the
	// harness's own CPU per op is then measured with the null driver on the
	// same op stream and subtracted.
	InProcess bool
	// System names what is measured, for the file ("engramd pid 1234").
	System string
	// OnSample is told about every memory and disk sample (progress).
	OnSample func(reports.SizingPoint)
}

// Validate checks the config.
func (c *SizingConfig) Validate() error {
	switch {
	case c.Memories < 1000:
		return fieldErr("memories", "%d", c.Memories, "load at least 1,000 for a line to fit through")
	case !(c.Rate > 0):
		return fieldErr("rate", "%g", c.Rate, "must be > 0")
	case c.Duration < 2*time.Second:
		return fieldErr("duration", "%s", c.Duration, "at least 2s (the CPU is read at interval boundaries)")
	case c.Warmup < 0:
		return fieldErr("warm-up", "%s", c.Warmup, "must be >= 0")
	case c.PID <= 0:
		return errors.New("no process to measure")
	case c.DataDir == "":
		return errors.New("no data directory to measure")
	}
	return nil
}

// Size loads cfg.Memories memories into the target (the scenario's preload,
// resized), sampling the target's memory (PSS) and disk as they arrive — at
// every preload progress report, every SizingSampleEvery, and once more when
// the load is done — and fits a line through the
// samples: bytes per memory and a base. It then runs the scenario at
// cfg.Rate and reads the target's CPU time at the first and last interval
// boundary of the measured window: CPU per op is the difference over the
// ops finished between them. For an in-process target the harness shares
// the process, so the same op stream is run once more against the null
// driver, whose CPU per op is the harness's alone, and subtracted.
//
// It returns the sizing and the measured run's result.
func Size(ctx context.Context, p drivers.Plan, cfg SizingConfig) (*reports.Sizing, *reports.Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, nil, err
	}
	// Check the process and the directory before loading: a sample that
	// cannot be read is skipped while loading, so a wrong pid would surface
	// only as "too few samples" after the whole load.
	if err := systems.CheckProcess(cfg.PID); err != nil {
		return nil, nil, fmt.Errorf("the process to measure: %w", err)
	}
	if err := CheckDataDir(cfg.DataDir); err != nil {
		return nil, nil, err
	}
	sc := p.Scenario.Clone()
	n := cfg.Memories
	sc.Data.Preload = &n
	if sc.Data.NumNodes < n {
		sc.Data.NumNodes = n
	}
	sc.Phases = nil
	if err := sc.ScaleRate(cfg.Rate, p.Seed); err != nil {
		return nil, nil, fmt.Errorf("rate %g: %w", cfg.Rate, err)
	}
	if err := sc.SetDurations(cfg.Duration, cfg.Warmup); err != nil {
		return nil, nil, err
	}
	p.Scenario = sc
	p.Preload = drivers.PreloadAuto
	p.PreloadProgressEvery = SizingSampleEvery

	s := &reports.Sizing{Schema: reports.SizingSchema, Scenario: sc.ID, ScenarioSource: sc.Source, Driver: p.Driver, Target: p.DriverConfig.Target,
		Seed: p.Seed, Dim: sc.Data.EmbeddingDim, StartedAt: time.Now().UTC(), Env: p.Env, System: cfg.System}
	t0 := time.Now()
	var mu sync.Mutex
	var sampleErr error // the last failed memory sample, reported if too few succeed
	sample := func(memories int64) {
		pt := reports.SizingPoint{Memories: memories, AtS: time.Since(t0).Seconds()}
		m, err := systems.MeasureMemory(cfg.PID, cfg.Tree)
		if err != nil {
			mu.Lock()
			sampleErr = err
			mu.Unlock()
			return
		}
		pt.MemoryBytes = m.Bytes
		if s.MemoryHow == "" {
			s.MemoryHow = "PSS"
			if !m.PSS {
				s.MemoryHow = "RSS"
			}
		}
		if d, err := systems.DiskUsage(cfg.DataDir); err == nil {
			pt.DiskBytes = d
		}
		mu.Lock()
		s.Points = append(s.Points, pt)
		mu.Unlock()
		if cfg.OnSample != nil {
			cfg.OnSample(pt)
		}
	}
	sample(0)
	var loaded int64
	p.PreloadProgress = func(done, total int64) {
		loaded = done
		if done < total {
			sample(done)
		}
	}
	onStart := p.OnStart
	p.OnStart = func(at time.Time) {
		sample(loaded) // the load is done; no op has run yet
		if onStart != nil {
			onStart(at)
		}
	}
	cpu := &cpuReader{pid: cfg.PID}
	live := p.Live
	p.Live = func(t reports.Tick) {
		cpu.tick(t)
		if live != nil {
			live(t)
		}
	}
	res, err := drivers.Execute(ctx, p)
	if err != nil {
		return nil, nil, err
	}
	if res.Partial {
		return nil, res, errors.New("interrupted: no sizing from a partial run")
	}
	s.Loaded = res.Preload.Memories
	if s.Loaded < cfg.Memories {
		s.Warnings = append(s.Warnings, fmt.Sprintf("only %d of %d memories were loaded (%d preload errors)", s.Loaded, cfg.Memories, res.Preload.Errors))
	}
	// No sample after the measured run: by then the Go runtime has returned
	// freed memory to the OS and the store has compacted, a different regime
	// from the load's, and the line is about the load.
	s.Memory, s.Disk = reports.FitSizing(s.Points)
	if s.Memory.Points < 2 && sampleErr != nil {
		return nil, res, fmt.Errorf("%d sample(s) while loading, too few for a line: %w (did the process exit?)", s.Memory.Points, sampleErr)
	}
	if s.Memory.Points < 2 {
		return nil, res, fmt.Errorf("the load of %d memories took %.2fs: %d sample(s) while loading, too few for a line; load more memories (--memories)", s.Loaded, res.Preload.DurationS, s.Memory.Points)
	}
	for _, pt := range s.Points {
		s.PeakMemoryBytes, s.PeakDiskBytes = max(s.PeakMemoryBytes, pt.MemoryBytes), max(s.PeakDiskBytes, pt.DiskBytes)
	}
	if len(s.Points) < 5 {
		s.Warnings = append(s.Warnings, fmt.Sprintf("only %d samples: the load took %.0fs; load more memories for a steadier fit", len(s.Points), res.Preload.DurationS))
	}
	cpuSecs, ops, secs, err := cpu.result()
	if err != nil {
		return nil, res, err
	}
	c := reports.SizingCPU{Rate: cfg.Rate, Seconds: secs, Ops: ops, CPUSeconds: cpuSecs, How: fmt.Sprintf("CPU time of %s", cfg.System),
		P50Ns: res.Total.Latency.P50, P99Ns: res.Total.Latency.P99, ErrorRate: res.Total.ErrorRate}
	if cfg.InProcess {
		h, err := harnessPerOp(ctx, p, cfg)
		if err != nil {
			return nil, res, fmt.Errorf("the harness's own CPU (null driver): %w", err)
		}
		c.HarnessPerOpNs = h
		c.CPUSeconds = max(cpuSecs-h*float64(ops)/1e9, 0)
		c.How = fmt.Sprintf("CPU time of %s, less the harness's own %s per op (the same op stream against the null driver)", cfg.System, reports.FormatNs(int64(h)))
	}
	if ops > 0 {
		c.PerOpNs = c.CPUSeconds * 1e9 / float64(ops)
	}
	if c.HarnessPerOpNs > 0 && c.HarnessPerOpNs >= c.PerOpNs {
		s.Warnings = append(s.Warnings, fmt.Sprintf("the harness's own CPU per op (%s) is as large as the engine's (%s): at %g ops/s the process's fixed costs per second outweigh the ops and the difference is mostly noise; raise --rate (still well below the knee)",
			reports.FormatNs(int64(c.HarnessPerOpNs)), reports.FormatNs(int64(c.PerOpNs)), cfg.Rate))
	}
	s.CPU = c
	if res.Harness.Limited || res.Total.ErrorRate > 0.01 || res.AchievedRate < 0.95*cfg.Rate {
		s.Warnings = append(s.Warnings, fmt.Sprintf("the measured run was not steady (achieved %.1f of %g ops/s, errors %.2f%%, harness-limited %v): its CPU per op may be off; lower --rate",
			res.AchievedRate, cfg.Rate, 100*res.Total.ErrorRate, res.Harness.Limited))
	}
	return s, res, nil
}

// CheckDataDir returns nil when dir is a directory whose disk use can be
// measured (SizingConfig.DataDir), else an error naming it.
func CheckDataDir(dir string) error {
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("the data directory to measure: %w", err)
	}
	if !st.IsDir() {
		return fmt.Errorf("the data directory to measure: %s is not a directory", dir)
	}
	if _, err := systems.DiskUsage(dir); err != nil {
		return fmt.Errorf("the data directory to measure: %w", err)
	}
	return nil
}

// cpuReader reads the target's CPU time at interval boundaries: the first
// and the last of the measured window.
type cpuReader struct {
	pid          int
	first, last  time.Duration
	opsAtFirst   int64
	ops          int64
	tFirst, tEnd int64
	n            int
	err          error
}

func (c *cpuReader) tick(t reports.Tick) {
	v, err := systems.CPUTime(c.pid)
	if err != nil {
		c.err = err
		return
	}
	var done int64
	for i := range t.Cumulative.Ops {
		done += t.Cumulative.Ops[i].Count
	}
	if c.n == 0 {
		c.first, c.opsAtFirst, c.tFirst = v, done, t.End
	}
	c.last, c.ops, c.tEnd = v, done, t.End
	c.n++
}

// result is the CPU seconds and ops between the first and last boundary.
func (c *cpuReader) result() (cpuSecs float64, ops int64, secs float64, err error) {
	if c.err != nil {
		return 0, 0, 0, c.err
	}
	if c.n < 2 {
		return 0, 0, 0, errors.New("the measured run was too short to read the CPU twice")
	}
	return (c.last - c.first).Seconds(), c.ops - c.opsAtFirst, float64(c.tEnd-c.tFirst) / 1e9, nil
}

// harnessPerOp runs the same op stream at the same rate against the null
// driver (the harness alone) and returns its CPU per op, in ns.
func harnessPerOp(ctx context.Context, p drivers.Plan, cfg SizingConfig) (float64, error) {
	p.Driver = "null"
	p.DriverConfig = drivers.Config{}
	p.Preload = drivers.PreloadNone
	p.PreloadProgress, p.OnStart = nil, nil
	cpu := &cpuReader{pid: os.Getpid()}
	p.Live = cpu.tick
	if _, err := drivers.Execute(ctx, p); err != nil {
		return 0, err
	}
	secs, ops, _, err := cpu.result()
	if err != nil {
		return 0, err
	}
	if ops == 0 {
		return 0, errors.New("no op finished")
	}
	return secs * 1e9 / float64(ops), nil
}
