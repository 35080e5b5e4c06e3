package reports

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func i64(v int64) *int64 { return &v }

// sampleComparison: embedded does everything, redis cannot do
// pattern_completion, postgres finished no search, broken never started.
func sampleComparison() *Comparison {
	hr := 1.0
	hr2 := 0.75
	rec := 0.9625
	full := func(name string) *Result {
		return &Result{Driver: name, DurationS: 10, AchievedRate: 100, Ops: map[string]OpStats{
			"store":              {Count: 400, Latency: Percentiles{P50: 1e6, P99: 5e6, P999: 9e6}},
			"embedding_search":   {Count: 500, Latency: Percentiles{P50: 2e6, P99: 8e6, P999: 12e6}, Scored: 500, HitRate: &hr, RecallAt10: &rec, RecallExpected: 4000},
			"pattern_completion": {Count: 100, Latency: Percentiles{P50: 3e6, P99: 9e6, P999: 13e6}},
		}, Total: OpStats{Count: 1000, Latency: Percentiles{P99: 8e6}}}
	}
	redis := full("redis")
	redis.Ops["pattern_completion"] = OpStats{Count: 100, Errors: 100, ErrorsByClass: map[string]int64{"unsupported": 100}}
	redis.Ops["embedding_search"] = OpStats{Count: 500, Errors: 5, ErrorsByClass: map[string]int64{"timeout": 5}, Latency: Percentiles{P50: 40e6, P99: 90e6, P999: 99e6}, Scored: 495, HitRate: &hr2}
	redis.Total.Errors = 105
	redis.Total.ErrorsByClass = map[string]int64{"unsupported": 100, "timeout": 5}
	embedded := full("embedded")
	pcRec := 0.5
	pc := embedded.Ops["pattern_completion"]
	pc.RecallAt10, pc.RecallExpected = &pcRec, 1000
	embedded.Ops["pattern_completion"] = pc
	pg := full("postgres")
	delete(pg.Ops, "embedding_search")
	pg.Harness.Unsent = 500
	return &Comparison{
		Schema: ComparisonSchema, Scenario: "quickstart", Seed: 1, TargetRate: 100, DurationS: 10, Concurrency: 64,
		Kinds: []string{"store", "embedding_search", "pattern_completion"}, SearchK: 10, MaxResults: 10,
		Systems: []SystemRun{
			{Name: "embedded", Describe: "engine", Result: embedded, Footprint: Footprint{InProcess: true, MemoryStart: i64(30 << 20), MemoryEnd: i64(130 << 20), MemoryPeak: i64(140 << 20), DiskStart: i64(0), DiskEnd: i64(50 << 20)}},
			{Name: "redis", Describe: "redis 7.0.15 <exact scan>", Result: redis, Footprint: Footprint{MemoryEnd: i64(200 << 20), MemoryPeak: i64(300 << 20), MemoryStart: i64(10 << 20), DiskStart: i64(4096), DiskEnd: i64(16 << 20)}},
			{Name: "postgres", Result: pg, Footprint: Footprint{MemoryWhy: "external system: pass --pid postgres=PID to measure it", DiskWhy: "external system: pass --dir postgres=DATA_DIR to measure it"}},
			{Name: "broken", Error: "redis: redis-server not installed"},
		},
	}
}

func cellsOf(t *testing.T, rows []Row, group, metric string) []Cell {
	t.Helper()
	for _, r := range rows {
		if r.Group == group && r.Metric == metric {
			return r.Cells
		}
	}
	t.Fatalf("no row %s/%s", group, metric)
	return nil
}

func TestComparisonRows(t *testing.T) {
	rows := sampleComparison().Rows()
	for _, tc := range []struct {
		name          string
		group, metric string
		want          []string
	}{
		{"an op a system cannot do is n/a in every metric", "pattern_completion", "p99", []string{"9.00ms", "n/a", "9.00ms", "not run"}},
		{"its throughput too, never 0", "pattern_completion", "ok ops/s", []string{"10.0", "n/a", "10.0", "not run"}},
		{"its errors too", "pattern_completion", "errors", []string{"0", "n/a", "0", "not run"}},
		{"a search kind that no op of finished says so", "embedding_search", "p50", []string{"2.00ms", "40.0ms", "none finished", "not run"}},
		{"recall@10 is OpStats.RecallAt10, n/a where the system did not score it", "embedding_search", "recall@10", []string{"0.963", "n/a", "none finished", "not run"}},
		{"the hit rate is a row of its own", "embedding_search", "hit rate", []string{"1.000", "0.750", "none finished", "not run"}},
		{"recall@10 of any kind a system scored", "pattern_completion", "recall@10", []string{"0.500", "n/a", "n/a", "not run"}},
		{"errors name their classes", "embedding_search", "errors", []string{"0", "5 (timeout 5)", "0", "not run"}},
		{"ok ops/s counts successes", "embedding_search", "ok ops/s", []string{"50.0", "49.5", "0.0", "not run"}},
		{"errors exclude unsupported ops", "all ops", "errors (not n/a)", []string{"0", "5", "0", "not run"}},
		{"unfinished ops are shown", "all ops", "not finished", []string{"0", "0", "500", "not run"}},
		{"memory not measured is n/a", "memory", "at end", []string{"130 MiB", "200 MiB", "n/a", "n/a"}},
		{"disk growth", "disk", "growth", []string{"50.0 MiB", "16.0 MiB", "n/a", "n/a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cells := cellsOf(t, rows, tc.group, tc.metric)
			var got []string
			for _, c := range cells {
				got = append(got, c.Text)
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("got %q, want %q", got, tc.want)
			}
			for _, c := range cells {
				if c.NA && c.Text != "n/a" {
					t.Errorf("NA cell shows %q", c.Text)
				}
			}
		})
	}
}

