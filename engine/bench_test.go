package engine

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/cockroachdb/pebble/v2"
	"github.com/engram-bench/engram-bench/workloads"
)

// The benchmark suite. Sizes come from the environment so that `go test
// ./...` stays fast while the documented runs use Engram's scale:
//
//	ENGRAM_BENCH_N     memories preloaded (default 2000; the targets are for 100000)
//	ENGRAM_BENCH_DIR   keep the preloaded store here and reuse it across runs
//	                   (default: a fresh temporary directory per run)
//	ENGRAM_BENCH_NOPIN 1: run the single-goroutine read sub-benchmarks on a
//	                   goroutine not locked to its OS thread, as the harness's
//	                   callers run (no cpu-* metrics then); see newOpLatencies.
//	                   The store sub-benchmarks never lock (newWriteLatencies).
//
// Every sub-benchmark reports the p50 and p99 of its per-op latency
// (p50-ns/op, p99-ns/op) besides ns/op, measured per op with
// time.Now around the call. Data is the "embeddings_search" built-in
// scenario's clustered distribution (20 clusters, σ = 0.15, 768-d), and cues
// are the ops its generator makes, so the benchmark sees what the harness
// sends. See docs/reference/benchmark-results.md for results and commands.
func BenchmarkEngine(b *testing.B) {
	n := envInt(b, "ENGRAM_BENCH_N", 2000)
	env := newBenchEnv(b, n)
	defer env.close()
	s := env.s

	b.Run("store_single", func(b *testing.B) {
		lat := newWriteLatencies()
		i := 0
		for b.Loop() {
			m := env.fresh()
			t0, c0 := time.Now(), threadCPU()
			if err := s.Remember(ctx, "bench_w", m); err != nil {
				b.Fatal(err)
			}
			lat.done(t0, c0)
			i++
		}
		lat.report(b)
		env.settle(b)
	})
	// The cost of the fsync under store_single: one synced pebble write of
	// a memory-sized value, nothing else.
	b.Run("pebble_sync_write", func(b *testing.B) {
		lat := newOpLatencies()
		val := make([]byte, 3200)
		i := 0
		for b.Loop() {
			key := fmt.Sprintf("!bench_fsync_%d", i%1024)
			t0, c0 := time.Now(), threadCPU()
			if err := s.db.Set([]byte(key), val, pebble.Sync); err != nil {
				b.Fatal(err)
			}
			lat.done(t0, c0)
			i++
		}
		lat.report(b)
	})
	// store_single on a store that acknowledges before the fsync
	// (Options.NoSync): what Engram's own store latency compares with.
	b.Run("store_single_nosync", func(b *testing.B) {
		ns, err := Open(b.TempDir(), Options{NoSync: true})
		if err != nil {
			b.Fatal(err)
		}
		defer ns.Close()
		lat := newWriteLatencies()
		i := 0
		for b.Loop() {
			m := env.fresh()
			t0, c0 := time.Now(), threadCPU()
			if err := ns.Remember(ctx, "bench_w", m); err != nil {
				b.Fatal(err)
			}
			lat.done(t0, c0)
			i++
		}
		lat.report(b)
		b.StopTimer()
		ns.waitIndexed("bench_w")
	})
	b.Run("store_batch/size=1000", func(b *testing.B) {
		lat := newWriteLatencies()
		i := 0
		for b.Loop() {
			ms := make([]Memory, 1000)
			for j := range ms {
				ms[j] = env.fresh()
				ms[j].ID = fmt.Sprintf("batch%d_%d", env.runID, i*1000+j)
			}
			t0, c0 := time.Now(), threadCPU()
			if err := s.RememberBatch(ctx, "bench_w", ms); err != nil {
				b.Fatal(err)
			}
			lat.done(t0, c0)
			i++
		}
		lat.report(b)
		env.settle(b)
	})
	b.Run("recall_by_id", func(b *testing.B) {
		lat := newOpLatencies()
		r := rand.New(rand.NewPCG(1, 2))
		for b.Loop() {
			id := env.ids[r.IntN(len(env.ids))]
			t0, c0 := time.Now(), threadCPU()
			if _, err := s.Get(ctx, "bench", id); err != nil {
				b.Fatal(err)
			}
			lat.done(t0, c0)
		}
		lat.report(b)
	})
	for _, mode := range []RecallMode{ModeSimilarity, ModeSpreading, ModeHybrid} {
		b.Run("recall_by_cue/mode="+mode.String(), func(b *testing.B) {
			lat := newOpLatencies()
			i := 0
			for b.Loop() {
				cue := env.cue(i)
				t0, c0 := time.Now(), threadCPU()
				if _, err := s.Recall(ctx, "bench", RecallRequest{Embedding: cue, Mode: mode, Threshold: 0.5, MaxResults: 10}); err != nil {
					b.Fatal(err)
				}
				lat.done(t0, c0)
				i++
			}
			lat.report(b)
		})
	}
	for _, k := range []int{10, 100} {
		b.Run(fmt.Sprintf("embedding_search/k=%d", k), func(b *testing.B) {
			lat := newOpLatencies()
			i := 0
			for b.Loop() {
				cue := env.cue(i)
				t0, c0 := time.Now(), threadCPU()
				if _, err := s.Nearest(ctx, "bench", cue, k); err != nil {
					b.Fatal(err)
				}
				lat.done(t0, c0)
				i++
			}
			lat.report(b)
			b.StopTimer()
			b.ReportMetric(env.recallAtK(b, k, 200), fmt.Sprintf("recall@%d", k))
		})
	}
	for _, depth := range []int{3, 5} {
		b.Run(fmt.Sprintf("spreading_activation/depth=%d", depth), func(b *testing.B) {
			lat := newOpLatencies()
			r := rand.New(rand.NewPCG(3, 4))
			visited := 0
			for b.Loop() {
				seed := env.ids[r.IntN(len(env.ids))]
				t0, c0 := time.Now(), threadCPU()
				res, err := s.Spread(ctx, "bench", SpreadRequest{Seeds: []string{seed}, MaxHops: depth, MaxResults: 10})
				if err != nil {
					b.Fatal(err)
				}
				lat.done(t0, c0)
				visited += res.Visited
			}
			lat.report(b)
			b.ReportMetric(float64(visited)/float64(b.N), "visited/op")
		})
	}
	b.Run("pattern_completion", func(b *testing.B) {
		lat := newOpLatencies()
		i := 0
		for b.Loop() {
			p := env.partial(i)
			t0, c0 := time.Now(), threadCPU()
			if _, err := s.Complete(ctx, "bench", CompleteRequest{Partial: p}); err != nil {
				b.Fatal(err)
			}
			lat.done(t0, c0)
			i++
		}
		lat.report(b)
	})
	b.Run("consolidation_cycle", func(b *testing.B) {
		// Each cycle consolidates 200 new episodes (stored untimed) into a
		// space that keeps the semantic memories of earlier cycles.
		lat := newWriteLatencies()
		i := 0
		scanned := 0
		for b.Loop() {
			b.StopTimer()
			ms := make([]Memory, 200)
			for j := range ms {
				ms[j] = env.fresh()
				ms[j].ID = fmt.Sprintf("ep%d_%d", env.runID, i*200+j)
			}
			if err := s.RememberBatch(ctx, "bench_c", ms); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			t0, c0 := time.Now(), threadCPU()
			st, err := s.Consolidate(ctx, "bench_c", ConsolidateOptions{MaxEpisodes: 200})
			if err != nil {
				b.Fatal(err)
			}
			lat.done(t0, c0)
			scanned += st.EpisodesScanned
			i++
		}
		lat.report(b)
		b.ReportMetric(float64(scanned)/float64(b.N), "episodes/op")
	})
	for _, g := range []int{1, 2, 4} {
		b.Run(fmt.Sprintf("concurrent_writes/goroutines=%d", g), func(b *testing.B) {
			env.parallel(b, g, func(w, i int) error {
				return s.Remember(ctx, "bench_w", env.fresh())
			})
			env.settle(b)
		})
	}
	// Four writers at a fixed total rate (ENGRAM_BENCH_STORE_RATE, default
	// 500 stores/s) instead of as fast as they can: store latency at a
	// load the machine can index, where concurrent_writes above measures
	// saturation (its writers end up waiting for the index's CPU).
	rate := envInt(b, "ENGRAM_BENCH_STORE_RATE", 500)
	b.Run(fmt.Sprintf("concurrent_writes_paced/goroutines=4/rate=%d", rate), func(b *testing.B) {
		taken := s.snaps.get().Taken
		env.paced(b, 4, rate, func(w, i int) error {
			return s.Remember(ctx, "bench_w", env.fresh())
		})
		// The background index snapshots written meanwhile (their share
		// of the tail: ENGRAM_BENCH_SNAPSHOTS).
		if st := s.snaps.get(); st.Taken > taken {
			b.ReportMetric(float64(st.Taken-taken), "snapshots")
			b.ReportMetric(st.LastDuration.Seconds(), "last-snapshot-s")
			b.ReportMetric(float64(st.LastBytes)/(1<<20), "last-snapshot-MiB")
		}
		env.settle(b)
	})
	for _, g := range []int{1, 2, 4} {
		// Reads: half recall_by_id, half embedding_search k=10.
		b.Run(fmt.Sprintf("concurrent_reads/goroutines=%d", g), func(b *testing.B) {
			env.parallel(b, g, func(w, i int) error {
				if i%2 == 0 {
					_, err := s.Get(ctx, "bench", env.ids[int(splitmix(uint64(i))%uint64(len(env.ids)))])
					return err
				}
				_, err := s.Nearest(ctx, "bench", env.cue(i), 10)
				return err
			})
		})
	}
	for _, g := range []int{1, 2, 4} {
		// Engram's mixed load: 40% recall_by_cue (hybrid), 30% store, 20%
		// embedding_search k=10, 10% recall_by_id.
		b.Run(fmt.Sprintf("mixed_concurrent/goroutines=%d", g), func(b *testing.B) {
			env.parallel(b, g, func(w, i int) error {
				switch x := splitmix(uint64(i)) % 10; {
				case x < 4:
					_, err := s.Recall(ctx, "bench", RecallRequest{Embedding: env.cue(i), Mode: ModeHybrid, Threshold: 0.5})
					return err
				case x < 7:
					return s.Remember(ctx, "bench_w", env.fresh())
				case x < 9:
					_, err := s.Nearest(ctx, "bench", env.cue(i), 10)
					return err
				default:
					_, err := s.Get(ctx, "bench", env.ids[int(splitmix(uint64(i)+1)%uint64(len(env.ids)))])
					return err
				}
			})
			env.settle(b)
		})
	}
	b.Run("hot_tier_lookup", func(b *testing.B) {
		hot := env.ids[:min(len(env.ids), DefaultHotCapacity/2)]
		for _, id := range hot { // promote
			if _, err := s.Get(ctx, "bench", id); err != nil {
				b.Fatal(err)
			}
		}
		before, _ := s.Stats()
		lat := newOpLatencies()
		i := 0
		for b.Loop() {
			t0, c0 := time.Now(), threadCPU()
			if _, err := s.Get(ctx, "bench", hot[i%len(hot)]); err != nil {
				b.Fatal(err)
			}
			lat.done(t0, c0)
			i++
		}
		lat.report(b)
		after, _ := s.Stats()
		if hits := after.Hot.Hits - before.Hot.Hits; hits < int64(b.N) {
			b.Fatalf("hot_tier_lookup: %d hits of %d lookups", hits, b.N)
		}
	})
	b.Run("warm_tier_scan", func(b *testing.B) {
		// One op reads and verifies a page of 100 memories from pebble.
		lat := newOpLatencies()
		r := rand.New(rand.NewPCG(5, 6))
		for b.Loop() {
			after := env.ids[r.IntN(len(env.ids))]
			t0, c0 := time.Now(), threadCPU()
			res, err := s.List(ctx, "bench", ListRequest{Tier: TierWarm, After: after, Limit: 100})
			if err != nil {
				b.Fatal(err)
			}
			lat.done(t0, c0)
			_ = res
		}
		lat.report(b)
	})
}

