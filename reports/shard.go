package reports

import (
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// ShardInfo says which part of a sharded run a result is (run --shard i/N)
// and how the shards were lined up. Every field but Index is the same on
// every shard of one run; Merge refuses shards that disagree.
type ShardInfo struct {
	Index int `json:"index"` // 0-based
	Count int `json:"count"` // N
	// StartAt is the wall time every shard started its schedule at
	// (--start-at); nil when the shard started on its own.
	StartAt *time.Time `json:"start_at,omitempty"`
	// Preload is which shards stored the initial memories: "shard0", "all"
	// or "none".
	Preload string `json:"preload,omitempty"`
	// StreamRate is the whole stream's offered rate (every shard's share
	// together), ops/s; MeasuredS the configured measured window, seconds.
	StreamRate float64 `json:"stream_rate"`
	MeasuredS  float64 `json:"measured_s"`
}

// MergeInfo describes the shard results a merged result was made from.
type MergeInfo struct {
	Shards  int   `json:"shards"`            // N, the shard count of the run
	Merged  []int `json:"merged"`            // the shard indices merged
	Missing []int `json:"missing,omitempty"` // shards absent (merge --allow-partial)
	// StartSkewS is the spread of the shards' measuring starts (their
	// started_at), seconds: 0 when they were aligned with --start-at (it
	// cannot see disagreement between the machines' clocks).
	StartSkewS float64       `json:"start_skew_s"`
	Sources    []MergeSource `json:"sources"`
}

// MergeSource is one shard result that went into a merge.
type MergeSource struct {
	Shard        int       `json:"shard"`
	Path         string    `json:"path"`
	HLog         string    `json:"hlog"`
	Host         string    `json:"host,omitempty"`
	StartedAt    time.Time `json:"started_at"`
	Count        int64     `json:"count"`
	AchievedRate float64   `json:"achieved_rate"`
	Verdict      string    `json:"verdict"`
	Partial      bool      `json:"partial,omitempty"`
}

// MergeOptions configures Merge.
type MergeOptions struct {
	// AllowPartial merges what is there when shards are missing, marking
	// the result partial (verdict invalid), instead of refusing.
	AllowPartial bool
	// Limits are the targets the merged data is judged against (the
	// scenario's [validation], unsplit). Nil: the first shard's targets,
	// its throughput target multiplied back by the shard count.
	Limits *Limits
	// HLog, when set, receives the merged interval log.
	HLog io.Writer
}

// MergeError is a refusal to merge: the results are not the shards of one
// run, or one does not match its interval log.
type MergeError struct{ Msg string }

func (e *MergeError) Error() string { return e.Msg }

func mergeErr(format string, args ...any) error {
	return &MergeError{Msg: fmt.Sprintf(format, args...)}
}

// shardOf returns r's shard info; a result of one process is shard 0 of 1.
func shardOf(r *Result) ShardInfo {
	if r.Shard != nil {
		return *r.Shard
	}
	return ShardInfo{Index: 0, Count: 1, StreamRate: r.TargetRate}
}

func label(r *Result) string {
	if r.Path != "" {
		return r.Path
	}
	return fmt.Sprintf("shard %d", shardOf(r).Index)
}

// Merge combines the results of the shards of one run (run --shard i/N,
// each with its --hlog interval log) into the result of the whole run.
//
// Exact: per interval and per op kind the shards' latency, service-time and
// dispatch-lag histograms (read from their interval logs) are added bucket
// by bucket, so the merged percentiles are those of one histogram of every
// sample; counts, errors by class, recall hits, queued and saturated ops
// add up. Throughput is every shard's ops over the common measured window
// (the sum of the shards' rates when they were aligned with --start-at).
// Targets (opt.Limits) and Engram's hypotheses are evaluated on the merged
// data. Per-phase and per-space rows and the write ledger merge exactly
// from the histograms sharded runs keep in their results.
//
// Refused, with a *MergeError naming the files and the field: results of
// different scenarios, scenario files, seeds, shard counts, drivers,
// targets, rates, durations or start times; a duplicate shard; a missing
// shard (unless opt.AllowPartial); a merged result as input; a shard
// without an interval log, or whose log does not match its result.
//
// Memory: one interval per shard at a time, whatever the run's length.
func Merge(shards []*Result, opt MergeOptions) (*Result, error) {
	if len(shards) == 0 {
		return nil, mergeErr("no shard results to merge")
	}
	for _, r := range shards {
		if r.Merge != nil {
			return nil, mergeErr("%s is a merged result already: merge the shard results themselves", label(r))
		}
	}
	if err := checkSameRun(shards); err != nil {
		return nil, err
	}
	n := shardOf(shards[0]).Count
	byIndex := map[int]*Result{}
	for _, r := range shards {
		i := shardOf(r).Index
		if prev, dup := byIndex[i]; dup {
			return nil, mergeErr("shard %d of %d appears twice: %s and %s", i, n, label(prev), label(r))
		}
		byIndex[i] = r
	}
	var missing []int
	for i := 0; i < n; i++ {
		if byIndex[i] == nil {
			missing = append(missing, i)
		}
	}
	sorted := slices.Clone(shards)
	sort.Slice(sorted, func(a, b int) bool { return shardOf(sorted[a]).Index < shardOf(sorted[b]).Index })
	if len(missing) > 0 && !opt.AllowPartial {
		var have []int
		for _, r := range sorted {
			have = append(have, shardOf(r).Index)
		}
		return nil, mergeErr("missing shard %s of %d (have %s): merge every shard, or pass --allow-partial to merge what is there (the result is then marked partial)",
			joinInts(missing), n, joinInts(have))
	}
	m := &merger{shards: sorted, n: n, missing: missing, opt: opt}
	return m.run()
}

// checkSameRun refuses results that are not shards of one run.
func checkSameRun(rs []*Result) error {
	type field struct {
		name string
		of   func(r *Result) string
	}
	fields := []field{
		{"scenario", func(r *Result) string { return r.Scenario }},
		{"scenario file (scenario_text)", func(r *Result) string { return fingerprint(r.ScenarioText) }},
		{"seed", func(r *Result) string { return strconv.FormatUint(r.Seed, 10) }},
		{"shard count", func(r *Result) string { return strconv.Itoa(shardOf(r).Count) }},
		{"driver", func(r *Result) string { return r.Driver }},
		{"target", func(r *Result) string { return r.Target }},
		{"load model", func(r *Result) string { return r.LoadModel }},
		{"warm-up (warmup_s)", func(r *Result) string { return strconv.FormatFloat(r.WarmupS, 'g', -1, 64) }},
		{"measured window (shard.measured_s)", func(r *Result) string {
			return strconv.FormatFloat(shardOf(r).MeasuredS, 'g', -1, 64)
		}},
		{"offered rate (shard.stream_rate)", func(r *Result) string {
			return strconv.FormatFloat(shardOf(r).StreamRate, 'g', 9, 64)
		}},
		{"start time (shard.start_at)", func(r *Result) string {
			if at := shardOf(r).StartAt; at != nil {
				return at.UTC().Format(time.RFC3339Nano)
			}
			return "none"
		}},
		{"result schema", func(r *Result) string { return r.Schema }},
	}
	ref := rs[0]
	for _, f := range fields {
		want := f.of(ref)
		for _, r := range rs[1:] {
			if got := f.of(r); got != want {
				if strings.HasPrefix(f.name, "scenario file") {
					return mergeErr("not shards of one run: their scenario files differ (%s and %s): every shard must run the same scenario text", label(ref), label(r))
				}
				return mergeErr("not shards of one run: %s differs: %s has %q, %s has %q", f.name, label(ref), want, label(r), got)
			}
		}
	}
	return nil
}

// fingerprint is a short FNV-1a hash of s, for comparing long texts.
func fingerprint(s string) string {
	var h uint64 = 14695981039346656037
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return strconv.FormatUint(h, 16)
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ", ")
}

