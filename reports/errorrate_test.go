package reports

import "testing"

// Ops of kinds the target does not support are a capability gap, reported
// on their own, not load errors: the error rate leaves them out.
func TestErrorRateLeavesOutUnsupported(t *testing.T) {
	for _, tc := range []struct {
		name          string
		count, errors int64
		classes       map[string]int64
		want          float64
	}{
		{"none", 0, 0, nil, 0},
		{"plain", 100, 5, map[string]int64{"timeout": 5}, 0.05},
		{"unsupported only", 100, 40, map[string]int64{"unsupported": 40}, 0},
		{"mixed", 100, 46, map[string]int64{"unsupported": 40, "timeout": 6}, 0.1},
		{"every op unsupported", 10, 10, map[string]int64{"unsupported": 10}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := errorRate(tc.count, tc.errors, tc.classes); got != tc.want {
				t.Errorf("errorRate(%d, %d, %v) = %v, want %v", tc.count, tc.errors, tc.classes, got, tc.want)
			}
		})
	}
}
