package server

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the server's Prometheus families: per-route request counts and
// latency histograms (prefix engramd_, since Engram has none), requests shed
// by the in-flight limit, and the engine's gauges collected at scrape time.
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	shed     prometheus.Counter
	inflight prometheus.GaugeFunc

	mu        sync.RWMutex
	observers map[string]prometheus.Observer
}

func newMetrics(reg *prometheus.Registry, s *Server) (*metrics, error) {
	if reg == nil {
		reg = prometheus.NewRegistry()
		if err := reg.Register(collectors.NewGoCollector()); err != nil {
			return nil, err
		}
		if err := reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
			return nil, err
		}
	}
	m := &metrics{
		reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "engramd_http_requests_total",
			Help: "HTTP requests answered, by route pattern, method and status code.",
		}, []string{"route", "method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "engramd_http_request_duration_seconds",
			Help:    "Time from reading the request line to the handler's return, by route pattern.",
			Buckets: prometheus.ExponentialBucketsRange(50e-6, 10, 18),
		}, []string{"route"}),
		shed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "engramd_http_requests_shed_total",
			Help: "Requests answered 503 because the in-flight limit was reached.",
		}),
		inflight: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "engramd_http_requests_in_flight",
			Help: "Requests being handled now (limited routes only).",
		}, func() float64 { return float64(s.inflight.Load()) }),
		observers: map[string]prometheus.Observer{},
	}
	for _, c := range []prometheus.Collector{m.requests, m.latency, m.shed, m.inflight, &engineCollector{s: s}} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// observe counts one answered request.
func (m *metrics) observe(r *http.Request, code int, d time.Duration) {
	route := r.Pattern
	if route == "" || route == "/" {
		route = "unmatched"
	}
	m.requests.WithLabelValues(route, r.Method, strconv.Itoa(code)).Inc()
	m.mu.RLock()
	o := m.observers[route]
	m.mu.RUnlock()
	if o == nil {
		o = m.latency.WithLabelValues(route)
		m.mu.Lock()
		m.observers[route] = o
		m.mu.Unlock()
	}
	o.Observe(d.Seconds())
}

// engineCollector reads the engine's state at scrape time.
type engineCollector struct{ s *Server }

var descMemories = prometheus.NewDesc("engramd_memories", "Memories stored, by memory space.", []string{"space"}, nil)

func (c *engineCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descMemories
	describeEngine(ch)
}

func (c *engineCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.s.store
	for _, sp := range st.Spaces() {
		ch <- prometheus.MustNewConstMetric(descMemories, prometheus.GaugeValue, float64(st.Count(sp)), sp)
	}
	collectEngine(c.s, ch)
}
