package reports

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html"
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

// workloadResult is sampleResult with phases, more memory spaces than the
// tables show, recall@10 and the acknowledged-write ledger.
func workloadResult(t *testing.T) *Result {
	r := sampleResult(t)
	rec, found := 0.93214, 118.0/120
	cue := r.Ops["recall_by_cue"]
	cue.RecallAt10, cue.RecallExpected = &rec, 1400
	r.Ops["recall_by_cue"] = cue
	ramp := 0.95671
	r.Phases = []PhaseResult{
		{Name: "ramp", StartS: 0, EndS: 4, TargetRate: 250, AchievedRate: 248.5, BreakdownGroup: BreakdownGroup{Total: GroupStats{
			Count: 994, Errors: 2, ErrorsByClass: map[string]int64{"timeout": 2}, ErrorRate: 2.0 / 994, RecallAt10: &ramp,
			Latency: Percentiles{P50: 1_200_000, P99: 8_500_000, P999: 12_000_000, Max: 20_000_000}}}},
		{Name: "steady", StartS: 4, EndS: 6.25, TargetRate: 40, AchievedRate: 2.2, BreakdownGroup: BreakdownGroup{Total: GroupStats{
			Count: 5, Errors: 5, ErrorsByClass: map[string]int64{"unsupported": 5}}}},
	}
	r.Spaces = map[string]BreakdownGroup{}
	for i := range maxSpaceRows + 2 {
		sr := 0.9 + float64(i)/1000
		r.Spaces[fmt.Sprintf("space_%d", i)] = BreakdownGroup{Total: GroupStats{Count: int64(100 + i), Throughput: float64(100+i) / 2, RecallAt10: &sr,
			Latency: Percentiles{P50: int64(1_000_000 + 10_000*i), P99: 5_000_000, P999: 7_000_000, Max: 9_000_000}}}
	}
	r.Quality = &QualityStats{Scored: 700, RecallAt10: &rec, Ledger: &LedgerStats{
		Acknowledged: 500, Tracked: 250, SampleRate: 0.5, Checked: 120, Found: 118, NeverFound: 2, FoundShare: &found, FirstReadMissed: 7,
		AckToFoundNs: Percentiles{P50: 2_500_000, P99: 40_000_000, Max: 90_000_000}, MissingExamples: []string{"m12", "m99"}}}
	return r
}

// htmlTable returns the cells (text only, spaces squeezed) of the rows of
// the first table after the heading that starts with h2, nil when the page
// has no such heading.
func htmlTable(page, h2 string) [][]string {
	i := strings.Index(page, "<h2>"+h2)
	if i < 0 {
		return nil
	}
	sec := page[i:]
	sec = sec[:strings.Index(sec, "</section>")]
	tags := regexp.MustCompile(`<[^>]*>`)
	var rows [][]string
	for _, tr := range regexp.MustCompile(`(?s)<tr[^>]*>(.*?)</tr>`).FindAllStringSubmatch(sec, -1) {
		var row []string
		for _, td := range regexp.MustCompile(`(?s)<t[dh][^>]*>(.*?)</t[dh]>`).FindAllStringSubmatch(tr[1], -1) {
			row = append(row, strings.Join(strings.Fields(html.UnescapeString(tags.ReplaceAllString(td[1], ""))), " "))
		}
		rows = append(rows, row)
	}
	return rows
}

// textTable returns the rows of the text summary's table under the line
// title: its columns are separated by two spaces or more.
func textTable(text, title string) [][]string {
	i := strings.Index(text, "\n"+title+"\n")
	if i < 0 {
		return nil
	}
	var rows [][]string
	for _, line := range strings.Split(text[i+len(title)+2:], "\n") {
		if strings.TrimSpace(line) == "" {
			break
		}
		rows = append(rows, regexp.MustCompile(`\s{2,}`).Split(strings.TrimSpace(line), -1))
	}
	return rows
}

