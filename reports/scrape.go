package reports

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"path"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// DefaultScrapeSeries are the metric-name patterns a run records from its
// target by default: what Engram (and engramd) say about stored memories,
// consolidation, compaction and cache hit ratios, and the process's RSS
// (which H4 reads).
var DefaultScrapeSeries = []string{
	"*memories*",
	"*consolidation*",
	"*compaction*",
	"*hit_ratio*",
	"*hit_rate*",
	"process_resident_memory_bytes",
}

// RSSSeries is the standard Prometheus process collector's RSS gauge.
const RSSSeries = "process_resident_memory_bytes"

// BoundedSeries is engramd's gauge of the memory its store may hold whatever
// the data (caches and write buffers): H4 is not judged while a run's raw
// data is below it (Resources.BoundedBytes).
const BoundedSeries = "engramd_bounded_memory_bytes"

// h4Series are recorded whatever the patterns and MaxSeries say: H4 reads
// them.
func h4Series(name string) bool { return name == RSSSeries || name == BoundedSeries }

// ScrapeConfig configures a Scraper. The zero value of each optional field
// means its documented default.
type ScrapeConfig struct {
	// URL is the endpoint, e.g. http://127.0.0.1:7432/metrics/prometheus.
	URL string
	// Series are glob patterns (path.Match) on metric names; a histogram or
	// summary is recorded as its _count and _sum. Default DefaultScrapeSeries.
	Series []string
	// MaxSeries bounds how many series are kept (memory stays bounded
	// whatever the target exposes). Default 48. RSSSeries and BoundedSeries
	// are always kept, besides these: H4 reads them.
	MaxSeries int
	// Timeout bounds one scrape. Default 2 s.
	Timeout time.Duration
	// Client is the HTTP client. Default: a client of its own.
	Client *http.Client
	// Header is added to every request (e.g. Authorization).
	Header http.Header
}

// Validate checks the URL and the patterns.
func (c *ScrapeConfig) Validate() error {
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("scrape url %q: want http://host:port/path", c.URL)
	}
	for _, p := range c.Series {
		if _, err := path.Match(p, ""); err != nil {
			return fmt.Errorf("scrape series pattern %q: %v", p, err)
		}
	}
	if c.MaxSeries < 0 {
		return fmt.Errorf("scrape max series %d: must be >= 0", c.MaxSeries)
	}
	return nil
}

// Scraper records chosen series of a Prometheus text endpoint, one sample per
// scrape, so that a run's latency can be lined up with what the server was
// doing. Scrape and Run are for one goroutine; Metrics may be called from
// another.
type Scraper struct {
	cfg    ScrapeConfig
	mu     sync.Mutex
	series []*scrapeSeries
	index  map[string]*scrapeSeries
	tm     TargetMetrics
	drop   map[string]bool
	bounds []time.Time // Boundary's instants, in order
}

type scrapeSeries struct {
	s     Series
	times []time.Time
	// Past maxScrapePoints samples, adjacent pairs are merged and each
	// kept sample stands for up to stride scrapes; pending counts the
	// scrapes already folded into the last one.
	stride, pending int
}

// maxScrapePoints bounds the samples kept per series, so that a long run's
// memory and result stay bounded: an hour of 1-s scrapes is kept as is, a
// longer run keeps one sample per 2, 4, … scrapes (the later one; for the
// RSS series the larger one, so that H4 still sees the peak). Scrapes on
// either side of a Boundary are never merged.
const maxScrapePoints = MaxIntervals

// maxScrapeBoundaries bounds the boundaries a scraper keeps (later ones are
// ignored), so that halving a series always shrinks it: at most half its
// samples plus one per boundary remain.
const maxScrapeBoundaries = maxScrapePoints / 8

// Boundary marks a phase boundary at at: the start or end of the measured
// window, a phase's start. No kept sample of any series merges scrapes
// taken on both sides of it, so that a thinned series still tells the
// phases apart and the RSS peak of the measured window is exact. Call it
// before a scrape taken at or after at is recorded (drivers.Plan.OnStart is
// told the start of measuring before the first op is sent, with time to
// spare). Safe to call while Run scrapes.
func (s *Scraper) Boundary(at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := sort.Search(len(s.bounds), func(i int) bool { return !s.bounds[i].Before(at) })
	if (i < len(s.bounds) && s.bounds[i].Equal(at)) || len(s.bounds) >= maxScrapeBoundaries {
		return
	}
	s.bounds = slices.Insert(s.bounds, i, at)
}

