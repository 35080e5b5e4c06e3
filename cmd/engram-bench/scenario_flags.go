package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/engram-bench/engram-bench/drivers"
	"github.com/engram-bench/engram-bench/workloads"
)

// checkConcurrency checks -c/--concurrency where 0 stands for "the
// scenario's": given as 0 (or below), it is refused, not taken as the
// default.
func checkConcurrency(cmd *cobra.Command, v int) error {
	if v < 0 || v == 0 && cmd.Flags().Changed("concurrency") {
		return usageErr("--concurrency %d: must be > 0", v)
	}
	return nil
}

// applyOverrides applies --rate, --duration and --warmup to sc (warmup -1:
// not given). In a phased scenario they stretch the phases (SetDurations).
func applyOverrides(sc *workloads.Scenario, rate float64, duration, warmup time.Duration, seed uint64) error {
	if err := checkRateFlag("--rate", rate, true); err != nil {
		return err
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
	// A drill's file was validated with its own durations: the flags must
	// keep what the file had to (checked here, before a preload that can
	// take minutes, not found out after the run).
	if d := sc.Drill; d != nil {
		if duration > 0 && d.DisasterAtS >= duration.Seconds() {
			return usageErr("--duration %s: %s's drill.disaster_at_s (%gs) must come before the end of the run, leaving time to recover", duration, sc.ID, d.DisasterAtS)
		}
		if warmup > 0 {
			return usageErr("--warmup %s: must be 0 in a drill (%s): every acknowledged write is accounted for, and warm-up ops are not recorded", warmup, sc.ID)
		}
	}
	return nil
}

// maxRateFlag bounds a rate flag, ops/s: the scenario's own bound on
// arrival.rate.
const maxRateFlag = 1e9

// checkRateFlag refuses a rate flag that is not a finite number in
// (0, maxRateFlag] ops/s — NaN, ±Inf and negatives — naming the flag and
// value. zeroOK: 0 means "not given" (the scenario's rate).
func checkRateFlag(flag string, rate float64, zeroOK bool) error {
	if zeroOK && rate == 0 {
		return nil
	}
	if !(rate > 0) || rate > maxRateFlag {
		return usageErr("%s %g: must be > 0 (a finite number of ops/s, at most 1e9)", flag, rate)
	}
	return nil
}

// checkMaxLag refuses a negative --max-lag (0 is the default, 1 ms).
func checkMaxLag(d time.Duration) error {
	if d < 0 {
		return usageErr("--max-lag %s: must be >= 0 (0: the default, %s)", d, drivers.DefaultMaxLag)
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

// maxStartAhead bounds --start-at: further ahead is almost surely a
// mistake (Unix milliseconds given as seconds).
const maxStartAhead = 24 * time.Hour

// parseStartAt reads --start-at: RFC 3339 (fractional seconds allowed) or
// Unix seconds ("1795694400", "1795694400.25"). The time must lie ahead of
// now and at most maxStartAhead after it. "" is the zero time (no alignment).
func parseStartAt(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		var uerr error
		if t, uerr = parseUnix(s); uerr != nil {
			return time.Time{}, errors.New("want RFC 3339 (2026-11-26T12:00:00Z) or Unix seconds (1795694400)")
		}
	}
	switch {
	case !t.After(now):
		return time.Time{}, fmt.Errorf("%s has already passed (now %s): give every shard the same time a little ahead",
			t.UTC().Format(time.RFC3339Nano), now.UTC().Format(time.RFC3339))
	case t.Sub(now) > maxStartAhead:
		return time.Time{}, fmt.Errorf("%s is more than %s ahead (Unix time is in seconds, not milliseconds)", t.UTC().Format(time.RFC3339Nano), maxStartAhead)
	}
	return t, nil
}

// parseUnix reads Unix seconds with an optional fraction, exactly to the
// nanosecond (no float rounding).
func parseUnix(s string) (time.Time, error) {
	ip, fp, hasFrac := strings.Cut(s, ".")
	if ip == "" || strings.Trim(ip, "0123456789") != "" || len(ip) > 12 {
		return time.Time{}, errors.New("not Unix seconds")
	}
	sec, err := strconv.ParseInt(ip, 10, 64)
	if err != nil {
		return time.Time{}, err
	}
	var ns int64
	if hasFrac {
		if fp == "" || len(fp) > 9 || strings.Trim(fp, "0123456789") != "" {
			return time.Time{}, errors.New("not Unix seconds")
		}
		ns, _ = strconv.ParseInt(fp+strings.Repeat("0", 9-len(fp)), 10, 64)
	}
	return time.Unix(sec, ns).UTC(), nil
}
