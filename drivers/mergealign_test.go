package drivers

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/engram-bench/engram-bench/reports"
	"github.com/engram-bench/engram-bench/workloads"
)

// A sharded run planned for more ticks than reports.MaxIntervals, stopped
// early (Ctrl-C on every shard): the merged intervals line up with the
// shards' own, and each holds the ops its shards scheduled in it.
func TestMergeIntervalsAlignWithShards(t *testing.T) {
	sc := parse(t, "[duration]\ntotal_seconds = 14.4\nwarmup_seconds = 0\n[arrival]\npattern = \"constant\"\nrate = 2000\n[operations]\nrecall_by_id_weight = 1\nstore_weight = 1\n[data]\nembedding_dim = 4\npreload = 100\n")
	sc.ID = "align"
	tick := 2 * time.Millisecond // 7,200 ticks planned: two per interval
	dir := t.TempDir()
	const n = 2
	// Far enough ahead for both shards' setup and preload: a second was
	// not under -race on a busy machine (CI, 2026-11-28: "start time
	// already passed ... 275ms ago").
	start := time.Now().Add(3 * time.Second)
	rs := make([]*reports.Result, n)
	var wg sync.WaitGroup
	for k := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithDeadline(context.Background(), start.Add(1200*time.Millisecond))
			defer cancel()
			p := Plan{Scenario: sc, Seed: 1, Driver: "memory", MaxLag: time.Second, Interval: tick, Preload: PreloadAll,
				Shard: k, Shards: n, StartAt: start}
			rs[k] = executeWithLogCtx(t, ctx, p, dir)
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	type agg struct{ sched, count int64 }
	want := map[int64]*agg{}
	for _, r := range rs {
		for _, iv := range r.Intervals {
			k := int64(math.Round(iv.StartS * 1000))
			if want[k] == nil {
				want[k] = &agg{}
			}
			want[k].sched += iv.Scheduled
			want[k].count += iv.Count
		}
	}
	var log bytes.Buffer
	m, err := reports.Merge(rs, reports.MergeOptions{HLog: &log, AllowPartial: true})
	if err != nil {
		t.Fatal(err)
	}
	bad := 0
	for _, iv := range m.Intervals {
		k := int64(math.Round(iv.StartS * 1000))
		w := want[k]
		if w == nil || w.sched != iv.Scheduled {
			if bad < 5 {
				t.Errorf("merged interval %v–%v s: scheduled %d count %d; the shards' intervals at %v s: %+v", iv.StartS, iv.EndS, iv.Scheduled, iv.Count, iv.StartS, w)
			}
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d merged intervals do not line up with the shards' (%d and %d intervals; merged duration %v s)", bad, len(m.Intervals), len(rs[0].Intervals), len(rs[1].Intervals), m.DurationS)
	}
}

// executeWithLogCtx is executeWithLog with a context (a Ctrl-C).
func executeWithLogCtx(t *testing.T, ctx context.Context, plan Plan, dir string) *reports.Result {
	t.Helper()
	name := filepath.Join(dir, fmt.Sprintf("shard-%d-of-%d.hlog", plan.Shard, max(plan.Shards, 1)))
	f, err := os.Create(name)
	if err != nil {
		t.Error(err)
		return nil
	}
	defer f.Close()
	lw := reports.NewHLogWriter(f, workloads.KindNames(), reports.HLogMeta{Scenario: plan.Scenario.ID, Seed: plan.Seed, Driver: plan.Driver, Shard: plan.Shard, Shards: plan.Shards}, nil)
	plan.Live = lw.Tick
	res, err := Execute(ctx, plan)
	if err != nil {
		t.Error(err)
		return nil
	}
	if err := lw.Close(res.Partial); err != nil {
		t.Error(err)
	}
	res.Files = map[string]string{"hlog": name}
	res.Path = filepath.Join(dir, fmt.Sprintf("shard-%d.json", plan.Shard))
	return res
}
