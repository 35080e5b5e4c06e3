package baselines

import (
	"math"
	"sort"
)

// AdjustBH returns the Benjamini-Hochberg adjusted p-values (q-values) of p,
// in p's order. With the p-values sorted ascending, p(1) ≤ … ≤ p(m),
//
//	q(i) = min over j ≥ i of min(1, m · p(j) / j)
//
// and rejecting every hypothesis with q ≤ α keeps the false discovery rate —
// the expected share of false alarms among the metrics flagged — at or below
// α when the tests are independent or positively dependent (Benjamini &
// Hochberg 1995; Benjamini & Yekutieli 2001), which is how the metrics of
// one run move together. NaN p-values are kept as NaN and not counted in m.
func AdjustBH(p []float64) []float64 {
	q := make([]float64, len(p))
	idx := make([]int, 0, len(p))
	for i, v := range p {
		if math.IsNaN(v) {
			q[i] = math.NaN()
			continue
		}
		idx = append(idx, i)
	}
	sort.SliceStable(idx, func(a, b int) bool { return p[idx[a]] < p[idx[b]] })
	m := float64(len(idx))
	running := 1.0
	for r := len(idx) - 1; r >= 0; r-- {
		i := idx[r]
		v := math.Min(1, m*p[i]/float64(r+1))
		running = math.Min(running, v)
		q[i] = running
	}
	return q
}
