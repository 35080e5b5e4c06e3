package reports

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// Schema is the result format this package writes and reads.
const Schema = "engram-bench/result/v1"

// Verdicts.
const (
	VerdictPass    = "pass"
	VerdictFail    = "fail"
	VerdictInvalid = "invalid"
)

// Result is a self-describing record of one run. Its field names are stable
// (docs/result-format.md); later versions only add fields.
type Result struct {
	Schema         string    `json:"schema"`
	Scenario       string    `json:"scenario"`
	ScenarioName   string    `json:"scenario_name,omitempty"`
	ScenarioSource string    `json:"scenario_source,omitempty"`
	ScenarioText   string    `json:"scenario_text,omitempty"`
	Seed           uint64    `json:"seed"`
	Driver         string    `json:"driver"`
	Target         string    `json:"target,omitempty"`
	StartedAt      time.Time `json:"started_at"`
	Concurrency    int       `json:"concurrency"`
	TargetRate     float64   `json:"target_rate"`
	AchievedRate   float64   `json:"achieved_rate"`
	DurationS      float64   `json:"duration_s"`
	WarmupS        float64   `json:"warmup_s"`
	// Partial is set when the run was interrupted (Ctrl-C) before its end.
	Partial bool `json:"partial"`

	Preload   PreloadStats       `json:"preload"`
	Harness   HarnessStats       `json:"harness"`
	Ops       map[string]OpStats `json:"ops"`
	Total     OpStats            `json:"total"`
	Targets   []Target           `json:"targets"`
	Verdict   string             `json:"verdict"`
	Reasons   []string           `json:"reasons,omitempty"`
	Warnings  []string           `json:"warnings,omitempty"`
	Intervals []Interval         `json:"intervals,omitempty"`
	Env       Env                `json:"env"`

	// LoadModel is "open" (an arrival schedule; the default) or "closed"
	// (users that wait for each reply: latency then hides queueing).
	LoadModel string `json:"load_model,omitempty"`
	// Phases holds the recorded phases of a phased scenario, in order.
	Phases []PhaseResult `json:"phases,omitempty"`
	// Spaces breaks the measured ops down by memory space (multi-tenant runs).
	Spaces map[string]BreakdownGroup `json:"spaces,omitempty"`
	// Quality is recall quality under load: recall@10 of cues and the
	// acknowledged-write ledger.
	Quality *QualityStats `json:"quality,omitempty"`
	// Windows are stretches of the run to shade in charts (phases, faults).
	Windows []Window `json:"windows,omitempty"`
	// Marks are instants to mark on charts (a drill's disaster and recovery).
	Marks []Mark `json:"marks,omitempty"`
	// Drill is the account of a disaster-recovery drill; nil otherwise.
	Drill *Drill `json:"drill,omitempty"`
	// Hypotheses are Engram's H1–H4, evaluated by EvaluateHypotheses.
	Hypotheses []Hypothesis `json:"hypotheses,omitempty"`
	// Scaling is the data of a scaling run (throughput at several worker or
	// core counts); H3 reads it. Nil when the run was not a scaling run.
	Scaling *Scaling `json:"scaling,omitempty"`
	// Resources is the memory the system under test used; H4 reads it.
	Resources *Resources `json:"resources,omitempty"`
	// TargetMetrics holds series scraped from the target's Prometheus
	// endpoint during the run.
	TargetMetrics *TargetMetrics `json:"target_metrics,omitempty"`
	// Files names companion files written with the result, by kind ("hlog"),
	// relative to the result file's folder when they were written beside it.
	Files map[string]string `json:"files,omitempty"`
	// Shard says which shard of a sharded run (run --shard i/N) this is,
	// and how the shards were aligned; nil for a whole run.
	Shard *ShardInfo `json:"shard,omitempty"`
	// Merge describes the shard results a merged result was made from
	// (engram-bench merge); nil for a result of one process.
	Merge *MergeInfo `json:"merge,omitempty"`
	// Profiles are the pprof profiles captured during the run (run
	// --profile, --self-profile), their files and top functions. Merge
	// drops them: each shard's profiles stay with its own result.
	Profiles []ProfileSummary `json:"profiles,omitempty"`
	// Chaos is what a chaos drill injected and proved (docs/chaos.md); nil
	// for a run without faults.
	Chaos *ChaosResult `json:"chaos,omitempty"`

	// Path is the file the result was read from (set by ReadFile; not stored).
	Path string `json:"-"`

	// DriverOptions are the run's --driver-opt settings (for the embedded
	// driver the engine options, e.g. slowdown), plus no_sync=true under
	// --no-sync. Baselines fingerprint them.
	DriverOptions map[string]string `json:"driver_options,omitempty"`
}