// merger holds one merge's state.
type merger struct {
	shards  []*Result // sorted by shard index
	n       int
	missing []int
	opt     MergeOptions

	names   []string
	readers []*HLogReader
	files   []*os.File
	heads   []*HLogInterval
	logs    []string
}

func (m *merger) close() {
	for _, f := range m.files {
		if f != nil {
			f.Close()
		}
	}
}

func (m *merger) run() (*Result, error) {
	defer m.close()
	if err := m.open(); err != nil {
		return nil, err
	}
	res := m.skeleton()
	cum := newTotals(len(m.names))
	if err := m.intervals(res, cum); err != nil {
		return nil, err
	}
	if err := m.check(cum); err != nil {
		return nil, err
	}
	m.whole(res, cum)
	if err := m.breakdowns(res); err != nil {
		return nil, err
	}
	m.evaluate(res)
	return res, nil
}

// open opens every shard's interval log and checks its header.
func (m *merger) open() error {
	for _, r := range m.shards {
		si := shardOf(r)
		p := HLogPath(r)
		if p == "" {
			return mergeErr("shard %d (%s) has no interval log: run every shard with --hlog FILE (merge adds the shards' interval histograms)", si.Index, label(r))
		}
		f, err := os.Open(p)
		if err != nil {
			return mergeErr("shard %d (%s): interval log %s: %v", si.Index, label(r), p, err)
		}
		m.files = append(m.files, f)
		m.logs = append(m.logs, p)
		rd := NewHLogReader(f, p)
		iv, err := rd.Next()
		if err != nil && err != io.EOF {
			return mergeErr("shard %d: %v", si.Index, err)
		}
		h := rd.Header
		if h.Version != HLogVersion {
			return mergeErr("shard %d: %s is not an engram-bench interval log (no %s header)", si.Index, p, HLogVersion)
		}
		if h.Meta.Scenario != safeToken(r.Scenario) || h.Meta.Seed != r.Seed || h.Meta.Shard != si.Index || max(h.Meta.Shards, 1) != si.Count {
			return mergeErr("shard %d: interval log %s is of %s seed %d shard %d of %d, but its result %s is of %s seed %d shard %d of %d: the log belongs to another run",
				si.Index, p, h.Meta.Scenario, h.Meta.Seed, h.Meta.Shard, max(h.Meta.Shards, 1), label(r), r.Scenario, r.Seed, si.Index, si.Count)
		}
		if m.names == nil {
			m.names = h.Ops
		} else if !slices.Equal(m.names, h.Ops) {
			return mergeErr("shard %d: interval log %s names op kinds %s, shard %d's names %s: results of different engram-bench versions",
				si.Index, p, strings.Join(h.Ops, ","), shardOf(m.shards[0]).Index, strings.Join(m.names, ","))
		}
		m.readers = append(m.readers, rd)
		m.heads = append(m.heads, iv)
	}
	if len(m.names) == 0 {
		return mergeErr("%s: the interval log names no op kinds", m.logs[0])
	}
	return nil
}

