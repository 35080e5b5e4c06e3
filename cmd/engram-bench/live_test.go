package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/engram-bench/engram-bench/reports"
)

// watchWriter collects stderr and calls onLine for each full line.
type watchWriter struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	partial []byte
	onLine  func(string)
}

func (w *watchWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.buf.Write(p)
	w.partial = append(w.partial, p...)
	var lines []string
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		lines = append(lines, string(w.partial[:i]))
		w.partial = w.partial[i+1:]
	}
	w.mu.Unlock()
	for _, l := range lines {
		w.onLine(l)
	}
	return len(p), nil
}

func (w *watchWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// TestLiveOutputsAndInterrupt runs the real command against the null driver
// for what would be 60 s, scrapes its live Prometheus endpoint and a fake
// target while it runs, interrupts it (as Ctrl-C does) after the second
// progress line (its exporter fed by then once), and checks that every requested file was written for the
// part that ran, marked partial.
func TestLiveOutputsAndInterrupt(t *testing.T) {
	reg := prometheus.NewRegistry()
	mem := prometheus.NewGauge(prometheus.GaugeOpts{Name: "engram_memories", Help: "stored memories"})
	reg.MustRegister(mem)
	mem.Set(42)
	target := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer target.Close()

	dir := t.TempDir()
	f := func(n string) string { return filepath.Join(dir, n) }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var promURL string
	var scraped string
	progress := 0
	stderr := &watchWriter{}
	stderr.onLine = func(l string) {
		if m := regexp.MustCompile(`live metrics on (http://\S+)`).FindStringSubmatch(l); m != nil {
			promURL = m[1]
		}
		if !strings.Contains(l, "ops/s (target") {
			return
		}
		progress++
		if progress == 2 && promURL != "" {
			resp, err := http.Get(promURL)
			if err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				scraped = string(b)
			}
		}
		if progress == 2 {
			cancel()
		}
	}
	var stdout bytes.Buffer
	code := run(ctx, []string{"run", "--scenario", "quickstart", "--driver", "null", "--duration", "60s", "--warmup", "0", "--max-lag", "1s",
		"--prom-addr", "127.0.0.1:0", "--scrape", target.URL + "/metrics",
		"--out", f("r.json"), "--hlog", f("r.hlog"), "--html", f("r.html"), "--md", f("r.md"), "--hgrm", f("r.hgrm")}, &stdout, stderr)
	if code != exitInvalid {
		t.Fatalf("exit %d, want %d (interrupted)\n%s\n%s", code, exitInvalid, stdout.String(), stderr.String())
	}
	// Timestamped plain lines on a non-terminal, no control codes.
	if strings.ContainsAny(stderr.String(), "\r\x1b") || !regexp.MustCompile(`(?m)^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \[1s/60s\] `).MatchString(stderr.String()) {
		t.Errorf("progress on a non-terminal:\n%q", stderr.String())
	}
	for _, want := range []string{"engram_bench_ops_total{op=\"store\"}", "engram_bench_op_latency_seconds_bucket{op=\"store\",le=", "engram_bench_target_ops_per_second 1000"} {
		if !strings.Contains(scraped, want) {
			t.Errorf("live /metrics lacks %q:\n%.2000s", want, scraped)
		}
	}
	r, err := reports.ReadFile(f("r.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !r.Partial || r.Verdict != reports.VerdictInvalid || r.DurationS > 50 { // cut well before its 60 s
		t.Errorf("partial %v verdict %s duration %v", r.Partial, r.Verdict, r.DurationS)
	}
	if tm := r.TargetMetrics; tm == nil || len(tm.Series) != 1 || tm.Series[0].Name != "engram_memories" || tm.Series[0].V[0] != 42 {
		t.Errorf("target metrics %+v", r.TargetMetrics)
	}
	for name, want := range map[string]string{
		"r.hlog": "partial=true]",
		"r.html": "Partial result.",
		"r.md":   "Interrupted: this result covers only",
		"r.hgrm": "# engram-bench quickstart all ops",
	} {
		b, err := os.ReadFile(f(name))
		if err != nil || !strings.Contains(string(b), want) {
			t.Errorf("%s: %v, lacks %q", name, err, want)
		}
	}
	// The log of the part that ran holds as many ops as the result.
	lf, _ := os.Open(f("r.hlog"))
	defer lf.Close()
	rd := reports.NewHLogReader(lf, "r.hlog")
	var n int64
	for {
		iv, err := rd.Next()
		if err != nil {
			break
		}
		n += iv.Count
	}
	if n != r.Total.Count || !rd.Partial {
		t.Errorf("log holds %d ops (partial %v), result %d", n, rd.Partial, r.Total.Count)
	}
}
