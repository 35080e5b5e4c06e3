package reports

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"time"
)

// CapacitySchema is the format of a capacity search's file.
const CapacitySchema = "engram-bench/capacity/v1"

// Capacity is what a capacity search found: every step it ran, each judged
// against the SLO, and the knee — the interval between the highest offered
// rate shown to meet the SLO and the lowest that did not.
type Capacity struct {
	Schema         string `json:"schema"`
	Scenario       string `json:"scenario"`
	ScenarioSource string `json:"scenario_source,omitempty"`
	ScenarioText   string `json:"scenario_text,omitempty"`
	Seed           uint64 `json:"seed"`
	Driver         string `json:"driver"`
	Target         string `json:"target,omitempty"`
	Concurrency    int    `json:"concurrency"`
	// SLO is the objective in ParseSLO's syntax.
	SLO    string         `json:"slo"`
	Method CapacityMethod `json:"method"`
	Steps  []CapacityStep `json:"steps"`
	Knee   Knee           `json:"knee"`
	// Stopped says why the search ended.
	Stopped string `json:"stopped"`
	// Partial is set when the search was interrupted.
	Partial   bool      `json:"partial,omitempty"`
	StartedAt time.Time `json:"started_at"`
	DurationS float64   `json:"duration_s"`
	Env       Env       `json:"env"`
	Warnings  []string  `json:"warnings,omitempty"`

	// Path is the file the capacity was read from (not stored).
	Path string `json:"-"`
}

// CapacityMethod records how the search was run, so its file explains itself.
type CapacityMethod struct {
	// StartRate is the first step's offered rate, ops/s.
	StartRate float64 `json:"start_rate"`
	// StepRate is the increment of an additive staircase; Factor the ratio
	// of a geometric one (used when StepRate is 0).
	StepRate float64 `json:"step_rate,omitempty"`
	Factor   float64 `json:"factor,omitempty"`
	// MaxRate caps the step-up phase.
	MaxRate float64 `json:"max_rate"`
	// Resolution: bisection stops when (first failing − last passing) ≤
	// Resolution × last passing.
	Resolution float64 `json:"resolution"`
	MaxSteps   int     `json:"max_steps"`
	// StepS is the least measured length of a step; WarmupS its unrecorded
	// warm-up. A step lasts max(StepS, MinSamples / rate).
	StepS   float64 `json:"step_s"`
	WarmupS float64 `json:"warmup_s"`
	// MinSamples is the successful ops a step needs before its highest
	// percentile is trusted (SLO.MinSamples unless overridden).
	MinSamples int64 `json:"min_samples"`
	// Data is "continue" (one preload, then every step on the same data)
	// or "fresh" (a fresh target and preload per step).
	Data string `json:"data"`
	// Arrival is the scenario's arrival pattern, scaled to each step's rate.
	Arrival string `json:"arrival"`
	// CollapseIntervals is how many consecutive intervals the backlog must
	// grow past the SLO's largest latency bound before a step is cut short.
	CollapseIntervals int `json:"collapse_intervals"`
}

// Step phases.
const (
	PhaseStepUp   = "step"   // the staircase, rising until the first failure
	PhaseStepDown = "down"   // stepping down after a failing first step
	PhaseBisect   = "bisect" // between the last passing and first failing rates
)

// CapacityStep is one run of the search at a fixed offered rate.
type CapacityStep struct {
	N     int    `json:"n"` // 1-based
	Phase string `json:"phase"`
	// Offered is the step's offered rate; Achieved the ops finished per
	// second of its measured window.
	Offered  float64 `json:"offered"`
	Achieved float64 `json:"achieved"`
	// DurationS is the measured window as run (shorter when cut); WarmupS
	// precedes it.
	DurationS float64     `json:"duration_s"`
	WarmupS   float64     `json:"warmup_s"`
	Count     int64       `json:"count"`
	Errors    int64       `json:"errors"`
	ErrorRate float64     `json:"error_rate"`
	Latency   Percentiles `json:"latency_ns"`
	// RecallAt10 is recall quality under this load, when scored.
	RecallAt10 *float64 `json:"recall_at_10,omitempty"`
	// Verdict (pass, fail, invalid), its checks and reasons: SLO.Judge.
	Verdict string   `json:"verdict"`
	Checks  []Check  `json:"checks,omitempty"`
	Reasons []string `json:"reasons,omitempty"`
	// Collapsed is set when the step was cut short because its backlog kept
	// growing past what the SLO allows (CutAtS seconds into measuring).
	Collapsed bool    `json:"collapsed,omitempty"`
	CutAtS    float64 `json:"cut_at_s,omitempty"`
	// Memories is about how many memories the target held when the step
	// began (preload plus the stores of earlier steps; see the method's Data).
	Memories int64 `json:"memories,omitempty"`
	// Harness: dispatch lag p99 and ops that waited for a free worker.
	LagP99Ns int64 `json:"lag_p99_ns"`
	Queued   int64 `json:"queued"`
	// HarnessCPUPercent is the harness process's CPU over the step (100 =
	// one core); for an in-process target it includes the target.
	HarnessCPUPercent float64 `json:"harness_cpu_percent"`
	// Result names the step's full result file (relative to the capacity
	// file's folder), when written.
	Result string `json:"result,omitempty"`
}