// skeleton fills what the merged result takes from the shards' results.
func (m *merger) skeleton() *Result {
	r0 := m.shards[0]
	res := &Result{
		Schema: Schema, Scenario: r0.Scenario, ScenarioName: r0.ScenarioName, ScenarioSource: r0.ScenarioSource,
		ScenarioText: r0.ScenarioText, Seed: r0.Seed, Driver: r0.Driver, Target: r0.Target, WarmupS: r0.WarmupS,
		Env: r0.Env, LoadModel: r0.LoadModel, Ops: map[string]OpStats{},
		Windows: slices.Clone(r0.Windows), TargetMetrics: r0.TargetMetrics,
	}
	res.Env.Command = ""
	info := &MergeInfo{Shards: m.n, Missing: m.missing}
	first, last := r0.StartedAt, r0.StartedAt
	for _, r := range m.shards {
		si := shardOf(r)
		info.Merged = append(info.Merged, si.Index)
		info.Sources = append(info.Sources, MergeSource{Shard: si.Index, Path: r.Path, HLog: HLogPath(r), Host: r.Env.Host, StartedAt: r.StartedAt,
			Count: r.Total.Count, AchievedRate: r.AchievedRate, Verdict: r.Verdict, Partial: r.Partial})
		res.Concurrency += r.Concurrency
		res.TargetRate += r.TargetRate
		res.DurationS = max(res.DurationS, r.DurationS)
		res.Partial = res.Partial || r.Partial
		if r.StartedAt.Before(first) {
			first = r.StartedAt
		}
		if r.StartedAt.After(last) {
			last = r.StartedAt
		}
		res.Preload.Memories += r.Preload.Memories
		res.Preload.Errors += r.Preload.Errors
		if res.Preload.FirstError == "" {
			res.Preload.FirstError = r.Preload.FirstError
		}
		res.Preload.DurationS = max(res.Preload.DurationS, r.Preload.DurationS)
		h, rh := &res.Harness, r.Harness
		h.HarnessLagP99Ns = max(h.HarnessLagP99Ns, rh.HarnessLagP99Ns)
		h.Queued += rh.Queued
		h.Unsent += rh.Unsent
		h.WarmupSpill += rh.WarmupSpill
		h.Abandoned += rh.Abandoned
		h.Saturated += rh.Saturated
		h.CPUPercent += rh.CPUPercent
		h.MaxLagNs = max(h.MaxLagNs, rh.MaxLagNs)
		if h.Spin == "" {
			h.Spin = rh.Spin
		} else if rh.Spin != "" && rh.Spin != h.Spin {
			h.Spin = "mixed"
		}
		h.SpinPercent += rh.SpinPercent / float64(len(m.shards))
		if rh.Limited {
			h.Limited = true
			if h.Reason != "" {
				h.Reason += "; "
			}
			h.Reason += fmt.Sprintf("shard %d: %s", si.Index, rh.Reason)
		}
	}
	res.StartedAt = first
	info.StartSkewS = last.Sub(first).Seconds()
	res.Merge = info
	if len(m.missing) > 0 {
		res.Partial = true
	}
	m.warnings(res)
	return res
}