// benchEnv is the preloaded store and the generator's cues.
type benchEnv struct {
	s     *Store
	gen   *workloads.Generator
	ids   []string
	cues  [][]float32 // embedding_search cues
	parts [][]float32 // pattern_completion partial embeddings
	dir   string
	temp  bool
	runID int64
	next  atomic.Int64
}

const benchScenario = "embeddings_search"

func newBenchEnv(b *testing.B, n int) *benchEnv {
	b.Helper()
	env := &benchEnv{dir: os.Getenv("ENGRAM_BENCH_DIR"), runID: time.Now().UnixNano()}
	if env.dir == "" {
		env.dir, env.temp = b.TempDir(), true
	}
	sc, err := workloads.LoadBuiltin(benchScenario)
	if err != nil {
		b.Fatal(err)
	}
	np := int64(n)
	sc.Data.Preload, sc.Data.NumNodes, sc.Data.MemorySpaces = &np, np, 1
	sc.Operations.PatternCompletionWeight = 10
	env.gen, err = workloads.NewGenerator(sc, 1)
	if err != nil {
		b.Fatal(err)
	}
	// ENGRAM_BENCH_SNAPSHOTS: "off" stops the background index snapshots,
	// a number paces them to that many MiB/s instead of liveSnapshotRate
	// (to measure what they cost the store tail).
	var o Options
	switch v := os.Getenv("ENGRAM_BENCH_SNAPSHOTS"); v {
	case "":
	case "off":
		o.IndexSnapshotEvery = -1
	default:
		mib, err := strconv.Atoi(v)
		if err != nil || mib <= 0 {
			b.Fatalf("ENGRAM_BENCH_SNAPSHOTS=%q: want off or a rate in MiB/s", v)
		}
		old := snapshotRate.Swap(int64(mib) << 20)
		b.Cleanup(func() { snapshotRate.Store(old) })
	}
	s, err := Open(env.dir, o)
	if err != nil {
		b.Fatal(err)
	}
	env.s = s
	var op workloads.Op
	env.ids = make([]string, n)
	for j := range env.ids {
		env.ids[j] = workloads.PreloadKey(uint64(j)).ID()
	}
	if have := s.Count("bench"); have != n {
		if have != 0 {
			b.Fatalf("ENGRAM_BENCH_DIR %s holds %d memories in space bench, want %d: use another directory", env.dir, have, n)
		}
		t0 := time.Now()
		const batch = 500
		var wg sync.WaitGroup
		var next atomic.Int64
		errs := make(chan error, runtime.GOMAXPROCS(0))
		for w := 0; w < runtime.GOMAXPROCS(0); w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var op workloads.Op
				for {
					lo := int(next.Add(batch) - batch)
					if lo >= n {
						return
					}
					ms := make([]Memory, 0, batch)
					for j := lo; j < min(lo+batch, n); j++ {
						env.gen.FillPreload(uint64(j), &op)
						ms = append(ms, Memory{ID: op.Key.ID(), Content: workloads.Content(op.Key), Embedding: append([]float32(nil), op.Embedding...), Confidence: op.Confidence})
					}
					if err := s.RememberBatch(ctx, "bench", ms); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			b.Fatal(err)
		}
		s.waitIndexed("bench")
		b.Logf("preloaded %d memories in %s", n, time.Since(t0).Round(time.Millisecond))
	}
	// Every run starts its writes from the same store: bench_w a copy of
	// bench, bench_c empty.
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	t0 := time.Now()
	if err := resetWriteSpaces(env.dir); err != nil {
		b.Fatal(err)
	}
	if s, err = Open(env.dir, o); err != nil {
		b.Fatal(err)
	}
	env.s = s
	b.Logf("%d memories in %s, copied to bench_w (%d) and reopened in %s (open %s, %d re-indexed)", n, env.dir, s.Count("bench_w"), time.Since(t0).Round(time.Millisecond), s.Recovery().Duration.Round(time.Millisecond), s.Recovery().Reindexed)
	s.waitIndexed("bench")
	s.waitIndexed("bench_w")
	for i := uint64(0); len(env.cues) < 1024 || len(env.parts) < 256; i++ {
		env.gen.Fill(i, &op)
		switch op.Kind {
		case workloads.KindSearch, workloads.KindRecall:
			if len(env.cues) < 1024 {
				env.cues = append(env.cues, append([]float32(nil), op.Embedding...))
			}
		case workloads.KindComplete:
			if len(env.parts) < 256 {
				env.parts = append(env.parts, append([]float32(nil), op.Embedding...))
			}
		}
	}
	return env
}

