package main

import (
	"strconv"
	"strings"
	"time"

	"github.com/engram-bench/engram-bench/workloads"
)

// applyOverrides applies --rate, --duration and --warmup to sc (warmup -1:
// not given). Phased scenarios take their length from their phases.
func applyOverrides(sc *workloads.Scenario, rate float64, duration, warmup time.Duration, seed uint64) error {
	if rate < 0 {
		return usageErr("--rate %g: must be > 0", rate)
	}
	if rate > 0 {
		if err := sc.ScaleRate(rate, seed); err != nil {
			return usageErr("--rate %g: %v", rate, err)
		}
	}
	if duration < 0 {
		return usageErr("--duration %s: must be > 0", duration)
	}
	if warmup < -1 {
		return usageErr("--warmup %s: must be >= 0", warmup)
	}
	if len(sc.Phases) > 0 && (duration > 0 || warmup >= 0) {
		return usageErr("--duration/--warmup: scenario %s has [[phases]]; their duration_seconds set its length", sc.ID)
	}
	if duration > 0 {
		sc.Duration.TotalSeconds = duration.Seconds()
	}
	if warmup >= 0 {
		sc.Duration.WarmupSeconds = warmup.Seconds()
	}
	return nil
}

// scenarioSeed is --seed when given, else the scenario's [run] seed, else 1.
func scenarioSeed(sc *workloads.Scenario, given bool, flag uint64) uint64 {
	switch {
	case given:
		return flag
	case sc.Run.Seed != nil:
		return *sc.Run.Seed
	}
	return 1
}

// parseShard reads --shard i/N ("" = the whole stream).
func parseShard(s string) (int, int, error) {
	if s == "" {
		return 0, 1, nil
	}
	a, b, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || n < 1 || i < 0 || i >= n {
		return 0, 0, usageErr("--shard %q: want i/N with 0 <= i < N, e.g. 0/4", s)
	}
	return i, n, nil
}