// warnings gathers the shards' warnings (each once, with the shards that
// gave it) and the merge's own.
func (m *merger) warnings(res *Result) {
	var order []string
	by := map[string][]int{}
	for _, r := range m.shards {
		for _, w := range r.Warnings {
			if _, ok := by[w]; !ok {
				order = append(order, w)
			}
			by[w] = append(by[w], shardOf(r).Index)
		}
	}
	for _, w := range order {
		who := "shard "
		if len(by[w]) > 1 {
			who = "shards "
		}
		res.Warnings = append(res.Warnings, who+joinInts(by[w])+": "+w)
	}
	if s := res.Merge.StartSkewS; s > 0.1 && len(m.shards) > 1 {
		res.Warnings = append(res.Warnings, fmt.Sprintf("the shards started measuring up to %.1fs apart: intervals were merged by their offset from each shard's own start, not by wall time; align shards with run --start-at", s))
	}
	if len(m.missing) > 0 {
		res.Warnings = append(res.Warnings, fmt.Sprintf("partial merge: shard %s of %d missing: the merged load is %d/%d of the run's", joinInts(m.missing), m.n, len(m.shards), m.n))
	}
}

// intervalKey is an interval's start in whole milliseconds (the logs
// write seconds with three decimals).
func intervalKey(s float64) int64 { return int64(math.Round(s * 1000)) }