// segment is how many boundaries are at or before t: scrapes in different
// segments are never merged.
func segment(bounds []time.Time, t time.Time) int {
	return sort.Search(len(bounds), func(i int) bool { return bounds[i].After(t) })
}

// push records v at at.
func (ss *scrapeSeries) push(v float64, at time.Time, bounds []time.Time) {
	if ss.stride == 0 {
		ss.stride = 1
	}
	last := len(ss.s.V) - 1
	if ss.pending > 0 && segment(bounds, at) != segment(bounds, ss.times[last]) {
		ss.pending = 0 // a new phase starts a sample of its own
	}
	if ss.pending > 0 {
		if ss.s.Name != RSSSeries || v >= ss.s.V[last] {
			ss.s.V[last], ss.times[last] = v, at
		}
	} else {
		if len(ss.s.V) >= maxScrapePoints {
			ss.halve(bounds)
		}
		ss.times = append(ss.times, at)
		ss.s.V = append(ss.s.V, v)
	}
	ss.pending = (ss.pending + 1) % ss.stride
}

// halve merges adjacent pairs of samples of the same segment and doubles
// the stride. A sample whose neighbour is across a boundary stays alone.
func (ss *scrapeSeries) halve(bounds []time.Time) {
	n := 0
	for i := 0; i < len(ss.s.V); {
		j, next := i, i+1
		if i+1 < len(ss.s.V) && segment(bounds, ss.times[i]) == segment(bounds, ss.times[i+1]) {
			if ss.s.Name != RSSSeries || ss.s.V[i+1] >= ss.s.V[i] {
				j = i + 1
			}
			next = i + 2
		}
		ss.s.V[n], ss.times[n] = ss.s.V[j], ss.times[j]
		n++
		i = next
	}
	ss.s.V, ss.times = ss.s.V[:n], ss.times[:n]
	ss.stride *= 2
}

// NewScraper validates cfg and returns a scraper.
func NewScraper(cfg ScrapeConfig) (*Scraper, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(cfg.Series) == 0 {
		cfg.Series = DefaultScrapeSeries
	}
	if cfg.MaxSeries == 0 {
		cfg.MaxSeries = 48
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Second
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{}
	}
	return &Scraper{cfg: cfg, index: map[string]*scrapeSeries{}, drop: map[string]bool{}, tm: TargetMetrics{URL: cfg.URL}}, nil
}

