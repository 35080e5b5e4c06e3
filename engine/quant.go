package engine

import "math"

// Quantised vectors. The HNSW graph is walked with int8 copies of the unit
// vectors: a 768-d vector is 768 bytes instead of 3 KB, and at 100 000
// memories a search is bound by memory traffic, not arithmetic (measured on
// the 2-core EPYC dev VM, 2026-11-27: ~550 ns of CPU per float32 distance
// out of cache against 50 ns in cache). Each vector is scaled so that its
// largest component maps to ±127; the dot product of two quantised vectors,
// times both inverse scales, approximates their cosine within about 1e-3.
// Final candidates are re-ranked with the float32 vectors, so results and
// scores are exact for what the walk found.

// quantize writes v (unit length) into dst and returns the inverse scale.
func quantize(v []float32, dst []int8) float32 {
	var m float32
	for _, x := range v {
		if a := float32(math.Abs(float64(x))); a > m {
			m = a
		}
	}
	if m == 0 {
		clear(dst)
		return 0
	}
	s := 127 / m
	for j, x := range v {
		dst[j] = int8(math.Round(float64(x * s)))
	}
	return m / 127
}

// dot8Go is the portable int8 dot product.
func dot8Go(a, b []int8) int32 {
	var s0, s1, s2, s3 int32
	j := 0
	for ; j+4 <= len(a); j += 4 {
		s0 += int32(a[j]) * int32(b[j])
		s1 += int32(a[j+1]) * int32(b[j+1])
		s2 += int32(a[j+2]) * int32(b[j+2])
		s3 += int32(a[j+3]) * int32(b[j+3])
	}
	for ; j < len(a); j++ {
		s0 += int32(a[j]) * int32(b[j])
	}
	return s0 + s1 + s2 + s3
}

// query is a search vector in both forms.
type query struct {
	f   []float32 // unit length
	q   []int8
	inv float32
	// An insert's query (hnsw.insertQuery) is a node: self is its slot
	// plus one (0: a plain query), selfD its distance to itself. A walk
	// steps through the node's twins but keeps them out of its results,
	// in twins (the maxOwnTwins newest): a vector stored many times still
	// finds neighbours other than its own copies.
	self   uint32
	selfD  float32
	twins  []cand
	walked twinWalk // twins walked through on this layer (maxTwinWalk)
}

func newQuery(f []float32) *query {
	q := &query{f: f, q: make([]int8, len(f))}
	q.inv = quantize(f, q.q)
	return q
}