// PhaseResult is one recorded phase of a phased scenario.
type PhaseResult struct {
	Name         string  `json:"name"`
	StartS       float64 `json:"start_s"` // from the start of measuring
	EndS         float64 `json:"end_s"`
	TargetRate   float64 `json:"target_rate"`   // ops due in the phase / its length
	AchievedRate float64 `json:"achieved_rate"` // Achieved: ops of the phase that finished / the time they took
	// LastEndS is when the phase's last op finished (from the start of
	// measuring): past EndS when the target fell behind.
	LastEndS float64 `json:"last_end_s,omitempty"`
	BreakdownGroup
}

// Achieved is the phase's finished ops per second over the time from its
// start to its end or, when the target fell behind, to its last op's
// finish: a phase whose ops finished long after it ended did not achieve
// its rate.
func (p *PhaseResult) Achieved() float64 {
	if d := max(p.EndS, p.LastEndS) - p.StartS; d > 0 {
		return float64(p.Total.Count) / d
	}
	return 0
}

// QualityStats is recall quality measured under load.
type QualityStats struct {
	// Scored counts cues (recall by cue, search, completion) whose expected
	// memories were known; RecallAt10 is the share of those found among the
	// first min(k, 10) results.
	Scored     int64    `json:"scored"`
	RecallAt10 *float64 `json:"recall_at_10,omitempty"`
	// Ledger follows acknowledged writes: are they found when read later?
	Ledger *LedgerStats `json:"ledger,omitempty"`
}

// LedgerStats is the acknowledged-write ledger's account. Counts of writes
// are exact; what happened to them is followed on a uniform hash sample of
// at most a fixed number of writes (SampleRate of them), so memory stays
// constant however long the run.
type LedgerStats struct {
	Acknowledged int64   `json:"acknowledged"` // writes the target acknowledged (every one)
	Tracked      int64   `json:"tracked"`      // acknowledged writes in the sample
	SampleRate   float64 `json:"sample_rate"`  // share of writes sampled
	// Checked counts tracked writes read at least once after their
	// acknowledgement; Found those found at least once; NeverFound those that
	// every such read missed (lost, or silently dropped as duplicates).
	Checked    int64    `json:"checked"`
	Found      int64    `json:"found"`
	NeverFound int64    `json:"never_found"`
	FoundShare *float64 `json:"found_share,omitempty"`
	// FirstReadMissed counts tracked writes whose first read after the
	// acknowledgement missed (not yet visible), found or not later.
	FirstReadMissed int64 `json:"first_read_missed"`
	// ReadsBeforeAck counts reads aimed at a sampled write that had not been
	// acknowledged when the read started (not held against the target).
	ReadsBeforeAck int64 `json:"reads_before_ack"`
	// AckToFoundNs is the time from a write's acknowledgement to the end of
	// its first successful read.
	AckToFoundNs Percentiles `json:"ack_to_found_ns"`
	// AckToFoundHDR is the histogram behind AckToFoundNs (base64
	// V2-compressed, ns), so that shards' ledgers merge exactly.
	AckToFoundHDR string `json:"ack_to_found_hdr,omitempty"`
	// MissingExamples names up to 10 never-found writes, for debugging.
	MissingExamples []string `json:"missing_examples,omitempty"`
}

// PreloadStats describes the data stored before measuring.
type PreloadStats struct {
	Memories  int64   `json:"memories"`
	DurationS float64 `json:"duration_s"`
	Errors    int64   `json:"errors,omitempty"`
	// FirstError is the first failure among Errors (the preload goes on
	// past failed batches; the run's results say how many failed and why).
	FirstError string `json:"first_error,omitempty"`
}