// resetWriteSpaces gives the write sub-benchmarks the same start in every
// run of a reused store: bench_w becomes a copy of the preloaded space
// bench (its memories, access records, links and index snapshot, so Open
// reuses the index instead of rebuilding it), and bench_c is emptied. So
// writes are measured into a space of ENGRAM_BENCH_N memories. Before,
// both spaces grew by every run (about 30,000 memories a run), and the
// write numbers with them: run F in docs/reference/benchmark-results.md.
// The store must be closed; records carry no space name (their checksums
// cover the values only), so a copy is the same keys under another space.
func resetWriteSpaces(dir string) (err error) {
	db, err := pebble.Open(dir, pebbleOptions(quietLogger{})) // the store's settings: the compaction below rewrites its tables
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, db.Close()) }()
	perSpace := []byte{pfxMemory, pfxAccess, pfxEdge, pfxBelief, pfxIndex, pfxIndexV1}
	b := db.NewBatch()
	for _, sp := range []string{"bench_w", "bench_c"} {
		for _, p := range perSpace {
			k := spaceKey(nil, p, sp)
			b.DeleteRange(k, prefixEnd(k), nil)
		}
		b.Delete(spaceRecordKey(sp), nil)
		b.Delete(manifestKey(sp), nil)
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		return err
	}
	b = db.NewBatch()
	flush := func() error {
		if b.Len() < 16<<20 {
			return nil
		}
		err := b.Commit(pebble.NoSync)
		b = db.NewBatch()
		return err
	}
	for _, p := range perSpace {
		from, to := spaceKey(nil, p, "bench"), spaceKey(nil, p, "bench_w")
		it, err := db.NewIter(&pebble.IterOptions{LowerBound: from, UpperBound: prefixEnd(from)})
		if err != nil {
			return err
		}
		for it.First(); it.Valid(); it.Next() {
			k := append(slices.Clip(to), it.Key()[len(from):]...)
			if err := b.Set(k, it.Value(), nil); err != nil {
				it.Close()
				return err
			}
			if err := flush(); err != nil {
				it.Close()
				return err
			}
		}
		if err := errors.Join(it.Error(), it.Close()); err != nil {
			return err
		}
	}
	for _, k := range [][2][]byte{{spaceRecordKey("bench"), spaceRecordKey("bench_w")}, {manifestKey("bench"), manifestKey("bench_w")}} {
		v, closer, err := db.Get(k[0])
		if errors.Is(err, pebble.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		err = b.Set(k[1], v, nil)
		closer.Close()
		if err != nil {
			return err
		}
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return err
	}
	// Settle the copy into the bottom level now, so that its flushes and
	// compactions do not share the disk with the measured writes.
	return db.Compact(context.Background(), []byte{0}, []byte{0xff}, true)
}

