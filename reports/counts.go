package reports

import (
	"math/bits"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// counts is a worker shard's histogram for one interval: the same buckets
// as NewHistogram's (1 ns to HighestNs at 3 significant figures), as a
// plain count array with the range of buckets touched. Recording is an
// index computation and an increment; closing an interval adds only the
// touched buckets to the interval and run histograms, where
// hdr.Histogram.Merge walks all ~27,000 buckets with its iterator (at a
// tick per second with 8 shards and 4 histograms each, that walk was 3% of
// the client CPU of a saturated run). Bucket i holds the values that
// hdr.Histogram counts at its index i: TestCountsMatchHDR checks every
// bucket and random values against the library.
type counts struct {
	c      []int64 // nil until the first value
	lo, hi int     // buckets touched: c[lo:hi]; none when lo ≥ hi (so the zero value is empty)
}

// The bucket geometry of hdr.New(LowestNs=1, HighestNs, SigFigs=3): a unit
// magnitude of 0, 2048 sub-buckets (2·10³ rounded up to a power of two),
// half of them per bucket after the first.
const (
	subHalfMag = 10
	subHalf    = 1 << subHalfMag
	subMask    = 2*subHalf - 1
)

// countsLen is the number of buckets up to HighestNs's.
var countsLen = countsIndex(HighestNs) + 1

// countsIndex is the bucket of v (1 ≤ v ≤ HighestNs), as hdr's countsIndexFor.
func countsIndex(v int64) int {
	bucket := bits.Len64(uint64(v)|subMask) - (subHalfMag + 1)
	sub := int(v >> uint(bucket))
	return (bucket+1)<<subHalfMag + sub - subHalf
}

// valueAt is the lowest value of bucket i, as hdr's iterator reports it.
func valueAt(i int) int64 {
	bucket := i>>subHalfMag - 1
	sub := i&(subHalf-1) + subHalf
	if bucket < 0 {
		sub -= subHalf
		bucket = 0
	}
	return int64(sub) << uint(bucket)
}

// record counts v, which the caller has clamped to [LowestNs, HighestNs].
func (h *counts) record(v int64) {
	if h.c == nil {
		h.c = make([]int64, countsLen)
		h.lo, h.hi = countsLen, 0
	}
	i := countsIndex(v)
	h.c[i]++
	if i < h.lo {
		h.lo = i
	}
	if i >= h.hi {
		h.hi = i + 1
	}
}

// addTo adds every count to dst.
func (h *counts) addTo(dst *hdr.Histogram) {
	for i := h.lo; i < h.hi; i++ {
		if n := h.c[i]; n != 0 {
			_ = dst.RecordValues(valueAt(i), n) // in range by construction
		}
	}
}

// reset empties h, clearing only the buckets touched.
func (h *counts) reset() {
	if h.lo < h.hi {
		clear(h.c[h.lo:h.hi])
	}
	h.lo, h.hi = len(h.c), 0
}
