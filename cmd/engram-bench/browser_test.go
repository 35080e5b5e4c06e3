package main

import (
	"bytes"
	"context"
	"fmt"
	"html"
	"image/png"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/engram-bench/engram-bench/reports"
)

// chromium finds Debian's chromium (installed by .ci/run).
func chromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("chromium is not installed (apt-get install -y chromium; .ci/run installs it): the HTML report was not checked in a browser")
	return ""
}

func headless(t *testing.T, bin string, args ...string) (stdout, stderr []byte) {
	t.Helper()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
		"--disable-sync", "--no-first-run", "--hide-scrollbars", "--user-data-dir=" + t.TempDir(), "--enable-logging=stderr", "--v=0"}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, e.String())
	}
	return o.Bytes(), e.Bytes()
}

// browserScenario is quickstart's mix in two recorded phases over three
// memory spaces, so that the page has every table: per op kind, per phase,
// per space, and recall quality with the write ledger.
const browserScenario = `name = "browser_check"
[arrival]
pattern = "constant"
rate = 300.0
[operations]
store_weight = 40.0
recall_weight = 40.0
embedding_search_weight = 20.0
[data]
num_nodes = 2_000
preload = 1_000
embedding_dim = 64
memory_spaces = 3
[[phases]]
name = "warmup"
duration_seconds = 1
[[phases]]
name = "steady"
duration_seconds = 2
[[phases]]
name = "burst"
duration_seconds = 1
[phases.arrival]
pattern = "constant"
rate = 600.0
`

// TestHTMLReportInChromium renders the result of a real run (embedded
// engine, 3 s in two phases over three spaces) to HTML, opens it in
// headless Chromium, and fails on a JavaScript error, a chart that drew
// nothing, a broken hover read-out or legend, a phase, space or recall
// table whose numbers are not the result's, or a blank screenshot. Set
// ENGRAM_BENCH_SCREENSHOTS=DIR to keep the screenshot for a look.
func TestHTMLReportInChromium(t *testing.T) {
	bin := chromium(t)
	// A stand-in target for the scraper: a real client_golang registry
	// whose "memories" grow with every scrape.
	reg := prometheus.NewRegistry()
	var scrapes atomic.Int64
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "engram_memories", Help: "stored memories"},
		func() float64 { return float64(5000 + 300*scrapes.Add(1)) }))
	target := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer target.Close()

	dir := t.TempDir()
	out := filepath.Join(dir, "run.json")
	scenario := filepath.Join(dir, "browser_check.toml")
	if err := os.WriteFile(scenario, []byte(browserScenario), 0o644); err != nil {
		t.Fatal(err)
	}
	var so, se bytes.Buffer
	code := run(context.Background(), []string{"run", "--scenario", scenario, "--rate", "300", "--duration", "3s", "--warmup", "500ms", "-q", "--max-lag", "1s",
		"--out", out, "--hlog", filepath.Join(dir, "run.hlog"), "--scrape", target.URL + "/metrics"}, &so, &se)
	// Any verdict will do (a loaded machine, -race) as long as the run
	// finished and wrote its result.
	if code != exitPass && code != exitFail && code != exitInvalid {
		t.Fatalf("run exited %d: %s%s", code, so.String(), se.String())
	}
	r, err := reports.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Phases) != 2 || len(r.Spaces) != 3 || r.Quality == nil || r.Quality.RecallAt10 == nil || r.Quality.Ledger == nil {
		t.Fatalf("the run lacks phases, spaces or recall quality: %d phases, %d spaces, quality %+v", len(r.Phases), len(r.Spaces), r.Quality)
	}
	// The run shades its phases; shade a fault window too, so that its
	// drawing is checked as well.
	r.Windows = append(r.Windows, reports.Window{Kind: reports.WindowFault, Name: "latency 20ms", StartS: 1.5, EndS: 2.5})
	page := filepath.Join(dir, "report.html")
	f, err := os.Create(page)
	if err != nil {
		t.Fatal(err)
	}
	if err := reports.Render("html", f, r); err != nil {
		t.Fatal(err)
	}
	f.Close()
	url := "file://" + page + "#selftest"

	dom, logs := headless(t, bin, "--virtual-time-budget=10000", "--dump-dom", url)
	html := string(dom)
	attr := func(name string) (string, bool) {
		m := regexp.MustCompile(`<html[^>]*\s` + name + `="([^"]*)"`).FindStringSubmatch(html)
		if m == nil {
			return "", false
		}
		return m[1], true
	}
	if v, ok := attr("data-js-errors"); ok {
		t.Errorf("JavaScript errors: %s", v)
	}
	if bytes.Contains(logs, []byte("Uncaught")) {
		t.Errorf("console errors:\n%s", logs)
	}
	if v, _ := attr("data-ready"); v != "1" {
		t.Fatalf("the page script did not finish (no data-ready); logs:\n%s", logs)
	}
	charts := strings.Count(html, `<svg class="chart"`)
	okCharts, _ := attr("data-charts-ok")
	if blank, _ := attr("data-charts-blank"); blank != "" || okCharts != strconv.Itoa(charts) || charts < 9 {
		t.Errorf("charts: %s of %d drew, blank: %q", okCharts, charts, blank)
	}
	if !strings.Contains(html, `id="target-0"`) {
		t.Error("the scraped series has no chart")
	}
	if v, _ := attr("data-selftest"); v != "ok" {
		t.Errorf("hover and legend self-test: %q", v)
	}
	checkWorkloadTables(t, html, r)

	shot := filepath.Join(dir, "report.png")
	if keep := os.Getenv("ENGRAM_BENCH_SCREENSHOTS"); keep != "" {
		os.MkdirAll(keep, 0o755)
		shot = filepath.Join(keep, "report.png")
	}
	headless(t, bin, "--window-size=1280,4200", "--virtual-time-budget=5000", "--screenshot="+shot, "file://"+page)
	checkScreenshot(t, shot)
	t.Logf("screenshot: %s", shot)
}

