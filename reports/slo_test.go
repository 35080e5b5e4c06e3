package reports

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseSLO(t *testing.T) {
	cases := []struct {
		name, in, want, err string
	}{
		{"the issue's example", "p99=10ms,p999=50ms,errors=0.1%,recall10=0.95", "p99=10ms,p999=50ms,errors=0.1%,recall10=0.95", ""},
		{"p99.9 with a point, keys in any order, spaces", " errors = 0.001 , p99.9=50ms, p50=1ms", "p50=1ms,p999=50ms,errors=0.1%", ""},
		{"four nines and p99.5", "p9999=1s,p99.5=20ms", "p995=20ms,p9999=1s", ""},
		{"microseconds either way", "p50=500µs,p90=900us", "p50=500µs,p90=900µs", ""},
		{"p05: percentiles below 10 keep two integer digits", "p05=1ms", "p05=1ms", ""},
		{"empty", "", "", "empty"},
		{"no latency", "errors=1%", "", "no latency percentile"},
		{"unknown key", "p99=1ms,speed=fast", "", `unknown key "speed"`},
		{"bad duration", "p99=10", "", "positive duration"},
		{"zero duration", "p99=0s", "", "positive duration"},
		{"p100 is not a percentile", "p100=1s", "", "percentile"},
		{"p9 is ambiguous", "p9=1s", "", "percentile"},
		{"a key twice", "p99=1ms,p99=2ms", "", "p99 given twice"},
		{"p99.9 and p999 are one key", "p99.9=1ms,p999=2ms", "", "p999 given twice"},
		{"errors above 100%", "p99=1ms,errors=150%", "", "errors=150%"},
		{"recall 0", "p99=1ms,recall10=0", "", "fraction in (0, 1]"},
		{"no value", "p99=", "", "want key=value"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := ParseSLO(c.in)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := s.String(); got != c.want {
				t.Errorf("String() = %q, want %q", got, c.want)
			}
		})
	}
}

func FuzzParseSLO(f *testing.F) {
	for _, s := range []string{"p99=10ms,p999=50ms,errors=0.1%,recall10=0.95", "p50=1ms", "p99.5=2s,errors=0.001", "p05=1ns", "p=1", ",,", "p99=1e3h"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		slo, err := ParseSLO(s)
		if err != nil {
			return
		}
		again, err := ParseSLO(slo.String())
		if err != nil {
			t.Fatalf("%q → %q does not parse: %v", s, slo.String(), err)
		}
		if again.String() != slo.String() {
			t.Fatalf("%q → %q → %q", s, slo.String(), again.String())
		}
	})
}

func TestSLOCovers(t *testing.T) {
	cases := []struct {
		name, s, other string
		ok             bool
		why            string
	}{
		{"the same SLO", "p99=10ms,errors=0.1%", "p99=10ms,errors=0.1%", true, ""},
		{"stricter everywhere", "p99=5ms,p999=20ms,errors=0.01%", "p99=10ms,errors=0.1%", true, ""},
		{"p99.9 ≤ 10ms bounds p99 ≤ 10ms", "p999=10ms", "p99=10ms", true, ""},
		{"p99 ≤ 5ms does not bound p99.9", "p99=5ms", "p999=50ms", false, "p999=50ms is not bounded"},
		{"looser p99", "p99=20ms", "p99=10ms", false, "p99=10ms"},
		{"no error budget where one is asked", "p99=1ms", "p99=10ms,errors=1%", false, "errors=1%"},
		{"a larger error budget", "p99=1ms,errors=2%", "p99=10ms,errors=1%", false, "errors=1%"},
		{"a recall floor too low", "p99=1ms,recall10=0.9", "p99=10ms,recall10=0.95", false, "recall10=0.95"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a, _ := ParseSLO(c.s)
			b, _ := ParseSLO(c.other)
			ok, why := a.Covers(b)
			if ok != c.ok || !strings.Contains(why, c.why) {
				t.Errorf("Covers = %v %q, want %v %q", ok, why, c.ok, c.why)
			}
		})
	}
}

func TestMinSamples(t *testing.T) {
	cases := []struct {
		slo  string
		want int64
	}{
		{"p50=1ms", 20},
		{"p99=1ms", 1000},
		{"p99=1ms,p999=5ms", 10000},
		{"p9999=1s", 100000},
	}
	for _, c := range cases {
		s, _ := ParseSLO(c.slo)
		if got := s.MinSamples(); got != c.want {
			t.Errorf("%s: MinSamples %d, want %d", c.slo, got, c.want)
		}
	}
	if minForBound(0.99) != 368 || minForBound(0.999) != 3688 {
		t.Errorf("minForBound: %d %d, want 368 3688", minForBound(0.99), minForBound(0.999))
	}
}