// HarnessStats is the harness's account of itself.
type HarnessStats struct {
	// Dispatch lag: actual start − intended start, every measured op.
	LagP50Ns  int64 `json:"lag_p50_ns"`
	LagP99Ns  int64 `json:"lag_p99_ns"`
	LagP999Ns int64 `json:"lag_p999_ns"`
	LagMaxNs  int64 `json:"lag_max_ns"`
	// Harness lag: dispatch lag of ops that had a free worker (the part the
	// harness, not the target, is answerable for).
	HarnessLagP99Ns int64 `json:"harness_lag_p99_ns"`
	// Limited is set when the harness, not the target, bounded the run.
	Limited bool   `json:"limited"`
	Reason  string `json:"reason,omitempty"`
	// Queued counts ops that waited because every worker was busy.
	Queued int64 `json:"queued"`
	// Unsent counts ops that fell due inside the run but were never started
	// (the run ended or was interrupted while they waited).
	Unsent int64 `json:"unsent"`
	// WarmupSpill counts ops due in the warm-up that finished only after
	// measuring began: the target spent part of the window on the warm-up's
	// load, which no measured count includes.
	WarmupSpill int64 `json:"warmup_spill,omitempty"`
	// Abandoned counts ops still in flight when the run stopped (not counted
	// in any histogram).
	Abandoned int64 `json:"abandoned,omitempty"`
	// Saturated counts values clamped to the histogram's 60 s ceiling.
	Saturated  int64   `json:"saturated,omitempty"`
	CPUPercent float64 `json:"cpu_percent"` // process CPU over the measured window, 100 = one core
	MaxLagNs   int64   `json:"max_lag_ns"`  // the harness-lag p99 above which the run is harness-limited
	// Spin is the dispatcher's spin policy (auto, on or off), and
	// SpinPercent the share of the measured window in which it spun before
	// due times (auto spins only while a core is spare). Without a spin an
	// op starts when its nanosleep wakes, microseconds late: lag_p50_ns
	// shows by how much.
	Spin        string  `json:"spin,omitempty"`
	SpinPercent float64 `json:"spin_percent"`
}

// OpStats summarises one op kind (or all of them, in Result.Total).
type OpStats struct {
	Count         int64            `json:"count"`
	Errors        int64            `json:"errors"`
	ErrorsByClass map[string]int64 `json:"errors_by_class,omitempty"`
	ErrorRate     float64          `json:"error_rate"`
	Throughput    float64          `json:"throughput"` // finished ops per second
	// Latency is end − intended start of successful ops; Service is end − actual start.
	Latency Percentiles `json:"latency_ns"`
	Service Percentiles `json:"service_ns"`
	// Recall quality, for ops that aim at a known memory.
	Scored     int64    `json:"scored,omitempty"`
	HitRate    *float64 `json:"hit_rate,omitempty"`
	RecallAt10 *float64 `json:"recall_at_10,omitempty"` // expected memories found in the first min(k, 10) results
	// RecallExpected is RecallAt10's denominator (expected memories), so
	// that shards' recall merges exactly.
	RecallExpected int64  `json:"recall_expected,omitempty"`
	LatencyHDR     string `json:"latency_hdr,omitempty"` // base64 V2-compressed HdrHistogram, ns
	ServiceHDR     string `json:"service_hdr,omitempty"`
}

// Percentiles of a latency distribution, in nanoseconds.
type Percentiles struct {
	P50  int64   `json:"p50"`
	P90  int64   `json:"p90"`
	P99  int64   `json:"p99"`
	P999 int64   `json:"p999"`
	Max  int64   `json:"max"`
	Mean float64 `json:"mean"`
}

// Target is one validation target and how the run did against it.
type Target struct {
	Name     string  `json:"name"`
	Unit     string  `json:"unit"`
	Target   float64 `json:"target"`
	Achieved float64 `json:"achieved"`
	Pass     bool    `json:"pass"`
}

// Interval summarises one reporting interval.
type Interval struct {
	StartS     float64                   `json:"start_s"` // from the start of measuring
	EndS       float64                   `json:"end_s"`
	Count      int64                     `json:"count"`
	Errors     int64                     `json:"errors"`
	Throughput float64                   `json:"throughput"`
	LagP99Ns   int64                     `json:"lag_p99_ns"`
	Ops        map[string]IntervalOpStat `json:"ops"`
	// Scheduled is how many ops the arrival schedule made due in the
	// interval (the target line of throughput charts); 0 when unknown.
	Scheduled int64 `json:"scheduled,omitempty"`
	// InFlight is the number of ops in flight when the interval closed.
	InFlight int `json:"in_flight,omitempty"`
}

