package reports

// Window kinds. Other kinds may appear; renderers shade unknown kinds in a
// neutral colour.
const (
	WindowPhase = "phase" // a named phase of the scenario (e.g. "ramp", "steady")
	WindowFault = "fault" // a chaos fault was active
)

// Window is a span of the measured run worth marking on timelines. StartS and
// EndS are seconds from the start of measuring (like Interval.StartS).
type Window struct {
	Kind   string  `json:"kind"` // WindowPhase, WindowFault, ...
	Name   string  `json:"name"` // e.g. "steady" or "latency 20ms on engramd"
	StartS float64 `json:"start_s"`
	EndS   float64 `json:"end_s"`
}

// Scaling is what a scaling run measured: throughput at several settings of
// one axis. H3 fits a line through it.
type Scaling struct {
	// Axis is what varied: "workers" or "cores" (or another count).
	Axis   string         `json:"axis"`
	Points []ScalingPoint `json:"points"`
	// Method says how each point was measured, in words.
	Method string `json:"method,omitempty"`
}

// ScalingPoint is one setting of a scaling run.
type ScalingPoint struct {
	X          float64 `json:"x"`          // workers, cores, ...
	Throughput float64 `json:"throughput"` // achieved ops/s at X
	// Efficiency is the throughput per unit of X relative to the first
	// point's: 1 is perfectly linear scaling (see ScalingEfficiency).
	Efficiency float64 `json:"efficiency,omitempty"`
	// Marginal is the added throughput per added unit of X since the
	// previous point, relative to the first point's per-unit throughput.
	Marginal float64 `json:"marginal,omitempty"`
	// P99Ns is the latency p99 at X (a closed loop: it includes no queueing
	// beyond the X in flight).
	P99Ns int64 `json:"p99_ns,omitempty"`
	// Result names the point's own result file, when written.
	Result string `json:"result,omitempty"`
}

// Resources is the memory the system under test used during the run and the
// size of the data it held. Bytes throughout.
type Resources struct {
	// Source says where RSS came from: "process" (this process, which ran
	// the engine in-process) or "target:<series>" (scraped from the target).
	Source string `json:"source"`
	// RSSPeakBytes is the highest resident set size seen during measuring.
	RSSPeakBytes int64 `json:"rss_peak_bytes"`
	// RSSBaselineBytes is the RSS before the system under test held any
	// data (for "process": before the driver opened); 0 when unknown.
	RSSBaselineBytes int64 `json:"rss_baseline_bytes,omitempty"`
	// Memories is how many memories the target held at the end (preload plus
	// successful stores); RawBytesPerMemory is dim×4 + metadata.
	Memories          int64 `json:"memories"`
	RawBytesPerMemory int64 `json:"raw_bytes_per_memory"`
	// BoundedBytes is the memory the system under test may hold whatever
	// the data (caches and write buffers that fill up to a bound), when it
	// says; 0 when unknown. H4 does not judge a run whose raw data is
	// below it.
	BoundedBytes int64 `json:"bounded_bytes,omitempty"`
}

// RawBytes is the raw data size: Memories × RawBytesPerMemory.
func (r *Resources) RawBytes() int64 { return r.Memories * r.RawBytesPerMemory }

// TargetMetrics holds the series scraped from the target's Prometheus
// endpoint, one sample per scrape.
type TargetMetrics struct {
	URL string `json:"url"`
	// Scrapes and Failures count scrape attempts; LastError is the last failure.
	Scrapes   int64    `json:"scrapes"`
	Failures  int64    `json:"failures"`
	LastError string   `json:"last_error,omitempty"`
	Series    []Series `json:"series"`
	// Dropped counts series that matched but exceeded the series limit.
	Dropped int `json:"dropped,omitempty"`
}

// Series is one scraped time series. T are seconds from the start of
// measuring (negative during warm-up), V its values.
type Series struct {
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels,omitempty"`
	Type   string            `json:"type,omitempty"` // gauge, counter, untyped, histogram_count, ...
	T      []float64         `json:"t"`
	V      []float64         `json:"v"`
}