// stepResult is a run of n ops at rate whose latencies are fast (1 ms) but
// slow (slowMs) for slow of them.
func stepResult(rate float64, n, slow int64, slowMs float64) *Result {
	h := NewHistogram()
	h.RecordValues(1_000_000, n-slow)
	if slow > 0 {
		h.RecordValues(int64(slowMs*1e6), slow)
	}
	st := OpStats{Count: n, LatencyHDR: EncodeHistogram(h), Latency: PercentilesOf(h)}
	d := float64(n) / rate
	return &Result{TargetRate: rate, AchievedRate: rate, DurationS: d, LoadModel: "open", Ops: map[string]OpStats{"store": st}, Total: st}
}

func TestJudge(t *testing.T) {
	slo, _ := ParseSLO("p99=10ms,errors=0.1%")
	recall, _ := ParseSLO("p99=10ms,recall10=0.9")
	withErrors := func(r *Result, e int64) *Result {
		r.Total.Errors, r.Total.ErrorRate = e, float64(e)/float64(r.Total.Count)
		return r
	}
	withUnsupported := func(r *Result, u int64) *Result {
		r.Total.Errors += u
		r.Total.ErrorsByClass = map[string]int64{"unsupported": u, "timeout": r.Total.Errors - u}
		r.Total.ErrorRate = errorRate(r.Total.Count, r.Total.Errors, r.Total.ErrorsByClass)
		return r
	}
	behind := func(r *Result, ach float64) *Result { r.AchievedRate = ach; return r }
	limited := func(r *Result) *Result { r.Harness.Limited, r.Harness.Reason = true, "lag"; return r }
	rec := func(r *Result, v float64) *Result { r.Quality = &QualityStats{Scored: 100, RecallAt10: &v}; return r }
	cases := []struct {
		name    string
		slo     SLO
		r       *Result
		verdict string
		why     string
	}{
		{"all fast: pass", slo, stepResult(1000, 20000, 0, 0), VerdictPass, ""},
		{"0.5% slow: p99 and its bound stay at 1 ms", slo, stepResult(1000, 20000, 100, 50), VerdictPass, ""},
		{"2% slow: p99 is 50 ms", slo, stepResult(1000, 20000, 400, 50), VerdictFail, "p99 50.0ms above 10.0ms"},
		{"1% slow exactly: the estimate is fine, the upper bound is not", slo, stepResult(1000, 20000, 200, 50), VerdictFail, "but its 95% upper bound"},
		{"too few samples to bound p99", slo, stepResult(1000, 300, 0, 0), VerdictInvalid, "cannot bound p99"},
		{"fewer than min-samples: invalid, not a pass", slo, stepResult(1000, 800, 0, 0), VerdictInvalid, "needs at least 1000"},
		{"errors over budget", slo, withErrors(stepResult(1000, 20000, 0, 0), 100), VerdictFail, "100 of 20000 ops failed"},
		{"errors over budget, unsupported ops left out of both counts", slo, withUnsupported(withErrors(stepResult(1000, 20000, 0, 0), 100), 500), VerdictFail, "100 of 19500 ops failed (0.513%, budget 0.100%); 500 unsupported ops left out"},
		{"fell behind: achieved 900 of 1000", slo, behind(stepResult(1000, 20000, 0, 0), 900), VerdictFail, "achieved 900 of 1000"},
		{"fell behind with few samples: a failure, not too short", slo, behind(stepResult(1000, 500, 0, 0), 500), VerdictFail, "achieved 500"},
		{"harness-limited: invalid", slo, limited(stepResult(1000, 20000, 0, 0)), VerdictInvalid, "harness-limited"},
		{"recall above the floor", recall, rec(stepResult(1000, 20000, 0, 0), 0.95), VerdictPass, ""},
		{"recall below the floor", recall, rec(stepResult(1000, 20000, 0, 0), 0.5), VerdictFail, "recall@10 0.500"},
		{"recall never measured", recall, stepResult(1000, 20000, 0, 0), VerdictFail, "no recall@10 was measured"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			j := c.slo.Judge(c.r, 0)
			if j.Verdict != c.verdict || !strings.Contains(strings.Join(j.Reasons, "; "), c.why) {
				t.Errorf("verdict %s %q, want %s containing %q (checks %+v)", j.Verdict, j.Reasons, c.verdict, c.why, j.Checks)
			}
			for _, ch := range j.Checks {
				if ch.Low != nil && (*ch.Low > ch.Value || *ch.High < ch.Value) {
					t.Errorf("%s: interval [%v, %v] does not hold %v", ch.Name, *ch.Low, *ch.High, ch.Value)
				}
			}
		})
	}
}