// IntervalOpStat is one op kind within an interval.
type IntervalOpStat struct {
	Count  int64 `json:"count"`
	Errors int64 `json:"errors"`
	P50Ns  int64 `json:"p50_ns"`
	P99Ns  int64 `json:"p99_ns"`
	P999Ns int64 `json:"p999_ns"`
	MaxNs  int64 `json:"max_ns"`
}

// PercentilesOf reads the standard percentiles from h.
func PercentilesOf(h *hdr.Histogram) Percentiles {
	if h == nil || h.TotalCount() == 0 {
		return Percentiles{}
	}
	return Percentiles{
		P50:  h.ValueAtQuantile(50),
		P90:  h.ValueAtQuantile(90),
		P99:  h.ValueAtQuantile(99),
		P999: h.ValueAtQuantile(99.9),
		Max:  h.Max(),
		Mean: h.Mean(),
	}
}

// EncodeHistogram returns h as base64 V2-compressed HdrHistogram.
func EncodeHistogram(h *hdr.Histogram) string {
	if h == nil || h.TotalCount() == 0 {
		return ""
	}
	b, err := h.Encode(hdr.V2CompressedEncodingCookieBase)
	if err != nil {
		return ""
	}
	return string(b)
}

// DecodeHistogram reads a histogram written by EncodeHistogram ("" is empty).
func DecodeHistogram(s string) (*hdr.Histogram, error) {
	if s == "" {
		return NewHistogram(), nil
	}
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("histogram is not base64: %w", err)
	}
	if err := checkHistogramShape(raw); err != nil {
		return nil, err
	}
	h, err := hdr.Decode([]byte(s))
	if err != nil {
		return nil, fmt.Errorf("decode histogram: %w", err)
	}
	return h, nil
}

// Summarize turns totals into OpStats over a window of seconds.
func Summarize(t *OpTotals, seconds float64) OpStats {
	s := OpStats{
		Count:   t.Count,
		Errors:  t.ErrorCount(),
		Latency: PercentilesOf(t.Latency),
		Service: PercentilesOf(t.Service),
		Scored:  t.Scored,
	}
	if len(t.Errors) > 0 {
		s.ErrorsByClass = make(map[string]int64, len(t.Errors))
		for k, v := range t.Errors {
			if v > 0 {
				s.ErrorsByClass[k] = v
			}
		}
	}
	s.ErrorRate = errorRate(s.Count, s.Errors, s.ErrorsByClass)
	if seconds > 0 {
		s.Throughput = float64(s.Count) / seconds
	}
	if t.Scored > 0 {
		hr := float64(t.Hits) / float64(t.Scored)
		s.HitRate = &hr
	}
	s.LatencyHDR = EncodeHistogram(t.Latency)
	s.ServiceHDR = EncodeHistogram(t.Service)
	return s
}

// SummarizeTick turns one interval into an Interval; origin is the start of
// measuring on the run clock.
func SummarizeTick(t Tick, names []string, origin int64) Interval {
	iv := Interval{
		StartS: float64(t.Start-origin) / 1e9,
		EndS:   float64(t.End-origin) / 1e9,
		Ops:    map[string]IntervalOpStat{},
	}
	for i := range t.Delta.Ops {
		o := &t.Delta.Ops[i]
		if o.Count == 0 {
			continue
		}
		e := o.ErrorCount()
		iv.Count += o.Count
		iv.Errors += e
		st := IntervalOpStat{Count: o.Count, Errors: e}
		if o.Latency.TotalCount() > 0 {
			st.P50Ns = o.Latency.ValueAtQuantile(50)
			st.P99Ns = o.Latency.ValueAtQuantile(99)
			st.P999Ns = o.Latency.ValueAtQuantile(99.9)
			st.MaxNs = o.Latency.Max()
		}
		iv.Ops[names[i]] = st
	}
	if d := iv.EndS - iv.StartS; d > 0 {
		iv.Throughput = float64(iv.Count) / d
	}
	if t.Delta.Lag.TotalCount() > 0 {
		iv.LagP99Ns = t.Delta.Lag.ValueAtQuantile(99)
	}
	return iv
}