// recallAtK measures, untimed, the fraction of the exact top k (a full
// scan) that Nearest returns, over the first q cues: the quality the
// embedding_search latency was bought at.
func (e *benchEnv) recallAtK(b *testing.B, k, q int) float64 {
	hits, total := 0, 0
	for i := 0; i < min(q, len(e.cues)); i++ {
		got, err := e.s.Nearest(ctx, "bench", e.cues[i], k)
		if err != nil {
			b.Fatal(err)
		}
		want, err := e.s.Search(ctx, "bench", e.cues[i], k)
		if err != nil {
			b.Fatal(err)
		}
		in := make(map[string]bool, len(got))
		for _, m := range got {
			in[m.ID] = true
		}
		for _, m := range want {
			if in[m.ID] {
				hits++
			}
		}
		total += len(want)
	}
	if total == 0 {
		return 0
	}
	return float64(hits) / float64(total)
}

func (e *benchEnv) close() {
	e.s.Close()
}

func (e *benchEnv) cue(i int) []float32     { return e.cues[i%len(e.cues)] }
func (e *benchEnv) partial(i int) []float32 { return e.parts[i%len(e.parts)] }

// fresh returns a new memory: a unique id, and an embedding of its own
// drawn by the scenario's generator as a run's stores are (clustered like
// the preload). Writes used to cycle through 1,024 vectors: in a store grown
// by many runs each was stored about a thousand times, and the duplicates
// split the index's layer 0 into one group per vector (3,344 of 1,005,019
// nodes reachable from the entry point, 2026-11-27), an index no real
// workload builds and whose inserts cost what real ones do not.
func (e *benchEnv) fresh() Memory {
	k := e.next.Add(1)
	key := workloads.OpKey(splitmix(uint64(e.runID)^uint64(k)) >> 13) // distinct across runs of a reused store
	return Memory{ID: fmt.Sprintf("w%d_%d", e.runID, k), Content: "benchmark write", Embedding: e.gen.Embedding(key, nil), Confidence: 0.8}
}