func TestSLOLimits(t *testing.T) {
	s, _ := ParseSLO("p50=1ms,p99=10ms,p999=50ms,errors=0.1%,recall10=0.9")
	l := s.Limits()
	if *l.P50Ms != 1 || *l.P99Ms != 10 || *l.P999Ms != 50 || *l.MaxErrorRate != 0.001 || *l.RecallAt10 != 0.9 || l.ThroughputOpsSec != nil {
		t.Errorf("limits %+v", l)
	}
	if s.MaxLatency() != 50*time.Millisecond {
		t.Errorf("max latency %s", s.MaxLatency())
	}
}

func sampleCapacity() *Capacity {
	return &Capacity{Schema: CapacitySchema, Scenario: "mixed", Driver: "engram", Target: "http://127.0.0.1:7432", Seed: 1, Concurrency: 64,
		SLO:    "p99=10ms,errors=0.1%",
		Method: CapacityMethod{StartRate: 100, Factor: 2, MaxRate: 1e6, Resolution: 0.05, MaxSteps: 20, StepS: 20, WarmupS: 3, MinSamples: 1000, Data: "continue", Arrival: "constant", CollapseIntervals: 3},
		Steps: []CapacityStep{
			{N: 1, Phase: PhaseStepUp, Offered: 100, Achieved: 100, Count: 2000, Verdict: VerdictPass, Latency: Percentiles{P50: 1e6, P99: 4e6, P999: 6e6, Max: 8e6}, Memories: 100000, Result: "step-01.json"},
			{N: 2, Phase: PhaseStepUp, Offered: 200, Achieved: 150, Count: 3000, Verdict: VerdictFail, Latency: Percentiles{P50: 9e8, P99: 2e9}, Collapsed: true, CutAtS: 5, Reasons: []string{"collapsed: <backlog>"}},
			{N: 3, Phase: PhaseBisect, Offered: 150, Achieved: 149.5, Count: 3000, Verdict: VerdictPass, Latency: Percentiles{P50: 2e6, P99: 9e6}},
		},
		Knee:    Knee{Pass: 150, Fail: 200, PassAchieved: 149.5, Found: true, Note: "wider than the 5% resolution"},
		Stopped: "the step limit (3) was reached",
		Env:     Env{Cores: 2, CPUModel: "EPYC"},
	}
}

