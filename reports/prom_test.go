package reports

import (
	"bytes"
	"context"
	"io"
	"math"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

func servedExporter(t *testing.T) (*Exporter, *Recorder, string) {
	t.Helper()
	e := NewExporter(ExporterConfig{Names: hlogNames, Scenario: "quickstart", Driver: "null", Seed: 3, TargetRate: 400, Duration: 5 * time.Second})
	rec := recordTicks(3, e.Tick)
	ctx, cancel := context.WithCancel(context.Background())
	addr, stopped, err := e.Serve(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); <-stopped })
	return e, rec, "http://" + addr + "/metrics"
}

func scrape(t *testing.T, url, accept string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	return resp, b
}

func TestExporterTextExposition(t *testing.T) {
	e, rec, url := servedExporter(t)
	_, body := scrape(t, url, "text/plain; version=0.0.4")

	// The served bytes pass promtool's lint rules.
	problems, err := promlint.New(bytes.NewReader(body)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
	if problems, err := testutil.GatherAndLint(e.Registry()); err != nil || len(problems) > 0 {
		t.Errorf("GatherAndLint: %v %v", problems, err)
	}
	// promtool itself, when Debian's prometheus package is installed.
	if promtool, err := exec.LookPath("promtool"); err == nil {
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = bytes.NewReader(body)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool check metrics: %v\n%s", err, out)
		}
	}

	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	cum := rec.Cumulative()
	get := func(name string, labels ...string) *dto.Metric {
		t.Helper()
		f := fams[name]
		if f == nil {
			t.Fatalf("no family %s", name)
		}
	next:
		for _, m := range f.Metric {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.Label {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue next
				}
			}
			return m
		}
		t.Fatalf("no %s%v", name, labels)
		return nil
	}
	if v := get(MetricOps, "op", "store").GetCounter().GetValue(); v != float64(cum.Ops[0].Count) {
		t.Errorf("ops_total{store} = %v, want %d", v, cum.Ops[0].Count)
	}
	if v := get(MetricErrors, "op", "store", "class", "timeout").GetCounter().GetValue(); v != float64(cum.Ops[0].Errors["timeout"]) {
		t.Errorf("errors{store,timeout} = %v", v)
	}
	h := get(MetricLatency, "op", "recall_by_cue").GetHistogram()
	if h.GetSampleCount() != uint64(cum.Ops[1].Latency.TotalCount()) || len(h.Bucket) != len(ClassicBuckets)+1 { // the parser adds +Inf
		t.Errorf("latency{recall_by_cue}: count %d, %d buckets", h.GetSampleCount(), len(h.Bucket))
	}
	if mean := h.GetSampleSum() / float64(h.GetSampleCount()); math.Abs(mean-cum.Ops[1].Latency.Mean()/1e9) > 0.002*mean {
		t.Errorf("mean %v s, HDR says %v ns", mean, cum.Ops[1].Latency.Mean())
	}
	// The bucket holding the median brackets the HDR median.
	med := float64(cum.Ops[1].Latency.ValueAtQuantile(50)) / 1e9
	for k, b := range h.Bucket {
		if b.GetCumulativeCount() >= h.GetSampleCount()/2 {
			lo := 0.0
			if k > 0 {
				lo = h.Bucket[k-1].GetUpperBound()
			}
			if med <= lo || med > b.GetUpperBound()*1.001 {
				t.Errorf("median %v s outside its bucket (%v, %v]", med, lo, b.GetUpperBound())
			}
			break
		}
	}
	if _, ok := fams["forget"]; ok || strings.Contains(string(body), `op="forget"`) {
		t.Error("an op kind that never ran is exported")
	}
	for name, want := range map[string]float64{MetricTargetRate: 400, MetricAchieved: 400, MetricInFlight: 2, MetricRunDuration: 5} {
		if v := get(name).GetGauge().GetValue(); v != want {
			t.Errorf("%s = %v, want %v", name, v, want)
		}
	}
	if get(MetricInfo, "scenario", "quickstart", "seed", "3").GetGauge().GetValue() != 1 {
		t.Error("info")
	}
	if get(MetricLag).GetHistogram().GetSampleCount() != 1200 {
		t.Error("lag histogram")
	}
	if fams["process_resident_memory_bytes"] == nil || fams["go_goroutines"] == nil {
		t.Error("no process or Go runtime metrics")
	}
}

func TestExporterNativeHistograms(t *testing.T) {
	_, rec, url := servedExporter(t)
	resp, body := scrape(t, url, "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited")
	dec := expfmt.NewDecoder(bytes.NewReader(body), expfmt.ResponseFormat(resp.Header))
	found := false
	for {
		var f dto.MetricFamily
		if err := dec.Decode(&f); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if f.GetName() != MetricLatency {
			continue
		}
		for _, m := range f.Metric {
			h := m.GetHistogram()
			if h.GetSchema() != NativeSchema || len(h.PositiveSpan) == 0 {
				t.Fatalf("no native buckets: %v", h)
			}
			// Walk the spans: the counts add up and each bucket's bounds
			// hold the values HDR put there.
			var total, cnt int64
			idx := 0
			d := 0
			for s, sp := range h.PositiveSpan {
				if s == 0 {
					idx = int(sp.GetOffset())
				} else {
					idx += int(sp.GetOffset())
				}
				for range sp.GetLength() {
					cnt += h.PositiveDelta[d]
					total += cnt
					d++
					idx++
				}
			}
			if uint64(total) != h.GetSampleCount() {
				t.Errorf("native buckets hold %d of %d", total, h.GetSampleCount())
			}
			found = true
		}
	}
	if !found {
		t.Fatal("no latency family in the protobuf exposition")
	}
	_ = rec
	// nativeIndex puts v in (2^((i−1)/8), 2^(i/8)].
	for _, v := range []float64{1e-6, 0.000123, 0.5, 1, 2, 59.9} {
		i := nativeIndex(v)
		lo, hi := math.Pow(2, float64(i-1)/8), math.Pow(2, float64(i)/8)
		if v <= lo || v > hi*(1+1e-12) {
			t.Errorf("%v in bucket %d = (%v, %v]", v, i, lo, hi)
		}
	}
}

// BenchmarkExporterTick is the exporter's whole cost: once per interval,
// none per op (workers never touch it).
func BenchmarkExporterTick(b *testing.B) {
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
			e := NewExporter(ExporterConfig{Names: names})
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				e.Tick(tick)
			}
		})
	}
}