// Limits are the validation targets of a run; nil means no target.
type Limits struct {
	P50Ms, P99Ms, P999Ms *float64
	ThroughputOpsSec     *float64
	MaxErrorRate         *float64
	RecallAt10           *float64 // least recall@10 (Result.Quality.RecallAt10)
}

// Evaluate fills r.Targets, r.Verdict and r.Reasons from limits and the
// harness's own account.
func (r *Result) Evaluate(l Limits) {
	r.Targets = r.Targets[:0]
	// Ops the target held when the drain timeout stopped a complete run
	// (in flight, or never started behind them) never finished: their
	// latency is at least the drain timeout, above any latency target. A
	// percentile whose tail they outnumber was not met, whatever the
	// finished ops measured.
	var lost int64
	if !r.Partial && HeldByTarget(r.Harness.Abandoned, r.Concurrency) {
		lost = r.Harness.Abandoned + r.Harness.Unsent
	}
	lat := func(name string, q float64, want *float64, got int64) {
		if want != nil {
			ms := float64(got) / 1e6
			pass := r.Total.Count > r.Total.Errors && ms <= *want
			if float64(lost) > (1-q)*float64(r.Total.Count+lost) {
				pass = false
			}
			r.Targets = append(r.Targets, Target{Name: name, Unit: "ms", Target: *want, Achieved: ms, Pass: pass})
		}
	}
	lat("p50_latency", 0.5, l.P50Ms, r.Total.Latency.P50)
	lat("p99_latency", 0.99, l.P99Ms, r.Total.Latency.P99)
	lat("p999_latency", 0.999, l.P999Ms, r.Total.Latency.P999)
	if l.ThroughputOpsSec != nil {
		r.Targets = append(r.Targets, Target{Name: "throughput", Unit: "ops/s", Target: *l.ThroughputOpsSec, Achieved: r.AchievedRate, Pass: r.AchievedRate >= *l.ThroughputOpsSec})
	}
	if l.MaxErrorRate != nil {
		r.Targets = append(r.Targets, Target{Name: "error_rate", Unit: "fraction", Target: *l.MaxErrorRate, Achieved: r.Total.ErrorRate, Pass: r.Total.ErrorRate <= *l.MaxErrorRate})
	}
	if l.RecallAt10 != nil {
		got, ok := 0.0, false
		if r.Quality != nil && r.Quality.RecallAt10 != nil {
			got, ok = *r.Quality.RecallAt10, true
		}
		r.Targets = append(r.Targets, Target{Name: "recall_at_10", Unit: "fraction", Target: *l.RecallAt10, Achieved: got, Pass: ok && got >= *l.RecallAt10})
	}
	r.Reasons = nil
	switch {
	case r.Partial:
		// Interrupted: what ran is kept, but it is not the run the
		// scenario asked for, and no target can be judged on it.
		r.Verdict = VerdictInvalid
		r.Reasons = append(r.Reasons, "interrupted: partial result")
		if r.Harness.Limited {
			r.Reasons = append(r.Reasons, "harness-limited: "+r.Harness.Reason)
		}
	case r.Harness.Limited:
		r.Verdict = VerdictInvalid
		r.Reasons = append(r.Reasons, "harness-limited: "+r.Harness.Reason)
	case r.Total.Count == 0 && !r.Partial && HeldByTarget(r.Harness.Abandoned, r.Concurrency):
		// Every worker was still waiting on the target when the drain
		// timeout stopped the run: a valid run, which the target failed.
		r.Verdict = VerdictFail
		r.Reasons = append(r.Reasons, fmt.Sprintf("no measured op finished: %d of at most %d ops were still waiting on the target when the run stopped (it fell behind the load, e.g. still serving the warm-up's backlog)", r.Harness.Abandoned, r.Concurrency))
	case r.Total.Count == 0:
		r.Verdict = VerdictInvalid
		r.Reasons = append(r.Reasons, "no op finished")
	case r.Total.Errors == r.Total.Count && r.Total.Count > 0 && unreachable(r.Total.ErrorsByClass):
		r.Verdict = VerdictInvalid
		r.Reasons = append(r.Reasons, "the target was unreachable: every op failed to connect")
	default:
		r.Verdict = VerdictPass
		for _, t := range r.Targets {
			if !t.Pass {
				r.Verdict = VerdictFail
				if t.Unit == "ms" && lost > 0 && t.Achieved <= t.Target {
					r.Reasons = append(r.Reasons, fmt.Sprintf("%s: %d of %d ops never finished (held by the target when the run stopped), more than the percentile's tail", t.Name, lost, r.Total.Count+lost))
					continue
				}
				r.Reasons = append(r.Reasons, fmt.Sprintf("%s %s %s target %s", t.Name, fmtNum(t.Achieved), word(t), fmtNum(t.Target)))
			}
		}
	}
}

