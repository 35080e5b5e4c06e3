package drill_test

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/engram-bench/engram-bench/drivers/engram"
	"github.com/engram-bench/engram-bench/drivers/systems"
	"github.com/engram-bench/engram-bench/workloads"
)

// BenchmarkRecoveryAfterKill measures how long engramd takes to answer
// again after kill -9 with N memories of 768 dimensions stored (synced),
// and how long until its HNSW index has caught up. Each iteration kills it
// and reports, per kill:
//   - recovery-s: kill until GET /health/alive answers;
//   - open-s: engramd's own account of opening the store (pebble's WAL
//     replay, loading every memory and the last index snapshot);
//   - reused/op and reindexed/op: the memories whose index nodes came from
//     the last index snapshot and those re-indexed in the background
//     (engramd's log line after it listens);
//   - index-caught-up-s: kill until engramd_index_pending is 0 and
//     engramd_index_nodes is N on /metrics/prometheus, i.e. every search is
//     served by the index again instead of exact scans of the backlog.
//
// The fill stores the memories through the batch endpoint and then waits
// until the engine's background loop has written at least one index
// snapshot (it does after 10,000 inserts in a space, at most 20 times the
// last snapshot's duration apart and at least once a minute), so the first
// kill finds what a long-running server would leave: a snapshot that lags the fill by up to 10,000 inserts or 20 times a
// snapshot's duration. Every kill waits for the index to catch up first,
// and a restart that re-indexed for its snapshot to be written (engramd
// writes one once its re-indexing has caught up), so later kills find a
// snapshot of every memory. The target: answering within 10 s at
// 100,000 memories.
//
//	go test ./chaos/drill -run '^$' -bench RecoveryAfterKill -benchtime 3x -timeout 30m
func BenchmarkRecoveryAfterKill(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("memories=%d", n), func(b *testing.B) {
			ctx := context.Background()
			e := filled[n]
			if e == nil {
				e = fill(b, n)
				filled[n] = e
			}
			var alive, open, caught time.Duration
			var reused, reindexed int
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				before, err := scrapeIndex(ctx, e.URL(), "default")
				if err != nil {
					b.Fatal(err)
				}
				t0 := time.Now()
				if err := e.Kill(); err != nil {
					b.Fatal(err)
				}
				if _, err := e.Restart(ctx); err != nil {
					b.Fatal(err)
				}
				up := time.Since(t0)
				got, took, ok := e.LastRecovery()
				if !ok || got != n {
					b.Fatalf("recovered %d memories (ok %v), want %d", got, ok, n)
				}
				r, x, ok := e.LastIndexRecovery()
				if !ok || r+x != n {
					b.Fatalf("index: %d reused + %d re-indexed (ok %v), want %d in all; log:\n%s", r, x, ok, n, e.LogTail(4))
				}
				done, err := waitIndexed(ctx, e.URL(), "default", n, 20*time.Minute)
				if err != nil {
					b.Fatal(err)
				}
				c := done.Sub(t0)
				b.Logf("kill %d: %s; answered after %s (open %s), %d reused from the snapshot, %d re-indexed, index caught up after %s",
					i+1, before, up.Round(time.Millisecond), took, r, x, c.Round(10*time.Millisecond))
				if x > 0 {
					// A restart that re-indexed snapshots once it has caught
					// up; the next kill finds what a server that ran on for a
					// few seconds leaves.
					// (One begun during the catch-up, at 10,000 re-indexed,
					// holds only part of it: wait for the one after.)
					if st, err := waitSnapshot(ctx, e.URL(), "default", n, done.Add(-500*time.Millisecond), time.Minute); err != nil {
						b.Logf("kill %d: %v", i+1, err)
					} else {
						b.Logf("kill %d: after the catch-up: %s", i+1, st)
					}
				}
				alive += up
				open += took
				caught += c
				reused += r
				reindexed += x
			}
			b.StopTimer()
			per := float64(b.N)
			b.ReportMetric(alive.Seconds()/per, "recovery-s")
			b.ReportMetric(open.Seconds()/per, "open-s")
			b.ReportMetric(float64(reused)/per, "reused/op")
			b.ReportMetric(float64(reindexed)/per, "reindexed/op")
			b.ReportMetric(caught.Seconds()/per, "index-caught-up-s")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// filled keeps each size's engramd between the benchmark's calls (the
// testing package calls it with b.N = 1 first): storing 100,000 memories
// takes minutes. TestMain stops them.
var filled = map[int]*systems.Engramd{}

func stopFilled() {
	for _, e := range filled {
		e.Stop(context.Background(), time.Minute)
		os.RemoveAll(filepath.Dir(e.DataDir()))
	}
}

// fill starts an engramd, stores n memories of 768 dimensions in it and
// waits until its background loop has snapshotted the index at least once
// and nothing waits to be indexed.
func fill(b *testing.B, n int) *systems.Engramd {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "recovery-bench-")
	if err != nil {
		b.Fatal(err)
	}
	e, err := systems.OwnEngramd(ctx, systems.EngramdConfig{Command: []string{engramdBin}, DataDir: filepath.Join(dir, "data"), Dim: 768, ReadyTimeout: 5 * time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	d, err := engram.New(engram.Options{Target: e.URL(), Concurrency: 4, Timeout: time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	const batch = 100
	t0 := time.Now()
	ops := make([]workloads.Op, batch)
	for i := 0; i < n; i += batch {
		for j := range ops {
			k := uint64(i + j)
			rng := rand.New(rand.NewPCG(k, 7))
			vec := make([]float32, 768)
			for x := range vec {
				vec[x] = float32(rng.NormFloat64())
			}
			ops[j] = workloads.Op{Kind: workloads.KindStore, Space: "default", Key: workloads.PreloadKey(k), Embedding: vec, Dim: 768, Confidence: 0.9}
		}
		if err := d.Preload(ctx, ops); err != nil {
			b.Fatal(err)
		}
	}
	d.Close()
	stored := time.Since(t0)
	st, err := waitSnapshot(ctx, e.URL(), "default", n, time.Time{}, 3*time.Minute)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("stored %d memories in %s; %s after %s more", n, stored.Round(time.Millisecond), st, (time.Since(t0) - stored).Round(time.Millisecond))
	return e
}

// indexState is what engramd's /metrics/prometheus says about a space's
// HNSW index and the index snapshots of the running process.
type indexState struct {
	Nodes, Pending int     // engramd_index_nodes, engramd_index_pending
	Snapshots      int     // engramd_index_snapshots_total{result="ok"} since the process started
	LastSnapshot   float64 // engramd_index_snapshot_last_timestamp_seconds (Unix s; 0: none since start)
	At             time.Time
}

func (s indexState) String() string {
	last := "none"
	if s.LastSnapshot > 0 {
		age := s.At.Sub(time.Unix(0, int64(s.LastSnapshot*1e9)))
		last = fmt.Sprintf("the last began %s before", age.Round(100*time.Millisecond))
	}
	return fmt.Sprintf("%d indexed, %d pending, %d index snapshots by this process (%s)", s.Nodes, s.Pending, s.Snapshots, last)
}

// scrapeIndex reads a space's index state from engramd's metrics.
func scrapeIndex(ctx context.Context, url, space string) (indexState, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/metrics/prometheus", nil)
	if err != nil {
		return indexState{}, err
	}
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return indexState{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return indexState{}, fmt.Errorf("GET %s/metrics/prometheus: %s", url, resp.Status)
	}
	return parseIndexState(resp.Body, space)
}

// parseIndexState picks a space's index series out of a Prometheus text
// exposition; the node and pending gauges must be there.
func parseIndexState(r io.Reader, space string) (indexState, error) {
	st := indexState{At: time.Now()}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return st, fmt.Errorf("engramd metrics: %w", err)
	}
	value := func(name, label, want string) (float64, bool) {
		f, ok := fams[name]
		if !ok {
			return 0, false
		}
		for _, m := range f.Metric {
			for _, lp := range m.Label {
				if label != "" && lp.GetName() == label && lp.GetValue() == want {
					return m.GetGauge().GetValue() + m.GetCounter().GetValue() + m.GetUntyped().GetValue(), true
				}
			}
			if label == "" && len(m.Label) == 0 {
				return m.GetGauge().GetValue() + m.GetCounter().GetValue() + m.GetUntyped().GetValue(), true
			}
		}
		return 0, false
	}
	nodes, ok1 := value("engramd_index_nodes", "space", space)
	pending, ok2 := value("engramd_index_pending", "space", space)
	if !ok1 || !ok2 {
		return st, fmt.Errorf("engramd metrics: no engramd_index_nodes or engramd_index_pending for space %q", space)
	}
	snaps, _ := value("engramd_index_snapshots_total", "result", "ok")
	st.LastSnapshot, _ = value("engramd_index_snapshot_last_timestamp_seconds", "", "")
	st.Nodes, st.Pending, st.Snapshots = int(nodes), int(pending), int(snaps)
	return st, nil
}

// waitIndexed polls engramd's metrics until the space's index holds n
// nodes and nothing is pending, and returns the time of the first scrape
// that said so (polling every 100 ms, so up to 100 ms late).
func waitIndexed(ctx context.Context, url, space string, n int, timeout time.Duration) (time.Time, error) {
	st, err := poll(ctx, url, space, timeout, func(s indexState) bool { return s.Pending == 0 && s.Nodes >= n })
	if err != nil {
		return time.Time{}, fmt.Errorf("index of %d memories not caught up: %w", n, err)
	}
	return st.At, nil
}

// waitSnapshot polls until the running engramd has indexed all n memories
// and written an index snapshot, begun at since or later (zero: any).
func waitSnapshot(ctx context.Context, url, space string, n int, since time.Time, timeout time.Duration) (indexState, error) {
	st, err := poll(ctx, url, space, timeout, func(s indexState) bool {
		return s.Snapshots > 0 && s.Pending == 0 && s.Nodes >= n && (since.IsZero() || s.LastSnapshot >= float64(since.UnixNano())/1e9)
	})
	if err != nil {
		return st, fmt.Errorf("no index snapshot of %d memories: %w", n, err)
	}
	return st, nil
}

func poll(ctx context.Context, url, space string, timeout time.Duration, done func(indexState) bool) (indexState, error) {
	deadline := time.Now().Add(timeout)
	var last indexState
	for {
		st, err := scrapeIndex(ctx, url, space)
		if err == nil && done(st) {
			return st, nil
		}
		if err == nil {
			last = st
		}
		if time.Now().After(deadline) {
			if err != nil {
				return last, err
			}
			return last, fmt.Errorf("after %s: %s", timeout, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// The benchmark's probes against a real engramd: the index gauges after a
// fill, the log's index split after kill -9 (no snapshot yet: all
// re-indexed) and after a clean stop (its snapshot: all reused), and the
// wait for the index to catch up.
func TestRecoveryBenchProbes(t *testing.T) {
	ctx := context.Background()
	e, err := systems.OwnEngramd(ctx, systems.EngramdConfig{Command: []string{engramdBin}, DataDir: filepath.Join(t.TempDir(), "data"), Dim: 8})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Stop(context.Background(), 5*time.Second) })
	d, err := engram.New(engram.Options{Target: e.URL(), Concurrency: 2, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	const n = 50
	ops := make([]workloads.Op, n)
	for i := range ops {
		vec := []float32{float32(i), 1, 2, 3, 4, 5, 6, float32(i % 7)}
		ops[i] = workloads.Op{Kind: workloads.KindStore, Space: "default", Key: workloads.PreloadKey(uint64(i)), Embedding: vec, Dim: 8, Confidence: 0.9}
	}
	if err := d.Preload(ctx, ops); err != nil {
		t.Fatal(err)
	}
	d.Close()
	st, err := scrapeIndex(ctx, e.URL(), "default")
	if err != nil {
		t.Fatal(err)
	}
	if st.Nodes != n || st.Pending != 0 || st.Snapshots != 0 || st.LastSnapshot != 0 {
		t.Errorf("after storing %d: %+v", n, st)
	}

	steps := []struct {
		name              string
		stop              func() error
		reused, reindexed int
	}{
		{"kill -9 before any snapshot", e.Kill, 0, n},
		{"clean stop snapshots", func() error { return e.Stop(ctx, 10*time.Second) }, n, 0},
	}
	for _, s := range steps {
		t0 := time.Now()
		if err := s.stop(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if _, err := e.Restart(ctx); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		r, x, ok := e.LastIndexRecovery()
		if !ok || r != s.reused || x != s.reindexed {
			t.Errorf("%s: %d reused, %d re-indexed (ok %v), want %d and %d; log:\n%s", s.name, r, x, ok, s.reused, s.reindexed, e.LogTail(4))
		}
		done, err := waitIndexed(ctx, e.URL(), "default", n, 30*time.Second)
		if err != nil || done.Before(t0) {
			t.Errorf("%s: caught up at %v (kill at %v): %v", s.name, done, t0, err)
		}
	}
	if _, err := waitIndexed(ctx, e.URL(), "default", n+1, 200*time.Millisecond); err == nil {
		t.Error("waiting for more nodes than stored returned")
	}
}

func TestParseIndexState(t *testing.T) {
	tests := []struct {
		name    string
		text    string
		want    indexState
		wantErr bool
	}{
		{"all series", `# TYPE engramd_index_nodes gauge
engramd_index_nodes{space="default"} 90
engramd_index_nodes{space="other"} 5
# TYPE engramd_index_pending gauge
engramd_index_pending{space="default"} 10
engramd_index_pending{space="other"} 0
# TYPE engramd_index_snapshots_total counter
engramd_index_snapshots_total{result="failed"} 1
engramd_index_snapshots_total{result="ok"} 3
# TYPE engramd_index_snapshot_last_timestamp_seconds gauge
engramd_index_snapshot_last_timestamp_seconds 1.7e+09
`, indexState{Nodes: 90, Pending: 10, Snapshots: 3, LastSnapshot: 1.7e9}, false},
		{"no snapshot yet", `engramd_index_nodes{space="default"} 4
engramd_index_pending{space="default"} 0
`, indexState{Nodes: 4}, false},
		{"other space only", `engramd_index_nodes{space="other"} 4
engramd_index_pending{space="other"} 0
`, indexState{}, true},
		{"not prometheus text", "engramd_index_nodes{space=\"default\" 4\n", indexState{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseIndexState(strings.NewReader(tc.text), "default")
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v, want error %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			got.At = time.Time{}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}
