package engine

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
)

// walFaults fails every write and sync of a WAL file while on.
type walFaults struct{ on atomic.Bool }

func (w *walFaults) String() string { return "wal faults" }

func (w *walFaults) MaybeError(op errorfs.Op) error {
	if !w.on.Load() || !strings.HasSuffix(op.Path, ".log") {
		return nil
	}
	switch op.Kind {
	case errorfs.OpFileWrite, errorfs.OpFileWriteAt, errorfs.OpCreate, errorfs.OpReuseForWrite,
		errorfs.OpFileSync, errorfs.OpFileSyncData, errorfs.OpFileSyncTo, errorfs.OpFileFlush:
		return errorfs.ErrInjected
	}
	return nil
}

// within runs fn and fails the test (with every goroutine's stack) if it
// has not returned after d.
func within(t *testing.T, d time.Duration, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	select {
	case <-done:
	case <-time.After(d):
		buf := make([]byte, 1<<20)
		t.Fatalf("%s did not return within %s:\n%s", what, d, buf[:runtime.Stack(buf, true)])
	}
}

// A WAL that fails while writers and the indexer are busy kills the store:
// every call in flight returns ErrFailed promptly (none hangs inside
// pebble), Close returns the storage error in bounded time, and the store
// reopens — in the same process — with every acknowledged write.
func TestWALFailureUnderLoad(t *testing.T) {
	for _, c := range []struct {
		name   string
		noSync bool
	}{{"sync", false}, {"nosync", true}} {
		t.Run(c.name, func(t *testing.T) {
			for round := 0; round < 8; round++ {
				walFailureRound(t, c.noSync, uint64(round))
			}
		})
	}
}

func walFailureRound(t *testing.T, noSync bool, seed uint64) {
	const dim, writers = 16, 4
	faults := &walFaults{}
	dir := filepath.Join(t.TempDir(), "db")
	s := open(t, dir, Options{FS: errorfs.Wrap(vfs.Default, faults), Dim: dim, NoSync: noSync, SyncInterval: time.Millisecond})
	var (
		mu    sync.Mutex
		acked []string
		wg    sync.WaitGroup
		count atomic.Int64
	)
	deadline := time.Now().Add(10 * time.Second)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(seed, uint64(w)))
			for i := 0; i < 5000 && time.Now().Before(deadline); i++ {
				id := fmt.Sprintf("w%d-%d", w, i)
				err := s.Remember(ctx, "fail", Memory{ID: id, Content: "content of " + id, Embedding: randVec(r, dim), Confidence: 0.5})
				if err != nil {
					if !errors.Is(err, ErrFailed) {
						t.Errorf("remember %s: %v, want ErrFailed", id, err)
					}
					return
				}
				count.Add(1)
				mu.Lock()
				acked = append(acked, id)
				mu.Unlock()
			}
		}()
	}
	// Fail the WAL once the indexer has a backlog of auto links to write.
	for count.Load() < 200 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	faults.on.Store(true)
	within(t, 20*time.Second, "the writers", wg.Wait)
	var cerr error
	within(t, 20*time.Second, "Close", func() { cerr = s.Close() })
	if !errors.Is(cerr, ErrFailed) {
		t.Fatalf("close after a WAL failure: %v, want ErrFailed", cerr)
	}
	t.Logf("close: %v", cerr)
	if err := s.Remember(ctx, "fail", Memory{ID: "late", Content: "x", Embedding: randVec(rand.New(rand.NewPCG(1, 1)), dim)}); !errors.Is(err, ErrClosed) {
		t.Errorf("remember after close: %v, want ErrClosed", err)
	}
	faults.on.Store(false)
	s2 := open(t, dir, Options{Dim: dim})
	defer s2.Close()
	lost := 0
	for _, id := range acked {
		m, err := s2.Get(ctx, "fail", id)
		switch {
		case errors.Is(err, ErrNotFound):
			lost++
		case err != nil:
			t.Fatalf("get %s: %v", id, err)
		case m.Content != "content of "+id:
			t.Fatalf("%s holds %q", id, m.Content)
		}
	}
	if lost > 0 && !noSync {
		t.Errorf("%d of %d acknowledged writes lost", lost, len(acked))
	}
	if len(acked) < 200 {
		t.Errorf("only %d writes before the failure", len(acked))
	}
}

// A failed WAL write in NoSync mode leaves pebble's commit pipeline locked
// (its next write panics holding the lock), so pebble can never close:
// Close gives up on it after failedCloseWait, fences its files, releases
// the directory lock and says so; the store reopens in this process with
// every write acknowledged before its last clean close.
func TestCloseAbandonsWedgedPebble(t *testing.T) {
	const dim = 16
	faults := &walFaults{}
	dir := filepath.Join(t.TempDir(), "db")
	r := rand.New(rand.NewPCG(7, 8))
	mem := func(id string) Memory {
		return Memory{ID: id, Content: "content of " + id, Embedding: randVec(r, dim), Confidence: 0.5}
	}
	s := open(t, dir, Options{Dim: dim})
	for i := 0; i < 50; i++ {
		if err := s.Remember(ctx, "wedge", mem(fmt.Sprintf("a%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// No sync loop: no synced write sees the failure first, so a NoSync
	// write meets it inside pebble's commit pipeline.
	s = open(t, dir, Options{FS: errorfs.Wrap(vfs.Default, faults), Dim: dim, NoSync: true, SyncInterval: -1})
	faults.on.Store(true)
	var err error
	for i := 0; i < 10000 && err == nil; i++ {
		err = s.Remember(ctx, "wedge", mem(fmt.Sprintf("b%d", i)))
		time.Sleep(100 * time.Microsecond)
	}
	if !errors.Is(err, ErrFailed) {
		t.Fatalf("remember on a failing WAL: %v, want ErrFailed", err)
	}
	var cerr error
	within(t, 10*time.Second, "Close", func() { cerr = s.Close() })
	if !errors.Is(cerr, ErrFailed) || !strings.Contains(cerr.Error(), "fenced") {
		t.Fatalf("close: %v, want ErrFailed and the fence", cerr)
	}
	if _, err := s.fs.Create(filepath.Join(dir, "x"), vfs.WriteCategoryUnspecified); !errors.Is(err, errFenced) {
		t.Errorf("create through the abandoned instance's file system: %v, want errFenced", err)
	}
	faults.on.Store(false)
	s2 := open(t, dir, Options{Dim: dim})
	defer s2.Close()
	for i := 0; i < 50; i++ {
		if _, err := s2.Get(ctx, "wedge", fmt.Sprintf("a%d", i)); err != nil {
			t.Errorf("a%d after reopen: %v", i, err)
		}
	}
}
