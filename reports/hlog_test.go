package reports

import (
	"bufio"
	"bytes"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

var hlogNames = []string{"store", "recall_by_cue", "forget"}

// recordTicks records ticks intervals of synthetic ops (store and
// recall_by_cue; forget never runs) and feeds each tick to fn.
func recordTicks(ticks int, fn func(Tick)) *Recorder {
	rec := NewRecorder(hlogNames, 2)
	rec.SetStart(5e6)
	for k := 0; k < ticks; k++ {
		base := int64(5e6) + int64(k)*1e9
		for i := int64(0); i < 400; i++ {
			s := Sample{Op: int(i % 2), Intended: base + i*2e6, Start: base + i*2e6 + 3000}
			s.End = s.Start + (i%37+1)*50_000 + int64(k)*10_000
			if i%97 == 0 {
				s.Err = "timeout"
			}
			if s.Op == 1 {
				s.Scored, s.Hit = true, i%5 != 0
			}
			rec.Shard(int(i)).Record(s)
		}
		rec.Tick(base+1e9, func(t Tick) {
			t.InFlight = k
			fn(t)
		})
	}
	return rec
}

func writeTestLog(t *testing.T, ticks int) (string, *Recorder) {
	t.Helper()
	var b bytes.Buffer
	start := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	lw := NewHLogWriter(&b, hlogNames, HLogMeta{Scenario: "quick start", Seed: 7, Driver: "null"}, func() time.Time { return start.Add(time.Second) })
	rec := recordTicks(ticks, lw.Tick)
	if err := lw.Close(false); err != nil {
		t.Fatal(err)
	}
	return b.String(), rec
}

func TestHLogRoundTrip(t *testing.T) {
	log, rec := writeTestLog(t, 5)
	for _, want := range []string{
		"#[Histogram log format version 1.3]",
		"#[StartTime: 1795694400.000 (seconds since epoch), 2026-11-26T12:00:00.000Z]",
		"#[engram-bench run scenario=quick_start seed=7 driver=null shard=0 shards=1 ops=store,recall_by_cue,forget]",
		"#[engram-bench op=store start=0.000 length=1.000 count=200 errors=3 error.timeout=3]",
		"\nTag=store,0.000,1.000,",
		"\nTag=recall_by_cue.service,4.000,1.000,",
		"\nTag=harness.lag,",
		"#[engram-bench end measured=5.000 partial=false]",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q", want)
		}
	}
	if strings.Contains(log, "Tag=forget") {
		t.Error("an op kind that never ran has histogram lines")
	}

	// Our reader gives back every interval; their merge is the run's totals, exactly.
	rd := NewHLogReader(strings.NewReader(log), "test.hlog")
	merged := map[string]*OpTotals{}
	n := 0
	for {
		iv, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if iv.StartS != float64(n) || iv.LengthS != 1 || iv.InFlight != n || iv.Count != 400 || iv.All.TotalCount() == 0 || iv.Lag.TotalCount() != 400 {
			t.Errorf("interval %d: %+v", n, iv)
		}
		n++
		for name, o := range iv.Ops {
			m := merged[name]
			if m == nil {
				x := newOpTotals()
				m = &x
				merged[name] = m
			}
			m.merge(o)
		}
	}
	if n != 5 || !rd.Ended || rd.Partial || rd.Header.Meta.Seed != 7 || rd.Header.Version != HLogVersion || len(rd.Header.Ops) != 3 {
		t.Fatalf("%d intervals, header %+v, ended %v partial %v", n, rd.Header, rd.Ended, rd.Partial)
	}
	cum := rec.Cumulative()
	for i, name := range hlogNames[:2] {
		got, want := merged[name], &cum.Ops[i]
		if !got.Latency.Equals(want.Latency) || !got.Service.Equals(want.Service) {
			t.Errorf("%s: merged interval histograms differ from the run's", name)
		}
		if got.Count != want.Count || got.ErrorCount() != want.ErrorCount() || got.Scored != want.Scored || got.Hits != want.Hits {
			t.Errorf("%s: counts %d/%d/%d/%d, want %d/%d/%d/%d", name, got.Count, got.ErrorCount(), got.Scored, got.Hits, want.Count, want.ErrorCount(), want.Scored, want.Hits)
		}
	}

	// hdrhistogram-go's own log reader reads every histogram line.
	hr := hdr.NewHistogramLogReader(strings.NewReader(log))
	tags := map[string]int64{}
	for {
		h, err := hr.NextIntervalHistogram()
		if err != nil {
			t.Fatal(err)
		}
		if h == nil {
			break
		}
		tags[h.Tag()] += h.TotalCount()
		if h.StartTimeMs() < 1795694400000 {
			t.Errorf("%s: start %d ms is not absolute", h.Tag(), h.StartTimeMs())
		}
	}
	if tags["store"] != cum.Ops[0].Latency.TotalCount() || tags[""] != cum.Ops[0].Latency.TotalCount()+cum.Ops[1].Latency.TotalCount() || tags[HLogLagTag] != 2000 {
		t.Errorf("hdrhistogram-go read %v", tags)
	}
}

