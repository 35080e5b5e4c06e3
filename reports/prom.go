package reports

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"
)

// Metric names of the exporter (the Grafana dashboard in reports/grafana
// queries these).
const (
	MetricInfo        = "engram_bench_info"
	MetricLatency     = "engram_bench_op_latency_seconds"
	MetricService     = "engram_bench_op_service_seconds"
	MetricOps         = "engram_bench_ops_total"
	MetricErrors      = "engram_bench_op_errors_total"
	MetricLag         = "engram_bench_dispatch_lag_seconds"
	MetricQueued      = "engram_bench_queued_ops_total"
	MetricTargetRate  = "engram_bench_target_ops_per_second"
	MetricAchieved    = "engram_bench_achieved_ops_per_second"
	MetricInFlight    = "engram_bench_in_flight_ops"
	MetricElapsed     = "engram_bench_elapsed_seconds"
	MetricRunDuration = "engram_bench_run_duration_seconds"
)

// NativeSchema is the native histograms' schema: 2^(2^-3) ≈ 1.09, so each
// bucket is 9% wide; 1 µs to 60 s takes at most 208 buckets.
const NativeSchema = 3

// ClassicBuckets are the upper bounds (seconds) of the classic histogram
// buckets, for scrapers of the text format: 10 µs to 60 s, 30 buckets, each
// ×1.71 the last.
var ClassicBuckets = prometheus.ExponentialBucketsRange(10e-6, 60, 30)

// ExporterConfig describes the run an Exporter reports on.
type ExporterConfig struct {
	Names      []string // op kinds, indexed like the recorder's
	Scenario   string
	Driver     string
	Seed       uint64
	TargetRate float64       // ops/s offered
	Duration   time.Duration // the measured window
}

// Exporter serves the harness's live metrics in the Prometheus format: per
// op kind latency and service-time histograms (classic buckets in the text
// format; native buckets too in the protobuf format), op and error counters,
// target and achieved rate, in-flight ops and dispatch lag. It is fed once
// per interval (Tick) from the recorder's cumulative totals, so it costs
// nothing per op: workers never touch it. Its values are cumulative since
// measuring began (warm-up excluded). Tick and scrapes may run concurrently.
type Exporter struct {
	cfg ExporterConfig
	reg *prometheus.Registry

	descInfo, descLat, descSvc, descOps, descErr, descLag, descQueued *prometheus.Desc
	descTarget, descAchieved, descInFlight, descElapsed, descDuration *prometheus.Desc

	mu   sync.Mutex
	snap exportSnap
	// vals caches the value of each counts index of the recorder's
	// histograms, in seconds (they all share one geometry).
	vals  []float64
	start time.Time
}

type exportSnap struct {
	ticked   bool
	lat, svc []*dto.Histogram // by op index; nil before the op first ran
	ops      []float64
	errs     []map[string]float64
	lag      *dto.Histogram
	queued   float64
	achieved float64
	inFlight float64
	elapsed  float64
}

