package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/pflag"

	"github.com/engram-bench/engram-bench/drivers"
	"github.com/engram-bench/engram-bench/reports"
	"github.com/engram-bench/engram-bench/workloads"
)

// outputFlags are run's live consumers and report files.
type outputFlags struct {
	promAddr    string
	promLinger  time.Duration
	hlog        string
	html        string
	md          string
	hgrm        string
	scrape      string
	scrapePath  string
	scrapeSerie []string
}

func addOutputFlags(fl *pflag.FlagSet, o *outputFlags) {
	fl.StringVar(&o.promAddr, "prom-addr", "", "serve live Prometheus metrics of the run on this address (e.g. 127.0.0.1:9102)")
	fl.DurationVar(&o.promLinger, "prom-linger", 0, "keep serving --prom-addr this long after the run, for a last scrape")
	fl.StringVar(&o.hlog, "hlog", "", "stream an HdrHistogram interval log of the run to this file")
	fl.StringVar(&o.html, "html", "", "write a self-contained HTML report to this file")
	fl.StringVar(&o.md, "md", "", "write a Markdown summary (for PR comments) to this file")
	fl.StringVar(&o.hgrm, "hgrm", "", "write HdrHistogram percentile distributions (.hgrm) to this file")
	fl.StringVar(&o.scrape, "scrape", "auto", "scrape the target's Prometheus endpoint every interval: auto (when --target is an http(s) URL), off, or a full URL")
	fl.StringVar(&o.scrapePath, "scrape-path", "/metrics/prometheus", "path of the target's Prometheus endpoint (with --scrape auto)")
	fl.StringSliceVar(&o.scrapeSerie, "scrape-series", nil, "metric-name patterns to record from the target (default: "+strings.Join(reports.DefaultScrapeSeries, ",")+")")
}

// outputs is one run's set of live consumers and files.
type outputs struct {
	flags    *outputFlags
	out      string // --out
	stderr   io.Writer
	names    []string
	live     []func(reports.Tick)
	hlogFile *os.File
	hlog     *reports.HLogWriter
	rss      *reports.RSSPeak
	bounded  atomic.Int64 // the in-process engine's BoundedMemory, once opened
	scraper  *reports.Scraper
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	promStop <-chan struct{}
	dim      int
	batch    int
}

// checkWritable fails early, before a run, when a file cannot be written.
// It leaves no file behind: a run that ends without a result (interrupted
// during its preload, say) must not leave an empty one.
func checkWritable(flag, path string) error {
	if path == "" {
		return nil
	}
	_, statErr := os.Stat(path)
	fh, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return usageErr("--%s %s: %v", flag, path, err)
	}
	fh.Close()
	if errors.Is(statErr, fs.ErrNotExist) {
		os.Remove(path)
	}
	return nil
}

// startOutputs validates the flags, opens the files and starts the servers
// and scrapers; its Live callback feeds them all.
func startOutputs(ctx context.Context, o *outputFlags, out string, stderr io.Writer, plan *drivers.Plan) (*outputs, error) {
	arr, err := workloads.NewArrival(plan.Scenario.Arrival, plan.Seed)
	if err != nil {
		arr = nil // Execute reports it
	}
	rate := 0.0
	if arr != nil {
		rate = arr.Rate() / float64(max(plan.Shards, 1))
	}
	s := &outputs{flags: o, out: out, stderr: stderr, names: workloads.KindNames(), dim: plan.Scenario.Data.EmbeddingDim, batch: plan.Scenario.Operations.BatchSize}
	for _, f := range []struct{ flag, path string }{{"html", o.html}, {"md", o.md}, {"hgrm", o.hgrm}} {
		if err := checkWritable(f.flag, f.path); err != nil {
			return nil, err
		}
	}
	var scrapeURL string
	switch {
	case o.scrape == "off" || o.scrape == "":
	case o.scrape == "auto":
		scrapeURL = autoScrapeURL(plan.DriverConfig.Target, o.scrapePath)
	default:
		scrapeURL = o.scrape
	}
	if scrapeURL != "" {
		cfg := reports.ScrapeConfig{URL: scrapeURL, Series: o.scrapeSerie}
		// The run's API key goes to the target's own host only.
		if key := plan.DriverConfig.Options["api-key"]; key != "" && sameHost(scrapeURL, plan.DriverConfig.Target) {
			cfg.Header = http.Header{"Authorization": {"Bearer " + key}}
		}
		sc, err := reports.NewScraper(cfg)
		if err != nil {
			return nil, usageErr("--scrape: %v", err)
		}
		s.scraper = sc
	}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	if s.scraper != nil {
		// Thinning a long run's series never merges scrapes across the
		// start or end of measuring or of a phase, nor across a Ctrl-C
		// (the window then ends early): H4's RSS peak is the run's own.
		var offsets []time.Duration
		if sched, err := workloads.NewSchedule(plan.Scenario, plan.Seed); err == nil && plan.Source == nil {
			offsets = sched.Boundaries()
		}
		prev := plan.OnStart
		plan.OnStart = func(measureStart time.Time) {
			s.scraper.Boundary(measureStart)
			for _, o := range offsets {
				s.scraper.Boundary(measureStart.Add(o))
			}
			if prev != nil {
				prev(measureStart)
			}
		}
		stop := context.AfterFunc(ctx, func() { s.scraper.Boundary(time.Now()) })
		s.cancel = func() { stop(); cancel() }
	}
	if o.promAddr != "" {
		exp := reports.NewExporter(reports.ExporterConfig{Names: s.names, Scenario: plan.Scenario.ID, Driver: plan.Driver, Seed: plan.Seed,
			TargetRate: rate, Duration: plan.Scenario.Duration.Total()})
		addr, stopped, err := exp.Serve(sctx, o.promAddr)
		if err != nil {
			cancel()
			return nil, usageErr("%v", err)
		}
		s.promStop = stopped
		fmt.Fprintf(stderr, "engram-bench: live metrics on http://%s/metrics\n", addr)
		s.live = append(s.live, exp.Tick)
	}
	if o.hlog != "" {
		f, err := os.Create(o.hlog)
		if err != nil {
			cancel()
			return nil, usageErr("--hlog %s: %v", o.hlog, err)
		}
		s.hlogFile = f
		s.hlog = reports.NewHLogWriter(f, s.names, reports.HLogMeta{Scenario: plan.Scenario.ID, Seed: plan.Seed, Driver: plan.Driver, Shard: plan.Shard, Shards: plan.Shards}, nil)
		s.live = append(s.live, s.hlog.Tick)
	}
	if plan.Driver == "embedded" {
		// The engine runs in this process: its RSS, over what the harness
		// used before the engine opened, is what H4 judges.
		s.rss = &reports.RSSPeak{}
		s.rss.Baseline, _ = reports.ProcessRSS()
		s.live = append(s.live, func(reports.Tick) { s.rss.Sample() })
		prev := plan.Opened
		plan.Opened = func(d drivers.Driver) {
			if b, ok := d.(interface{ BoundedMemory() int64 }); ok {
				s.bounded.Store(b.BoundedMemory())
			}
			if prev != nil {
				prev(d)
			}
		}
	}
	if s.scraper != nil {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			interval := plan.Interval
			if interval <= 0 {
				interval = drivers.DefaultInterval
			}
			s.scraper.Run(sctx, interval)
		}()
	}
	return s, nil
}

