package reports

import (
	"context"
	"net/http"
	"net/http/httptest"
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
	}
	reg.MustRegister(e.memories, e.consolidate, e.compactions, e.hitRatio, e.latency, e.unrelated, e.rss)
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
		if err := sc.Scrape(context.Background(), origin.Add(time.Duration(i-1)*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	r := &Result{StartedAt: origin, DurationS: 1}
	sc.Finish(r)
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
	// H4's RSS: the peak while measuring (t in [0, duration+1]).
	if r.Resources == nil || r.Resources.RSSPeakBytes != 120<<20 || r.Resources.Source != "target:process_resident_memory_bytes" {
		t.Errorf("resources %+v", r.Resources)
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
			sc.Finish(r)
			if r.TargetMetrics.Failures != 1 || len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0], "1 of 1 scrapes") {
				t.Errorf("failures %d, warnings %v", r.TargetMetrics.Failures, r.Warnings)
			}
		})
	}
	sc, _ := NewScraper(ScrapeConfig{URL: srv.srv.URL + "/metrics/prometheus", Series: []string{"engram_*"}, MaxSeries: 2})
	sc.Scrape(context.Background(), time.Now())
	r := &Result{}
	sc.Finish(r)
	if len(r.TargetMetrics.Series) != 2 || r.TargetMetrics.Dropped == 0 {
		t.Errorf("limit 2: %d series, %d dropped", len(r.TargetMetrics.Series), r.TargetMetrics.Dropped)
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
