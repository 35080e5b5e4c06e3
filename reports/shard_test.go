package reports

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

var mergeNames = []string{"store", "recall_by_cue", "embedding_search"}

// mergeStart is where every synthetic shard started measuring.
var mergeStart = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// synthSamples is a deterministic run's worth of samples, interval by
// interval: varied latencies over five decades, errors of two classes, scored
// recalls, queued ops. The last interval is short (a drain).
func synthSamples(intervals, perInterval int) [][]Sample {
	rng := rand.New(rand.NewPCG(7, 9))
	out := make([][]Sample, intervals)
	for k := range out {
		base := int64(k) * 1e9
		for i := 0; i < perInterval; i++ {
			s := Sample{Op: rng.IntN(len(mergeNames)), Intended: base + int64(i)*(1e9/int64(perInterval))}
			s.Start = s.Intended + rng.Int64N(200_000)
			s.End = s.Start + int64(1000*rng.ExpFloat64()*float64(rng.IntN(5000)+1))
			switch rng.IntN(50) {
			case 0:
				s.Err = "timeout"
			case 1:
				s.Err = "5xx"
			}
			if s.Op == 1 {
				s.Scored, s.Hit = true, rng.IntN(10) != 0
			}
			s.Queued = rng.IntN(100) == 0
			out[k] = append(out[k], s)
		}
	}
	return out
}

// shardRun records samples j of each interval with j mod n = k (a shard's
// share of the one stream), ticks like a runner, streams its interval log
// to dir and returns its result, as run --shard k/n --hlog would.
func shardRun(t *testing.T, dir string, samples [][]Sample, k, n int) (*Result, *Recorder) {
	t.Helper()
	rec := NewRecorder(mergeNames, 3)
	rec.SetStart(0)
	name := filepath.Join(dir, "shard-"+string(rune('0'+k))+".hlog")
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	lw := NewHLogWriter(f, mergeNames, HLogMeta{Scenario: "synthetic", Seed: 3, Driver: "null", Shard: k, Shards: n},
		func() time.Time { return mergeStart.Add(time.Second) })
	var ivs []Interval
	end := int64(0)
	for i, batch := range samples {
		for j, s := range batch {
			if j%n == k {
				rec.Shard(j).Record(s)
			}
		}
		end = int64(i+1) * 1e9
		if i == len(samples)-1 {
			end -= 6e8 // a short last interval
		}
		rec.Tick(end, func(tk Tick) {
			tk.InFlight = k + 1
			lw.Tick(tk)
			iv := SummarizeTick(tk, mergeNames, 0)
			iv.Scheduled = int64(len(batch)/n + 1)
			ivs = append(ivs, iv)
		})
	}
	if err := lw.Close(false); err != nil {
		t.Fatal(err)
	}
	f.Close()
	secs := float64(end) / 1e9
	at := mergeStart
	r := &Result{Schema: Schema, Scenario: "synthetic", ScenarioText: "[run]\nseed = 3\n", Seed: 3, Driver: "null", StartedAt: mergeStart,
		Concurrency: 8, DurationS: secs, Ops: map[string]OpStats{}, Intervals: ivs, LoadModel: "open",
		Shard: &ShardInfo{Index: k, Count: n, StartAt: &at, Preload: "shard0", StreamRate: 1000, MeasuredS: 4},
		Files: map[string]string{"hlog": filepath.Base(name)}, Path: filepath.Join(dir, "shard-"+string(rune('0'+k))+".json")}
	r.TargetRate = 1000 / float64(n)
	tot := rec.Cumulative()
	for i, nm := range mergeNames {
		if tot.Ops[i].Count > 0 {
			r.Ops[nm] = Summarize(&tot.Ops[i], secs)
		}
	}
	all := tot.All()
	r.Total = Summarize(&all, secs)
	r.AchievedRate = float64(r.Total.Count) / secs
	r.Harness.Queued = tot.Queued
	p99 := 5.0
	r.Evaluate(Limits{P99Ms: &p99})
	return r, rec
}

func countsOf(h *hdr.Histogram) []int64 { return h.Export().Counts }