func TestCapacityRender(t *testing.T) {
	c := sampleCapacity()
	var txt bytes.Buffer
	if err := WriteCapacityText(&txt, c); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"SLO: p99=10ms,errors=0.1%", "knee: between 150 ops/s", "FAIL (collapsed at 5s): collapsed: <backlog>", "search stopped: the step limit", "one preload"} {
		if !strings.Contains(txt.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, txt.String())
		}
	}
	var page bytes.Buffer
	if err := WriteCapacityHTML(&page, c); err != nil {
		t.Fatal(err)
	}
	html := page.String()
	for _, want := range []string{`id="curve"`, `id="rates"`, "SLO p99", "150 ops/s", "collapsed: &lt;backlog&gt;", "step-01.json", `class="band band-other"`} {
		if !strings.Contains(html, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(html, "<backlog>") {
		t.Error("a reason was not escaped")
	}
	// Empty and partial searches render too.
	for _, e := range []*Capacity{{Schema: CapacitySchema}, {Schema: CapacitySchema, Partial: true, Steps: c.Steps[:1], Knee: Knee{Pass: 100}}} {
		if err := WriteCapacityHTML(&page, e); err != nil {
			t.Error(err)
		}
		if err := WriteCapacityText(&txt, e); err != nil {
			t.Error(err)
		}
	}
}

func TestReadCapacity(t *testing.T) {
	dir := t.TempDir()
	c := sampleCapacity()
	good := filepath.Join(dir, "capacity.json")
	if err := c.WriteFile(good); err != nil {
		t.Fatal(err)
	}
	back, err := ReadCapacity(good)
	if err != nil || back.Knee != c.Knee || len(back.Steps) != 3 || back.Path != good {
		t.Fatalf("read back %+v, %v", back, err)
	}
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(s), 0o644)
		return p
	}
	// edit writes the good file with one change, made on its JSON.
	edit := func(name string, change func(m map[string]any)) string {
		var m map[string]any
		b, _ := os.ReadFile(good)
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		change(m)
		b, _ = json.Marshal(m)
		return write(name, string(b))
	}
	knee := func(m map[string]any) map[string]any { return m["knee"].(map[string]any) }
	step := func(m map[string]any, i int) map[string]any { return m["steps"].([]any)[i].(map[string]any) }
	// Each bad file's error names the file, the field and the value.
	cases := []struct{ name, path, want string }{
		{"missing", filepath.Join(dir, "nope.json"), "not found"},
		{"truncated", write("t.json", `{"schema": "engram-bench/capacity/v1", "steps": [`), "truncated"},
		{"a run's result", write("r.json", `{"schema": "engram-bench/result/v1"}`), `schema "engram-bench/result/v1", want "engram-bench/capacity/v1"`},
		{"no schema", write("n.json", `{}`), "schema none"},
		{"knee null: malformed, not 'no step passed'", edit("knee-null.json", func(m map[string]any) { m["knee"] = nil }), "knee: missing"},
		{"knee missing", edit("knee-none.json", func(m map[string]any) { delete(m, "knee") }), "knee: missing"},
		{"knee.pass missing", edit("pass-none.json", func(m map[string]any) { delete(knee(m), "pass") }), "knee.pass: missing"},
		{"knee.pass 0 although steps passed", edit("pass-0.json", func(m map[string]any) { knee(m)["pass"] = 0 }), "knee.pass: 0: step 3 (steps[2]) passed at 150 ops/s"},
		{"knee.pass at no passing step", edit("pass-odd.json", func(m map[string]any) { knee(m)["pass"] = 120 }), "knee.pass: 120: step 3 (steps[2]) passed at 150 ops/s"},
		{"knee.pass negative", edit("pass-neg.json", func(m map[string]any) { knee(m)["pass"] = -5 }), "knee.pass: -5: must be >= 0"},
		{"knee.fail at no failing step", edit("fail-odd.json", func(m map[string]any) { knee(m)["fail"] = 175 }), "knee.fail: 175: no step failed at that rate"},
		{"knee.fail below pass", edit("fail-low.json", func(m map[string]any) { knee(m)["fail"] = 100 }), "knee.fail: 100: must be above knee.pass 150"},
		{"knee.found without a failing end", edit("found.json", func(m map[string]any) { knee(m)["fail"] = 0 }), "knee.found: true: knee.pass is 150 and knee.fail 0"},
		{"knee.pass a string", edit("pass-str.json", func(m map[string]any) { knee(m)["pass"] = "150" }), `knee.pass: "150": want a number`},
		{"offered 0", edit("offered-0.json", func(m map[string]any) { step(m, 1)["offered"] = 0 }), "steps[1].offered: 0: must be > 0"},
		{"achieved negative", edit("achieved.json", func(m map[string]any) { step(m, 0)["achieved"] = -1 }), "steps[0].achieved: -1: must be >= 0"},
		{"memories negative", edit("memories.json", func(m map[string]any) { step(m, 0)["memories"] = -100 }), "steps[0].memories: -100: must be >= 0"},
		{"error rate above 1", edit("error-rate.json", func(m map[string]any) { step(m, 0)["error_rate"] = 2 }), "steps[0].error_rate: 2: must be in [0, 1]"},
		{"unknown verdict", edit("verdict.json", func(m map[string]any) { step(m, 0)["verdict"] = "ok" }), `steps[0].verdict: "ok": want "pass", "fail" or "invalid"`},
		{"no cores", edit("cores.json", func(m map[string]any) { m["env"].(map[string]any)["cores"] = 0 }), "env.cores: 0: must be > 0"},
		{"bad slo", edit("slo.json", func(m map[string]any) { m["slo"] = "p99=soon" }), `slo: "p99=soon"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := ReadCapacity(c.path); err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.path) {
				t.Errorf("err %v, want %q naming the file", err, c.want)
			}
		})
	}
	// Legitimate states the capacity command writes are read: no step
	// passed (knee.pass 0), every step passed (knee.fail 0), no step at all
	// (an interrupted search).
	for name, change := range map[string]func(m map[string]any){
		"no step passed": func(m map[string]any) {
			for i := range 3 {
				step(m, i)["verdict"] = VerdictFail
			}
			knee(m)["pass"], knee(m)["fail"], knee(m)["found"] = 0, 100, false
		},
		"every step passed": func(m map[string]any) {
			step(m, 1)["verdict"] = VerdictPass
			knee(m)["pass"], knee(m)["fail"], knee(m)["found"] = 200, 0, false
		},
		"no step": func(m map[string]any) {
			m["steps"], m["partial"] = nil, true
			knee(m)["pass"], knee(m)["fail"], knee(m)["found"] = 0, 0, false
		},
	} {
		if _, err := ReadCapacity(edit("ok.json", change)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