// NewExporter returns an exporter with its own registry, which also holds
// the Go runtime and process collectors.
func NewExporter(cfg ExporterConfig) *Exporter {
	e := &Exporter{cfg: cfg, reg: prometheus.NewRegistry(), start: time.Now()}
	op := []string{"op"}
	e.descInfo = prometheus.NewDesc(MetricInfo, "The run being measured (value 1).", []string{"scenario", "driver", "seed"}, nil)
	e.descLat = prometheus.NewDesc(MetricLatency, "Latency of successful ops: end minus intended start (coordinated-omission free), since measuring began.", op, nil)
	e.descSvc = prometheus.NewDesc(MetricService, "Service time of successful ops: end minus actual start, since measuring began.", op, nil)
	e.descOps = prometheus.NewDesc(MetricOps, "Ops finished (successes and errors) since measuring began.", op, nil)
	e.descErr = prometheus.NewDesc(MetricErrors, "Failed ops by error class since measuring began.", []string{"op", "class"}, nil)
	e.descLag = prometheus.NewDesc(MetricLag, "Dispatch lag: actual start minus intended start, every op, since measuring began.", nil, nil)
	e.descQueued = prometheus.NewDesc(MetricQueued, "Ops that fell due while every worker was busy.", nil, nil)
	e.descTarget = prometheus.NewDesc(MetricTargetRate, "The offered (target) rate in ops per second.", nil, nil)
	e.descAchieved = prometheus.NewDesc(MetricAchieved, "Ops finished per second over the last interval.", nil, nil)
	e.descInFlight = prometheus.NewDesc(MetricInFlight, "Ops in flight when the last interval closed.", nil, nil)
	e.descElapsed = prometheus.NewDesc(MetricElapsed, "Seconds measured so far.", nil, nil)
	e.descDuration = prometheus.NewDesc(MetricRunDuration, "The measured window's planned length in seconds.", nil, nil)
	n := len(cfg.Names)
	e.snap = exportSnap{lat: make([]*dto.Histogram, n), svc: make([]*dto.Histogram, n), ops: make([]float64, n), errs: make([]map[string]float64, n)}
	e.reg.MustRegister(e, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return e
}

// Registry returns the exporter's registry.
func (e *Exporter) Registry() *prometheus.Registry { return e.reg }

// Handler serves the registry (text or protobuf, as the scraper asks).
func (e *Exporter) Handler() http.Handler {
	return promhttp.HandlerFor(e.reg, promhttp.HandlerOpts{Registry: e.reg, EnableOpenMetrics: true})
}

// Tick takes the run's cumulative totals after an interval (a Live callback).
func (e *Exporter) Tick(t Tick) {
	c := t.Cumulative
	n := len(e.cfg.Names)
	lat, svc := make([]*dto.Histogram, n), make([]*dto.Histogram, n)
	ops := make([]float64, n)
	errs := make([]map[string]float64, n)
	for i := range c.Ops {
		o := &c.Ops[i]
		ops[i] = float64(o.Count)
		if o.Count == 0 {
			continue
		}
		lat[i] = e.histogram(o.Latency)
		svc[i] = e.histogram(o.Service)
		if len(o.Errors) > 0 {
			errs[i] = map[string]float64{}
			for k, v := range o.Errors {
				errs[i][k] = float64(v)
			}
		}
	}
	lag := e.histogram(c.Lag)
	var count int64
	for i := range t.Delta.Ops {
		count += t.Delta.Ops[i].Count
	}
	achieved := 0.0
	if d := float64(t.End-t.Start) / 1e9; d > 0 {
		achieved = float64(count) / d
	}
	e.mu.Lock()
	if !e.snap.ticked {
		e.start = time.Now().Add(-time.Duration(t.End - t.Start))
	}
	e.snap = exportSnap{ticked: true, lat: lat, svc: svc, ops: ops, errs: errs, lag: lag, queued: float64(c.Queued),
		achieved: achieved, inFlight: float64(t.InFlight), elapsed: time.Since(e.start).Seconds()}
	e.mu.Unlock()
}

// histogram converts an HDR histogram (ns) into a Prometheus histogram in
// seconds with classic and native buckets. Each HDR bucket counts at its
// highest equivalent value (HDR's own convention for percentiles).
func (e *Exporter) histogram(h *hdr.Histogram) *dto.Histogram {
	s := h.Export()
	if e.vals == nil {
		g := geometryOf(s)
		e.vals = make([]float64, len(s.Counts))
		for i := range e.vals {
			e.vals[i] = float64(g.highestValueAt(i)) / 1e9
		}
	}
	classic := make([]uint64, len(ClassicBuckets))
	native := map[int]int64{}
	var count uint64
	var sum float64
	b := 0
	for i, c := range s.Counts {
		if c == 0 {
			continue
		}
		v := e.vals[min(i, len(e.vals)-1)]
		count += uint64(c)
		sum += v * float64(c)
		for b < len(ClassicBuckets) && v > ClassicBuckets[b] {
			b++
		}
		if b < len(classic) {
			classic[b] += uint64(c)
		}
		native[nativeIndex(v)] += c
	}
	out := &dto.Histogram{SampleCount: proto.Uint64(count), SampleSum: proto.Float64(sum),
		Schema: proto.Int32(NativeSchema), ZeroThreshold: proto.Float64(prometheus.DefNativeHistogramZeroThreshold), ZeroCount: proto.Uint64(0)}
	var cum uint64
	for k, ub := range ClassicBuckets {
		cum += classic[k]
		out.Bucket = append(out.Bucket, &dto.Bucket{UpperBound: proto.Float64(ub), CumulativeCount: proto.Uint64(cum)})
	}
	out.PositiveSpan, out.PositiveDelta = nativeSpans(native)
	if count == 0 {
		// An empty native histogram needs a no-op span to tell it from a
		// classic-only one (as client_golang does).
		out.PositiveSpan = []*dto.BucketSpan{{Offset: proto.Int32(0), Length: proto.Uint32(0)}}
	}
	return out
}

// nativeIndex is the native bucket of v > 0 at NativeSchema: bucket i holds
// (2^((i−1)/2^s), 2^(i/2^s)].
func nativeIndex(v float64) int {
	return int(math.Ceil(math.Log2(v) * (1 << NativeSchema)))
}

// nativeSpans encodes sparse bucket counts as spans and deltas.
func nativeSpans(m map[int]int64) ([]*dto.BucketSpan, []int64) {
	idx := make([]int, 0, len(m))
	for k := range m {
		idx = append(idx, k)
	}
	sort.Ints(idx)
	var spans []*dto.BucketSpan
	var deltas []int64
	prevCount := int64(0)
	for j, k := range idx {
		if j == 0 || k != idx[j-1]+1 {
			off := int32(k)
			if j > 0 {
				off = int32(k - idx[j-1] - 1)
			}
			spans = append(spans, &dto.BucketSpan{Offset: proto.Int32(off), Length: proto.Uint32(0)})
		}
		*spans[len(spans)-1].Length++
		deltas = append(deltas, m[k]-prevCount)
		prevCount = m[k]
	}
	return spans, deltas
}

// Describe implements prometheus.Collector.
func (e *Exporter) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{e.descInfo, e.descLat, e.descSvc, e.descOps, e.descErr, e.descLag, e.descQueued,
		e.descTarget, e.descAchieved, e.descInFlight, e.descElapsed, e.descDuration} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (e *Exporter) Collect(ch chan<- prometheus.Metric) {
	e.mu.Lock()
	s := e.snap
	e.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(e.descInfo, prometheus.GaugeValue, 1, e.cfg.Scenario, e.cfg.Driver, strconv.FormatUint(e.cfg.Seed, 10))
	ch <- prometheus.MustNewConstMetric(e.descTarget, prometheus.GaugeValue, e.cfg.TargetRate)
	ch <- prometheus.MustNewConstMetric(e.descDuration, prometheus.GaugeValue, e.cfg.Duration.Seconds())
	ch <- prometheus.MustNewConstMetric(e.descElapsed, prometheus.GaugeValue, s.elapsed)
	ch <- prometheus.MustNewConstMetric(e.descAchieved, prometheus.GaugeValue, s.achieved)
	ch <- prometheus.MustNewConstMetric(e.descInFlight, prometheus.GaugeValue, s.inFlight)
	ch <- prometheus.MustNewConstMetric(e.descQueued, prometheus.CounterValue, s.queued)
	for i, name := range e.cfg.Names {
		if !s.ticked || s.lat[i] == nil {
			continue // op kinds that never ran are left out
		}
		ch <- prometheus.MustNewConstMetric(e.descOps, prometheus.CounterValue, s.ops[i], name)
		ch <- &histMetric{desc: e.descLat, h: s.lat[i], labels: prometheus.MakeLabelPairs(e.descLat, []string{name})}
		ch <- &histMetric{desc: e.descSvc, h: s.svc[i], labels: prometheus.MakeLabelPairs(e.descSvc, []string{name})}
		classes := make([]string, 0, len(s.errs[i]))
		for k := range s.errs[i] {
			classes = append(classes, k)
		}
		sort.Strings(classes)
		for _, k := range classes {
			ch <- prometheus.MustNewConstMetric(e.descErr, prometheus.CounterValue, s.errs[i][k], name, k)
		}
	}
	if s.lag != nil {
		ch <- &histMetric{desc: e.descLag, h: s.lag}
	}
}

// histMetric is a histogram with both classic and native buckets, which
// client_golang's const histograms cannot hold together.
type histMetric struct {
	desc   *prometheus.Desc
	h      *dto.Histogram
	labels []*dto.LabelPair
}

func (m *histMetric) Desc() *prometheus.Desc { return m.desc }

func (m *histMetric) Write(out *dto.Metric) error {
	out.Histogram = m.h
	out.Label = m.labels
	return nil
}

// Serve serves the exporter on addr (host:port; port 0 picks one) until ctx
// ends, and returns the address it listens on. The server stops when ctx is
// done; stopped is closed once it has.
func (e *Exporter) Serve(ctx context.Context, addr string) (bound string, stopped <-chan struct{}, err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("--prom-addr %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", e.Handler())
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintln(w, "engram-bench live metrics: /metrics")
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		// Serve returns ErrServerClosed after Shutdown; any other error means
		// the listener died, which scrapers see as a failed scrape.
		_ = srv.Serve(ln)
	}()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	return ln.Addr().String(), done, nil
}