func decode(t *testing.T, s string) *hdr.Histogram {
	t.Helper()
	h, err := DecodeHistogram(s)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// Merging N shards' histograms gives the histogram of all samples, exactly:
// the same count in every bucket, whole-run and interval by interval, for
// latency, service time and dispatch lag.
func TestMergeIsExact(t *testing.T) {
	samples := synthSamples(4, 1500)
	ref, _ := shardRun(t, t.TempDir(), samples, 0, 1) // one process, every sample
	refRec := NewRecorder(mergeNames, 1)
	var refTicks []*Totals
	for i, batch := range samples {
		for _, s := range batch {
			refRec.Shard(0).Record(s)
		}
		refRec.Tick(int64(i+1)*1e9, func(tk Tick) {
			c := newTotals(len(mergeNames))
			c.merge(tk.Delta)
			refTicks = append(refTicks, c)
		})
	}
	for _, n := range []int{1, 2, 3, 7} {
		t.Run("shards="+string(rune('0'+n)), func(t *testing.T) {
			dir := t.TempDir()
			var rs []*Result
			for k := n - 1; k >= 0; k-- { // any order
				r, _ := shardRun(t, dir, samples, k, n)
				rs = append(rs, r)
			}
			var log bytes.Buffer
			m, err := Merge(rs, MergeOptions{HLog: &log})
			if err != nil {
				t.Fatal(err)
			}
			for _, nm := range mergeNames {
				got, want := m.Ops[nm], ref.Ops[nm]
				if got.Count != want.Count || got.Errors != want.Errors || got.Latency != want.Latency || got.Service != want.Service {
					t.Errorf("%s: merged %+v, one process %+v", nm, got, want)
				}
				if !slices.Equal(countsOf(decode(t, got.LatencyHDR)), countsOf(decode(t, want.LatencyHDR))) {
					t.Errorf("%s: merged latency histogram differs from the histogram of all samples", nm)
				}
				if !slices.Equal(countsOf(decode(t, got.ServiceHDR)), countsOf(decode(t, want.ServiceHDR))) {
					t.Errorf("%s: merged service histogram differs", nm)
				}
				if nm == "recall_by_cue" && *got.HitRate != *want.HitRate {
					t.Errorf("hit rate %v, want %v", *got.HitRate, *want.HitRate)
				}
				for c, v := range want.ErrorsByClass {
					if got.ErrorsByClass[c] != v {
						t.Errorf("%s errors %s: %d, want %d", nm, c, got.ErrorsByClass[c], v)
					}
				}
			}
			if m.Total.Latency != ref.Total.Latency || m.Total.Count != 6000 {
				t.Errorf("total %+v, want %+v", m.Total, ref.Total)
			}
			if m.Harness.LagP99Ns != refRec.Cumulative().Lag.ValueAtQuantile(99) || m.Harness.Queued != ref.Harness.Queued {
				t.Errorf("lag p99 %d queued %d, want %d %d", m.Harness.LagP99Ns, m.Harness.Queued, refRec.Cumulative().Lag.ValueAtQuantile(99), ref.Harness.Queued)
			}
			if math.Abs(m.TargetRate-1000) > 1e-9 || m.AchievedRate != ref.AchievedRate || m.Concurrency != 8*n {
				t.Errorf("target %g achieved %g concurrency %d", m.TargetRate, m.AchievedRate, m.Concurrency)
			}
			if len(m.Intervals) != len(ref.Intervals) {
				t.Fatalf("%d merged intervals, want %d", len(m.Intervals), len(ref.Intervals))
			}
			for i := range ref.Intervals {
				g, w := m.Intervals[i], ref.Intervals[i]
				if g.StartS != w.StartS || g.EndS != w.EndS || g.Count != w.Count || g.Errors != w.Errors || g.LagP99Ns != w.LagP99Ns {
					t.Errorf("interval %d: %+v, want %+v", i, g, w)
				}
				for nm, o := range w.Ops {
					if g.Ops[nm] != o {
						t.Errorf("interval %d %s: %+v, want %+v", i, nm, g.Ops[nm], o)
					}
				}
				if g.InFlight != n*(n+1)/2 {
					t.Errorf("interval %d in flight %d, want the shards' sum %d", i, g.InFlight, n*(n+1)/2)
				}
			}
			// The merged log holds, interval by interval, the histograms of all samples.
			rd := NewHLogReader(&log, "merged.hlog")
			for i := 0; ; i++ {
				iv, err := rd.Next()
				if err == io.EOF {
					if i != len(refTicks) {
						t.Errorf("merged log has %d intervals, want %d", i, len(refTicks))
					}
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				for k, nm := range mergeNames {
					want := &refTicks[i].Ops[k]
					o := iv.Ops[nm]
					if o == nil || o.Count != want.Count || !slices.Equal(countsOf(o.Latency), countsOf(want.Latency)) || !slices.Equal(countsOf(o.Service), countsOf(want.Service)) {
						t.Errorf("merged log interval %d %s differs from the histogram of all its samples", i, nm)
					}
				}
				if !slices.Equal(countsOf(iv.Lag), countsOf(refTicks[i].Lag)) {
					t.Errorf("merged log interval %d: lag differs", i)
				}
			}
			if !rd.Ended || rd.Partial {
				t.Errorf("merged log: ended %v partial %v", rd.Ended, rd.Partial)
			}
			if m.Merge == nil || m.Merge.Shards != n || len(m.Merge.Merged) != n || m.Merge.StartSkewS != 0 || m.Partial {
				t.Errorf("merge info %+v partial %v", m.Merge, m.Partial)
			}
			if m.Verdict != ref.Verdict || len(m.Targets) != 1 || m.Targets[0].Achieved != ref.Targets[0].Achieved {
				t.Errorf("verdict %s targets %+v, want %s %+v", m.Verdict, m.Targets, ref.Verdict, ref.Targets)
			}
			if len(m.Hypotheses) != 4 {
				t.Errorf("hypotheses not evaluated: %+v", m.Hypotheses)
			}
		})
	}
}

// Results that are not the shards of one run are refused, naming the files
// and what differs; --allow-partial turns a missing shard into a partial,
// invalid result.
func TestMergeRefuses(t *testing.T) {
	samples := synthSamples(2, 300)
	baseDir := t.TempDir()
	var base []*Result
	for k := 0; k < 3; k++ {
		r, _ := shardRun(t, baseDir, samples, k, 3)
		base = append(base, r)
	}
	// fresh copies the three shards' results and logs for one case to edit.
	fresh := func(t *testing.T, _ int) []*Result {
		dir := t.TempDir()
		var rs []*Result
		for _, r := range base {
			b, err := json.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			var c Result
			if err := json.Unmarshal(b, &c); err != nil {
				t.Fatal(err)
			}
			c.Path = filepath.Join(dir, filepath.Base(r.Path))
			log, err := os.ReadFile(HLogPath(r))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, r.Files["hlog"]), log, 0o644); err != nil {
				t.Fatal(err)
			}
			rs = append(rs, &c)
		}
		return rs
	}
	cases := []struct {
		name    string
		edit    func(t *testing.T, rs []*Result) []*Result
		partial bool
		want    string
	}{
		{"different seeds", func(t *testing.T, rs []*Result) []*Result { rs[1].Seed = 4; return rs }, false,
			`seed differs: ` + "%DIR%/shard-0.json has \"3\", %DIR%/shard-1.json has \"4\""},
		{"different scenarios", func(t *testing.T, rs []*Result) []*Result { rs[2].Scenario = "other"; return rs }, false, `scenario differs`},
		{"different scenario files", func(t *testing.T, rs []*Result) []*Result { rs[2].ScenarioText += "#\n"; return rs }, false, `their scenario files differ`},
		{"different shard counts", func(t *testing.T, rs []*Result) []*Result { rs[1].Shard.Count = 4; return rs }, false, `shard count differs`},
		{"different rates", func(t *testing.T, rs []*Result) []*Result { rs[1].Shard.StreamRate = 2000; return rs }, false, `offered rate (shard.stream_rate) differs`},
		{"different start times", func(t *testing.T, rs []*Result) []*Result {
			at := mergeStart.Add(time.Minute)
			rs[1].Shard.StartAt = &at
			return rs
		}, false, `start time (shard.start_at) differs`},
		{"a duplicate shard", func(t *testing.T, rs []*Result) []*Result {
			d := *rs[1]
			d.Path = "copy.json"
			return append(rs, &d)
		}, false, `shard 1 of 3 appears twice: %DIR%/shard-1.json and copy.json`},
		{"a missing shard", func(t *testing.T, rs []*Result) []*Result { return []*Result{rs[0], rs[2]} }, false,
			`missing shard 1 of 3 (have 0, 2): merge every shard, or pass --allow-partial`},
		{"a merged result as input", func(t *testing.T, rs []*Result) []*Result {
			rs[0].Merge = &MergeInfo{Shards: 3}
			return rs
		}, false, `is a merged result already`},
		{"no interval log", func(t *testing.T, rs []*Result) []*Result { rs[2].Files = nil; return rs }, false,
			`shard 2 (%DIR%/shard-2.json) has no interval log: run every shard with --hlog FILE`},
		{"a log of another shard", func(t *testing.T, rs []*Result) []*Result { rs[2].Files = rs[1].Files; return rs }, false,
			`is of synthetic seed 3 shard 1 of 3, but its result %DIR%/shard-2.json is of synthetic seed 3 shard 2 of 3`},
		{"a log that does not match its result", func(t *testing.T, rs []*Result) []*Result {
			s := rs[1].Ops["store"]
			s.Count++
			rs[1].Ops["store"] = s
			return rs
		}, false, `a log does not belong to its result`},
		{"a log cut short", func(t *testing.T, rs []*Result) []*Result {
			p := HLogPath(rs[0])
			b, _ := os.ReadFile(p)
			os.WriteFile(p, b[:bytes.LastIndex(b, []byte("#[engram-bench end"))], 0o644)
			return rs
		}, false, `ends without its end line (cut short?)`},
		{"a missing shard, allowed", func(t *testing.T, rs []*Result) []*Result { return []*Result{rs[0], rs[2]} }, true, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rs := c.edit(t, fresh(t, 3))
			m, err := Merge(rs, MergeOptions{AllowPartial: c.partial})
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if !m.Partial || m.Verdict != VerdictInvalid || !strings.Contains(strings.Join(m.Reasons, ";"), "partial merge: shard 1 of 3 missing") ||
					!slices.Equal(m.Merge.Missing, []int{1}) || m.Total.Count != rs[0].Total.Count+rs[1].Total.Count {
					t.Errorf("partial merge: partial %v verdict %s reasons %v merge %+v", m.Partial, m.Verdict, m.Reasons, m.Merge)
				}
				return
			}
			if err == nil {
				t.Fatalf("merged; want an error with %q", c.want)
			}
			want := strings.ReplaceAll(c.want, "%DIR%", filepath.Dir(rs[0].Path))
			if _, ok := err.(*MergeError); !ok || !strings.Contains(err.Error(), want) {
				t.Errorf("error %q (%T), want it to contain %q", err, err, want)
			}
		})
	}
}

