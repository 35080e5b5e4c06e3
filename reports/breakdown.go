package reports

import (
	"sync"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// Breakdown records finished ops by (group, op kind), where a group is a
// phase or a memory space, next to the main Recorder. It keeps per cell a
// count, errors, the quality counters and a latency histogram (end − intended
// start of successful ops) — no service times and no intervals, so it is
// cheap enough for many groups. Groups are fixed when it is made; callers map
// anything beyond them to a catch-all group of their own.
//
// Memory: a histogram is allocated only for a cell that saw a success. With
// BreakdownSigFigs = 2 (1% value precision) one costs about 25 KB, so 64 spaces
// × 4 busy kinds × 4 shards is ~26 MB at most; phases use 3 significant digits
// like the main recorder.
//
// Concurrency: Record is safe for concurrent use (one mutex per shard; give
// each worker its own shard index); Stats is called once the run is over.
type Breakdown struct {
	// KeepHistograms makes Stats encode each cell's latency histogram into
	// GroupStats.LatencyHDR (sharded runs keep them so that `merge` is exact;
	// about 1.5 ms of encoding per cell once at the end of the run).
	KeepHistograms bool

	groups, kinds []string
	sigFigs       int
	noLatency     bool
	shards        []*bdShard
}

// BreakdownSigFigs is the histogram precision of per-space breakdowns.
const BreakdownSigFigs = 2

type bdShard struct {
	mu      sync.Mutex
	cells   []bdCell // group-major: g*len(kinds)+k
	lastEnd []int64  // per group: the latest Sample.End recorded
}

type bdCell struct {
	lat             *hdr.Histogram
	count, errors   int64
	scored, hits    int64
	found, expected int64 // recall@10 numerator and denominator
	errClasses      map[string]int64
}

// NewBreakdown returns a breakdown over groups × kinds with n shards and
// histograms of sigFigs significant digits (0: counts only, no latency).
func NewBreakdown(groups, kinds []string, shards, sigFigs int) *Breakdown {
	b := &Breakdown{groups: groups, kinds: kinds, sigFigs: sigFigs, noLatency: sigFigs == 0}
	for range max(shards, 1) {
		b.shards = append(b.shards, &bdShard{cells: make([]bdCell, len(groups)*len(kinds)), lastEnd: make([]int64, len(groups))})
	}
	return b
}

// Groups returns the group names, indexed like Record's group.
func (b *Breakdown) Groups() []string { return b.groups }

// Record adds one finished op (s.Op is the kind index) to group g on shard
// w. found and expected are its recall@10 counts (0, 0 when not scored).
func (b *Breakdown) Record(w, g int, s *Sample, found, expected int) {
	if g < 0 || g >= len(b.groups) || s.Op < 0 || s.Op >= len(b.kinds) {
		return
	}
	sh := b.shards[w%len(b.shards)]
	sh.mu.Lock()
	c := &sh.cells[g*len(b.kinds)+s.Op]
	c.count++
	sh.lastEnd[g] = max(sh.lastEnd[g], s.End)
	if s.Scored {
		c.scored++
		if s.Hit {
			c.hits++
		}
		c.found += int64(found)
		c.expected += int64(expected)
	}
	if s.Err != "" {
		c.errors++
		if c.errClasses == nil {
			c.errClasses = map[string]int64{}
		}
		c.errClasses[s.Err]++
	} else if !b.noLatency {
		if c.lat == nil {
			c.lat = hdr.New(LowestNs, HighestNs, b.sigFigs)
		}
		c.lat.RecordValue(clamp(s.End - s.Intended))
	}
	sh.mu.Unlock()
}

// GroupStats summarises one group's ops (or one op kind within it).
type GroupStats struct {
	Count         int64            `json:"count"`
	Errors        int64            `json:"errors"`
	ErrorsByClass map[string]int64 `json:"errors_by_class,omitempty"`
	ErrorRate     float64          `json:"error_rate"`
	Throughput    float64          `json:"throughput"` // ops per second of the group's window
	// Latency is end − intended start of successful ops.
	Latency Percentiles `json:"latency_ns"`
	Scored  int64       `json:"scored,omitempty"`
	HitRate *float64    `json:"hit_rate,omitempty"`
	// RecallAt10 is the share of expected memories found among the first
	// min(k, 10) results of scored ops; RecallExpected is its denominator
	// (expected memories), so that shards' recall can be merged exactly.
	RecallAt10     *float64 `json:"recall_at_10,omitempty"`
	RecallExpected int64    `json:"recall_expected,omitempty"`
	// LatencyHDR is the latency histogram (base64 V2-compressed, ns), kept
	// in sharded runs' results only (Breakdown.KeepHistograms).
	LatencyHDR string `json:"latency_hdr,omitempty"`
}

// BreakdownGroup is one group's summary: per op kind and in total.
type BreakdownGroup struct {
	Ops   map[string]GroupStats `json:"ops"`
	Total GroupStats            `json:"total"`
}

type bdTotals struct {
	lat                                          *hdr.Histogram
	count, errors, scored, hits, found, expected int64
	classes                                      map[string]int64
}

func (t *bdTotals) add(c *bdCell) {
	t.count += c.count
	t.errors += c.errors
	t.scored += c.scored
	t.hits += c.hits
	t.found += c.found
	t.expected += c.expected
	for k, v := range c.errClasses {
		if t.classes == nil {
			t.classes = map[string]int64{}
		}
		t.classes[k] += v
	}
	if c.lat != nil {
		if t.lat == nil {
			t.lat = hdr.New(LowestNs, HighestNs, int(c.lat.SignificantFigures()))
		}
		t.lat.Merge(c.lat)
	}
}

func (t *bdTotals) merge(o *bdTotals) {
	t.add(&bdCell{lat: o.lat, count: o.count, errors: o.errors, scored: o.scored, hits: o.hits, found: o.found, expected: o.expected, errClasses: o.classes})
}

func (t *bdTotals) stats(seconds float64) GroupStats {
	s := GroupStats{Count: t.count, Errors: t.errors, Scored: t.scored, Latency: PercentilesOf(t.lat)}
	if len(t.classes) > 0 {
		s.ErrorsByClass = t.classes
	}
	s.ErrorRate = errorRate(t.count, t.errors, t.classes)
	if seconds > 0 {
		s.Throughput = float64(t.count) / seconds
	}
	if t.scored > 0 {
		hr := float64(t.hits) / float64(t.scored)
		s.HitRate = &hr
	}
	if t.expected > 0 {
		r := float64(t.found) / float64(t.expected)
		s.RecallAt10, s.RecallExpected = &r, t.expected
	}
	return s
}

// Stats merges the shards and summarises every group that saw an op;
// seconds(g) is the length of group g's window for throughput.
func (b *Breakdown) Stats(seconds func(g int) float64) map[string]BreakdownGroup {
	out := map[string]BreakdownGroup{}
	nk := len(b.kinds)
	for g, name := range b.groups {
		var all bdTotals
		per := make([]bdTotals, nk)
		for _, sh := range b.shards {
			sh.mu.Lock()
			for k := 0; k < nk; k++ {
				per[k].add(&sh.cells[g*nk+k])
			}
			sh.mu.Unlock()
		}
		sec := seconds(g)
		grp := BreakdownGroup{Ops: map[string]GroupStats{}}
		for k := range per {
			if per[k].count > 0 {
				st := per[k].stats(sec)
				if b.KeepHistograms {
					st.LatencyHDR = EncodeHistogram(per[k].lat)
				}
				grp.Ops[b.kinds[k]] = st
				all.merge(&per[k])
			}
		}
		if all.count == 0 {
			continue
		}
		grp.Total = all.stats(sec)
		if b.KeepHistograms {
			grp.Total.LatencyHDR = EncodeHistogram(all.lat)
		}
		out[name] = grp
	}
	return out
}

// LastEnd returns the latest finish (Sample.End, the run clock) of group g's
// ops; 0 when none finished.
func (b *Breakdown) LastEnd(g int) int64 {
	var last int64
	for _, sh := range b.shards {
		sh.mu.Lock()
		last = max(last, sh.lastEnd[g])
		sh.mu.Unlock()
	}
	return last
}

// Recall returns the recall@10 counts of kind k over all groups.
func (b *Breakdown) Recall(k int) (found, expected int64) {
	for _, sh := range b.shards {
		sh.mu.Lock()
		for g := range b.groups {
			c := &sh.cells[g*len(b.kinds)+k]
			found += c.found
			expected += c.expected
		}
		sh.mu.Unlock()
	}
	return found, expected
}