// settle waits, untimed, until background indexing of writes is done, so
// that it does not leak into the next sub-benchmark.
func (e *benchEnv) settle(b *testing.B) {
	b.StopTimer()
	e.s.waitIndexed("bench_w")
	b.StartTimer()
}

// parallel runs b.N ops on g goroutines as fast as they go (a closed
// loop): each op's latency is its own call.
func (e *benchEnv) parallel(b *testing.B, g int, op func(w, i int) error) { e.paced(b, g, 0, op) }

// paced runs b.N ops on g goroutines at a total of rate ops per second
// (rate 0: as fast as they go): op i is due at i/rate after the start. Its
// latency runs from when it was due if no goroutine was free then (the wait
// for a writer is the store's queueing delay) and from when its goroutine
// woke for it otherwise (a sleeping goroutine waking late is the
// benchmark's lateness, not the store's). late-% reports the ops that found
// no goroutine free.
func (e *benchEnv) paced(b *testing.B, g, rate int, op func(w, i int) error) {
	lat := newLatencies(g)
	var next, late atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Value
	var every time.Duration
	if rate > 0 {
		every = time.Second / time.Duration(rate)
	}
	b.ResetTimer()
	t0 := time.Now()
	for w := 0; w < g; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= b.N || failed.Load() != nil {
					return
				}
				start := time.Now()
				if rate > 0 {
					due := t0.Add(time.Duration(i) * every)
					start = due
					if d := time.Until(due); d > 0 {
						time.Sleep(d)
						start = time.Now()
					} else if -d > time.Millisecond {
						late.Add(1)
					}
				}
				if err := op(w, i); err != nil {
					failed.Store(err)
					return
				}
				lat.record(w, time.Since(start))
			}
		}()
	}
	wg.Wait()
	el := time.Since(t0)
	b.StopTimer()
	if err, ok := failed.Load().(error); ok {
		b.Fatal(err)
	}
	lat.report(b)
	b.ReportMetric(float64(b.N)/el.Seconds(), "ops/s")
	if rate > 0 {
		b.ReportMetric(100*float64(late.Load())/float64(b.N), "late-%")
	}
	b.StartTimer()
}

