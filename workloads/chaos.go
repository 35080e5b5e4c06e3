package workloads

import (
	"bytes"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ChaosSpec is the [chaos] table: Engram's `enabled` switch, and our fault
// schedule and drill settings (docs/chaos.md). Package chaos checks each
// fault's kind and parameters; this package checks the shape.
type ChaosSpec struct {
	// Enabled runs the fault schedule. Unset with faults listed: true.
	Enabled bool `toml:"enabled" json:"enabled"`
	// Faults is the schedule: [[chaos.faults]] kind, at, duration, params.
	Faults []FaultSpec `toml:"faults" json:"faults,omitempty"`
	// Sync starts the harness's engramd with --sync (default true).
	Sync *bool `toml:"sync" json:"sync,omitempty"`
	// Check reads back every write after recovery (default true).
	Check *bool `toml:"check" json:"check,omitempty"`
	// RecoverTimeoutSec bounds the wait for health after each heal (default 30).
	RecoverTimeoutSec float64 `toml:"recover_timeout_sec" json:"recover_timeout_sec,omitempty"`
	// ErrorBudget is the share of measured ops allowed to fail over the run;
	// spending more fails the drill. Unset: no budget.
	ErrorBudget *float64 `toml:"error_budget" json:"error_budget,omitempty"`
	// P99TargetMs is the p99 a fault's recovery waits for (default: the
	// scenario's expected_p99_latency_ms, else twice the p99 before the fault).
	P99TargetMs float64 `toml:"p99_target_ms" json:"p99_target_ms,omitempty"`
}

// FaultSpec is one [[chaos.faults]] entry.
type FaultSpec struct {
	Kind     string         `toml:"kind" json:"kind"`
	At       string         `toml:"at" json:"at"`                       // from the start of measuring, e.g. "30s"
	Duration string         `toml:"duration" json:"duration,omitempty"` // e.g. "10s"; empty: instant
	Params   map[string]any `toml:"params" json:"params,omitempty"`     // kind-specific
	// Line is the line of its [[chaos.faults]] header (0 when unknown).
	Line int `toml:"-" json:"-"`
}

// AtDuration and DurationValue parse At and Duration (validated already).
func (f FaultSpec) AtDuration() time.Duration { d, _ := time.ParseDuration(f.At); return d }

// DurationValue is Duration parsed; 0 when empty.
func (f FaultSpec) DurationValue() time.Duration {
	if f.Duration == "" {
		return 0
	}
	d, _ := time.ParseDuration(f.Duration)
	return d
}

// ParamStrings returns the parameters as text: numbers in their shortest
// form, booleans as true/false.
func (f FaultSpec) ParamStrings() map[string]string {
	if len(f.Params) == 0 {
		return nil
	}
	out := make(map[string]string, len(f.Params))
	for k, v := range f.Params {
		out[k] = paramString(v)
	}
	return out
}

func paramString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case time.Duration:
		return x.String()
	}
	return fmt.Sprint(v)
}

// KeyLine returns the line of key ("kind", "at", "params.latency") of
// fault i in the scenario's text, or the fault's own line.
func (s *Scenario) FaultKeyLine(i int, key string) int {
	if i < 0 || i >= len(s.Chaos.Faults) {
		return 0
	}
	return faultKeyLine([]byte(s.Text), i, key, s.Chaos.Faults[i].Line)
}

var faultHeaderRe = regexp.MustCompile(`^\s*\[\[\s*chaos\s*\.\s*faults\s*\]\]`)

func faultLines(src []byte) []int {
	var out []int
	for i, line := range bytes.Split(src, []byte("\n")) {
		if faultHeaderRe.Match(line) {
			out = append(out, i+1)
		}
	}
	return out
}

func faultKeyLine(src []byte, i int, key string, fallback int) int {
	lines := bytes.Split(src, []byte("\n"))
	starts := faultLines(src)
	if i >= len(starts) {
		return fallback
	}
	first, _, _ := strings.Cut(key, ".")
	re := regexp.MustCompile(`^\s*"?` + regexp.QuoteMeta(first) + `"?\s*=`)
	sub := regexp.MustCompile(`^\s*\[\s*chaos\s*\.\s*faults\s*\.\s*` + regexp.QuoteMeta(first) + `\s*\]`)
	for l := starts[i]; l < len(lines); l++ {
		if faultHeaderRe.Match(lines[l]) {
			break
		}
		if re.Match(lines[l]) || sub.Match(lines[l]) {
			return l + 1
		}
	}
	return starts[i]
}

func (c ChaosSpec) clone() ChaosSpec {
	out := c
	out.Faults = nil
	for _, f := range c.Faults {
		g := f
		if f.Params != nil {
			g.Params = make(map[string]any, len(f.Params))
			for k, v := range f.Params {
				g.Params[k] = v
			}
		}
		out.Faults = append(out.Faults, g)
	}
	if c.Sync != nil {
		b := *c.Sync
		out.Sync = &b
	}
	if c.Check != nil {
		b := *c.Check
		out.Check = &b
	}
	if c.ErrorBudget != nil {
		x := *c.ErrorBudget
		out.ErrorBudget = &x
	}
	return out
}

// validate checks the shape of the schedule; package chaos checks each
// kind's parameters (and names the same file, line and key).
func (c *ChaosSpec) validate(v *validator) {
	if v.err != nil {
		return
	}
	lines := faultLines(v.src)
	for i := range c.Faults {
		f := &c.Faults[i]
		if i < len(lines) {
			f.Line = lines[i]
		}
		key := func(k string) string { return fmt.Sprintf("chaos.faults[%d].%s", i, k) }
		fail := func(k string, val any, format string, args ...any) {
			if v.err == nil {
				v.err = &SpecError{File: v.file, Line: faultKeyLine(v.src, i, k, f.Line), Key: key(k), Value: val, Msg: fmt.Sprintf(format, args...)}
			}
		}
		if f.Kind == "" {
			fail("kind", nil, "missing (e.g. kind = \"kill\"; engram-bench chaos list shows every kind)")
		}
		if d, err := time.ParseDuration(f.At); f.At == "" || err != nil || d < 0 {
			fail("at", f.At, "must be a duration from the start of measuring, e.g. \"30s\"")
		}
		if f.Duration != "" {
			if d, err := time.ParseDuration(f.Duration); err != nil || d < 0 {
				fail("duration", f.Duration, "must be a duration, e.g. \"10s\"")
			}
		}
		names := make([]string, 0, len(f.Params))
		for k := range f.Params {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			switch x := f.Params[k].(type) {
			case string, int64, bool:
			case float64:
				if math.IsNaN(x) || math.IsInf(x, 0) {
					fail("params."+k, x, "must be finite")
				}
			default:
				fail("params."+k, fmt.Sprint(x), "must be a string, number or boolean")
			}
		}
	}
	if c.RecoverTimeoutSec < 0 || math.IsNaN(c.RecoverTimeoutSec) {
		v.errf("chaos.recover_timeout_sec", c.RecoverTimeoutSec, "must be >= 0")
	}
	if c.ErrorBudget != nil && !(*c.ErrorBudget >= 0 && *c.ErrorBudget <= 1) {
		v.errf("chaos.error_budget", *c.ErrorBudget, "must be a fraction in [0, 1]")
	}
	if c.P99TargetMs < 0 || math.IsNaN(c.P99TargetMs) {
		v.errf("chaos.p99_target_ms", c.P99TargetMs, "must be >= 0")
	}
}
