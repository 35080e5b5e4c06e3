package drivers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/engram-bench/engram-bench/reports"
	"github.com/engram-bench/engram-bench/workloads"
)

// opRecord is what one shard saw of op i: its bytes and when it was due.
type opRecord struct {
	hash uint64
	due  int64 // ns from the schedule's time zero; -1 for warm-up ops
}

// runShard runs shard k of n of the phased scenario, starting at startAt,
// and returns every op it executed.
func runShard(t *testing.T, sched *workloads.Schedule, gen *workloads.Generator, k, n int, startAt time.Time) map[uint64]opRecord {
	var mu sync.Mutex
	seen := map[uint64]opRecord{}
	intended := map[uint64]int64{}
	d := DriverFunc(func(_ context.Context, op *workloads.Op) error {
		h := fnv.New64a()
		h.Write([]byte(op.String()))
		mu.Lock()
		if _, dup := seen[op.Index]; dup {
			t.Errorf("shard %d/%d ran op %d twice", k, n, op.Index)
		}
		seen[op.Index] = opRecord{hash: h.Sum64(), due: -1}
		mu.Unlock()
		return nil
	})
	obs := func(_ int, op *workloads.Op, s *reports.Sample) {
		mu.Lock()
		intended[op.Index] = s.Intended
		mu.Unlock()
	}
	st, err := Run(context.Background(), RunConfig{Arrival: sched, Ops: gen, Warmup: sched.Warmup, Duration: sched.Measured,
		Shard: k, Shards: n, StartAt: startAt, Recorder: newRec(), Observe: obs}, d)
	if err != nil {
		t.Error(err)
		return nil
	}
	if st.Unsent != 0 || st.Interrupted {
		t.Errorf("shard %d/%d: unsent %d, interrupted %v", k, n, st.Unsent, st.Interrupted)
	}
	zero := st.MeasureStart - int64(sched.Warmup)
	for i, at := range intended {
		r := seen[i]
		r.due = at - zero
		seen[i] = r
	}
	return seen
}

// The union of N shards' op streams is the single-process stream: the same
// ops, each exactly once, with the same bytes and the same due time, for
// several N. The shards run at once, aligned with StartAt.
func TestShardUnionIsTheStream(t *testing.T) {
	sc := parse(t, phasedSc)
	sched, err := workloads.NewSchedule(sc, 11)
	if err != nil {
		t.Fatal(err)
	}
	gen, err := workloads.NewGeneratorFor(sc, sched, 11)
	if err != nil {
		t.Fatal(err)
	}
	one := runShard(t, sched, gen, 0, 1, time.Time{})
	if want := sched.Phases[len(sched.Phases)-1].EndOp; uint64(len(one)) != want {
		t.Fatalf("one process ran %d ops, the schedule has %d", len(one), want)
	}
	for _, n := range []int{2, 3, 4, 7} {
		t.Run(fmt.Sprintf("shards=%d", n), func(t *testing.T) {
			start := time.Now().Add(500 * time.Millisecond) // room for a loaded machine to get every shard ready
			parts := make([]map[uint64]opRecord, n)
			var wg sync.WaitGroup
			for k := 0; k < n; k++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					parts[k] = runShard(t, sched, gen, k, n, start)
				}()
			}
			wg.Wait()
			union := map[uint64]opRecord{}
			for k, p := range parts {
				for i, r := range p {
					if int(i%uint64(n)) != k {
						t.Fatalf("op %d ran on shard %d of %d", i, k, n)
					}
					if _, dup := union[i]; dup {
						t.Fatalf("op %d ran on two shards", i)
					}
					union[i] = r
				}
			}
			if len(union) != len(one) {
				t.Fatalf("%d shards ran %d ops together, one process %d", n, len(union), len(one))
			}
			for i, r := range one {
				u, ok := union[i]
				if !ok || u.hash != r.hash {
					t.Fatalf("op %d differs between one process and %d shards", i, n)
				}
				if u.due != r.due {
					t.Fatalf("op %d due at %d ns on %d shards, %d ns in one process", i, u.due, n, r.due)
				}
			}
		})
	}
}