// HeldByTarget reports whether the ops in flight when a run stopped
// (abandoned) were at least half of its concurrency: the target, not the
// harness, held the workers.
func HeldByTarget(abandoned int64, concurrency int) bool {
	return concurrency > 0 && abandoned > 0 && 2*abandoned >= int64(concurrency)
}

func word(t Target) string {
	if t.Name == "throughput" || t.Name == "recall_at_10" {
		return "below"
	}
	return "above"
}

func unreachable(classes map[string]int64) bool {
	for k := range classes {
		if k != "connection_refused" && k != "unreachable" {
			return false
		}
	}
	return len(classes) > 0
}

// WriteJSON writes r as indented JSON.
func (r *Result) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteFile writes r as JSON to path, atomically (temp file, then rename).
func (r *Result) WriteFile(path string) error {
	return WriteFileAtomic(path, r.WriteJSON)
}

// WriteFileAtomic writes path through write: into a temporary file beside
// it, renamed over path once complete, so a reader never sees half a file
// (see CreateAtomic for devices and links). On error the temporary file is
// removed and path is left as it was.
func WriteFileAtomic(path string, write func(io.Writer) error) error {
	f, err := CreateAtomic(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Abort()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Commit()
}

// AtomicFile is an output file written under a temporary name (path +
// ".tmp") and renamed over its path by Commit, so a reader never sees half
// of it and a failed write leaves the old file as it was.
type AtomicFile struct {
	*os.File
	path string // what the caller asked for, for errors
	dst  string // where Commit renames to ("" when written in place)
}

// CreateAtomic creates the temporary file for path. A path that exists
// and is not a regular file (/dev/null, /dev/stdout, a named pipe) is
// opened and written in place instead: renaming over it would replace the
// device with a file. A symbolic link is followed, so the file it names is
// replaced and the link stays.
func CreateAtomic(path string) (*AtomicFile, error) {
	dst := path
	if real, err := filepath.EvalSymlinks(path); err == nil {
		dst = real
	}
	if st, err := os.Stat(dst); err == nil && !st.Mode().IsRegular() {
		if st.IsDir() {
			return nil, fmt.Errorf("write %s: is a directory", path)
		}
		f, err := os.OpenFile(dst, os.O_WRONLY|os.O_TRUNC, 0)
		if err != nil {
			return nil, fmt.Errorf("write %s: %w", path, err)
		}
		return &AtomicFile{File: f, path: path}, nil
	}
	f, err := os.Create(dst + ".tmp")
	if err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	return &AtomicFile{File: f, path: path, dst: dst}, nil
}

// Commit closes the file and renames it over its path.
func (f *AtomicFile) Commit() error {
	if err := f.File.Close(); err != nil {
		f.remove()
		return fmt.Errorf("write %s: %w", f.path, err)
	}
	if f.dst == "" {
		return nil
	}
	if err := os.Rename(f.Name(), f.dst); err != nil {
		f.remove()
		return fmt.Errorf("write %s: %w", f.path, err)
	}
	return nil
}

// Abort closes the file and removes it; path is left as it was.
func (f *AtomicFile) Abort() {
	f.File.Close()
	f.remove()
}

func (f *AtomicFile) remove() {
	if f.dst != "" {
		os.Remove(f.Name())
	}
}

// ReadFile reads a Result written by WriteFile, with clear errors for a
// missing, truncated or foreign file.
func ReadFile(path string) (*Result, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("result file %s: not found", path)
		}
		return nil, fmt.Errorf("result file %s: %w", path, err)
	}
	r, err := Decode(path, b)
	if err != nil {
		return nil, err
	}
	r.Path = path
	return r, nil
}