// FuzzMergeHLog: whatever a shard's interval log holds, Merge returns a
// result or an error, never a panic. Slow under the fuzzer (every interval
// allocates and walks 27,648-bucket histograms, instrumented): a few execs
// a second; run it for minutes (go test ./reports -run X -fuzz FuzzMergeHLog
// -fuzztime 10m).
func FuzzMergeHLog(f *testing.F) {
	dir := f.TempDir()
	samples := synthSamples(2, 50)
	var rs []*Result
	for k := 0; k < 2; k++ {
		r, _ := shardRun(&testing.T{}, dir, samples, k, 2)
		rs = append(rs, r)
	}
	good, err := os.ReadFile(HLogPath(rs[1]))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte(strings.Replace(string(good), "start=1.000", "start=-7.5", -1)))
	f.Add([]byte(strings.Replace(string(good), "shard=1", "shard=9", 1)))
	f.Fuzz(func(t *testing.T, log []byte) {
		p := filepath.Join(t.TempDir(), "fuzz.hlog")
		if err := os.WriteFile(p, log, 0o644); err != nil {
			t.Fatal(err)
		}
		r1 := *rs[1]
		r1.Files = map[string]string{"hlog": p}
		m, err := Merge([]*Result{rs[0], &r1}, MergeOptions{HLog: io.Discard})
		if err == nil && m.Total.Count != rs[0].Total.Count+rs[1].Total.Count {
			t.Fatalf("merged %d ops from logs that the check let through, want %d", m.Total.Count, rs[0].Total.Count+rs[1].Total.Count)
		}
	})
}
