package reports

import (
	"math"
	"testing"
	"time"
)

func TestTicksPerInterval(t *testing.T) {
	for _, c := range []struct {
		planned, tick time.Duration
		want          int
	}{
		{0, time.Second, 1},
		{time.Minute, 0, 1},
		{time.Minute, time.Second, 1},
		{time.Hour, time.Second, 1},
		{time.Hour + time.Second, time.Second, 2},
		{24 * time.Hour, time.Second, 24},
		{time.Hour, 100 * time.Millisecond, 10},
		{1500 * time.Millisecond, time.Second, 1},
	} {
		if got := TicksPerInterval(c.planned, c.tick); got != c.want {
			t.Errorf("TicksPerInterval(%s, %s) = %d, want %d", c.planned, c.tick, got, c.want)
		}
	}
}

// builderRun records n ticks of 1 s (the last one 0.4 s), tick i holding
// i+1 ops of kind 0 with latencies (i+1) ms … and one error of kind 1, and
// gives them to b with i scheduled ops; it returns every latency recorded
// per tick.
func builderRun(b *IntervalBuilder, n int) [][]int64 {
	rec := NewRecorder(mergeNames, 2)
	rec.SetStart(5e9)
	var lat [][]int64
	for i := range n {
		var ls []int64
		start := int64(5e9) + int64(i)*1e9
		for j := range i + 1 {
			l := int64(i+1)*1e6 + int64(j)*1e5
			rec.Shard(j).Record(Sample{Op: 0, Intended: start, Start: start, End: start + l})
			ls = append(ls, l)
		}
		rec.Shard(0).Record(Sample{Op: 1, Intended: start, Start: start, End: start + 1e6, Err: "5xx"})
		lat = append(lat, ls)
		end := start + 1e9
		if i == n-1 {
			end = start + 4e8
		}
		rec.Tick(end, func(tk Tick) {
			tk.InFlight = i
			b.Add(tk, int64(i))
		})
	}
	return lat
}

// One tick per interval: exactly what SummarizeTick gives.
func TestIntervalBuilderTickByTick(t *testing.T) {
	b := NewIntervalBuilder(mergeNames, 1)
	lat := builderRun(b, 4)
	ivs := b.Intervals()
	if len(ivs) != 4 {
		t.Fatalf("%d intervals, want 4", len(ivs))
	}
	for i, iv := range ivs {
		wantEnd := float64(i + 1)
		if i == 3 {
			wantEnd = 3.4
		}
		if iv.StartS != float64(i) || math.Abs(iv.EndS-wantEnd) > 1e-9 || iv.Count != int64(len(lat[i])+1) || iv.Errors != 1 ||
			iv.Scheduled != int64(i) || iv.InFlight != i {
			t.Errorf("interval %d: %+v", i, iv)
		}
	}
}

// Three ticks per interval: counts, errors and scheduled ops add up, the
// in-flight count is the last tick's, the percentiles are those of all the
// group's ops, and a run ending mid-group closes a short last interval.
func TestIntervalBuilderMergesTicks(t *testing.T) {
	b := NewIntervalBuilder(mergeNames, 3)
	lat := builderRun(b, 7)
	ivs := b.Intervals()
	if len(ivs) != 3 {
		t.Fatalf("%d intervals, want 3: %+v", len(ivs), ivs)
	}
	groups := [][2]int{{0, 3}, {3, 6}, {6, 7}}
	for g, iv := range ivs {
		from, to := groups[g][0], groups[g][1]
		var all []int64
		var sched int64
		for i := from; i < to; i++ {
			all = append(all, lat[i]...)
			sched += int64(i)
		}
		h := NewHistogram()
		for _, l := range all {
			h.RecordValue(l)
		}
		wantEnd := float64(to)
		if to == 7 {
			wantEnd = 6.4
		}
		if iv.StartS != float64(from) || math.Abs(iv.EndS-wantEnd) > 1e-9 {
			t.Errorf("interval %d spans %v–%v, want %d–%v", g, iv.StartS, iv.EndS, from, wantEnd)
		}
		if iv.Count != int64(len(all)+to-from) || iv.Errors != int64(to-from) || iv.Scheduled != sched || iv.InFlight != to-1 {
			t.Errorf("interval %d: count %d errors %d scheduled %d in flight %d", g, iv.Count, iv.Errors, iv.Scheduled, iv.InFlight)
		}
		op := iv.Ops[mergeNames[0]]
		if op.Count != int64(len(all)) || op.P99Ns != h.ValueAtQuantile(99) || op.P50Ns != h.ValueAtQuantile(50) || op.MaxNs != h.Max() {
			t.Errorf("interval %d: %+v, want p50 %d p99 %d max %d", g, op, h.ValueAtQuantile(50), h.ValueAtQuantile(99), h.Max())
		}
		if want := float64(iv.Count) / (iv.EndS - iv.StartS); math.Abs(iv.Throughput-want) > 1e-9 {
			t.Errorf("interval %d throughput %v, want %v", g, iv.Throughput, want)
		}
	}
}

// A long run's scraped series stay bounded: past maxScrapePoints the
// samples thin out, stay in time order, end at the latest scrape, and the
// RSS series keeps its peak.
func TestScraperSeriesBounded(t *testing.T) {
	sc, err := NewScraper(ScrapeConfig{URL: "http://127.0.0.1:1/metrics"})
	if err != nil {
		t.Fatal(err)
	}
	origin := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	n := 5*maxScrapePoints + 123
	peakAt := 2*maxScrapePoints + 7
	for i := range n {
		at := origin.Add(time.Duration(i) * time.Second)
		sc.add("engram_memories", "gauge", nil, float64(i), at)
		rss := 100.0
		if i == peakAt {
			rss = 900
		}
		sc.add(RSSSeries, "gauge", nil, rss, at)
	}
	r := &Result{StartedAt: origin, DurationS: float64(n)}
	sc.Finish(r, 768, 1)
	for _, s := range r.TargetMetrics.Series {
		if len(s.V) > maxScrapePoints || len(s.V) < maxScrapePoints/2 || len(s.T) != len(s.V) {
			t.Errorf("%s: %d samples (%d times) of %d scrapes, want at most %d", s.Name, len(s.V), len(s.T), n, maxScrapePoints)
		}
		for i := 1; i < len(s.T); i++ {
			if s.T[i] <= s.T[i-1] {
				t.Fatalf("%s: times out of order at %d: %v, %v", s.Name, i, s.T[i-1], s.T[i])
			}
		}
		if s.Name == "engram_memories" && (s.V[len(s.V)-1] != float64(n-1) || s.T[len(s.T)-1] != float64(n-1)) {
			t.Errorf("%s ends at %v (t %v), want the latest scrape %d", s.Name, s.V[len(s.V)-1], s.T[len(s.T)-1], n-1)
		}
		if s.Name == RSSSeries && !containsAt(s, 900, float64(peakAt)) {
			t.Errorf("the RSS peak of scrape %d was thinned out", peakAt)
		}
	}
	if r.Resources == nil || r.Resources.RSSPeakBytes != 900 {
		t.Errorf("resources %+v, want the 900-byte peak", r.Resources)
	}
}

func containsAt(s Series, v, at float64) bool {
	for i := range s.V {
		if s.V[i] == v && s.T[i] == at {
			return true
		}
	}
	return false
}