// latencies records per-op latency in one HDR histogram per goroutine.
// Single-goroutine benchmarks (newOpLatencies) also record each op's CPU
// time on its (locked) OS thread: on a shared machine the wall-clock
// percentiles include waits for a processor, the CPU ones do not.
type latencies struct {
	hs     []*hdr.Histogram
	cpu    *hdr.Histogram
	pinned bool
}

// newOpLatencies is latencies for ops run on the calling goroutine, which
// it locks to its OS thread until report (unless ENGRAM_BENCH_NOPIN=1).
// A locked goroutine pays two OS thread switches for every pebble write
// (the engine hands each write to a writer goroutine, Store.write), which
// an unlocked caller does not; and the write's own CPU time is spent on
// the writer's thread, outside the cpu-* metrics.
func newOpLatencies() *latencies {
	l := newLatencies(1)
	if haveThreadCPU && os.Getenv("ENGRAM_BENCH_NOPIN") != "1" {
		runtime.LockOSThread()
		l.cpu, l.pinned = hdr.New(1, 60_000_000_000, 3), true
	}
	return l
}

// newWriteLatencies is latencies for store sub-benchmarks, whose ops are
// pebble writes: their goroutine is never locked to its OS thread (locking
// would add two OS thread switches to every write, see newOpLatencies, and
// the write's CPU is spent on the writer's thread anyway), so they report
// no cpu-* metrics.
func newWriteLatencies() *latencies { return newLatencies(1) }

// done records an op that started at wall time t0 and thread CPU time c0.
func (l *latencies) done(t0 time.Time, c0 time.Duration) {
	l.record(0, time.Since(t0))
	if l.cpu != nil {
		_ = l.cpu.RecordValue(max(int64(threadCPU()-c0), 1))
	}
}

func newLatencies(g int) *latencies {
	l := &latencies{}
	for i := 0; i < g; i++ {
		l.hs = append(l.hs, hdr.New(1, 60_000_000_000, 3))
	}
	return l
}

func (l *latencies) record(w int, d time.Duration) {
	_ = l.hs[w].RecordValue(max(int64(d), 1))
}

func (l *latencies) report(b *testing.B) {
	all := hdr.New(1, 60_000_000_000, 3)
	for _, h := range l.hs {
		all.Merge(h)
	}
	if all.TotalCount() == 0 {
		return
	}
	b.ReportMetric(float64(all.ValueAtQuantile(50)), "p50-ns/op")
	b.ReportMetric(float64(all.ValueAtQuantile(99)), "p99-ns/op")
	if l.cpu != nil && l.cpu.TotalCount() > 0 {
		b.ReportMetric(float64(l.cpu.ValueAtQuantile(50)), "cpu-p50-ns/op")
		b.ReportMetric(float64(l.cpu.ValueAtQuantile(99)), "cpu-p99-ns/op")
	}
	if l.pinned {
		runtime.UnlockOSThread()
		l.pinned = false
	}
}
