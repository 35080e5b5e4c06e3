package reports

import (
	"sync"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram range: 1 ns to 60 s at 3 significant digits (≤ 0.1% error).
// Longer values are clamped to HighestNs and counted as saturated.
const (
	LowestNs  = 1
	HighestNs = 60_000_000_000
	SigFigs   = 3
)

// NewHistogram returns an empty histogram with the recorder's range.
func NewHistogram() *hdr.Histogram { return hdr.New(LowestNs, HighestNs, SigFigs) }

// Sample is one finished op. Times are nanoseconds on the run's clock.
type Sample struct {
	Op       int   // index into the recorder's op names
	Intended int64 // when the op was due
	Start    int64 // when it was actually started
	End      int64 // when it finished
	// Err is the error class ("timeout", "5xx", ...); empty for success.
	Err string
	// Queued marks an op that was overdue because every worker was busy (the
	// target, not the harness, made it wait).
	Queued bool
	// Quality (optional): for ops that can be scored, Scored is set and Hit
	// says whether the expected memory was among the results.
	Scored, Hit bool
}

// opData accumulates one op kind within one shard and interval.
type opData struct {
	latency, service counts // successes only
	count            int64  // finished ops, successes and errors
	errors           map[string]int64
	scored, hits     int64
}

type shardData struct {
	ops        []opData
	lag        counts // start − intended, every op
	harnessLag counts // start − intended of ops that did not queue
	queued     int64
	saturated  int64
}

func newShardData(nops int) *shardData {
	return &shardData{ops: make([]opData, nops)}
}

func (d *shardData) reset() {
	for i := range d.ops {
		o := &d.ops[i]
		o.latency.reset()
		o.service.reset()
		o.count, o.scored, o.hits = 0, 0, 0
		clear(o.errors)
	}
	d.lag.reset()
	d.harnessLag.reset()
	d.queued, d.saturated = 0, 0
}

// ShardRecorder is one worker's (or a few workers') recording slot.
type ShardRecorder struct {
	mu  sync.Mutex
	cur *shardData
	// spare is swapped in at Tick so that workers never wait for a merge.
	spare *shardData
}

// Record adds s. Values outside the histogram range are clamped.
func (r *ShardRecorder) Record(s Sample) {
	lat := clamp(s.End - s.Intended)
	svc := clamp(s.End - s.Start)
	lag := clamp(s.Start - s.Intended)
	r.mu.Lock()
	d := r.cur
	if lat == HighestNs || svc == HighestNs {
		d.saturated++
	}
	d.lag.record(lag)
	// The harness-lag histogram covers every op: an op that waited for a
	// busy worker counts as no harness lateness, so its percentiles say how
	// often and how much the harness itself made ops late.
	if s.Queued {
		d.queued++
		d.harnessLag.record(LowestNs)
	} else {
		d.harnessLag.record(lag)
	}
	o := &d.ops[s.Op]
	o.count++
	if s.Scored {
		o.scored++
		if s.Hit {
			o.hits++
		}
	}
	if s.Err != "" {
		if o.errors == nil {
			o.errors = map[string]int64{}
		}
		o.errors[s.Err]++
	} else {
		o.latency.record(lat)
		o.service.record(svc)
	}
	r.mu.Unlock()
}

func clamp(v int64) int64 {
	if v < LowestNs {
		return LowestNs
	}
	if v > HighestNs {
		return HighestNs
	}
	return v
}

// OpTotals is the data of one op kind over an interval or the whole run.
// Latency and Service hold successful ops only; errors are counted by class.
type OpTotals struct {
	Latency, Service *hdr.Histogram
	Count            int64 // finished ops, successes and errors
	Errors           map[string]int64
	Scored, Hits     int64
}

// ErrorCount returns the number of failed ops.
func (t *OpTotals) ErrorCount() int64 {
	var n int64
	for _, c := range t.Errors {
		n += c
	}
	return n
}

func newOpTotals() OpTotals {
	return OpTotals{Latency: NewHistogram(), Service: NewHistogram(), Errors: map[string]int64{}}
}

func (t *OpTotals) add(o *opData) {
	o.latency.addTo(t.Latency)
	o.service.addTo(t.Service)
	t.Count += o.count
	t.Scored += o.scored
	t.Hits += o.hits
	for k, v := range o.errors {
		t.Errors[k] += v
	}
}

func (t *OpTotals) merge(o *OpTotals) {
	t.Latency.Merge(o.Latency)
	t.Service.Merge(o.Service)
	t.Count += o.Count
	t.Scored += o.Scored
	t.Hits += o.Hits
	for k, v := range o.Errors {
		t.Errors[k] += v
	}
}

func (t *OpTotals) reset() {
	t.Latency.Reset()
	t.Service.Reset()
	t.Count, t.Scored, t.Hits = 0, 0, 0
	clear(t.Errors)
}

// Totals is the data of every op kind, plus the harness's lag.
type Totals struct {
	Ops        []OpTotals // indexed like the recorder's op names
	Lag        *hdr.Histogram
	HarnessLag *hdr.Histogram
	Queued     int64
	Saturated  int64
}

func newTotals(n int) *Totals {
	t := &Totals{Ops: make([]OpTotals, n), Lag: NewHistogram(), HarnessLag: NewHistogram()}
	for i := range t.Ops {
		t.Ops[i] = newOpTotals()
	}
	return t
}

func (t *Totals) addShard(d *shardData) {
	for i := range d.ops {
		t.Ops[i].add(&d.ops[i])
	}
	d.lag.addTo(t.Lag)
	d.harnessLag.addTo(t.HarnessLag)
	t.Queued += d.queued
	t.Saturated += d.saturated
}

func (t *Totals) merge(o *Totals) {
	for i := range o.Ops {
		t.Ops[i].merge(&o.Ops[i])
	}
	t.Lag.Merge(o.Lag)
	t.HarnessLag.Merge(o.HarnessLag)
	t.Queued += o.Queued
	t.Saturated += o.Saturated
}

func (t *Totals) reset() {
	for i := range t.Ops {
		t.Ops[i].reset()
	}
	t.Lag.Reset()
	t.HarnessLag.Reset()
	t.Queued, t.Saturated = 0, 0
}

// All merges every op kind into one OpTotals (a fresh value).
func (t *Totals) All() OpTotals {
	all := newOpTotals()
	for i := range t.Ops {
		all.merge(&t.Ops[i])
	}
	return all
}

// Tick is one interval's delta, handed to Tick's callback. Its histograms are
// reused after the callback returns: copy what you keep.
type Tick struct {
	Index      int   // 0 for the first interval
	Start, End int64 // ns on the run's clock
	Delta      *Totals
	// Cumulative is the run so far, including this interval.
	Cumulative *Totals
	// InFlight is the number of ops in flight when the interval closed (set by the runner).
	InFlight int
}

// Recorder collects samples from many workers. Create it with NewRecorder.
type Recorder struct {
	names  []string
	shards []*ShardRecorder

	interval   *Totals
	cumulative *Totals
	ticks      int
	lastEnd    int64
}

// NewRecorder returns a recorder for the named op kinds with n shards.
func NewRecorder(opNames []string, shards int) *Recorder {
	if shards < 1 {
		shards = 1
	}
	r := &Recorder{names: opNames, interval: newTotals(len(opNames)), cumulative: newTotals(len(opNames))}
	for range shards {
		r.shards = append(r.shards, &ShardRecorder{cur: newShardData(len(opNames)), spare: newShardData(len(opNames))})
	}
	return r
}

// OpNames returns the op kind names, indexed like Sample.Op.
func (r *Recorder) OpNames() []string { return r.names }

// Shard returns the recording slot for worker w.
func (r *Recorder) Shard(w int) *ShardRecorder { return r.shards[w%len(r.shards)] }

// Tick closes the interval that ends at end (ns on the run clock): it swaps
// every shard's data for its spare, merges the taken data into the interval
// delta and the run totals, and calls fn with them. Call it from one goroutine.
func (r *Recorder) Tick(end int64, fn func(Tick)) {
	r.interval.reset()
	for _, s := range r.shards {
		s.mu.Lock()
		taken := s.cur
		s.cur, s.spare = s.spare, nil
		s.mu.Unlock()
		// Into the interval and the run totals straight from the
		// shard's counts: cheaper than merging the interval's
		// histograms into the run's.
		r.interval.addShard(taken)
		r.cumulative.addShard(taken)
		taken.reset()
		s.mu.Lock()
		s.spare = taken
		s.mu.Unlock()
	}
	if fn != nil {
		fn(Tick{Index: r.ticks, Start: r.lastEnd, End: end, Delta: r.interval, Cumulative: r.cumulative})
	}
	r.ticks++
	r.lastEnd = end
}

// SetStart sets the start of the first interval (ns on the run clock).
func (r *Recorder) SetStart(t int64) { r.lastEnd = t }

// Cumulative returns the run totals as of the last Tick.
func (r *Recorder) Cumulative() *Totals { return r.cumulative }
