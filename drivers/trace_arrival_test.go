package drivers

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"
)

// A "trace" arrival that ends before the scenario's duration ends the run
// with it: the result's target rate is the trace's ops in the measured
// window over the part of the window it covers — what the achieved rate is
// measured over, and what H1 and the harness-limited test use — and a
// warning says the run ended early.
func TestExecuteTraceArrivalEndsEarly(t *testing.T) {
	// 200 ops at 1,000 ops/s over a recorded 200 ms.
	path := recordTestTrace(t, "[duration]\ntotal_seconds = 0.2\nwarmup_seconds = 0\n[arrival]\npattern = \"constant\"\nrate = 1000\n[operations]\nrecall_by_id_weight = 1\n[data]\nembedding_dim = 4\npreload = 0\n")
	cases := []struct {
		name        string
		total, warm string
		rate        float64
		warn        string
	}{
		{"duration 1s", "1", "0", 1000, "the trace arrival ends 200ms into the measured window, before its 1s were up"},
		{"warm-up 0.1s, duration 1s", "1", "0.1", 1000, "the trace arrival ends 100ms into the measured window, before its 1s were up"},
		{"duration within the trace", "0.1", "0", 1000, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sc := parse(t, "[duration]\ntotal_seconds = "+tc.total+"\nwarmup_seconds = "+tc.warm+"\n[arrival]\npattern = \"trace\"\nfile = \""+path+"\"\n[operations]\nstore_weight = 1\n[data]\nembedding_dim = 4\npreload = 0\n")
			res, err := Execute(context.Background(), Plan{Scenario: sc, Seed: 1, Driver: "memory", MaxLag: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(res.TargetRate-tc.rate) > 1e-6 {
				t.Errorf("target rate %v, want %v", res.TargetRate, tc.rate)
			}
			found := false
			for _, w := range res.Warnings {
				if tc.warn != "" && strings.Contains(w, tc.warn) {
					found = true
				}
				if tc.warn == "" && strings.Contains(w, "trace arrival ends") {
					t.Errorf("warning %q for a trace that outlasts the window", w)
				}
			}
			if tc.warn != "" && !found {
				t.Errorf("warnings %q, want one containing %q", res.Warnings, tc.warn)
			}
			if res.DurationS > 0.9 {
				t.Errorf("measured %.3fs: the run waited past the end of the trace", res.DurationS)
			}
		})
	}
}
