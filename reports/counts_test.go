package reports

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestCountsMatchHDR checks the recorder's bucket arithmetic against the
// histogram library: every bucket's lowest value lands in that bucket, and
// random values (log-uniform over the whole range, plus the edges) land in
// the bucket whose lowest value the library names for them.
func TestCountsMatchHDR(t *testing.T) {
	h := NewHistogram()
	for i := range countsLen {
		if err := h.RecordValues(valueAt(i), int64(i)+1); err != nil {
			t.Fatalf("bucket %d: value %d: %v", i, valueAt(i), err)
		}
		if got := countsIndex(valueAt(i)); got != i {
			t.Fatalf("countsIndex(valueAt(%d) = %d) = %d", i, valueAt(i), got)
		}
	}
	exp := h.Export().Counts
	if len(exp) < countsLen {
		t.Fatalf("library has %d buckets, we use %d", len(exp), countsLen)
	}
	for i := range countsLen {
		if exp[i] != int64(i)+1 {
			t.Fatalf("bucket %d (value %d): library counted %d there, want %d", i, valueAt(i), exp[i], i+1)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	vals := []int64{LowestNs, 2, 1023, 1024, 2047, 2048, 2049, 4095, 4096, HighestNs - 1, HighestNs}
	for range 200_000 {
		vals = append(vals, int64(math.Exp(rng.Float64()*math.Log(HighestNs))))
	}
	direct := NewHistogram()
	var c counts
	for _, v := range vals {
		v = clamp(v)
		direct.RecordValue(v)
		c.record(v)
	}
	got := make([]int64, len(exp))
	copy(got, c.c)
	if want := direct.Export().Counts; !slices.Equal(got, want) {
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("bucket %d (from %d ns): %d values here, the library has %d", i, valueAt(i), got[i], want[i])
			}
		}
	}
	again := NewHistogram()
	c.addTo(again)
	if !slices.Equal(again.Export().Counts, direct.Export().Counts) {
		t.Error("addTo gives a different histogram than recording the values")
	}
	c.reset()
	if c.lo < c.hi || slices.ContainsFunc(c.c, func(n int64) bool { return n != 0 }) {
		t.Error("reset left counts behind")
	}
}

// TestRecorderMatchesDirectHistogram: what the recorder reports after ticks
// equals recording the same values straight into a histogram.
func TestRecorderMatchesDirectHistogram(t *testing.T) {
	rec := NewRecorder([]string{"a", "b"}, 3)
	lat, lag := NewHistogram(), NewHistogram()
	rng := rand.New(rand.NewPCG(3, 4))
	var ticked []int64
	for tick := range 5 {
		var want int64
		for k := range 3000 {
			due := int64(tick)*1e9 + int64(k)*1000
			start := due + int64(rng.ExpFloat64()*20_000)
			end := start + int64(math.Exp(rng.Float64()*math.Log(2e9)))
			rec.Shard(k).Record(Sample{Op: k % 2, Intended: due, Start: start, End: end})
			lat.RecordValue(clamp(end - due))
			lag.RecordValue(clamp(start - due))
			want++
		}
		rec.Tick(int64(tick+1)*1e9, func(tk Tick) {
			all := tk.Delta.All()
			if all.Count != want || all.Latency.TotalCount() != want {
				t.Errorf("tick %d: delta has %d ops (%d latencies), want %d", tick, all.Count, all.Latency.TotalCount(), want)
			}
			ticked = append(ticked, all.Count)
		})
	}
	cum := rec.Cumulative()
	all := cum.All()
	if !slices.Equal(all.Latency.Export().Counts, lat.Export().Counts) {
		t.Error("cumulative latency differs from the directly recorded histogram")
	}
	if !slices.Equal(cum.Lag.Export().Counts, lag.Export().Counts) || !slices.Equal(cum.HarnessLag.Export().Counts, lag.Export().Counts) {
		t.Error("cumulative lag differs from the directly recorded histogram")
	}
	if all.Latency.ValueAtQuantile(99) != lat.ValueAtQuantile(99) || all.Latency.Max() != lat.Max() {
		t.Errorf("p99/max %d/%d, want %d/%d", all.Latency.ValueAtQuantile(99), all.Latency.Max(), lat.ValueAtQuantile(99), lat.Max())
	}
	if len(ticked) != 5 {
		t.Errorf("%d ticks, want 5", len(ticked))
	}
}
