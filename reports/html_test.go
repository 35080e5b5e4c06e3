package reports

import (
	"bytes"
	"encoding/json"
	"io"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// richResult is sampleResult with every optional part filled.
func richResult(t *testing.T) *Result {
	r := sampleResult(t)
	r.Scenario = `<script>alert("x")</script>`
	for i := 0; i < 30; i++ {
		iv := Interval{StartS: float64(i), EndS: float64(i + 1), Count: 500, Throughput: 500, LagP99Ns: 20_000, Scheduled: 500, InFlight: 3,
			Ops: map[string]IntervalOpStat{"store": {Count: 250, P50Ns: 300_000, P99Ns: 900_000, P999Ns: 1_000_000, MaxNs: 1_100_000}, "recall_by_cue": {Count: 250, Errors: int64(i % 3), P50Ns: 200_000, P99Ns: 700_000, P999Ns: 800_000, MaxNs: 900_000}}}
		if i >= 10 && i < 15 {
			iv.Ops["store"] = IntervalOpStat{Count: 250, P50Ns: 3_000_000, P99Ns: 90_000_000, P999Ns: 100_000_000, MaxNs: 110_000_000}
		}
		r.Intervals = append(r.Intervals, iv)
	}
	r.Windows = []Window{{Kind: WindowPhase, Name: "ramp", StartS: 0, EndS: 8}, {Kind: WindowFault, Name: "latency 20ms", StartS: 10, EndS: 15}, {Kind: "gc", Name: "pause", StartS: 20, EndS: 21}}
	r.TargetMetrics = &TargetMetrics{URL: "http://127.0.0.1:1/metrics/prometheus", Scrapes: 3, Series: []Series{
		{Name: "engram_memories", Type: "gauge", T: []float64{-1, 0, 1, 2}, V: []float64{10, 20, 30, 40}},
		{Name: "process_resident_memory_bytes", Type: "gauge", T: []float64{0, 1}, V: []float64{1 << 27, 1 << 28}},
	}}
	r.Scaling = &Scaling{Axis: "workers", Points: []ScalingPoint{{X: 1, Throughput: 100}, {X: 2, Throughput: 200}, {X: 4, Throughput: 390}}}
	r.EvaluateHypotheses()
	return r
}

func TestHTMLReport(t *testing.T) {
	var b bytes.Buffer
	if err := Render("html", &b, richResult(t)); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	// Self-contained: nothing is loaded from anywhere.
	if m := regexp.MustCompile(`(?i)(src|href)\s*=\s*["']?(https?:)?//`).FindString(page); m != "" {
		t.Errorf("external reference %q", m)
	}
	if strings.Contains(page, `<script>alert`) {
		t.Error("the scenario name was not escaped")
	}
	for _, want := range []string{
		`id="throughput"`, `id="p99"`, `id="lat-store"`, `id="lat-recall_by_cue"`, `id="spectrum"`, `id="errors"`, `id="lag"`, `id="inflight"`,
		`id="target-0"`, `id="target-1"`,
		`class="band band-phase"`, `class="band band-fault"`, `class="band band-other"`, ">latency 20ms</text>",
		">H3</b>", "over 3 points (workers 1–4)", "PASS</span>", "FAIL</span>",
		">99.9%</text>", "Scraped from http://127.0.0.1:1/metrics/prometheus",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	// Every chart has points to draw.
	for _, m := range regexp.MustCompile(`<svg class="chart" id="([^"]+)"[^>]*data-points="(\d+)"`).FindAllStringSubmatch(page, -1) {
		if n, _ := strconv.Atoi(m[2]); n == 0 {
			t.Errorf("chart %s has no points", m[1])
		}
	}
}

func TestHTMLReportEdgeCases(t *testing.T) {
	cases := map[string]*Result{
		"nothing ran": {Schema: Schema, Scenario: "empty", Ops: map[string]OpStats{}, Verdict: VerdictInvalid},
		"every op failed": {Schema: Schema, Scenario: "down", Verdict: VerdictInvalid, Ops: map[string]OpStats{"store": {Count: 5, Errors: 5, ErrorsByClass: map[string]int64{"connection_refused": 5}, ErrorRate: 1}},
			Intervals: []Interval{{StartS: 0, EndS: 1, Count: 5, Errors: 5, Ops: map[string]IntervalOpStat{"store": {Count: 5, Errors: 5}}}}},
		"one interval": {Schema: Schema, Scenario: "one", Verdict: VerdictPass, Ops: map[string]OpStats{}, Intervals: []Interval{{StartS: 0, EndS: 0.2, Count: 1, Throughput: 5}}},
		"partial":      {Schema: Schema, Scenario: "cut", Partial: true, Verdict: VerdictInvalid, Reasons: []string{"interrupted: partial result"}, Ops: map[string]OpStats{}},
	}
	for name, r := range cases {
		t.Run(name, func(t *testing.T) {
			var b bytes.Buffer
			if err := Render("html", &b, r); err != nil {
				t.Fatal(err)
			}
			if r.Partial && !strings.Contains(b.String(), "Partial result.") {
				t.Error("no partial banner")
			}
		})
	}
}

func TestNinesAndTicks(t *testing.T) {
	for x, want := range map[float64]string{0: "0%", 1: "90%", 2: "99%", 3: "99.9%", 5: "99.999%"} {
		if got := ninesLabel(x); got != want {
			t.Errorf("ninesLabel(%v) = %q, want %q", x, got, want)
		}
	}
	for v, want := range map[float64]string{0: "0", 30: "30s", 90: "1m30s", 120: "2m", 3600: "1h", 5400: "1h30m"} {
		if got := fmtSecondsAxis(v); got != want {
			t.Errorf("fmtSecondsAxis(%v) = %q, want %q", v, got, want)
		}
	}
	x := []float64{0, 1, 2, 3, 4, 5}
	y := []float64{1, 9, 1, 1, 2, 1}
	if dx, dy := downsample(x, y, 3, true); len(dx) != 3 || dy[0] != 9 || dy[2] != 2 {
		t.Errorf("peak downsample: %v %v", dx, dy)
	}
}

// TestHTMLLongRun: an hour of 7 op kinds stays a page a browser opens
// quickly (lines are downsampled to 1200 points, keeping peaks).
func TestHTMLLongRun(t *testing.T) {
	r := richResult(t)
	r.Intervals = nil
	kinds := []string{"store", "recall_by_cue", "a", "b", "c", "d", "e"}
	for _, k := range kinds {
		r.Ops[k] = r.Ops["store"]
	}
	for i := 0; i < 3600; i++ {
		iv := Interval{StartS: float64(i), EndS: float64(i + 1), Count: 1000, Throughput: 1000, Scheduled: 1000, Ops: map[string]IntervalOpStat{}}
		for _, k := range kinds {
			p99 := int64(1_000_000)
			if i == 1234 {
				p99 = 500_000_000 // one spike
			}
			iv.Ops[k] = IntervalOpStat{Count: 140, P50Ns: 100_000, P99Ns: p99, P999Ns: p99, MaxNs: p99}
		}
		r.Intervals = append(r.Intervals, iv)
	}
	var b bytes.Buffer
	if err := Render("html", &b, r); err != nil {
		t.Fatal(err)
	}
	if b.Len() > 4<<20 {
		t.Errorf("an hour's page is %d bytes", b.Len())
	}
	m := regexp.MustCompile(`(?s)id="lat-a".*?class="chart-data">(.*?)</script>`).FindStringSubmatch(b.String())
	if m == nil {
		t.Fatal("no data for lat-a")
	}
	var d chartData
	if err := json.Unmarshal([]byte(m[1]), &d); err != nil {
		t.Fatal(err)
	}
	peak := 0.0
	for _, s := range d.Series {
		if len(s.X) > 1200 {
			t.Errorf("%s: %d points", s.Name, len(s.X))
		}
		for _, y := range s.Y {
			if y != nil && *y > peak {
				peak = *y
			}
		}
	}
	if peak != 500 {
		t.Errorf("the 500 ms spike became %v ms in downsampling", peak)
	}
	t.Logf("an hour of 7 op kinds: %d KiB", b.Len()>>10)
}

// FuzzReadResult: any bytes given to report either decode or give an error
// naming the file; whatever decodes renders in every format without a panic
// or a hang. The seed is a large result: fuzz with -fuzzminimizetime 1x, or
// minimising new inputs stalls the fuzzer (it shows 0 execs/s).
func FuzzReadResult(f *testing.F) {
	var b bytes.Buffer
	richResult(&testing.T{}).WriteJSON(&b)
	f.Add(b.String())
	f.Add(`{"schema":"engram-bench/result/v1","ops":{"x":{"latency_hdr":"HISTFAAAAAA="}},"intervals":[{"start_s":1,"end_s":0}]}`)
	f.Add(`{"schema":"engram-bench/result/v1","windows":[{"kind":"fault","start_s":-5,"end_s":1e300}],"scaling":{"points":[{"x":1},{"x":1},{"x":1}]}}`)
	f.Fuzz(func(t *testing.T, s string) {
		r, err := Decode("fuzz.json", []byte(s))
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz.json") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		r.EvaluateHypotheses()
		for _, format := range []string{"text", "md", "html", "hgrm", "json"} {
			_ = Render(format, io.Discard, r)
		}
	})
}