// intervals merges the shards' interval logs interval by interval: res gets
// one Interval per merged interval, cum the run's totals, opt.HLog the
// merged log.
func (m *merger) intervals(res *Result, cum *Totals) error {
	sched := make([]map[int64]int64, len(m.shards))
	for k, r := range m.shards {
		sched[k] = map[int64]int64{}
		for _, iv := range r.Intervals {
			sched[k][intervalKey(iv.StartS)] += iv.Scheduled
		}
	}
	var lw *HLogWriter
	var firstLen time.Duration
	if m.opt.HLog != nil {
		start := res.StartedAt
		note := fmt.Sprintf("merged from shard %s of %d by engram-bench merge", joinInts(res.Merge.Merged), m.n)
		lw = NewHLogWriter(m.opt.HLog, m.names, HLogMeta{Scenario: res.Scenario, Seed: res.Seed, Driver: res.Driver, Note: note},
			func() time.Time { return start.Add(firstLen) })
	}
	delta := newTotals(len(m.names))
	idx := map[string]int{}
	for i, n := range m.names {
		idx[n] = i
	}
	tick := 0
	var ivs *IntervalBuilder
	for {
		// The earliest start among the shards' next intervals.
		key, any := int64(0), false
		for _, h := range m.heads {
			if h != nil && (!any || intervalKey(h.StartS) < key) {
				key, any = intervalKey(h.StartS), true
			}
		}
		if !any {
			break
		}
		delta.reset()
		var length float64
		var count int64
		inFlight := 0
		var scheduled int64
		for k, h := range m.heads {
			if h == nil || intervalKey(h.StartS) != key {
				continue
			}
			length = max(length, h.LengthS)
			count += h.Count
			inFlight += h.InFlight
			delta.Queued += h.Queued
			delta.Saturated += h.Saturated
			scheduled += sched[k][key]
			if h.Lag != nil {
				if err := addExact(delta.Lag, h.Lag, m.logs[k], "harness.lag"); err != nil {
					return err
				}
			}
			for name, o := range h.Ops {
				i, ok := idx[name]
				if !ok {
					return mergeErr("%s: op kind %q at %.3fs is not in the log's header (ops=%s)", m.logs[k], name, h.StartS, strings.Join(m.names, ","))
				}
				t := &delta.Ops[i]
				if o.Latency != nil {
					if err := addExact(t.Latency, o.Latency, m.logs[k], name); err != nil {
						return err
					}
				}
				if o.Service != nil {
					if err := addExact(t.Service, o.Service, m.logs[k], name+HLogServiceSuffix); err != nil {
						return err
					}
				}
				t.Count += o.Count
				t.Scored += o.Scored
				t.Hits += o.Hits
				for c, v := range o.Errors {
					t.Errors[c] += v
				}
			}
			next, err := m.readers[k].Next()
			if err == io.EOF {
				next = nil
			} else if err != nil {
				return mergeErr("shard %d: %v", shardOf(m.shards[k]).Index, err)
			}
			m.heads[k] = next
		}
		var got int64
		for i := range delta.Ops {
			got += delta.Ops[i].Count
		}
		if got == 0 && length == 0 {
			continue // an empty zero-length last tick, as a run leaves out too
		}
		cum.merge(delta)
		st := key * int64(time.Millisecond)
		t := Tick{Index: tick, Start: st, End: st + int64(math.Round(length*1e9)), Delta: delta, Cumulative: cum, InFlight: inFlight}
		tick++
		if lw != nil {
			if firstLen == 0 {
				firstLen = time.Duration(t.End - t.Start)
			}
			lw.Tick(t)
		}
		if ivs == nil {
			// The runs' own intervals merged ticks the same way: by the
			// planned window (shard.measured_s), not the measured one,
			// which an interrupted run ends early and a drain ends late.
			planned := shardOf(m.shards[0]).MeasuredS
			if planned <= 0 {
				planned = res.DurationS
			}
			ivs = NewIntervalBuilder(m.names, TicksPerInterval(time.Duration(math.Round(planned*1e9)), time.Duration(t.End-t.Start)))
			ivs.origin, ivs.haveOrigin = 0, true
		}
		ivs.Add(t, scheduled)
	}
	if ivs != nil {
		res.Intervals = ivs.Intervals()
	}
	for k, rd := range m.readers {
		r := m.shards[k]
		if !rd.Ended && !r.Partial {
			return mergeErr("shard %d: interval log %s ends without its end line (cut short?) while its result %s is complete", shardOf(r).Index, m.logs[k], label(r))
		}
	}
	if lw != nil {
		if err := lw.Close(res.Partial); err != nil {
			return fmt.Errorf("write merged interval log: %w", err)
		}
	}
	return nil
}

// addExact adds from into to, refusing any value the merge would drop.
func addExact(to, from *hdr.Histogram, file, tag string) error {
	if dropped := to.Merge(from); dropped > 0 {
		return mergeErr("%s: %d values of %s are outside the histogram range 1 ns–60 s: cannot merge exactly", file, dropped, tag)
	}
	return nil
}

// check compares the logs' totals with the results' own counts: a log that
// does not belong to its result would otherwise merge silently.
func (m *merger) check(cum *Totals) error {
	want := map[string]int64{}
	wantErr := map[string]int64{}
	for _, r := range m.shards {
		for name, s := range r.Ops {
			want[name] += s.Count
			wantErr[name] += s.Errors
		}
	}
	for i, name := range m.names {
		t := &cum.Ops[i]
		if t.Count != want[name] || t.ErrorCount() != wantErr[name] {
			return mergeErr("the interval logs hold %d %s ops (%d errors) but the shard results %d (%d errors): a log does not belong to its result (logs: %s)",
				t.Count, name, t.ErrorCount(), want[name], wantErr[name], strings.Join(m.logs, ", "))
		}
		delete(want, name)
	}
	for name, c := range want {
		if c > 0 {
			return mergeErr("the shard results hold %d %s ops that no interval log has (logs: %s)", c, name, strings.Join(m.logs, ", "))
		}
	}
	return nil
}