// Knee is the interval where the SLO stops being met.
type Knee struct {
	// Pass is the highest offered rate shown to meet the SLO (0: none did);
	// Fail the lowest offered rate above it that did not (0: none failed).
	Pass float64 `json:"pass"`
	Fail float64 `json:"fail"`
	// PassAchieved is the achieved rate of the Pass step.
	PassAchieved float64 `json:"pass_achieved,omitempty"`
	// Found is set when both ends were measured.
	Found bool `json:"found"`
	// Note qualifies the knee: an end set by the harness, not the target; a
	// search that never failed.
	Note string `json:"note,omitempty"`
}

// Width is the knee's relative width: (Fail − Pass) / Pass.
func (k Knee) Width() float64 {
	if !k.Found || k.Pass <= 0 {
		return 0
	}
	return (k.Fail - k.Pass) / k.Pass
}

// StepFrom summarises a step's Result and its judgement.
func StepFrom(r *Result, j Judgement) CapacityStep {
	s := CapacityStep{
		Offered:           r.TargetRate,
		Achieved:          r.AchievedRate,
		DurationS:         r.DurationS,
		WarmupS:           r.WarmupS,
		Count:             r.Total.Count,
		Errors:            r.Total.Errors,
		ErrorRate:         r.Total.ErrorRate,
		Latency:           r.Total.Latency,
		Verdict:           j.Verdict,
		Checks:            j.Checks,
		Reasons:           j.Reasons,
		LagP99Ns:          r.Harness.LagP99Ns,
		Queued:            r.Harness.Queued,
		HarnessCPUPercent: r.Harness.CPUPercent,
	}
	if r.Quality != nil && r.Quality.RecallAt10 != nil {
		v := *r.Quality.RecallAt10
		s.RecallAt10 = &v
	}
	return s
}

// WriteFile writes c as indented JSON to path, atomically.
func (c *Capacity) WriteFile(path string) error {
	return writeJSONFile(path, c)
}

// writeJSONFile writes v as indented JSON to path, atomically.
func writeJSONFile(path string, v any) error {
	return WriteFileAtomic(path, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	})
}

// ReadCapacity reads a capacity file, with clear errors for a missing,
// truncated, foreign or malformed one (validateCapacity).
func ReadCapacity(path string) (*Capacity, error) {
	var c Capacity
	b, err := readSchemaFile(path, CapacitySchema, "capacity search", &c)
	if err != nil {
		return nil, err
	}
	if err := validateCapacity(path, b, &c); err != nil {
		return nil, err
	}
	c.Path = path
	return &c, nil
}