// TestHLogJavaProcessor feeds the log to HdrHistogram's Java
// HistogramLogProcessor (Debian's libhdrhistogram-java, installed by .ci/run)
// and checks that its percentiles match ours.
func TestHLogJavaProcessor(t *testing.T) {
	java, err := exec.LookPath("java")
	jar := "/usr/share/java/hdrhistogram.jar"
	if _, serr := os.Stat(jar); err != nil || serr != nil {
		t.Skipf("java or %s missing (apt-get install -y libhdrhistogram-java): cannot cross-check with the Java HistogramLogProcessor", jar)
	}
	log, rec := writeTestLog(t, 5)
	path := filepath.Join(t.TempDir(), "run.hlog")
	if err := os.WriteFile(path, []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(java, "-cp", jar, "org.HdrHistogram.HistogramLogProcessor", "-i", path, "-tag", "store", "-csv", "-outputValueUnitRatio", "1e6").CombinedOutput()
	if err != nil {
		t.Fatalf("HistogramLogProcessor: %v\n%s", err, out)
	}
	// Its stdout is the distribution of every "store" interval merged, as CSV
	// rows of value (ms), percentile, total count, 1/(1-percentile).
	want := rec.Cumulative().Ops[0].Latency
	var total int64
	rows := 0
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Split(sc.Text(), ",")
		if len(f) != 4 {
			continue
		}
		v, err1 := strconv.ParseFloat(f[0], 64)
		p, err2 := strconv.ParseFloat(f[1], 64)
		c, err3 := strconv.ParseInt(f[2], 10, 64)
		if err1 != nil || err2 != nil || err3 != nil {
			continue // the header
		}
		rows++
		// Every row's value is our value at its percentile, to the 3
		// decimals printed; Java rounds the rank up where Go rounds to
		// nearest, so allow the next sample's value.
		n := float64(want.TotalCount())
		lo := float64(want.ValueAtQuantile(100*p)) / 1e6
		hi := float64(want.ValueAtQuantile(min(100, 100*p+100/n))) / 1e6
		if v < lo-0.0011 || v > hi+0.0011 {
			t.Errorf("at %.6f Java says %.3f ms, ours %.4f–%.4f ms", p, v, lo, hi)
		}
		total = c
	}
	if total != want.TotalCount() {
		t.Fatalf("Java counted %d store ops, want %d:\n%s", total, want.TotalCount(), out)
	}
	if rows < 20 {
		t.Errorf("only %d distribution rows", rows)
	}
}

// hgrmQuantile reads the first value at or above quantile q from .hgrm text.
func hgrmQuantile(t *testing.T, text string, q float64) float64 {
	t.Helper()
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) < 4 {
			continue
		}
		v, err1 := strconv.ParseFloat(f[0], 64)
		p, err2 := strconv.ParseFloat(f[1], 64)
		if err1 == nil && err2 == nil && p >= q {
			return v
		}
	}
	t.Fatalf("no quantile %v in:\n%s", q, text)
	return 0
}

func TestHLogReaderErrors(t *testing.T) {
	cases := []struct{ name, log, want string }{
		{"not a histogram", "Tag=store,0.000,1.000,1.0,HISTFAAAAnotbase64!!\n", "bad.hlog:1: histogram (tag \"store\")"},
		{"too few fields", "0.000,1.000\n", "bad.hlog:1: want StartTimestamp"},
		{"bad count", "#[engram-bench interval start=0.000 length=1.000 count=lots]\n", "bad.hlog:1: count=\"lots\": not an integer"},
		{"future version", "#[engram-bench/hlog/v9 values=ns]\n", `log version "engram-bench/hlog/v9" is not supported`},
		{"bad start", "#[StartTime: soon]\n", "bad.hlog:1: StartTime \"soon\""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := NewHLogReader(strings.NewReader(c.log), "bad.hlog").Next()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want %q", err, c.want)
			}
		})
	}
}

func FuzzHLogReader(f *testing.F) {
	var b bytes.Buffer
	lw := NewHLogWriter(&b, hlogNames, HLogMeta{}, nil)
	recordTicks(2, lw.Tick)
	lw.Close(true)
	f.Add(b.String())
	f.Add("#[engram-bench op=x start=1 length=1 count=1 error.a=2]\n")
	f.Fuzz(func(t *testing.T, s string) {
		rd := NewHLogReader(strings.NewReader(s), "fuzz")
		for i := 0; i < 1000; i++ {
			if _, err := rd.Next(); err != nil {
				return
			}
		}
	})
}

