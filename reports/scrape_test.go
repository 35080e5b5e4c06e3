package reports

import (
	"context"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// engramLike serves a real client_golang registry with Engram-style families.
type engramLike struct {
	memories    prometheus.Gauge
	consolidate *prometheus.CounterVec
	compactions prometheus.Counter
	hitRatio    prometheus.Gauge
	latency     prometheus.Histogram
	unrelated   prometheus.Gauge
	rss         prometheus.Gauge
	bounded     prometheus.Gauge
	srv         *httptest.Server
}

func newEngramLike(t *testing.T) *engramLike {
	reg := prometheus.NewRegistry()
	e := &engramLike{
		memories:    prometheus.NewGauge(prometheus.GaugeOpts{Name: "engram_memories", Help: "stored memories"}),
		consolidate: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "engram_consolidation_runs_total", Help: "runs"}, []string{"space"}),
		compactions: prometheus.NewCounter(prometheus.CounterOpts{Name: "engram_compaction_attempts_total", Help: "attempts"}),
		hitRatio:    prometheus.NewGauge(prometheus.GaugeOpts{Name: "engram_cache_hit_ratio", Help: "cache hits / lookups"}),
		latency:     prometheus.NewHistogram(prometheus.HistogramOpts{Name: "engram_consolidation_duration_seconds", Help: "x"}),
		unrelated:   prometheus.NewGauge(prometheus.GaugeOpts{Name: "engram_spreading_pool_utilization", Help: "not chosen"}),
		rss:         prometheus.NewGauge(prometheus.GaugeOpts{Name: "process_resident_memory_bytes", Help: "rss"}),
		bounded:     prometheus.NewGauge(prometheus.GaugeOpts{Name: BoundedSeries, Help: "bounded"}),
	}
	reg.MustRegister(e.memories, e.consolidate, e.compactions, e.hitRatio, e.latency, e.unrelated, e.rss, e.bounded)
	mux := http.NewServeMux()
	mux.Handle("/metrics/prometheus", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/broken", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "boom", 500) })
	mux.HandleFunc("/garbage", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("this is { not metrics\n")) })
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	return e
}