// validateCapacity checks the fields of a capacity file (b, decoded into c)
// that plan and capacity --from read, naming the file, field and value of
// the first bad one. The capacity command always writes the knee as an
// object, so a missing or null knee is a malformed file, not "no step
// passed"; and the knee must agree with the steps: knee.pass is the highest
// offered rate of a passing step (0 when none passed), knee.fail the offered
// rate of a step that did not pass, found set when both ends were measured.
func validateCapacity(path string, b []byte, c *Capacity) error {
	ck := &fieldCheck{kind: "capacity search file", file: path}
	if f := missingJSON(b, "slo", "knee.pass", "knee.fail", "knee.found", "env.cores"); f != "" {
		ck.fail(f, "", "missing")
		return ck.err
	}
	if _, err := ParseSLO(c.SLO); err != nil {
		ck.fail("slo", strconv.Quote(c.SLO), "%v", err)
	}
	ck.positive("env.cores", float64(c.Env.Cores), 1<<20)
	const most = 1e12 // ops/s, memories: far past anything measured
	best, bestAt := 0.0, 0
	for i, s := range c.Steps {
		at := fmt.Sprintf("steps[%d].", i)
		ck.positive(at+"offered", s.Offered, most)
		ck.nonNegative(at+"achieved", s.Achieved, most)
		ck.nonNegative(at+"memories", float64(s.Memories), most)
		ck.nonNegative(at+"count", float64(s.Count), math.MaxInt64)
		ck.nonNegative(at+"errors", float64(s.Errors), float64(s.Count))
		ck.within(at+"error_rate", s.ErrorRate, 0, 1)
		switch s.Verdict {
		case VerdictPass:
			if s.Offered > best {
				best, bestAt = s.Offered, i
			}
		case VerdictFail, VerdictInvalid:
		default:
			ck.fail(at+"verdict", strconv.Quote(s.Verdict), "want %q, %q or %q", VerdictPass, VerdictFail, VerdictInvalid)
		}
	}
	k := c.Knee
	ck.nonNegative("knee.pass", k.Pass, most)
	ck.nonNegative("knee.fail", k.Fail, most)
	ck.nonNegative("knee.pass_achieved", k.PassAchieved, most)
	if ck.err != nil {
		return ck.err
	}
	switch {
	case k.Pass != best && best > 0:
		ck.fail("knee.pass", fieldNum(k.Pass), "step %d (steps[%d]) passed at %s ops/s: the knee does not match the steps", c.Steps[bestAt].N, bestAt, fieldNum(best))
	case k.Pass != best:
		ck.fail("knee.pass", fieldNum(k.Pass), "no step passed at that rate (no step passed at all): the knee does not match the steps")
	case k.Fail > 0 && k.Pass >= k.Fail:
		ck.fail("knee.fail", fieldNum(k.Fail), "must be above knee.pass %s", fieldNum(k.Pass))
	case k.Fail > 0 && !failedAt(c.Steps, k.Fail):
		ck.fail("knee.fail", fieldNum(k.Fail), "no step failed at that rate: the knee does not match the steps")
	case k.Found != (k.Pass > 0 && k.Fail > 0):
		ck.fail("knee.found", strconv.FormatBool(k.Found), "knee.pass is %s and knee.fail %s: found means both ends were measured", fieldNum(k.Pass), fieldNum(k.Fail))
	}
	return ck.err
}

// failedAt says whether a step offered rate and did not pass.
func failedAt(steps []CapacityStep, rate float64) bool {
	for _, s := range steps {
		if s.Offered == rate && s.Verdict != VerdictPass {
			return true
		}
	}
	return false
}