// TestComparisonQualityRows: recall@10 and hit rate rows are where they
// mean something, and the recall@10 chart only when a system measured it.
func TestComparisonQualityRows(t *testing.T) {
	has := func(rows []Row, group, metric string) bool {
		for _, r := range rows {
			if r.Group == group && r.Metric == metric {
				return true
			}
		}
		return false
	}
	rows := sampleComparison().Rows()
	for _, tc := range []struct {
		group, metric string
		want          bool
	}{
		{"embedding_search", "recall@10", true},
		{"embedding_search", "hit rate", true},
		{"pattern_completion", "hit rate", false},
		{"store", "recall@10", false},
		{"store", "hit rate", false},
	} {
		if got := has(rows, tc.group, tc.metric); got != tc.want {
			t.Errorf("row %s/%s: %v, want %v", tc.group, tc.metric, got, tc.want)
		}
	}
	c := sampleComparison()
	for _, s := range c.Systems {
		if s.Result != nil {
			for k, st := range s.Result.Ops {
				st.RecallAt10 = nil
				s.Result.Ops[k] = st
			}
		}
	}
	var page bytes.Buffer
	if err := WriteComparisonHTML(&page, c); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(page.String(), "recall@10: share") {
		t.Error("a recall@10 chart of nothing but n/a")
	}
	if !strings.Contains(page.String(), "<td class=\"m\">recall@10</td>") {
		t.Error("the search's recall@10 row went with the chart")
	}
}

func TestComparisonTextAndHTML(t *testing.T) {
	c := sampleComparison()
	var txt bytes.Buffer
	if err := WriteComparisonText(&txt, c); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"quickstart · seed 1", "redis 7.0.15 <exact scan>", "pattern_completion", "n/a", "broken not run: redis: redis-server not installed", "embedded runs inside the harness process", "pass --pid postgres=PID"} {
		if !strings.Contains(txt.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, txt.String())
		}
	}
	var page bytes.Buffer
	if err := WriteComparisonHTML(&page, c); err != nil {
		t.Fatal(err)
	}
	h := page.String()
	for _, want := range []string{"<!DOCTYPE html>", "<svg", "p99 latency per op kind", "recall@10: share of expected memories", ">embedding_search recall@10</text>", "memory and disk used", "redis 7.0.15 &lt;exact scan&gt;", `class="na">n/a</td>`} {
		if !strings.Contains(h, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(h, "<exact scan>") {
		t.Error("system description not escaped")
	}
	// Self-contained: no scripts, no external resources.
	if strings.Contains(h, "<script") || regexp.MustCompile(`(src|href)="?https?:`).MatchString(h) {
		t.Error("page loads something from outside")
	}
}

func TestComparisonRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.json")
	c := sampleComparison()
	if err := c.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	back, err := ReadComparison(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Systems) != 4 || back.Systems[1].Result.Ops["embedding_search"].Errors != 5 || back.Systems[2].Footprint.MemoryEnd != nil {
		t.Errorf("round trip lost data: %+v", back.Systems)
	}
	for _, tc := range []struct{ name, body, want string }{
		{"not JSON", "{", "not valid JSON"},
		{"a run result", `{"schema":"engram-bench/result/v1"}`, `schema "engram-bench/result/v1"`},
		{"no schema", `{}`, "schema none"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeComparison("x.json", []byte(tc.body))
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "x.json") {
				t.Errorf("err %v, want it to name x.json and say %q", err, tc.want)
			}
		})
	}
	if _, err := ReadComparison(filepath.Join(t.TempDir(), "missing.json")); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("missing file: %v", err)
	}
}

func FuzzDecodeComparison(f *testing.F) {
	path := filepath.Join(f.TempDir(), "c.json")
	if err := sampleComparison().WriteFile(path); err != nil {
		f.Fatal(err)
	}
	seed, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte(`{"schema":"engram-bench/comparison/v1","systems":[{"name":"x","result":{"ops":{"store":{"count":1}}}}]}`))
	f.Add([]byte(`{"schema":"engram-bench/comparison/v1","systems":[{"name":"x"}],"kinds":["store"]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := DecodeComparison("fuzz.json", data)
		if err != nil {
			return
		}
		var out bytes.Buffer
		if err := WriteComparisonText(&out, c); err != nil {
			t.Fatal(err)
		}
		if err := WriteComparisonHTML(&out, c); err != nil {
			t.Fatal(err)
		}
	})
}
