package engine

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// crashAfter stores n memories (singles, a batch, edges, a delete) on a
// crashable in-memory file system, then simulates a power cut: the clone
// holds exactly the data that was synced. It returns the clone and the ids
// acknowledged as stored (and not deleted).
func crashAfter(t *testing.T, n int, opts Options) (*vfs.MemFS, []string, *Store) {
	t.Helper()
	fs := vfs.NewCrashableMem()
	opts.FS, opts.Dim = fs, 16
	s := open(t, "db", opts)
	r := rand.New(rand.NewPCG(5, 6))
	var acked []string
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("m%d", i)
		mustRemember(t, s, "crash", id, randVec(r, 16))
		acked = append(acked, id)
	}
	var batch []Memory
	for i := 0; i < 20; i++ {
		batch = append(batch, Memory{ID: fmt.Sprintf("b%d", i), Content: fmt.Sprintf("content of b%d", i), Embedding: randVec(r, 16), Confidence: 0.5})
		acked = append(acked, batch[i].ID)
	}
	if err := s.RememberBatch(ctx, "crash", batch); err != nil {
		t.Fatal(err)
	}
	if err := s.Associate(ctx, "crash", "m0", "m1", 0.5); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "crash", "m2"); err != nil {
		t.Fatal(err)
	}
	acked = append(acked[:2], acked[3:]...)
	return fs.CrashClone(vfs.CrashCloneCfg{}), acked, s
}

func contentOK(t *testing.T, s *Store, id string) bool {
	t.Helper()
	m, err := s.Get(ctx, "crash", id)
	if errors.Is(err, ErrNotFound) {
		return false
	}
	if err != nil {
		t.Fatalf("get %s after crash: %v", id, err)
	}
	if m.Content != "content of "+id {
		t.Fatalf("memory %s after crash holds %q", id, m.Content)
	}
	return true
}

// Synced mode: everything acknowledged before the crash is there after it.
func TestCrashSyncedLosesNothing(t *testing.T) {
	for _, n := range []int{3, 10, 200} {
		t.Run(fmt.Sprintf("n=%d", n), func(t *testing.T) {
			crashed, acked, live := crashAfter(t, n, Options{})
			defer live.Close()
			s := open(t, "db", Options{FS: crashed, Dim: 16})
			defer s.Close()
			for _, id := range acked {
				if !contentOK(t, s, id) {
					t.Errorf("acknowledged memory %s lost in the crash", id)
				}
			}
			if got := s.Count("crash"); got != len(acked) {
				t.Errorf("count after crash %d, want %d", got, len(acked))
			}
			if contentOK(t, s, "m2") {
				t.Error("a synced delete was undone by the crash")
			}
			es, _ := s.Edges(ctx, "crash", "m0")
			linked := false
			for _, e := range es {
				linked = linked || e.To == "m1" && e.Kind == EdgeExplicit && e.Weight == 0.5
			}
			if !linked {
				t.Errorf("synced association lost: edges of m0 after crash: %v", es)
			}
			rec := s.Recovery()
			if rec.Clean || rec.LossPossible || rec.Memories != len(acked) {
				t.Errorf("recovery after a synced crash: %+v", rec)
			}
			// The index works after the crash.
			s.waitIndexed("crash")
			if st, _ := s.Space("crash"); st.Index.Nodes != len(acked) || st.Index.Pending != 0 {
				t.Errorf("index after crash %+v", st.Index)
			}
		})
	}
}

// NoSync mode: the crash loses acknowledged writes, and the reopened store
// says so (Recovery().LossPossible) instead of hiding it; what survives is
// intact, what is lost is not found, never garbage.
func TestCrashNoSyncReportsLoss(t *testing.T) {
	crashed, acked, live := crashAfter(t, 200, Options{NoSync: true, SyncInterval: -1})
	defer live.Close()
	s := open(t, "db", Options{FS: crashed, Dim: 16, NoSync: true})
	defer s.Close()
	survived := 0
	for _, id := range acked {
		if contentOK(t, s, id) {
			survived++
		}
	}
	rec := s.Recovery()
	t.Logf("nosync crash: %d of %d acknowledged memories survived; recovery %+v", survived, len(acked), rec)
	if !rec.LossPossible || rec.Clean || !rec.PreviousNoSync {
		t.Errorf("loss not reported: %+v", rec)
	}
	if survived == len(acked) {
		t.Error("nothing was lost: the test did not exercise NoSync")
	}
	if s.Count("crash") != survived {
		t.Errorf("count %d but %d readable", s.Count("crash"), survived)
	}
}

// NoSync mode with its periodic sync: writes acknowledged before the last
// sync survive; DurableAt says when that was.
func TestCrashNoSyncBoundedBySync(t *testing.T) {
	fs := vfs.NewCrashableMem()
	s := open(t, "db", Options{FS: fs, Dim: 16, NoSync: true, SyncInterval: 5 * time.Millisecond})
	defer s.Close()
	r := rand.New(rand.NewPCG(1, 1))
	for i := 0; i < 50; i++ {
		mustRemember(t, s, "crash", fmt.Sprintf("m%d", i), randVec(r, 16))
	}
	mark := time.Now()
	deadline := time.Now().Add(10 * time.Second)
	for {
		time.Sleep(20 * time.Millisecond) // let the sync loop run at least once after the writes
		crashed := fs.CrashClone(vfs.CrashCloneCfg{})
		c := open(t, "db", Options{FS: crashed, Dim: 16})
		n := c.Count("crash")
		rec := c.Recovery()
		c.Close()
		if n == 50 {
			if !rec.LossPossible || rec.DurableAt.Before(mark.Add(-time.Second)) {
				t.Errorf("recovery %+v", rec)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 10 s only %d of 50 writes are durable: the sync loop does not sync", n)
		}
	}
}

// A clean Close is recorded: the next Open reports a clean start.
func TestCleanShutdownRecorded(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{Dim: 4, NoSync: true})
	mustRemember(t, s, "default", "a", []float32{1, 0, 0, 0})
	s.Close()
	s = open(t, dir, Options{Dim: 4})
	defer s.Close()
	if rec := s.Recovery(); !rec.Clean || rec.LossPossible || !rec.PreviousNoSync || rec.Memories != 1 {
		t.Errorf("recovery after clean close %+v", rec)
	}
}

// abandon stops s as a crash would, without Close's index snapshot: its
// background goroutines end, pebble closes, its memory is released.
func (s *Store) abandon() {
	s.stopping.Store(true)
	s.bgCancel()
	s.bg.Wait()
	s.db.Close()
	s.releaseMemory()
}
