package recovery

import (
	"strings"
	"testing"
	"time"

	"github.com/engram-bench/engram-bench/reports"
	"github.com/engram-bench/engram-bench/workloads"
)

func TestRecoveredAt(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * 1e9)) }
	// win makes window i (1 s long) with a p99 in ms and an error count out of 100 ops.
	win := func(i int, p99ms float64, errs int64) window {
		return window{Start: at(float64(i)), End: at(float64(i + 1)), Count: 100, Errors: errs, HasLatency: errs < 100,
			P50: time.Millisecond, P99: time.Duration(p99ms * 1e6), P999: time.Duration(p99ms * 2e6), Judgeable: true}
	}
	c := criteria{P99: 50 * time.Millisecond, MaxErrorRate: 0.01, Stable: 3, Window: time.Second}
	for _, tc := range []struct {
		name    string
		ws      []window
		healthy float64
		want    float64 // −1: not recovered
	}{
		{"back at once after health", []window{win(0, 10, 0), win(1, 0, 100), win(2, 10, 0), win(3, 10, 0), win(4, 10, 0)}, 1.8, 2},
		{"health inside a good window: recovery is never before health", []window{win(0, 0, 100), win(1, 10, 0), win(2, 10, 0), win(3, 10, 0)}, 1.3, 1.3},
		{"a slow window restarts the count", []window{win(0, 0, 100), win(1, 90, 0), win(2, 10, 0), win(3, 90, 0), win(4, 10, 0), win(5, 10, 0), win(6, 10, 0)}, 0.9, 4},
		{"errors above the limit do not count", []window{win(0, 0, 100), win(1, 10, 5), win(2, 10, 1), win(3, 10, 0), win(4, 10, 0)}, 0.5, 2},
		{"too few good windows before the end", []window{win(0, 0, 100), win(1, 10, 0), win(2, 10, 0)}, 0.5, -1},
		{"windows before health do not count", []window{win(0, 10, 0), win(1, 10, 0), win(2, 10, 0), win(3, 0, 100), win(4, 10, 0)}, 3.5, -1},
		{"a window with no op is not good", []window{win(0, 0, 100), {Start: at(1), End: at(2), Judgeable: true}, win(2, 10, 0), win(3, 10, 0), win(4, 10, 0)}, 0.5, 2},
		{"a short drain stub does not count", []window{win(0, 0, 100), win(1, 10, 0), win(2, 10, 0), {Start: at(3), End: at(3.1), Count: 2, HasLatency: true}}, 0.5, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := recoveredAt(tc.ws, at(tc.healthy), c)
			switch {
			case tc.want < 0 && ok:
				t.Errorf("recovered at %v, want never", got.Sub(t0))
			case tc.want >= 0 && !ok:
				t.Errorf("not recovered, want at %gs", tc.want)
			case tc.want >= 0 && !got.Equal(at(tc.want)):
				t.Errorf("recovered at %v, want %gs", got.Sub(t0), tc.want)
			}
		})
	}
	if s := c.String(); !strings.Contains(s, "p99 ≤ 50ms") || !strings.Contains(s, "errors ≤ 1%") || !strings.Contains(s, "3 windows of 1s") {
		t.Errorf("criteria read %q", s)
	}
}

func TestBackupWarnings(t *testing.T) {
	sched := []workloads.DrillBackup{{AtS: 2, Kind: "full"}, {AtS: 5, Kind: "incremental"}, {AtS: 8, Kind: "incremental"}, {AtS: 11, Kind: "incremental"}}
	ok := func(due, start, end float64) reports.DrillBackup {
		return reports.DrillBackup{Kind: "incremental", DueS: due, StartS: start, EndS: end}
	}
	failed := func(due, start, end float64) reports.DrillBackup {
		b := ok(due, start, end)
		b.Error = "EOF"
		return b
	}
	for _, tc := range []struct {
		name  string
		taken []reports.DrillBackup
		hit   bool
		want  []string
	}{
		{"all on time", []reports.DrillBackup{ok(2, 2, 2.2), ok(5, 5, 5.2), ok(8, 8, 8.2), ok(11, 11, 11.2)}, true, nil},
		{"one failed before the disaster", []reports.DrillBackup{ok(2, 2, 2.2), failed(5, 5, 5.1), ok(8, 8, 8.2), ok(11, 11, 11.2)}, true,
			[]string{"the incremental backup due at 5.0s failed: EOF"}},
		{"cut off by the disaster, the last never started", []reports.DrillBackup{ok(2, 2, 3.2), ok(5, 5, 7.2), failed(8, 8, 12.3)}, true,
			[]string{"the incremental backup due at 8.0s was still running at the disaster (12.0s) and died with engramd: EOF",
				"1 scheduled backup(s) from 11.0s on never started: the one before was still running at the disaster"}},
		{"late", []reports.DrillBackup{ok(2, 2, 6.5), ok(5, 6.5, 7), ok(8, 8, 8.2), ok(11, 11, 11.2)}, true,
			[]string{"the incremental backup due at 5.0s started 1.5s late: the previous one was still running"}},
		{"no disaster: nothing is missing", []reports.DrillBackup{ok(2, 2, 2.2)}, false, nil},
	} {
		got := backupWarnings(sched, tc.taken, tc.hit, 12)
		if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, got, tc.want)
		}
	}
}