func TestWholeRunHLogAndHgrm(t *testing.T) {
	r := sampleResult(t)
	var b bytes.Buffer
	if err := Render("hlog", &b, r); err != nil {
		t.Fatal(err)
	}
	rd := NewHLogReader(&b, "whole")
	iv, err := rd.Next()
	if err != nil {
		t.Fatal(err)
	}
	if iv.LengthS != r.DurationS || iv.Ops["store"].Count != r.Ops["store"].Count || iv.Ops["store"].Errors["timeout"] != 1 {
		t.Errorf("whole-run interval %+v", iv)
	}
	if _, err := rd.Next(); err != io.EOF {
		t.Errorf("a second interval: %v", err)
	}

	// A result that names its log: report copies the file, found beside the result.
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "run.hlog"), []byte("#[Histogram log format version 1.3]\n"), 0o644)
	r.Files = map[string]string{"hlog": "run.hlog"}
	r.Path = filepath.Join(dir, "run.json")
	b.Reset()
	if err := Render("hlog", &b, r); err != nil || b.String() != "#[Histogram log format version 1.3]\n" {
		t.Errorf("copied %q, %v", b.String(), err)
	}
	os.Remove(filepath.Join(dir, "run.hlog"))
	if err := Render("hlog", &b, r); err == nil || !strings.Contains(err.Error(), "run.hlog (files.hlog of the result): not found") {
		t.Errorf("missing log: %v", err)
	}

	b.Reset()
	if err := Render("hgrm", &b, r); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"# engram-bench x all ops: latency", "# engram-bench x store: latency", "# engram-bench x recall_by_cue", "Value\tPercentile\tTotalCount", "#[Max     ="} {
		if !strings.Contains(out, want) {
			t.Errorf("hgrm lacks %q", want)
		}
	}
	want := float64(r.Total.Latency.P99) / 1e6
	if got := hgrmQuantile(t, out, 0.99); math.Abs(got-want) > 0.002*want {
		t.Errorf("hgrm p99 %v, result p99 %v", got, want)
	}
}

// BenchmarkHLogTick measures writing one interval of the log: ops=N op
// kinds, each with a histogram of rate/N latencies spread over 50 µs–50 ms.
// The cost is per interval (once a second), not per op.
func BenchmarkHLogTick(b *testing.B) {
	for _, nops := range []int{3, 7} {
		b.Run("ops="+strconv.Itoa(nops), func(b *testing.B) {
			names := make([]string, nops)
			for i := range names {
				names[i] = "op" + strconv.Itoa(i)
			}
			rec := NewRecorder(names, 1)
			for i := int64(0); i < 10000; i++ {
				lat := int64(50_000 * math.Pow(1000, float64(i%1000)/1000))
				rec.Shard(0).Record(Sample{Op: int(i) % nops, Intended: 0, Start: lat / 10, End: lat})
			}
			var tick Tick
			rec.Tick(1e9, func(t Tick) { tick = t })
			lw := NewHLogWriter(io.Discard, names, HLogMeta{}, nil)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				lw.Tick(tick)
			}
		})
	}
}

func TestHdrEncoderMatchesLibrary(t *testing.T) {
	var e hdrEncoder
	cases := map[string][]int64{
		"empty":          nil,
		"one value":      {1},
		"spread":         {1, 2, 3, 1000, 1001, 65_000, 1 << 20, 5e9, HighestNs},
		"many of one":    {777, 777, 777, 777},
		"large counts":   nil,
		"the very least": {LowestNs},
		"bucket edges":   {1023, 1024, 2047, 2048, 2049, 4095, 4096, 1 << 30, 1<<30 + 1},
	}
	for name, vals := range cases {
		t.Run(name, func(t *testing.T) {
			h := NewHistogram()
			for _, v := range vals {
				h.RecordValue(v)
			}
			if name == "large counts" {
				h.RecordValues(12345, 1<<40)
				h.RecordValues(99, 300)
			}
			got, max, err := e.encode(h)
			if err != nil {
				t.Fatal(err)
			}
			if max != h.Max() {
				t.Errorf("max %d, hdr says %d", max, h.Max())
			}
			back, err := hdr.Decode(got)
			if err != nil {
				t.Fatal(err)
			}
			if !back.Equals(h) {
				t.Errorf("decoded histogram differs")
			}
			lib, _ := h.Encode(hdr.V2CompressedEncodingCookieBase)
			libBack, _ := hdr.Decode(lib)
			if !libBack.Equals(back) {
				t.Errorf("the library's encoding decodes differently")
			}
		})
	}
}

func TestHistogramShapeGuard(t *testing.T) {
	ours, _ := NewHistogram().Encode(hdr.V2CompressedEncodingCookieBase)
	if _, err := DecodeHistogram(string(ours)); err != nil {
		t.Errorf("our own shape refused: %v", err)
	}
	if n := (geometry{lowest: 1, highest: HighestNs, sigFigs: 3}).countsLen(); n < 27000 || n > 30000 {
		t.Errorf("our shape: %v buckets", n)
	}
	huge := hdr.New(1, math.MaxInt64/4, 5)
	enc, _ := huge.Encode(hdr.V2CompressedEncodingCookieBase)
	if _, err := DecodeHistogram(string(enc)); err == nil || !strings.Contains(err.Error(), "buckets (more than") {
		t.Errorf("a histogram of 1–2^61 at 5 digits: %v", err)
	}
}