// readSchemaFile reads the JSON file at path into v after checking its
// "schema" field is want, and returns its bytes; what names the kind of file
// in errors, which name the file and, for a value of the wrong type, the
// field and value (DescribeJSONError).
func readSchemaFile(path, want, what string, v any) ([]byte, error) {
	kind := what + " file"
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s %s: not found", kind, path)
		}
		return nil, fmt.Errorf("%s %s: %w", kind, path, err)
	}
	var probe struct {
		Schema *string `json:"schema"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		return nil, DescribeJSONError(kind, path, b, err)
	}
	if probe.Schema == nil || *probe.Schema != want {
		got := "none"
		if probe.Schema != nil {
			got = fmt.Sprintf("%q", *probe.Schema)
		}
		return nil, fmt.Errorf("%s %s: schema %s, want %q (is it the right kind of file?)", kind, path, got, want)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return nil, DescribeJSONError(kind, path, b, err)
	}
	return b, nil
}

// WriteCapacityStepHeader writes the header of the per-step table that
// WriteCapacityStepLine continues (printed live as the search runs).
func WriteCapacityStepHeader(w io.Writer) error {
	_, err := fmt.Fprintf(w, "%4s  %-6s  %9s  %9s  %8s  %8s  %8s  %8s  %7s  %8s  %s\n",
		"step", "phase", "offered", "achieved", "p50", "p99", "p99.9", "max", "errors", "lag p99", "verdict")
	return err
}

// WriteCapacityStepLine writes one step as a line of the per-step table.
func WriteCapacityStepLine(w io.Writer, s CapacityStep) error {
	v := strings.ToUpper(s.Verdict)
	if s.Collapsed {
		v += fmt.Sprintf(" (collapsed at %.0fs)", s.CutAtS)
	}
	why := ""
	if len(s.Reasons) > 0 {
		why = ": " + s.Reasons[0]
		if len(s.Reasons) > 1 {
			why += fmt.Sprintf(" (+%d more)", len(s.Reasons)-1)
		}
	}
	_, err := fmt.Fprintf(w, "%4d  %-6s  %9.1f  %9.1f  %8s  %8s  %8s  %8s  %6.2f%%  %8s  %s%s\n",
		s.N, s.Phase, s.Offered, s.Achieved, FormatNs(s.Latency.P50), FormatNs(s.Latency.P99), FormatNs(s.Latency.P999), FormatNs(s.Latency.Max), 100*s.ErrorRate, FormatNs(s.LagP99Ns), v, why)
	return err
}

// WriteCapacityText writes the search: how it was run, every step, and the
// knee.
func WriteCapacityText(w io.Writer, c *Capacity) error {
	ew := &errWriter{w: w}
	fmt.Fprintf(ew, "engram-bench capacity %s · driver %s", c.Scenario, c.Driver)
	if c.Target != "" {
		fmt.Fprintf(ew, " · target %s", c.Target)
	}
	fmt.Fprintf(ew, " · seed %d · concurrency %d\n", c.Seed, c.Concurrency)
	fmt.Fprintf(ew, "  SLO: %s (latency bounds judged on their %.0f%% upper confidence bound)\n", c.SLO, 100*JudgeConfidence)
	fmt.Fprintf(ew, "  method: %s\n", c.Method.Describe())
	if c.Partial {
		fmt.Fprintln(ew, "  PARTIAL: the search was interrupted")
	}
	fmt.Fprintln(ew)
	WriteCapacityStepHeader(ew)
	for _, s := range c.Steps {
		WriteCapacityStepLine(ew, s)
	}
	fmt.Fprintln(ew)
	fmt.Fprintln(ew, KneeLine(c))
	if c.Stopped != "" {
		fmt.Fprintf(ew, "  search stopped: %s\n", c.Stopped)
	}
	for _, wmsg := range c.Warnings {
		fmt.Fprintf(ew, "warning: %s\n", wmsg)
	}
	return ew.err
}

// Describe says in one line how the search was run.
func (m CapacityMethod) Describe() string {
	stair := fmt.Sprintf("×%g per step", m.Factor)
	if m.StepRate > 0 {
		stair = fmt.Sprintf("+%g ops/s per step", m.StepRate)
	}
	data := "one preload, every step on the same data (each step replays the op stream from op 0, so its stores rewrite earlier steps' memories)"
	if m.Data == "fresh" {
		data = "a fresh target and preload for every step"
	}
	return fmt.Sprintf("%s arrivals from %s ops/s %s up to %s, then bisection to %g%% (at most %d steps); each step %s warm-up + max(%s, %d samples / rate) measured; %s",
		m.Arrival, fmtNum(m.StartRate), stair, fmtNum(m.MaxRate), 100*m.Resolution, m.MaxSteps,
		time.Duration(m.WarmupS*1e9).String(), time.Duration(m.StepS*1e9).String(), m.MinSamples, data)
}

// KneeLine says in one line where the knee is.
func KneeLine(c *Capacity) string {
	k := c.Knee
	note := ""
	if k.Note != "" {
		note = " — " + k.Note
	}
	switch {
	case k.Found:
		return fmt.Sprintf("knee: between %s ops/s (last passing, achieved %s) and %s ops/s (first failing), ±%.1f%%: capacity under the SLO %s ops/s%s",
			fmtNum(round3(k.Pass)), fmtNum(round3(k.PassAchieved)), fmtNum(round3(k.Fail)), 50*k.Width(), fmtNum(round3(k.Pass)), note)
	case k.Pass > 0:
		return fmt.Sprintf("knee: not reached — every step up to %s ops/s passed%s", fmtNum(round3(k.Pass)), note)
	case k.Fail > 0:
		return fmt.Sprintf("knee: below %s ops/s — no step passed%s", fmtNum(round3(k.Fail)), note)
	default:
		return "knee: unknown — no step was judged" + note
	}
}