// whole fills the whole-run numbers from the merged totals.
func (m *merger) whole(res *Result, cum *Totals) {
	secs := res.DurationS
	for i, name := range m.names {
		if cum.Ops[i].Count > 0 {
			res.Ops[name] = Summarize(&cum.Ops[i], secs)
		}
	}
	all := cum.All()
	res.Total = Summarize(&all, secs)
	res.Total.LatencyHDR, res.Total.ServiceHDR = "", ""
	if secs > 0 {
		res.AchievedRate = float64(res.Total.Count) / secs
	}
	lag := PercentilesOf(cum.Lag)
	h := &res.Harness
	h.LagP50Ns, h.LagP99Ns, h.LagP999Ns, h.LagMaxNs = lag.P50, lag.P99, lag.P999, lag.Max
	// Recall@10 per op kind: found and expected add up.
	var found, expected float64
	var scored int64
	approx := false
	for name, s := range res.Ops {
		var f, e float64
		for _, r := range m.shards {
			o, ok := r.Ops[name]
			if !ok || o.RecallAt10 == nil {
				continue
			}
			oe := float64(o.RecallExpected)
			if oe == 0 {
				oe, approx = float64(o.Scored), true // older result: weigh by scored ops
			}
			f += math.Round(*o.RecallAt10 * oe)
			e += oe
		}
		if e > 0 {
			v := f / e
			s.RecallAt10, s.RecallExpected = &v, int64(e)
			res.Ops[name] = s
			found += f
			expected += e
		}
	}
	if approx {
		res.Warnings = append(res.Warnings, "recall@10 merged by weighing shards by scored ops: a shard result has no recall_expected (older engram-bench)")
	}
	var ledger *LedgerStats
	for _, r := range m.shards {
		if r.Quality != nil {
			scored += r.Quality.Scored
			ledger = mergeLedger(ledger, r.Quality.Ledger)
		}
	}
	if expected > 0 || ledger != nil {
		res.Quality = &QualityStats{Scored: scored, Ledger: ledger}
		if expected > 0 {
			v := found / expected
			res.Quality.RecallAt10 = &v
			res.Total.RecallAt10, res.Total.RecallExpected = &v, int64(expected)
		}
		if ledger != nil {
			finishLedger(ledger)
		}
	}
	res.Resources = m.resources()
}

// mergeLedger adds b into a (either may be nil).
func mergeLedger(a, b *LedgerStats) *LedgerStats {
	if b == nil {
		return a
	}
	if a == nil {
		a = &LedgerStats{}
	}
	// SampleRate is kept as the sum of rate × acknowledged until finishLedger.
	a.SampleRate += b.SampleRate * float64(b.Acknowledged)
	a.Acknowledged += b.Acknowledged
	a.Tracked += b.Tracked
	a.Checked += b.Checked
	a.Found += b.Found
	a.NeverFound += b.NeverFound
	a.FirstReadMissed += b.FirstReadMissed
	a.ReadsBeforeAck += b.ReadsBeforeAck
	a.MissingExamples = append(a.MissingExamples, b.MissingExamples...)
	if b.AckToFoundHDR != "" {
		h, err := DecodeHistogram(a.AckToFoundHDR)
		g, err2 := DecodeHistogram(b.AckToFoundHDR)
		if err == nil && err2 == nil {
			h.Merge(g)
			a.AckToFoundHDR = EncodeHistogram(h)
		}
	}
	return a
}

func finishLedger(l *LedgerStats) {
	if l.Acknowledged > 0 {
		l.SampleRate /= float64(l.Acknowledged)
	}
	if l.Checked > 0 {
		f := float64(l.Found) / float64(l.Checked)
		l.FoundShare = &f
	}
	sort.Strings(l.MissingExamples)
	if len(l.MissingExamples) > 10 {
		l.MissingExamples = l.MissingExamples[:10]
	}
	if h, err := DecodeHistogram(l.AckToFoundHDR); err == nil {
		l.AckToFoundNs = PercentilesOf(h)
	}
}