// Live feeds every consumer one interval.
func (s *outputs) Live(t reports.Tick) {
	for _, f := range s.live {
		f(t)
	}
}

// stopLive stops the scraper (the run is over).
func (s *outputs) stopLive() {
	if s.scraper != nil {
		s.cancel()
		s.wg.Wait()
	}
}

// abort releases what startOutputs opened when no result came out of the
// run; an interval log already streamed is closed, marked partial.
func (s *outputs) abort() {
	s.stopLive()
	if s.hlog != nil {
		s.hlog.Close(true)
		s.hlogFile.Close()
	}
	s.cancel()
}

// finish completes res with what the live consumers saw and writes every
// requested file (after an interruption too, for the part that ran).
func (s *outputs) finish(ctx context.Context, res *reports.Result) error {
	s.stopLive()
	defer s.cancel()
	if s.scraper != nil {
		s.scraper.Finish(res, s.dim, s.batch)
	}
	if s.rss != nil && res.Resources == nil {
		res.Resources = s.rss.Resources(res, s.dim, s.batch)
		if res.Resources != nil {
			res.Resources.BoundedBytes = s.bounded.Load()
		}
	}
	res.EvaluateHypotheses()
	var firstErr error
	keep := func(err error) {
		if err != nil && firstErr == nil {
			firstErr = err
		}
	}
	if s.hlog != nil {
		keep(s.hlog.Close(res.Partial))
		keep(s.hlogFile.Close())
		if res.Files == nil {
			res.Files = map[string]string{}
		}
		res.Files["hlog"] = companionPath(s.out, s.flags.hlog)
	}
	write := func(path, format string) {
		if path == "" {
			return
		}
		keep(writeFormat(path, format, res))
	}
	if s.out != "" {
		keep(res.WriteFile(s.out))
		res.Path = s.out
	}
	write(s.flags.html, "html")
	write(s.flags.md, "md")
	write(s.flags.hgrm, "hgrm")
	if s.promStop != nil && s.flags.promLinger > 0 && ctx.Err() == nil {
		fmt.Fprintf(s.stderr, "engram-bench: serving the final metrics for %s (--prom-linger)\n", s.flags.promLinger)
		select {
		case <-ctx.Done():
		case <-time.After(s.flags.promLinger):
		}
	}
	s.cancel()
	if s.promStop != nil {
		<-s.promStop
	}
	return firstErr
}

// companionPath names file as the result at out should refer to it: relative
// to out's folder when out is set, else absolute.
func companionPath(out, file string) string {
	abs, err := filepath.Abs(file)
	if err != nil {
		return file
	}
	if out == "" {
		return abs
	}
	absOut, err := filepath.Abs(out)
	if err != nil {
		return abs
	}
	if rel, err := filepath.Rel(filepath.Dir(absOut), abs); err == nil {
		return rel
	}
	return abs
}

// writeFormat renders res to path atomically.
func writeFormat(path, format string, res *reports.Result) error {
	return reports.WriteFileAtomic(path, func(w io.Writer) error {
		if err := reports.Render(format, w, res); err != nil {
			return fmt.Errorf("%s: %w", format, err)
		}
		return nil
	})
}

// autoScrapeURL is the endpoint --scrape auto scrapes: target + path when
// the target is an http(s) URL, else "" — a redis host:port or a
// postgres:// URL has no Prometheus endpoint to derive, and is the
// driver's to judge, not the scraper's.
func autoScrapeURL(target, path string) string {
	u, err := url.Parse(target)
	if target == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return ""
	}
	return strings.TrimRight(target, "/") + "/" + strings.TrimLeft(path, "/")
}

// sameHost reports whether URLs a and b name the same scheme and host:port.
func sameHost(a, b string) bool {
	ua, err1 := url.Parse(a)
	ub, err2 := url.Parse(b)
	return err1 == nil && err2 == nil && ua.Host != "" && ua.Scheme == ub.Scheme && ua.Host == ub.Host
}