// TestHTMLWorkloadSections: the phase, space and recall-quality sections
// show the text summary's numbers, through the same cells.
func TestHTMLWorkloadSections(t *testing.T) {
	r := workloadResult(t)
	var page, text bytes.Buffer
	if err := Render("html", &page, r); err != nil {
		t.Fatal(err)
	}
	if err := WriteText(&text, r); err != nil {
		t.Fatal(err)
	}
	h := page.String()
	row := func(cells ...string) string { return strings.Join(cells, " | ") }
	for _, tc := range []struct {
		name, h2 string
		want     []string // rows, cells joined by " | "
	}{
		{"phases: rates, latency, errors with rate, recall@10", "Per phase", []string{
			row("phase", "from", "to", "target ops/s", "achieved", "count", "p50", "p99", "p99.9", "max", "errors", "recall@10"),
			row("ramp", "0.0s", "4.0s", "250.0", "248.5", "994", "1.20ms", "8.50ms", "12.0ms", "20.0ms", "2 (0.20%)", "0.957"),
			row("steady", "4.0s", "6.2s", "40.0", "2.2", "5", "-", "-", "-", "-", "n/a (5 unsupported)", "-"),
		}},
		{"spaces: busiest first, 16 rows, then how many more", "Per memory space", []string{
			row("space", "ops/s", "count", "p50", "p99", "p99.9", "max", "errors", "recall@10"),
			row("space_17", "58.5", "117", "1.17ms", "5.00ms", "7.00ms", "9.00ms", "0", "0.917"),
			row("space_16", "58.0", "116", "1.16ms", "5.00ms", "7.00ms", "9.00ms", "0", "0.916"),
		}},
		{"recall quality: recall@10 per kind and the ledger", "Recall quality under load", []string{
			row("recall@10 of scored cues", "0.932", "over 700 scored cues · recall_by_cue 0.932 (1400 expected memories)"),
			row("acknowledged writes", "500", "250 followed (sample 50.0%), 120 read after their ack"),
			row("found when read after their ack", "118 (98.33%)", "2 never found"),
			row("ack → first found", "p50 2.50ms · p99 40.0ms · max 90.0ms", "first read after ack missed: 7"),
			row("never found, e.g.", "m12 m99"),
		}},
		{"per op kind: recall@10 column, the run's in the total row", "Per op kind", []string{
			row("op", "count", "ops/s", "p50", "p90", "p99", "p99.9", "max", "service p99", "errors", "hit rate", "recall@10"),
			row("recall_by_cue", "500", "250", "601µs", "1.00ms", "1.00ms", "1.00ms", "1.00ms", "1.00ms", "0", "-", "0.932"),
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rows := htmlTable(h, tc.h2)
			var got []string
			for _, r := range rows {
				got = append(got, row(r...))
			}
			all := strings.Join(got, "\n")
			for _, w := range tc.want {
				if !strings.Contains("\n"+all+"\n", "\n"+w+"\n") {
					t.Errorf("no row %q in:\n%s", w, all)
				}
			}
		})
	}
	if rows := htmlTable(h, "Per memory space"); len(rows) != 1+maxSpaceRows+1 || row(rows[len(rows)-1]...) != "… 2 more in the JSON result" {
		t.Errorf("space table: %d rows, last %q", len(rows), rows[len(rows)-1])
	}
	if rows := htmlTable(h, "Per op kind"); row(rows[len(rows)-1][len(rows[0])-1]) != "0.932" {
		t.Errorf("total row %q: want the run's recall@10 last", rows[len(rows)-1])
	}
	if !strings.Contains(h, `<div class="label">recall@10</div><div class="value">0.932</div><div class="sub">over 700 scored cues</div>`) {
		t.Error("no recall@10 card")
	}
	// The phase and space rows read as the text summary's, cell for cell.
	for _, tc := range []struct{ h2, text string }{{"Per phase", "phases"}, {"Per memory space", "memory spaces (busiest first)"}} {
		hr, tr := htmlTable(h, tc.h2), textTable(text.String(), tc.text)
		if len(tr) == 0 || len(hr) < len(tr) {
			t.Fatalf("%s: %d HTML rows, %d text rows:\n%s", tc.h2, len(hr), len(tr), text.String())
		}
		for i := range tr {
			if i == len(tr)-1 && tc.h2 == "Per memory space" {
				continue // "… 2 more in the JSON result" spans the row
			}
			if row(hr[i]...) != row(tr[i]...) {
				t.Errorf("%s row %d:\n html %q\n text %q", tc.h2, i, hr[i], tr[i])
			}
		}
	}
}

// TestHTMLWorkloadSectionsAbsent: a section without data is left out.
func TestHTMLWorkloadSectionsAbsent(t *testing.T) {
	oneSpace := func(r *Result) { r.Spaces = map[string]BreakdownGroup{"space_0": {Total: GroupStats{Count: 10}}} }
	for _, tc := range []struct {
		name   string
		edit   func(r *Result)
		absent []string
	}{
		{"no phases, spaces or quality", func(r *Result) {}, []string{"<h2>Per phase", "<h2>Per memory space", "<h2>Recall quality", ">recall@10<"}},
		{"one space: no space table", oneSpace, []string{"<h2>Per memory space"}},
		{"recall without a ledger: no ledger rows", func(r *Result) {
			rec := 0.5
			r.Quality = &QualityStats{Scored: 4, RecallAt10: &rec}
		}, []string{"acknowledged writes", "ack → first found", "never found"}},
		{"a ledger no read checked: counts only", func(r *Result) {
			r.Quality = &QualityStats{Ledger: &LedgerStats{Acknowledged: 9, Tracked: 9, SampleRate: 1}}
		}, []string{"recall@10", "found when read", "ack → first found", "never found"}},
		{"a ledger of no write: no quality section", func(r *Result) {
			r.Quality = &QualityStats{Ledger: &LedgerStats{}}
		}, []string{"acknowledged writes"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := sampleResult(t)
			tc.edit(r)
			var b bytes.Buffer
			if err := Render("html", &b, r); err != nil {
				t.Fatal(err)
			}
			for _, s := range tc.absent {
				if strings.Contains(b.String(), s) {
					t.Errorf("page has %q", s)
				}
			}
		})
	}
}