// resources merges the memory measurements: shards that each ran their own
// engine ("process") add up; shards that scraped one shared target report
// the same server, so its peak is the highest any shard saw.
func (m *merger) resources() *Resources {
	var out *Resources
	for _, r := range m.shards {
		s := r.Resources
		if s == nil {
			continue
		}
		if out == nil {
			out = &Resources{Source: s.Source, RawBytesPerMemory: s.RawBytesPerMemory}
		}
		if s.Source == "process" {
			out.RSSPeakBytes += s.RSSPeakBytes
			out.RSSBaselineBytes += s.RSSBaselineBytes
			out.BoundedBytes += s.BoundedBytes
		} else {
			out.RSSPeakBytes = max(out.RSSPeakBytes, s.RSSPeakBytes)
			out.BoundedBytes = max(out.BoundedBytes, s.BoundedBytes)
		}
		out.Memories += s.Memories
	}
	return out
}

// breakdowns merges the per-phase and per-space rows.
func (m *merger) breakdowns(res *Result) error {
	secs := res.DurationS
	r0 := m.shards[0]
	for _, p := range r0.Phases {
		groups := make([]BreakdownGroup, 0, len(m.shards))
		var rate, last float64
		for _, r := range m.shards {
			for _, q := range r.Phases {
				if q.Name == p.Name {
					groups = append(groups, q.BreakdownGroup)
					rate += q.TargetRate
					last = max(last, q.LastEndS)
				}
			}
		}
		g, err := mergeGroups(groups, p.EndS-p.StartS)
		if err != nil {
			return mergeErr("phase %s: %v", p.Name, err)
		}
		pr := PhaseResult{Name: p.Name, StartS: p.StartS, EndS: p.EndS, TargetRate: rate, LastEndS: last, BreakdownGroup: g}
		pr.AchievedRate = pr.Achieved()
		res.Phases = append(res.Phases, pr)
	}
	var names []string
	seen := map[string]bool{}
	for _, r := range m.shards {
		for name := range r.Spaces {
			if !seen[name] {
				seen[name] = true
				names = append(names, name)
			}
		}
	}
	sort.Strings(names)
	for _, name := range names {
		var groups []BreakdownGroup
		for _, r := range m.shards {
			if g, ok := r.Spaces[name]; ok {
				groups = append(groups, g)
			}
		}
		g, err := mergeGroups(groups, secs)
		if err != nil {
			return mergeErr("space %s: %v", name, err)
		}
		if res.Spaces == nil {
			res.Spaces = map[string]BreakdownGroup{}
		}
		res.Spaces[name] = g
	}
	return nil
}

// mergeGroups adds breakdown rows of several shards; their latency
// percentiles come from the merged histograms, which sharded runs keep.
func mergeGroups(gs []BreakdownGroup, seconds float64) (BreakdownGroup, error) {
	out := BreakdownGroup{Ops: map[string]GroupStats{}}
	var err error
	per := map[string][]GroupStats{}
	var totals []GroupStats
	for _, g := range gs {
		for k, s := range g.Ops {
			per[k] = append(per[k], s)
		}
		totals = append(totals, g.Total)
	}
	for k, ss := range per {
		if out.Ops[k], err = mergeGroupStats(ss, seconds); err != nil {
			return out, fmt.Errorf("%s: %w", k, err)
		}
	}
	out.Total, err = mergeGroupStats(totals, seconds)
	return out, err
}