// Run scrapes every interval until ctx is done. Failures are counted, not
// fatal: the run goes on without the series.
func (s *Scraper) Run(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = time.Second
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		_ = s.Scrape(ctx, time.Now())
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Scrape fetches the endpoint once and records the chosen series at time at.
func (s *Scraper) Scrape(ctx context.Context, at time.Time) error {
	err := s.scrape(ctx, at)
	s.mu.Lock()
	s.tm.Scrapes++
	if err != nil && ctx.Err() == nil {
		s.tm.Failures++
		s.tm.LastError = err.Error()
	} else if err != nil {
		s.tm.Scrapes-- // cut short by the end of the run: not an attempt
	}
	s.mu.Unlock()
	return err
}

func (s *Scraper) scrape(ctx context.Context, at time.Time) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.cfg.URL, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "text/plain;version=0.0.4;q=1,*/*;q=0.1")
	for k, v := range s.cfg.Header {
		req.Header[k] = v
	}
	resp, err := s.cfg.Client.Do(req)
	if err != nil {
		return fmt.Errorf("scrape %s: %w", s.cfg.URL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		return fmt.Errorf("scrape %s: HTTP %s", s.cfg.URL, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("scrape %s: not Prometheus text exposition: %w", s.cfg.URL, err)
	}
	names := make([]string, 0, len(fams))
	for n := range fams {
		if s.wanted(n) {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range names {
		f := fams[n]
		for _, m := range f.Metric {
			labels := map[string]string{}
			for _, lp := range m.Label {
				labels[lp.GetName()] = lp.GetValue()
			}
			switch f.GetType() {
			case dto.MetricType_GAUGE:
				s.add(n, "gauge", labels, m.GetGauge().GetValue(), at)
			case dto.MetricType_COUNTER:
				s.add(n, "counter", labels, m.GetCounter().GetValue(), at)
			case dto.MetricType_UNTYPED:
				s.add(n, "untyped", labels, m.GetUntyped().GetValue(), at)
			case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
				s.add(n+"_count", "histogram_count", labels, float64(m.GetHistogram().GetSampleCount()), at)
				s.add(n+"_sum", "histogram_sum", labels, m.GetHistogram().GetSampleSum(), at)
			case dto.MetricType_SUMMARY:
				s.add(n+"_count", "summary_count", labels, float64(m.GetSummary().GetSampleCount()), at)
				s.add(n+"_sum", "summary_sum", labels, m.GetSummary().GetSampleSum(), at)
			}
		}
	}
	return nil
}

func (s *Scraper) wanted(name string) bool {
	if h4Series(name) {
		return true
	}
	for _, p := range s.cfg.Series {
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	return false
}

func (s *Scraper) add(name, typ string, labels map[string]string, v float64, at time.Time) {
	key := seriesKey(name, labels)
	ss := s.index[key]
	if ss == nil {
		if len(s.series) >= s.cfg.MaxSeries && !(h4Series(name) && len(labels) == 0) {
			if !s.drop[key] {
				s.drop[key] = true
				s.tm.Dropped++
			}
			return
		}
		ss = &scrapeSeries{s: Series{Name: name, Type: typ}}
		if len(labels) > 0 {
			ss.s.Labels = labels
		}
		s.index[key] = ss
		s.series = append(s.series, ss)
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return // JSON cannot hold them; a gap says as much
	}
	ss.push(v, at, s.bounds)
}

func seriesKey(name string, labels map[string]string) string {
	ks := make([]string, 0, len(labels))
	for k := range labels {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	var b strings.Builder
	b.WriteString(name)
	for _, k := range ks {
		fmt.Fprintf(&b, "\x00%s=%s", k, labels[k])
	}
	return b.String()
}

// Metrics returns what was recorded, with times in seconds from origin (the
// start of measuring).
func (s *Scraper) Metrics(origin time.Time) *TargetMetrics {
	s.mu.Lock()
	defer s.mu.Unlock()
	tm := s.tm
	tm.Series = make([]Series, 0, len(s.series))
	for _, ss := range s.series {
		out := ss.s
		out.V = append([]float64(nil), ss.s.V...)
		out.T = make([]float64, len(ss.times))
		for i, at := range ss.times {
			out.T[i] = math.Round(at.Sub(origin).Seconds()*1000) / 1000
		}
		tm.Series = append(tm.Series, out)
	}
	return &tm
}

// Finish puts what was recorded into r (times from r.StartedAt), warns when
// scrapes failed, and, when the target exposes its RSS and r has no
// Resources yet, records for H4 the peak RSS while measuring: the largest
// sample taken within [r.StartedAt, r.StartedAt + r.DurationS]. With the
// window's start and end marked as boundaries (Boundary) it is exactly the
// largest RSS scraped while measuring, however thinned the series. The data
// it is judged against are the memories the run stored (StoredMemories,
// batchSize per store_batch) of dim float32s, and the target's bounded
// memory when it exposes BoundedSeries.
func (s *Scraper) Finish(r *Result, dim, batchSize int) {
	tm := s.Metrics(r.StartedAt)
	r.TargetMetrics = tm
	if tm.Failures > 0 {
		r.Warnings = append(r.Warnings, fmt.Sprintf("%d of %d scrapes of %s failed (last: %s)", tm.Failures, tm.Scrapes, tm.URL, tm.LastError))
	}
	if tm.Dropped > 0 {
		r.Warnings = append(r.Warnings, fmt.Sprintf("%d scraped series beyond the first %d were not kept", tm.Dropped, s.cfg.MaxSeries))
	}
	if r.Resources != nil {
		return
	}
	end := r.StartedAt.Add(time.Duration(math.Round(r.DurationS * 1e9)))
	if peak := s.peak(RSSSeries, r.StartedAt, end); peak > 0 {
		r.Resources = &Resources{Source: "target:" + RSSSeries, RSSPeakBytes: int64(peak), BoundedBytes: int64(s.peak(BoundedSeries, r.StartedAt, end))}
		r.Resources.setData(r, dim, batchSize)
	}
}

// peak is the largest sample of the named series taken within [from, to]
// (0 when none).
func (s *Scraper) peak(name string, from, to time.Time) float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	peak := 0.0
	for _, ss := range s.series {
		if ss.s.Name != name {
			continue
		}
		for i, at := range ss.times {
			if !at.Before(from) && !at.After(to) && ss.s.V[i] > peak {
				peak = ss.s.V[i]
			}
		}
	}
	return peak
}

// StoredMemories estimates how many memories the target holds after the run:
// the preload plus successful stores (store_batch ops count batchSize each).
func StoredMemories(r *Result, batchSize int) int64 {
	n := r.Preload.Memories
	if s, ok := r.Ops["store"]; ok {
		n += s.Count - s.Errors
	}
	if s, ok := r.Ops["store_batch"]; ok {
		n += (s.Count - s.Errors) * int64(batchSize)
	}
	return n
}
