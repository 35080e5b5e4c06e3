package engine

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
)

// crashPoint takes a crash clone of fs just before the k-th file operation
// that follows arm (operations counted from 1; 0 never).
type crashPoint struct {
	fs    *vfs.MemFS
	armed atomic.Bool
	n, k  atomic.Int64
	cfg   vfs.CrashCloneCfg
	clone *vfs.MemFS
	op    string
}

func (c *crashPoint) String() string { return "crash point" }

func (c *crashPoint) MaybeError(op errorfs.Op) error {
	if c.armed.Load() && c.n.Add(1) == c.k.Load() {
		c.clone, c.op = c.fs.CrashClone(c.cfg), fmt.Sprintf("%v %s", op.Kind, op.Path)
	}
	return nil
}

// A crash at any file operation of an index snapshot — while its table is
// written, between the table's sync and its ingest, inside the ingest, before
// or after the manifest that names it — leaves a store that opens with every
// memory, uses a complete snapshot (the new one or the one before) or says
// why it ignored one, finds every memory by its embedding, and takes and
// reuses the next snapshot. Crash states keep only synced data, or a random
// share of what was not synced; synced and NoSync stores.
func TestSnapshotCrashPoints(t *testing.T) {
	const dim, n = 16, 150
	ms := randomMemories(3, n, dim)
	for _, c := range []struct {
		name   string
		noSync bool
		second bool // crash the second snapshot (a previous generation exists)
		prob   float64
	}{
		{name: "first"},
		{name: "second", second: true},
		{name: "second/unsynced-kept", second: true, prob: 0.5},
		{name: "nosync/second", noSync: true, second: true},
		{name: "nosync/second/unsynced-kept", noSync: true, second: true, prob: 0.5},
	} {
		if raceEnabled && c.prob == 0 && c.name != "first" {
			continue // the race detector's run keeps it short
		}
		t.Run(c.name, func(t *testing.T) {
			ops := 0
			for k := 1; ops == 0 || k <= ops+1; k++ {
				mem := vfs.NewCrashableMem()
				cp := &crashPoint{fs: mem, cfg: vfs.CrashCloneCfg{UnsyncedDataPercent: int(c.prob * 100), RNG: rand.New(rand.NewPCG(uint64(k), 9))}}
				opts := Options{FS: errorfs.Wrap(mem, cp), Dim: dim, NoAutoLink: true, IndexSnapshotEvery: -1, NoSync: c.noSync, SyncInterval: -1}
				s := open(t, "db", opts)
				if err := s.RememberBatch(ctx, "default", ms[:n/2]); err != nil {
					t.Fatal(err)
				}
				s.waitIndexed("default")
				sp := s.space("default")
				if c.second {
					if _, err := s.saveIndex(ctx, sp, false); err != nil {
						t.Fatal(err)
					}
				}
				if err := s.RememberBatch(ctx, "default", ms[n/2:]); err != nil {
					t.Fatal(err)
				}
				s.waitIndexed("default")
				if c.noSync {
					// What the crash may lose of the memories is
					// TestCrashNoSync*'s; here every memory is synced
					// before the snapshot, whose own writes are not.
					if err := s.writeSession(false); err != nil {
						t.Fatal(err)
					}
				}
				cp.k.Store(int64(k))
				cp.armed.Store(true)
				if _, err := s.saveIndex(ctx, sp, false); err != nil {
					t.Fatal(err)
				}
				cp.armed.Store(false)
				if ops == 0 {
					ops = int(cp.n.Load())
					t.Logf("a snapshot takes %d file operations", ops)
				}
				crashed, at := cp.clone, cp.op
				if crashed == nil { // after the last operation
					crashed, at = mem.CrashClone(cp.cfg), "after the snapshot"
				}
				s.Close()
				checkCrashedSnapshot(t, crashed, at, opts, ms)
			}
		})
	}
}

func checkCrashedSnapshot(t *testing.T, fs *vfs.MemFS, at string, opts Options, ms []Memory) {
	t.Helper()
	opts.FS = fs
	s, err := Open("db", opts)
	if err != nil {
		t.Fatalf("crash at %s: open: %v", at, err)
	}
	defer s.Close()
	rec := s.Recovery()
	if rec.Memories != len(ms) {
		t.Fatalf("crash at %s: %d memories, want %d", at, rec.Memories, len(ms))
	}
	if !rec.IndexLoaded && len(rec.IndexNotes) > 0 {
		t.Logf("crash at %s: %v", at, rec.IndexNotes)
	}
	if rec.IndexLoaded && rec.IndexReused+rec.Reindexed != len(ms) {
		t.Errorf("crash at %s: reused %d + reindexed %d of %d", at, rec.IndexReused, rec.Reindexed, len(ms))
	}
	names, _ := fs.List("db")
	for _, n := range names {
		if strings.HasSuffix(n, ingestSuffix) {
			t.Errorf("crash at %s: %s left after Open", at, n)
		}
	}
	s.waitIndexed("default")
	// Every memory is a node of the graph, loaded or re-indexed.
	if st := s.space("default").idx.stats(); st.Nodes != len(ms) || st.Pending != 0 {
		t.Errorf("crash at %s: the graph holds %d nodes (%d pending), want %d", at, st.Nodes, st.Pending, len(ms))
	}
	// Every one is reachable from the entry point (waitIndexed's
	// connectivity pass linked back any node the background build left
	// out), and searches find them: all but the rare miss of an
	// approximate search. Measured 2026-11-27: 2 of 150,000 over 1,000
	// builds by inserts, and 5–8 of 45,000 over 300 builds re-indexed in
	// the background at Open, as here; misses come in clusters (a build
	// under -race missed 4 of 150), so the bound is 5%.
	sp := s.space("default")
	reached := sp.idx.reachable()
	missed := 0
	for _, m := range ms {
		if !reached[sp.byID[m.ID]] {
			t.Errorf("crash at %s: %s unreachable from the entry point", at, m.ID)
		}
		res, err := s.Nearest(ctx, "default", m.Embedding, 10)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(res, func(r Match) bool { return r.ID == m.ID }) {
			missed++
		}
	}
	if missed > 0 {
		t.Logf("crash at %s: %d of %d memories not found by their own embedding", at, missed, len(ms))
	}
	if missed*20 > len(ms) {
		t.Errorf("crash at %s: %d of %d memories not found by their own embedding (%+v)", at, missed, len(ms), rec)
	}
	// The next snapshot (which may reuse the crashed generation) is
	// complete and is what the next Open loads.
	if _, err := s.saveIndex(ctx, s.space("default"), false); err != nil {
		t.Fatalf("crash at %s: snapshot after reopen: %v", at, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open("db", opts)
	if err != nil {
		t.Fatalf("crash at %s: second open: %v", at, err)
	}
	defer s2.Close()
	if rec := s2.Recovery(); !rec.IndexLoaded || rec.Reindexed != 0 || rec.IndexReused != len(ms) {
		t.Errorf("crash at %s: reopen after the next snapshot: %+v", at, rec)
	}
}