// Decode parses a Result; name labels errors.
func Decode(name string, b []byte) (*Result, error) {
	var probe struct {
		Schema *string `json:"schema"`
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		return nil, fmt.Errorf("result file %s: empty", name)
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, fmt.Errorf("result file %s: not valid JSON at byte %d (truncated?): %v", name, se.Offset, err)
		}
		if strings.Contains(err.Error(), "unexpected end") {
			return nil, fmt.Errorf("result file %s: truncated JSON", name)
		}
		return nil, fmt.Errorf("result file %s: not an engram-bench result: %v", name, err)
	}
	if probe.Schema == nil {
		return nil, fmt.Errorf("result file %s: not an engram-bench result (no \"schema\" field)", name)
	}
	if *probe.Schema != Schema {
		if strings.HasPrefix(*probe.Schema, "engram-bench/result/") {
			return nil, fmt.Errorf("result file %s: schema %q is not supported by this version (it reads %q)", name, *probe.Schema, Schema)
		}
		return nil, fmt.Errorf("result file %s: schema %q is not an engram-bench result", name, *probe.Schema)
	}
	var r Result
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, DescribeJSONError("result file", name, b, err)
	}
	if err := r.check(name); err != nil {
		return nil, err
	}
	return &r, nil
}

// check refuses a result whose fields cannot be what a run wrote: an
// unknown verdict, negative counts or rates, more errors than ops, a
// fraction outside [0, 1]. Reports, comparisons and the gate would
// otherwise show them as measured.
func (r *Result) check(file string) error {
	bad := func(field string, v any, msg string) error {
		return &FieldError{Kind: "result file", File: file, Field: field, Value: fmt.Sprint(v), Msg: msg}
	}
	switch r.Verdict {
	case VerdictPass, VerdictFail, VerdictInvalid:
	default:
		return bad("verdict", strconv.Quote(r.Verdict), "want pass, fail or invalid")
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"duration_s", r.DurationS}, {"target_rate", r.TargetRate}, {"achieved_rate", r.AchievedRate}} {
		if !(f.v >= 0) || math.IsInf(f.v, 0) {
			return bad(f.name, f.v, "must be a number >= 0")
		}
	}
	ops := map[string]OpStats{"total": r.Total}
	for k, o := range r.Ops {
		ops["ops."+k] = o
	}
	names := make([]string, 0, len(ops))
	for k := range ops {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		o := ops[k]
		switch {
		case o.Count < 0:
			return bad(k+".count", o.Count, "must be >= 0")
		case o.Errors < 0 || o.Errors > o.Count:
			return bad(k+".errors", o.Errors, fmt.Sprintf("must be in [0, count %d]", o.Count))
		case !(o.ErrorRate >= 0 && o.ErrorRate <= 1):
			return bad(k+".error_rate", o.ErrorRate, "must be a fraction in [0, 1]")
		case !(o.Throughput >= 0) || math.IsInf(o.Throughput, 0):
			return bad(k+".throughput", o.Throughput, "must be a number >= 0")
		case o.HitRate != nil && !(*o.HitRate >= 0 && *o.HitRate <= 1):
			return bad(k+".hit_rate", *o.HitRate, "must be a fraction in [0, 1]")
		case o.RecallAt10 != nil && !(*o.RecallAt10 >= 0 && *o.RecallAt10 <= 1):
			return bad(k+".recall_at_10", *o.RecallAt10, "must be a fraction in [0, 1]")
		case o.Latency.P50 < 0 || o.Latency.P99 < 0 || o.Latency.Max < 0:
			return bad(k+".latency_ns", o.Latency, "must be >= 0")
		}
	}
	return nil
}

// OpNames returns the op kinds in r, sorted.
func (r *Result) OpNames() []string {
	names := make([]string, 0, len(r.Ops))
	for k := range r.Ops {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

func fmtNum(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.4g", v)
}

// errorRate is failed ops / ops, leaving out ops of kinds the target does
// not support (class "unsupported"): a capability gap is reported on its
// own, not as a load error.
func errorRate(count, errors int64, byClass map[string]int64) float64 {
	u := byClass["unsupported"]
	if count-u <= 0 {
		return 0
	}
	return float64(errors-u) / float64(count-u)
}