func TestScraperRecordsChosenSeries(t *testing.T) {
	srv := newEngramLike(t)
	sc, err := NewScraper(ScrapeConfig{URL: srv.srv.URL + "/metrics/prometheus"})
	if err != nil {
		t.Fatal(err)
	}
	origin := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 3; i++ {
		srv.memories.Set(float64(1000 * (i + 1)))
		srv.consolidate.WithLabelValues("tenant_a").Add(1)
		srv.compactions.Add(2)
		srv.hitRatio.Set(0.5 + 0.1*float64(i))
		srv.latency.Observe(0.25)
		srv.rss.Set(float64(100+10*i) * (1 << 20))
		srv.bounded.Set(64 << 20)
		if err := sc.Scrape(context.Background(), origin.Add(time.Duration(i-1)*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	r := &Result{StartedAt: origin, DurationS: 1, Preload: PreloadStats{Memories: 5000},
		Ops: map[string]OpStats{"store": {Count: 1200, Errors: 200}, "store_batch": {Count: 3}}}
	sc.Finish(r, 768, 100)
	tm := r.TargetMetrics
	if tm.Scrapes != 3 || tm.Failures != 0 {
		t.Fatalf("scrapes %d failures %d", tm.Scrapes, tm.Failures)
	}
	got := map[string]Series{}
	for _, s := range tm.Series {
		got[s.Name] = s
	}
	check := func(name, typ string, last float64) {
		t.Helper()
		s, ok := got[name]
		if !ok {
			t.Errorf("%s not recorded (have %v)", name, tm.Series)
			return
		}
		if s.Type != typ || len(s.T) != 3 || s.T[0] != -1 || s.T[2] != 1 || s.V[2] != last {
			t.Errorf("%s: %+v", name, s)
		}
	}
	check("engram_memories", "gauge", 3000)
	check("engram_consolidation_runs_total", "counter", 3)
	check("engram_compaction_attempts_total", "counter", 6)
	check("engram_cache_hit_ratio", "gauge", 0.7)
	check("engram_consolidation_duration_seconds_count", "histogram_count", 3)
	check("engram_consolidation_duration_seconds_sum", "histogram_sum", 0.75)
	if got["engram_consolidation_runs_total"].Labels["space"] != "tenant_a" {
		t.Error("labels lost")
	}
	if _, ok := got["engram_spreading_pool_utilization"]; ok {
		t.Error("an unchosen series was recorded")
	}
	// H4's RSS: the peak while measuring (t in [0, duration+1]), against
	// the memories the run stored (5,000 preloaded, 1,000 stores, 3
	// batches of 100) and the target's bounded memory.
	want := Resources{Source: "target:process_resident_memory_bytes", RSSPeakBytes: 120 << 20,
		Memories: 6300, RawBytesPerMemory: 768*4 + MemoryMetadataBytes, BoundedBytes: 64 << 20}
	if r.Resources == nil || *r.Resources != want {
		t.Errorf("resources %+v, want %+v", r.Resources, want)
	}
}

func TestScraperFailuresAndLimits(t *testing.T) {
	srv := newEngramLike(t)
	cases := []struct {
		name, path, want string
	}{
		{"server error", "/broken", "HTTP 500"},
		{"not exposition", "/garbage", "not Prometheus text exposition"},
		{"no such path", "/nope", "HTTP 404"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sc, _ := NewScraper(ScrapeConfig{URL: srv.srv.URL + c.path})
			err := sc.Scrape(context.Background(), time.Now())
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
			r := &Result{}
			sc.Finish(r, 768, 1)
			if r.TargetMetrics.Failures != 1 || len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0], "1 of 1 scrapes") {
				t.Errorf("failures %d, warnings %v", r.TargetMetrics.Failures, r.Warnings)
			}
		})
	}
	sc, _ := NewScraper(ScrapeConfig{URL: srv.srv.URL + "/metrics/prometheus", Series: []string{"engram_*"}, MaxSeries: 2})
	sc.Scrape(context.Background(), time.Now())
	r := &Result{}
	sc.Finish(r, 768, 1)
	// Two of the patterns' series, and the two H4 reads, which the patterns
	// and the limit do not decide.
	var names []string
	for _, s := range r.TargetMetrics.Series {
		names = append(names, s.Name)
	}
	if len(names) != 4 || !slices.Contains(names, RSSSeries) || !slices.Contains(names, BoundedSeries) || r.TargetMetrics.Dropped == 0 {
		t.Errorf("limit 2: series %v, %d dropped", names, r.TargetMetrics.Dropped)
	}
	for _, bad := range []ScrapeConfig{{URL: "127.0.0.1:80/metrics"}, {URL: "ftp://x/y"}, {URL: "http://x/", Series: []string{"[a"}}} {
		if _, err := NewScraper(bad); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

func TestScraperRunStopsWithContext(t *testing.T) {
	srv := newEngramLike(t)
	sc, _ := NewScraper(ScrapeConfig{URL: srv.srv.URL + "/metrics/prometheus"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { sc.Run(ctx, 10*time.Millisecond); close(done) }()
	for deadline := time.Now().Add(10 * time.Second); sc.Metrics(time.Now()).Scrapes < 3; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("fewer than 3 scrapes in 10 s")
		}
	}
	cancel()
	<-done
	if m := sc.Metrics(time.Now()); m.Failures != 0 {
		t.Errorf("failures %d: %s", m.Failures, m.LastError)
	}
}

// TestScraperThinningBoundaries: series long enough to be halved several
// times never merge scrapes across a Boundary (the start and end of
// measuring, phases), so H4's RSS peak is exactly the largest RSS scraped
// while measuring, however large the scrapes just outside the window.
func TestScraperThinningBoundaries(t *testing.T) {
	origin := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	sec := func(s float64) time.Time { return origin.Add(time.Duration(s * 1e9)) }
	const run = 5*maxScrapePoints + 37 // scrapes while measuring: halved 3 times
	for _, tc := range []struct {
		name string
		pre  int // scrapes before measuring, 1 s apart
		// end is where measuring ends, in scrapes from its start (run: all
		// of them; fewer: an interrupted run, the rest are after it).
		end    int
		phases []int // more boundaries, in scrapes from the start
		// rss gives the RSS of scrape i (i < pre: before measuring).
		rss func(i, pre, end int) float64
	}{
		{"a larger scrape just before the in-run peak", 3, run, nil, func(i, pre, end int) float64 {
			switch {
			case i < pre:
				return 5000
			case i == pre:
				return 2000
			}
			return float64(100 + i%700)
		}},
		{"a larger scrape just after the in-run peak", 2, run - 5, nil, func(i, pre, end int) float64 {
			switch {
			case i >= pre+end:
				return 5000
			case i == pre+end-1:
				return 2000
			}
			return float64(100 + i%700)
		}},
		{"peaks next to every phase boundary", 7, run, []int{1001, 4097, 9999}, func(i, pre, end int) float64 {
			switch i - pre {
			case 1000, 4097, 9998:
				return 3000 + float64(i) // the last scrape of a phase or the first of the next
			}
			if i < pre {
				return 9000
			}
			return float64(100 + (i*7919)%900)
		}},
		{"an interrupted run, larger RSS after the interruption", 5, 3*maxScrapePoints + 11, nil, func(i, pre, end int) float64 {
			if i < pre || i >= pre+end {
				return 8000 + float64(i%3)
			}
			return float64(100 + (i*104729)%1900)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc, err := NewScraper(ScrapeConfig{URL: "http://127.0.0.1:1/metrics"})
			if err != nil {
				t.Fatal(err)
			}
			// Scrape i is at i s; measuring starts 0.3 s before scrape pre
			// and ends 0.3 s after scrape pre+end−1.
			start := sec(float64(tc.pre) - 0.3)
			end := sec(float64(tc.pre+tc.end-1) + 0.3)
			bounds := []time.Time{start, end}
			for _, p := range tc.phases {
				bounds = append(bounds, sec(float64(tc.pre+p)-0.5))
			}
			for _, b := range bounds {
				sc.Boundary(b)
			}
			total := tc.pre + run + 3
			want := 0.0
			rss := make([]float64, total)
			for i := range total {
				rss[i] = tc.rss(i, tc.pre, tc.end)
				if i >= tc.pre && i < tc.pre+tc.end {
					want = max(want, rss[i])
				}
				sc.add("engram_memories", "gauge", nil, float64(i), sec(float64(i)))
				sc.add(RSSSeries, "gauge", nil, rss[i], sec(float64(i)))
			}
			r := &Result{StartedAt: start, DurationS: end.Sub(start).Seconds()}
			sc.Finish(r, 768, 1)
			if r.Resources == nil || float64(r.Resources.RSSPeakBytes) != want {
				t.Errorf("RSS peak %+v, want %v: the largest RSS scraped while measuring", r.Resources, want)
			}
			// Every segment between boundaries keeps its last scrape (the
			// engram_memories series) and its largest RSS.
			slices.SortFunc(bounds, func(a, b time.Time) int { return a.Compare(b) })
			lastOf := map[int]int{}
			maxOf := map[int]float64{}
			for i := range total {
				g := segment(bounds, sec(float64(i)))
				lastOf[g] = i
				maxOf[g] = max(maxOf[g], rss[i])
			}
			for _, s := range r.TargetMetrics.Series {
				if len(s.V) > maxScrapePoints || len(s.V) < maxScrapePoints/4 {
					t.Errorf("%s: %d samples of %d scrapes, want at most %d", s.Name, len(s.V), total, maxScrapePoints)
				}
				for g := range lastOf {
					last := sec(float64(lastOf[g])).Sub(start).Seconds()
					switch {
					case s.Name == "engram_memories" && !containsAt(s, float64(lastOf[g]), math.Round(last*1000)/1000):
						t.Errorf("segment %d: its last scrape (%d) was merged away", g, lastOf[g])
					case s.Name == RSSSeries && !slices.Contains(s.V, maxOf[g]):
						t.Errorf("segment %d: its largest RSS %v was merged away", g, maxOf[g])
					}
				}
			}
		})
	}
}