// StartAt: nothing is dispatched before it, time zero is it exactly, and a
// start that has passed is refused before anything is sent.
func TestStartAt(t *testing.T) {
	var mu sync.Mutex
	var first time.Time
	n := 0
	d := DriverFunc(func(context.Context, *workloads.Op) error {
		now := time.Now()
		mu.Lock()
		if first.IsZero() || now.Before(first) {
			first = now
		}
		n++
		mu.Unlock()
		return nil
	})
	at := time.Now().Add(120 * time.Millisecond).Round(0) // a wall time, as parsed from a flag
	at = time.Unix(0, at.UnixNano())
	st, err := Run(context.Background(), RunConfig{Arrival: workloads.Constant{PerSecond: 1000}, Ops: indexSource{}, Duration: 100 * time.Millisecond, StartAt: at, Recorder: newRec()}, d)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Start.Equal(at) {
		t.Errorf("time zero %v, want the start time %v", st.Start, at)
	}
	if first.Before(at) {
		t.Errorf("first op started %v before the start time", at.Sub(first))
	}
	if n != 100 {
		t.Errorf("%d ops ran, want 100", n)
	}

	n = 0
	_, err = Run(context.Background(), RunConfig{Arrival: workloads.Constant{PerSecond: 1000}, Ops: indexSource{}, Duration: 100 * time.Millisecond,
		StartAt: time.Now().Add(-time.Second), Recorder: newRec()}, d)
	if !errors.Is(err, ErrLateStart) || n != 0 {
		t.Errorf("a start 1s ago: err %v, %d ops sent; want ErrLateStart and none", err, n)
	}
}

// Interrupted while waiting for the start: a partial run of nothing, at once.
func TestStartAtInterrupted(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	st, err := Run(ctx, RunConfig{Arrival: workloads.Constant{PerSecond: 1000}, Ops: indexSource{}, Duration: time.Second,
		StartAt: time.Now().Add(time.Hour), Recorder: newRec()}, DriverFunc(func(context.Context, *workloads.Op) error { return nil }))
	if err != nil {
		t.Fatal(err)
	}
	if !st.Interrupted || st.Sent != 0 || st.Unsent != 0 {
		t.Errorf("stats %+v", st)
	}
	if el := time.Since(t0); el > 5*time.Second {
		t.Errorf("cancelled wait took %v", el)
	}
}

func TestPreloadMode(t *testing.T) {
	Register(Meta{Name: "inproc-test", Help: "test double", InProcess: true, New: func(context.Context, Config) (Driver, error) { return nil, nil }})
	cases := []struct {
		name   string
		flag   string
		driver string
		shard  int
		want   bool
		mode   PreloadMode
	}{
		{"auto, shared target: shard 0 loads it", "auto", "memory", 0, true, PreloadFirst},
		{"auto, shared target: shard 2 does not", "auto", "memory", 2, false, PreloadFirst},
		{"auto, in-process target: every shard loads its own", "auto", "inproc-test", 2, true, PreloadAll},
		{"shard0 overrides an in-process driver", "shard0", "inproc-test", 1, false, PreloadFirst},
		{"all on a shared target", "all", "memory", 3, true, PreloadAll},
		{"none, even on shard 0", "none", "memory", 0, false, PreloadNone},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := ParsePreloadMode(c.flag)
			if err != nil {
				t.Fatal(err)
			}
			got, mode, err := m.Applies(c.driver, c.shard)
			if err != nil || got != c.want || mode != c.mode {
				t.Errorf("Applies = %v, %s, %v; want %v, %s", got, mode, err, c.want, c.mode)
			}
		})
	}
	if _, err := ParsePreloadMode("some"); err == nil || err.Error() != `preload mode "some": want auto, shard0, all or none` {
		t.Errorf("bad mode: %v", err)
	}
}

// executeWithLog runs plan through Execute and streams its interval log to
// dir, as run --hlog does; the result names the log.
func executeWithLog(t *testing.T, plan Plan, dir string) *reports.Result {
	t.Helper()
	name := filepath.Join(dir, fmt.Sprintf("shard-%d-of-%d.hlog", plan.Shard, max(plan.Shards, 1)))
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	lw := reports.NewHLogWriter(f, workloads.KindNames(), reports.HLogMeta{Scenario: plan.Scenario.ID, Seed: plan.Seed, Driver: plan.Driver, Shard: plan.Shard, Shards: plan.Shards}, nil)
	plan.Live = lw.Tick
	res, err := Execute(context.Background(), plan)
	if err != nil {
		t.Fatal(err)
	}
	if err := lw.Close(res.Partial); err != nil {
		t.Fatal(err)
	}
	res.Files = map[string]string{"hlog": name}
	res.Path = filepath.Join(dir, fmt.Sprintf("shard-%d.json", plan.Shard))
	return res
}