// checkWorkloadTables checks the page's phase, space and recall-quality
// tables, as the browser has them, against the result's numbers.
func checkWorkloadTables(t *testing.T, page string, r *reports.Result) {
	t.Helper()
	lat := func(g reports.GroupStats, ns int64) string {
		if g.Count == g.Errors {
			return "-"
		}
		return reports.FormatNs(ns)
	}
	frac := func(p *float64) string {
		if p == nil {
			return "-"
		}
		return fmt.Sprintf("%.3f", *p)
	}
	want := map[string][]string{}
	for _, p := range r.Phases {
		g := p.Total
		want["Per phase"] = append(want["Per phase"], strings.Join([]string{p.Name, fmt.Sprintf("%.1fs", p.StartS), fmt.Sprintf("%.1fs", p.EndS),
			fmt.Sprintf("%.1f", p.TargetRate), fmt.Sprintf("%.1f", p.AchievedRate), fmt.Sprint(g.Count),
			lat(g, g.Latency.P50), lat(g, g.Latency.P99), lat(g, g.Latency.P999), lat(g, g.Latency.Max)}, " | "))
	}
	for name, s := range r.Spaces {
		g := s.Total
		want["Per memory space"] = append(want["Per memory space"], strings.Join([]string{name, fmt.Sprintf("%.1f", g.Throughput), fmt.Sprint(g.Count),
			lat(g, g.Latency.P50), lat(g, g.Latency.P99), lat(g, g.Latency.P999), lat(g, g.Latency.Max)}, " | "))
	}
	q, l := r.Quality, r.Quality.Ledger
	want["Recall quality under load"] = []string{
		fmt.Sprintf("recall@10 of scored cues | %s | over %d scored cues", frac(q.RecallAt10), q.Scored),
		fmt.Sprintf("acknowledged writes | %d | %d followed (sample %.1f%%), %d read after their ack", l.Acknowledged, l.Tracked, 100*l.SampleRate, l.Checked),
	}
	if l.FoundShare != nil {
		want["Recall quality under load"] = append(want["Recall quality under load"], fmt.Sprintf("found when read after their ack | %d (%.2f%%) | %d never found", l.Found, 100**l.FoundShare, l.NeverFound))
	}
	tags := regexp.MustCompile(`<[^>]*>`)
	for h2, rows := range want {
		i := strings.Index(page, "<h2>"+h2)
		if i < 0 {
			t.Errorf("the page has no %q section", h2)
			continue
		}
		sec := page[i:]
		sec = sec[:strings.Index(sec, "</section>")]
		var got []string
		for _, tr := range regexp.MustCompile(`(?s)<tr[^>]*>(.*?)</tr>`).FindAllStringSubmatch(sec, -1) {
			var cells []string
			for _, td := range regexp.MustCompile(`(?s)<t[dh][^>]*>(.*?)</t[dh]>`).FindAllStringSubmatch(tr[1], -1) {
				cells = append(cells, strings.Join(strings.Fields(html.UnescapeString(tags.ReplaceAllString(td[1], ""))), " "))
			}
			got = append(got, strings.Join(cells, " | "))
		}
		for _, w := range rows {
			found := false
			for _, g := range got {
				found = found || strings.HasPrefix(g, w)
			}
			if !found {
				t.Errorf("%s: no row starting %q in\n%s", h2, w, strings.Join(got, "\n"))
			}
		}
	}
}

// checkScreenshot fails on a blank picture: the charts' line colours must
// cover a fair number of pixels, and the page must not be one colour.
func checkScreenshot(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot %s: %v", path, err)
	}
	b := img.Bounds()
	counts := map[string]int{}
	white := 0
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			r, g, bl, _ := img.At(x, y).RGBA()
			r, g, bl = r>>8, g>>8, bl>>8
			if r > 245 && g > 245 && bl > 245 {
				white++
			}
			for name, c := range map[string][3]uint32{"achieved blue": {0x4e, 0x79, 0xa7}, "p99 orange": {0xf2, 0x8e, 0x2b}, "verdict": {0x1a, 0x7f, 0x37}} {
				if near(r, c[0]) && near(g, c[1]) && near(bl, c[2]) {
					counts[name]++
				}
			}
		}
	}
	total := (b.Dx() / 2) * (b.Dy() / 2)
	if white > total*99/100 {
		t.Errorf("screenshot is %d%% white", 100*white/total)
	}
	for _, name := range []string{"achieved blue", "p99 orange"} {
		if counts[name] < 100 {
			t.Errorf("screenshot has %d pixels of the %s lines: charts look blank (%v)", counts[name], name, counts)
		}
	}
}

func near(a, b uint32) bool { return a+12 >= b && a <= b+12 }
