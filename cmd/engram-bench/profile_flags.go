package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/engram-bench/engram-bench/drivers"
	"github.com/engram-bench/engram-bench/reports"
	"github.com/engram-bench/engram-bench/workloads"
)

// profileFlags are run's profiling flags.
type profileFlags struct {
	kinds      string
	window     string
	url        string
	trigger    string
	triggerFor time.Duration
	self       bool
	top        int
}

func addProfileFlags(fl *pflag.FlagSet, f *profileFlags) {
	fl.StringVar(&f.kinds, "profile", "", "capture pprof profiles of the system under test while the load runs: any of "+strings.Join(reports.ProfileKinds, ",")+" (files beside --out)")
	fl.StringVar(&f.window, "profile-window", "", "when to profile, from the start of measuring: FROM..TO in whole seconds, e.g. 10s..40s (default: the whole measured window)")
	fl.StringVar(&f.url, "profile-url", "", "pprof root of the target (default: TARGET/debug/pprof for network drivers; in-process for embedded)")
	fl.StringVar(&f.trigger, "profile-trigger", "off", "capture a CPU profile once, when an interval's p99 first exceeds this: a duration (25ms), auto (the scenario's p99 target) or off")
	fl.DurationVar(&f.triggerFor, "profile-trigger-for", 10*time.Second, "length of the triggered CPU profile")
	fl.BoolVar(&f.self, "self-profile", false, "profile engram-bench itself too (cpu, heap, allocs), to tell harness cost from target cost")
	fl.IntVar(&f.top, "profile-top", reports.DefaultProfileTop, "functions listed per profile in the result")
}

// parseWindow reads FROM..TO ("10s..40s", "10s..", "..30s").
func parseWindow(s string) (from, to time.Duration, err error) {
	if s == "" {
		return 0, 0, nil
	}
	a, b, ok := strings.Cut(s, "..")
	if !ok {
		return 0, 0, fmt.Errorf("want FROM..TO, e.g. 10s..40s")
	}
	if a != "" {
		if from, err = time.ParseDuration(a); err != nil {
			return 0, 0, fmt.Errorf("start %q: %v", a, err)
		}
	}
	if b != "" {
		if to, err = time.ParseDuration(b); err != nil {
			return 0, 0, fmt.Errorf("end %q: %v", b, err)
		}
		if to == 0 {
			return 0, 0, fmt.Errorf("end 0: the window would be empty")
		}
	}
	return from, to, nil
}

// profileBase is where a run's profiles go: beside its result, named after it.
func profileBase(out string) string {
	return strings.TrimSuffix(out, filepath.Ext(out))
}

// startProfiles prepares the run's profile capture when profiling was asked
// for (nil when it was not).
func startProfiles(f *profileFlags, out string, plan *drivers.Plan) (*reports.ProfileCapture, error) {
	if f.kinds == "" && !f.self && (f.trigger == "" || f.trigger == "off") {
		return nil, nil
	}
	if out == "" {
		return nil, usageErr("--profile: profiles are written beside the result: give --out FILE")
	}
	sc := plan.Scenario
	cfg := reports.ProfileCaptureConfig{Self: f.self, Base: profileBase(out), Top: f.top, TriggerFor: f.triggerFor}
	if f.kinds != "" {
		seen := map[string]bool{}
		for _, k := range strings.Split(f.kinds, ",") {
			k = strings.TrimSpace(k)
			if seen[k] {
				return nil, usageErr("--profile %s: %s given twice", f.kinds, k)
			}
			seen[k] = true
			cfg.Kinds = append(cfg.Kinds, k)
		}
	}
	var err error
	if cfg.From, cfg.To, err = parseWindow(f.window); err != nil {
		return nil, usageErr("--profile-window %q: %v", f.window, err)
	}
	if sched, err := workloads.NewSchedule(sc, plan.Seed); err == nil {
		cfg.Measured = sched.Measured
	}
	switch f.trigger {
	case "", "off":
	case "auto":
		if sc.Validation.ExpectedP99LatencyMs == nil {
			return nil, usageErr("--profile-trigger auto: scenario %s sets no expected_p99_latency_ms; give a duration (--profile-trigger 25ms)", sc.ID)
		}
		cfg.TriggerP99 = time.Duration(*sc.Validation.ExpectedP99LatencyMs * 1e6)
	default:
		d, err := time.ParseDuration(f.trigger)
		if err != nil || d <= 0 {
			return nil, usageErr("--profile-trigger %q: want a duration (25ms), auto or off", f.trigger)
		}
		cfg.TriggerP99 = d
	}
	if len(cfg.Kinds) > 0 || cfg.TriggerP99 > 0 || f.self {
		switch {
		case inProcess(plan.Driver):
			cfg.Target = &reports.ProcessProfiles{}
		case f.url != "":
			cfg.Target = &reports.HTTPProfiles{Base: f.url}
		case plan.DriverConfig.Target != "" && (plan.Driver == "engram" || plan.Driver == "http"):
			cfg.Target = &reports.HTTPProfiles{Base: strings.TrimRight(plan.DriverConfig.Target, "/") + "/debug/pprof"}
		case len(cfg.Kinds) > 0 || cfg.TriggerP99 > 0:
			return nil, usageErr("--profile: the %s driver's target has no pprof endpoint engram-bench knows of: give --profile-url (a Go server's /debug/pprof root)", plan.Driver)
		}
	}
	pc, err := reports.NewProfileCapture(cfg)
	if err != nil {
		return nil, usageErr("--profile: %v", err)
	}
	return pc, nil
}