// Three shards through Execute, merged, hold exactly the ops of one
// process: per op kind, per phase and per memory space. Each shard offers a
// third of the rate and is judged against a third of the throughput target;
// the merge against all of it.
func TestExecuteShardsMerge(t *testing.T) {
	sc := parse(t, phasedSc+"\n[validation]\nexpected_throughput_ops_sec = 1000\n")
	sc.ID = "phased"
	dir := t.TempDir()
	base := Plan{Scenario: sc, Seed: 5, Driver: "memory", MaxLag: time.Second, Preload: PreloadAll}
	one := executeWithLog(t, base, dir)
	const n = 3
	start := time.Now().Add(2 * time.Second) // room for every shard to build and preload on a loaded machine
	rs := make([]*reports.Result, n)
	var wg sync.WaitGroup
	for k := 0; k < n; k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := base
			p.Shard, p.Shards, p.StartAt = k, n, start
			rs[k] = executeWithLog(t, p, dir)
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	for k, r := range rs {
		s := r.Shard
		if s == nil || s.Index != k || s.Count != n || s.StartAt == nil || !s.StartAt.Equal(start) || s.Preload != "all" || s.StreamRate != one.TargetRate {
			t.Fatalf("shard %d info %+v", k, s)
		}
		if d := r.TargetRate - one.TargetRate/n; d > 1e-9 || d < -1e-9 {
			t.Errorf("shard %d target rate %g, want a third of %g", k, r.TargetRate, one.TargetRate)
		}
		if tp := targetOf(r, "throughput"); tp == nil || tp.Target != 1000.0/n {
			t.Errorf("shard %d throughput target %+v, want 1000/3", k, tp)
		}
		if !r.StartedAt.Equal(start.Add(sc.Duration.Warmup()).UTC()) {
			t.Errorf("shard %d started measuring at %v, want the start time + warm-up", k, r.StartedAt)
		}
		if r.Preload.Memories != 200 {
			t.Errorf("shard %d preloaded %d memories, want its own 200", k, r.Preload.Memories)
		}
	}
	var log bytes.Buffer
	m, err := reports.Merge(rs, reports.MergeOptions{HLog: &log, Limits: ptr(ShardLimits(sc, 1))})
	if err != nil {
		t.Fatal(err)
	}
	if m.Total.Count != one.Total.Count {
		t.Errorf("merged %d ops, one process %d", m.Total.Count, one.Total.Count)
	}
	for name, s := range one.Ops {
		if m.Ops[name].Count != s.Count {
			t.Errorf("%s: merged %d, one process %d", name, m.Ops[name].Count, s.Count)
		}
	}
	if len(m.Phases) != len(one.Phases) {
		t.Fatalf("merged phases %d, want %d", len(m.Phases), len(one.Phases))
	}
	for i, p := range one.Phases {
		g := m.Phases[i]
		if g.Name != p.Name || g.Total.Count != p.Total.Count || g.StartS != p.StartS || g.EndS != p.EndS {
			t.Errorf("phase %s: merged %d ops %v–%v, one process %d %v–%v", p.Name, g.Total.Count, g.StartS, g.EndS, p.Total.Count, p.StartS, p.EndS)
		}
		if d := g.TargetRate - p.TargetRate; d > 1e-6 || d < -1e-6 {
			t.Errorf("phase %s target rate: merged %g, one process %g", p.Name, g.TargetRate, p.TargetRate)
		}
		if g.Total.LatencyHDR == "" || g.Total.Latency.P99 == 0 {
			t.Errorf("phase %s: no merged latency", p.Name)
		}
	}
	for name, s := range one.Spaces {
		if m.Spaces[name].Total.Count != s.Total.Count {
			t.Errorf("space %s: merged %d, one process %d", name, m.Spaces[name].Total.Count, s.Total.Count)
		}
	}
	if tp := targetOf(m, "throughput"); tp == nil || tp.Target != 1000 {
		t.Errorf("merged throughput target %+v, want 1000", tp)
	}
	if m.Quality == nil || m.Quality.Ledger == nil || m.Quality.Ledger.Acknowledged != one.Quality.Ledger.Acknowledged {
		t.Errorf("merged ledger %+v, one process acknowledged %d", m.Quality, one.Quality.Ledger.Acknowledged)
	}
	if m.Merge.StartSkewS != 0 || m.Preload.Memories != n*200 {
		t.Errorf("skew %g, preload %d", m.Merge.StartSkewS, m.Preload.Memories)
	}
}

func ptr[T any](v T) *T { return &v }

func targetOf(r *reports.Result, name string) *reports.Target {
	for i := range r.Targets {
		if r.Targets[i].Name == name {
			return &r.Targets[i]
		}
	}
	return nil
}
