package engine

import (
	"bufio"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/engram-bench/engram-bench/workloads"
)

// TestScale loads ENGRAM_SCALE_N memories (768-d, the "embeddings_search"
// scenario's clustered distribution, auto-linked) into a store, reports
// load time, peak RSS, disk size and reopen (recovery) time, and checks that
// peak RSS stays below twice the raw data size: N × (768×4 + metadata
// bytes). It is skipped unless ENGRAM_SCALE_N is set: the documented
// million-memory run (docs/reference/benchmark-results.md) is
//
//	ENGRAM_SCALE_N=1000000 ENGRAM_SCALE_DIR=/var/tmp/engram-scale \
//	  go test ./engine -run TestScale -v -timeout 3h
//
// ENGRAM_SCALE_DIR keeps the store (default: a temporary directory). The
// store is synced per batch of 1000 (as a bulk load would be).
// ENGRAM_SCALE_M, ENGRAM_SCALE_EFC and ENGRAM_SCALE_EF set the index's M,
// ef_construction and ef_search (default: the engine's).
func TestScale(t *testing.T) {
	v := os.Getenv("ENGRAM_SCALE_N")
	if v == "" {
		t.Skip("set ENGRAM_SCALE_N (e.g. 1000000) to run the scale test")
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("ENGRAM_SCALE_N=%q: want a positive integer", v)
	}
	dir := os.Getenv("ENGRAM_SCALE_DIR")
	if dir == "" {
		dir = t.TempDir()
	} else if entries, _ := os.ReadDir(dir); len(entries) > 0 {
		t.Fatalf("ENGRAM_SCALE_DIR %s is not empty", dir)
	}
	sc, err := workloads.LoadBuiltin("embeddings_search")
	if err != nil {
		t.Fatal(err)
	}
	np := int64(n)
	sc.Data.Preload, sc.Data.NumNodes, sc.Data.MemorySpaces = &np, np, 1
	gen, err := workloads.NewGenerator(sc, 1)
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{Index: IndexOptions{M: envInt(t, "ENGRAM_SCALE_M", DefaultIndexM),
		EfConstruction: envInt(t, "ENGRAM_SCALE_EFC", DefaultEfConstruction), EfSearch: envInt(t, "ENGRAM_SCALE_EF", DefaultEfSearch)}}
	if err := opts.Index.Validate(); err != nil {
		t.Fatal(err)
	}
	t.Logf("index: M=%d ef_construction=%d ef_search=%d", opts.Index.M, opts.Index.EfConstruction, opts.Index.EfSearch)
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	var raw atomic.Int64
	const batch = 1000
	var next, done atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, runtime.GOMAXPROCS(0))
	stop := make(chan struct{})
	go func() {
		tk := time.NewTicker(30 * time.Second)
		defer tk.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tk.C:
				d := done.Load()
				t.Logf("  %d/%d loaded, %.0f memories/s, RSS %s", d, n, float64(d)/time.Since(t0).Seconds(), mib(rss("VmRSS")))
			}
		}
	}()
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
				var bytes int64
				for j := lo; j < min(lo+batch, n); j++ {
					gen.FillPreload(uint64(j), &op)
					m := Memory{ID: op.Key.ID(), Content: workloads.Content(op.Key), Embedding: append([]float32(nil), op.Embedding...), Confidence: op.Confidence}
					// Raw: the embedding, id, content and the fixed fields
					// (confidence, created at, sequence number, dimension).
					bytes += int64(4*len(m.Embedding) + len(m.ID) + len(m.Content) + 24)
					ms = append(ms, m)
				}
				if err := s.RememberBatch(ctx, "default", ms); err != nil {
					errs <- err
					return
				}
				raw.Add(bytes)
				done.Add(int64(len(ms)))
			}
		}()
	}
	wg.Wait()
	close(stop)
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	s.waitIndexed("default")
	load := time.Since(t0)
	st, _ := s.Stats()
	peakLoad := rss("VmHWM")
	t0 = time.Now()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	closeTime := time.Since(t0)
	disk := du(dir)
	s, err = Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rec := s.Recovery()
	r := recallAt10(t, s, gen, 100)
	peak := rss("VmHWM")
	rawBytes := raw.Load()
	t.Logf("scale: %d memories × 768-d, raw data %s", n, mib(rawBytes))
	t.Logf("  load:    %s (%.0f memories/s, 2 writers, batches of %d, synced), %d edges", load.Round(time.Second), float64(n)/load.Seconds(), batch, st.Spaces[0].Edges)
	t.Logf("  RSS:     peak %s during load (%.2f× raw), peak %s overall (%.2f× raw)", mib(peakLoad), float64(peakLoad)/float64(rawBytes), mib(peak), float64(peak)/float64(rawBytes))
	t.Logf("  disk:    %s (%.2f× raw)", mib(disk), float64(disk)/float64(rawBytes))
	t.Logf("  close:   %s (index snapshot, flush)", closeTime.Round(time.Millisecond))
	t.Logf("  reopen:  %s (index loaded from snapshot: %v, reindexed %d)", rec.Duration.Round(time.Millisecond), rec.IndexLoaded, rec.Reindexed)
	t.Logf("  recall@10 after reopen: %.4f", r)
	if rec.Memories != n || !rec.IndexLoaded || rec.Reindexed != 0 {
		t.Errorf("reopen: %+v", rec)
	}
	if peak >= 2*rawBytes {
		t.Errorf("peak RSS %s is not below 2× the raw data size %s", mib(peak), mib(rawBytes))
	}
	if r < 0.95 {
		t.Errorf("recall@10 %.4f below 0.95", r)
	}
}

// rss reads a memory figure (VmRSS, VmHWM) of this process in bytes; 0 if
// unknown.
func rss(field string) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func du(dir string) int64 {
	var total int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if in, err := d.Info(); err == nil {
				total += in.Size()
			}
		}
		return nil
	})
	return total
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
