package baselines

import (
	"math"
	"testing"
)

func TestAdjustBH(t *testing.T) {
	tests := []struct {
		name string
		p    []float64
		want []float64
	}{
		{"empty", nil, []float64{}},
		{"one test is its own q", []float64{0.03}, []float64{0.03}},
		// Worked example: m=5, sorted p 0.01 0.02 0.03 0.04 0.2 → m·p/rank
		// 0.05 0.05 0.05 0.05 0.2; the running minimum from the top keeps them.
		{"five, in order", []float64{0.01, 0.02, 0.03, 0.04, 0.2}, []float64{0.05, 0.05, 0.05, 0.05, 0.2}},
		{"order is kept", []float64{0.2, 0.04, 0.01, 0.03, 0.02}, []float64{0.2, 0.05, 0.05, 0.05, 0.05}},
		// m=3: 0.001·3/1=0.003, 0.04·3/2=0.06, 0.045·3/3=0.045 → monotone: 0.003, 0.045, 0.045.
		{"step-up takes later minimum", []float64{0.001, 0.04, 0.045}, []float64{0.003, 0.045, 0.045}},
		{"capped at 1", []float64{0.9, 0.8}, []float64{0.9, 0.9}},
		{"NaN is skipped and not counted", []float64{0.01, math.NaN(), 0.04}, []float64{0.02, math.NaN(), 0.04}},
		// The smallest p of 5 vs 5 runs (2/252) among 12 metrics: alone it is
		// not significant at 0.05 (q = 0.095); six of them together are.
		{"one of twelve", append([]float64{2.0 / 252}, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := AdjustBH(tc.p)
			if tc.want == nil {
				if want := 12 * 2.0 / 252; math.Abs(got[0]-want) > 1e-12 {
					t.Fatalf("q[0] = %v, want %v", got[0], want)
				}
				return
			}
			if len(got) != len(tc.want) {
				t.Fatalf("len %d, want %d", len(got), len(tc.want))
			}
			for i := range got {
				if math.IsNaN(tc.want[i]) != math.IsNaN(got[i]) || (!math.IsNaN(got[i]) && math.Abs(got[i]-tc.want[i]) > 1e-12) {
					t.Errorf("q[%d] = %v, want %v (all %v)", i, got[i], tc.want[i], got)
				}
			}
		})
	}
}