func mergeGroupStats(ss []GroupStats, seconds float64) (GroupStats, error) {
	var out GroupStats
	lat := NewHistogram()
	haveHist := true
	var hits, found float64
	for _, s := range ss {
		out.Count += s.Count
		out.Errors += s.Errors
		out.Scored += s.Scored
		for c, v := range s.ErrorsByClass {
			if out.ErrorsByClass == nil {
				out.ErrorsByClass = map[string]int64{}
			}
			out.ErrorsByClass[c] += v
		}
		if s.HitRate != nil {
			hits += math.Round(*s.HitRate * float64(s.Scored))
		}
		if s.RecallAt10 != nil {
			found += math.Round(*s.RecallAt10 * float64(s.RecallExpected))
			out.RecallExpected += s.RecallExpected
		}
		if s.Count-s.Errors > 0 {
			if s.LatencyHDR == "" {
				haveHist = false
				continue
			}
			h, err := DecodeHistogram(s.LatencyHDR)
			if err != nil {
				return out, err
			}
			// Per-space rows keep 2 significant digits: merge into that
			// geometry so that nothing is dropped.
			if h.SignificantFigures() != lat.SignificantFigures() && lat.TotalCount() == 0 {
				lat = hdr.New(LowestNs, HighestNs, int(h.SignificantFigures()))
			}
			lat.Merge(h)
		}
	}
	if !haveHist {
		return out, fmt.Errorf("a shard result has no latency histogram for this row (run shards with this engram-bench version)")
	}
	out.Latency = PercentilesOf(lat)
	out.LatencyHDR = EncodeHistogram(lat)
	out.ErrorRate = errorRate(out.Count, out.Errors, out.ErrorsByClass)
	if seconds > 0 {
		out.Throughput = float64(out.Count) / seconds
	}
	if out.Scored > 0 {
		v := hits / float64(out.Scored)
		out.HitRate = &v
	}
	if out.RecallExpected > 0 {
		v := found / float64(out.RecallExpected)
		out.RecallAt10 = &v
	}
	return out, nil
}

// evaluate judges the merged data against the targets and the hypotheses.
func (m *merger) evaluate(res *Result) {
	l := m.opt.Limits
	if l == nil {
		l = limitsFromTargets(m.shards[0].Targets, m.n)
	}
	res.Evaluate(*l)
	res.EvaluateHypotheses()
	var why []string
	if len(m.missing) > 0 {
		why = append(why, fmt.Sprintf("partial merge: shard %s of %d missing", joinInts(m.missing), m.n))
	}
	for _, r := range m.shards {
		if r.Partial {
			why = append(why, fmt.Sprintf("shard %d was interrupted (partial)", shardOf(r).Index))
		}
	}
	if len(why) > 0 {
		res.Verdict = VerdictInvalid
		res.Reasons = append(why, res.Reasons...)
	}
}

// limitsFromTargets rebuilds the limits a shard was judged against, its
// throughput target multiplied back by the shard count.
func limitsFromTargets(ts []Target, shards int) *Limits {
	l := &Limits{}
	for _, t := range ts {
		v := t.Target
		switch t.Name {
		case "p50_latency":
			l.P50Ms = &v
		case "p99_latency":
			l.P99Ms = &v
		case "p999_latency":
			l.P999Ms = &v
		case "throughput":
			v *= float64(max(shards, 1))
			l.ThroughputOpsSec = &v
		case "error_rate":
			l.MaxErrorRate = &v
		case "recall_at_10":
			l.RecallAt10 = &v
		}
	}
	return l
}

// writeShardLines adds the shard or merge lines to the text summary.
func writeShardLines(w io.Writer, r *Result) {
	if s := r.Shard; s != nil {
		fmt.Fprintf(w, "  shard: %d of %d (ops with index mod %d = %d), stream rate %.1f ops/s, preload by %s", s.Index, s.Count, s.Count, s.Index, s.StreamRate, s.Preload)
		if s.StartAt != nil {
			fmt.Fprintf(w, ", aligned start %s", s.StartAt.UTC().Format(time.RFC3339Nano))
		}
		fmt.Fprintln(w)
	}
	mi := r.Merge
	if mi == nil {
		return
	}
	fmt.Fprintf(w, "  merged: %d of %d shards", len(mi.Merged), mi.Shards)
	if len(mi.Missing) > 0 {
		fmt.Fprintf(w, " (MISSING shard %s)", joinInts(mi.Missing))
	}
	fmt.Fprintf(w, ", start skew %s\n", FormatNs(int64(mi.StartSkewS*1e9)))
	for _, s := range mi.Sources {
		host := s.Host
		if host == "" {
			host = "-"
		}
		partial := ""
		if s.Partial {
			partial = " (partial)"
		}
		fmt.Fprintf(w, "    shard %d  %s  %d ops  %.1f ops/s  %s%s  %s\n", s.Shard, host, s.Count, s.AchievedRate, s.Verdict, partial, s.Path)
	}
}
