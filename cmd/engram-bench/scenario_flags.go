package main

import (
	"strconv"
	"strings"
	"time"

	"github.com/engram-bench/engram-bench/workloads"
)

// applyOverrides applies --rate, --duration and --warmup to sc (warmup -1:
// not given). In a phased scenario they stretch the phases (SetDurations).
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
	if err := sc.SetDurations(duration, warmup); err != nil {
		return usageErr("--warmup %s: %v", warmup, err)
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
