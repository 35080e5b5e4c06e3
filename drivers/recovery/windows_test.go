package recovery

import (
	"strings"
	"testing"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/engram-bench/engram-bench/drivers"
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
			// The restored server's answer is noted before any window,
			// after every window, or after each number of windows in
			// between: the answer is the same.
			for known := 0; known <= len(tc.ws); known++ {
				got, ok := trackRecovery(tc.ws, known, at(tc.healthy), c)
				switch {
				case tc.want < 0 && ok:
					t.Errorf("healthy noted after %d windows: recovered at %v, want never", known, got.Sub(t0))
				case tc.want >= 0 && !ok:
					t.Errorf("healthy noted after %d windows: not recovered, want at %gs", known, tc.want)
				case tc.want >= 0 && !got.Equal(at(tc.want)):
					t.Errorf("healthy noted after %d windows: recovered at %v, want %gs", known, got.Sub(t0), tc.want)
				}
			}
		})
	}
	if s := c.String(); !strings.Contains(s, "p99 ≤ 50ms") || !strings.Contains(s, "errors ≤ 1%") || !strings.Contains(s, "3 windows of 1s") {
		t.Errorf("criteria read %q", s)
	}
}

// trackRecovery feeds ws to a tracker, noting healthy after the first known
// windows.
func trackRecovery(ws []window, known int, healthy time.Time, c criteria) (time.Time, bool) {
	tr := newRecoveryTracker(c)
	for i, w := range ws {
		if i == known {
			tr.setHealthy(healthy)
		}
		tr.add(w)
	}
	tr.setHealthy(healthy)
	return tr.recovered()
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

// TestDrillWindowsBounded drives a drill's tick on a fake clock (10-ms
// windows, made by hand) through more windows than reports.MaxIntervals
// before the restored server answers, and on after it: the drill keeps at
// most that many windows, none once the answer is known, and the recovery
// it finds is the one a scan of every window since the disaster finds.
func TestDrillWindowsBounded(t *testing.T) {
	const win = 10 * time.Millisecond
	t0 := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	c := criteria{P99: 50 * time.Millisecond, MaxErrorRate: 0.01, Stable: 3, Window: win}
	dr := &drill{spec: &workloads.DrillSpec{RecoveryWindowS: win.Seconds()}, clock: drivers.RunClock{Zero: t0},
		trk: newRecoveryTracker(c), lat: reports.NewHistogram()}
	scratch := reports.NewHistogram()
	var since []window // every window since the disaster, for the reference scan
	disaster := false
	var end int64
	maxKept := 0
	// hist holds n successful ops of latency lat.
	hist := func(n int, lat time.Duration) *hdr.Histogram {
		h := reports.NewHistogram()
		h.RecordValues(int64(lat), int64(n))
		return h
	}
	empty, fast, slowH := hist(0, 0), hist(4, 200*time.Microsecond), hist(4, 100*time.Millisecond)
	// step closes one window: ok ops of latency h, errs failed ones.
	step := func(ok, errs int, h *hdr.Histogram) {
		tk := reports.Tick{Start: end, End: end + int64(win), Delta: &reports.Totals{Ops: []reports.OpTotals{{
			Latency: h, Service: h, Count: int64(ok + errs), Errors: map[string]int64{}}}}}
		if errs > 0 {
			tk.Delta.Ops[0].Errors["connection_refused"] = int64(errs)
		}
		end = tk.End
		dr.tick(tk)
		if disaster {
			since = append(since, windowOf(tk, dr.wall(tk.Start), dr.wall(tk.End), win, scratch))
		}
		maxKept = max(maxKept, len(dr.trk.pending))
	}
	good := func() { step(4, 0, fast) }
	slow := func() { step(4, 0, slowH) }

	// Before the disaster: 2×MaxIntervals windows (empty ones: what they
	// hold does not matter before the server's answer, and they are cheap
	// under -race), then the outage.
	for range 2 * reports.MaxIntervals {
		step(0, 0, empty)
	}
	disaster = true
	for range 20 {
		step(0, 5, empty)
	}
	// The server answers in the middle of the last failed window, but the
	// drill notes it only after two good windows more have closed.
	healthy := dr.wall(end - int64(win)/2)
	good()
	good()
	if maxKept > reports.MaxIntervals || maxKept < reports.MaxIntervals/2 {
		t.Fatalf("kept up to %d windows before the server answered, want at most %d", maxKept, reports.MaxIntervals)
	}
	dr.winMu.Lock()
	dr.trk.setHealthy(healthy)
	dr.winMu.Unlock()
	if len(dr.trk.pending) != 0 || dr.trk.inexact {
		t.Fatalf("after the answer: %d windows kept, inexact %v", len(dr.trk.pending), dr.trk.inexact)
	}
	// Slow windows: never three good ones in a row.
	maxKept = 0
	slow()
	for range 100 {
		good()
		slow()
	}
	if maxKept != 0 {
		t.Fatalf("kept %d windows after the server answered, want none", maxKept)
	}
	back := dr.wall(end)
	good()
	good()
	good()
	for range 20 {
		slow()
	}
	got, ok := dr.trk.recovered()
	if !ok || !got.Equal(back) {
		t.Fatalf("recovered %v at %v, want at %v", ok, got.Sub(t0), back.Sub(t0))
	}
	if ref, rok := trackRecovery(since, 0, healthy, c); !rok || !ref.Equal(got) {
		t.Errorf("a scan of all %d windows since the disaster finds %v at %v, the drill %v", len(since), rok, ref.Sub(t0), got.Sub(t0))
	}
}

// TestRecoveryTrackerInexact: a window that ended after the server's answer
// but was dropped before the drill noted it makes the answer inexact.
func TestRecoveryTrackerInexact(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * 1e9)) }
	c := criteria{MaxErrorRate: 0.01, Stable: 2, Window: time.Second}
	for _, tc := range []struct {
		name    string
		healthy float64
		inexact bool
	}{
		{"every dropped window ended before the answer", 6.5, false},
		{"a dropped window ended after it", 1.5, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := newRecoveryTracker(c)
			tr.maxPending = 4
			for i := range 10 {
				tr.add(window{Start: at(float64(i)), End: at(float64(i + 1)), Count: 10, HasLatency: true, Judgeable: true})
				if len(tr.pending) > tr.maxPending {
					t.Fatalf("%d windows pending, bound %d", len(tr.pending), tr.maxPending)
				}
			}
			tr.setHealthy(at(tc.healthy))
			if tr.inexact != tc.inexact {
				t.Errorf("inexact %v, want %v", tr.inexact, tc.inexact)
			}
		})
	}
}
