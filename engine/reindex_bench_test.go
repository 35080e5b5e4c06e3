package engine

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkRestoreReindex measures what an index snapshot in a backup saves
// a restored store: the time from Open until its index is complete, for a
// store of ENGRAM_REINDEX_N memories (default 2000; 768-d, clustered)
// checkpointed while open (never closed, as a backup of a serving engramd),
// with and without the snapshot Backup now writes before its checkpoint.
//
//	ENGRAM_REINDEX_N=20000 go test ./engine -run '^$' -bench RestoreReindex -benchtime 1x -timeout 30m
//
// Metrics: open-s (Open), index-s (Open until nothing is left to index),
// reindexed and reused (nodes), and for snapshot=with the snapshot's own
// cost in the backup (snapshot-s, snapshot-MB).
func BenchmarkRestoreReindex(b *testing.B) {
	n := envInt(b, "ENGRAM_REINDEX_N", 2000)
	root := b.TempDir()
	opts := Options{NoSync: true, IndexSnapshotEvery: -1}
	s, err := Open(filepath.Join(root, "live"), opts)
	if err != nil {
		b.Fatal(err)
	}
	t0 := time.Now()
	loadScenario(b, s, "embeddings_search", n)
	b.Logf("loaded %d memories in %v", n, time.Since(t0).Round(time.Millisecond))
	// Without: a checkpoint of the live store, as Backup took it before it
	// wrote a snapshot (no Close ever wrote one).
	without := filepath.Join(root, "without")
	if err := s.db.Checkpoint(without); err != nil {
		b.Fatal(err)
	}
	// With: a backup, restored.
	if _, err := s.Backup(ctx, filepath.Join(root, "backup"), BackupOptions{}); err != nil {
		b.Fatal(err)
	}
	snap, _ := s.Stats()
	with := filepath.Join(root, "with")
	if _, err := Restore(ctx, []string{filepath.Join(root, "backup")}, with); err != nil {
		b.Fatal(err)
	}
	s.abandon() // no Close: it would write a snapshot
	for _, c := range []struct{ name, dir string }{{"snapshot=without", without}, {"snapshot=with", with}} {
		b.Run(c.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				dir := filepath.Join(root, "run")
				os.RemoveAll(dir)
				copyTree(b, c.dir, dir)
				b.StartTimer()
				start := time.Now()
				r, err := Open(dir, opts)
				if err != nil {
					b.Fatal(err)
				}
				opened := time.Since(start)
				r.waitIndexed("default")
				indexed := time.Since(start)
				b.StopTimer()
				rec := r.Recovery()
				if r.Count("default") != n {
					b.Fatalf("restored %d memories, want %d", r.Count("default"), n)
				}
				r.abandon()
				b.ReportMetric(opened.Seconds(), "open-s")
				b.ReportMetric(indexed.Seconds(), "index-s")
				b.ReportMetric(float64(rec.Reindexed), "reindexed")
				b.ReportMetric(float64(rec.IndexReused), "reused")
				if c.name == "snapshot=with" {
					b.ReportMetric(snap.IndexSnapshots.LastDuration.Seconds(), "snapshot-s")
					b.ReportMetric(float64(snap.IndexSnapshots.LastBytes)/(1<<20), "snapshot-MB")
				}
				b.StartTimer()
			}
		})
	}
}
