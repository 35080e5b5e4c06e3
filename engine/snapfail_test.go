package engine

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
)

// ingestStall blocks the operations of snapshot tables (syncs and removals)
// while on, as a disk that stops answering does; observed is closed at the
// first one blocked.
type ingestStall struct {
	on       atomic.Bool
	release  chan struct{}
	once     sync.Once
	observed chan struct{}
}

func (s *ingestStall) String() string { return "ingest stall" }

func (s *ingestStall) MaybeError(op errorfs.Op) error {
	if !s.on.Load() || !strings.HasSuffix(op.Path, ingestSuffix) {
		return nil
	}
	switch op.Kind {
	case errorfs.OpFileSync, errorfs.OpRemove:
		s.once.Do(func() { close(s.observed) })
		<-s.release
	}
	return nil
}

// trackFS counts the snapshot tables open for writing.
type trackFS struct {
	vfs.FS
	open atomic.Int64
}

type trackedFile struct {
	vfs.File
	fs   *trackFS
	once sync.Once
}

func (f *trackedFile) Close() error {
	f.once.Do(func() { f.fs.open.Add(-1) })
	return f.File.Close()
}

func (t *trackFS) Create(name string, cat vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := t.FS.Create(name, cat)
	if err != nil || !strings.HasSuffix(name, ingestSuffix) {
		return f, err
	}
	t.open.Add(1)
	return &trackedFile{File: f, fs: t}, nil
}

// A store that fails while a snapshot's table is being written (a WAL
// failure of a concurrent writer) ends the snapshot promptly with the
// failure, and the table's file and writer are closed, not left open for the
// life of the process.
func TestSnapshotStoreFailureClosesTable(t *testing.T) {
	const dim = 16
	faults := &walFaults{}
	tfs := &trackFS{FS: errorfs.Wrap(vfs.Default, faults)}
	dir := filepath.Join(t.TempDir(), "db")
	s := open(t, dir, Options{FS: tfs, Dim: dim, NoAutoLink: true, IndexSnapshotEvery: -1})
	batch := randomMemories(1, 1000, dim)
	if err := s.RememberBatch(ctx, "default", batch); err != nil {
		t.Fatal(err)
	}
	s.waitIndexed("default")
	sp := s.space("default")
	errc := make(chan error, 1)
	// Paced to one 64-KiB part a second: the table is open and waiting for
	// its second part when the store fails.
	go func() { _, err := s.saveIndexAt(ctx, sp, false, liveSnapshotPart); errc <- err }()
	deadline := time.Now().Add(10 * time.Second)
	for tfs.open.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if tfs.open.Load() == 0 {
		t.Fatal("the snapshot did not create its table")
	}
	failMidSnapshot(t, s, faults, dim, errc)
	for tfs.open.Load() != 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := tfs.open.Load(); n != 0 {
		t.Errorf("%d snapshot tables left open after the store failed and closed", n)
	}
	faults.on.Store(false)
	s2 := open(t, dir, Options{Dim: dim})
	defer s2.Close()
	if got := s2.Count("default"); got != len(batch) {
		t.Errorf("reopened with %d memories, want %d", got, len(batch))
	}
}

// A store that fails while its snapshot's table is stuck on a disk that
// stopped answering (its sync, then any removal) ends the snapshot with the
// failure: no file operation of the table runs on the snapshot's goroutine,
// so nothing of it waits for the disk.
func TestSnapshotStalledTableFailsStore(t *testing.T) {
	const dim = 16
	faults := &walFaults{}
	stall := &ingestStall{release: make(chan struct{}), observed: make(chan struct{})}
	defer close(stall.release)
	dir := filepath.Join(t.TempDir(), "db")
	fs := errorfs.Wrap(errorfs.Wrap(vfs.Default, faults), stall)
	s := open(t, dir, Options{FS: fs, Dim: dim, NoAutoLink: true, IndexSnapshotEvery: -1})
	if err := s.RememberBatch(ctx, "default", randomMemories(1, 200, dim)); err != nil {
		t.Fatal(err)
	}
	s.waitIndexed("default")
	stall.on.Store(true)
	errc := make(chan error, 1)
	go func() { _, err := s.saveIndex(ctx, s.space("default"), false); errc <- err }()
	select {
	case <-stall.observed:
	case <-time.After(10 * time.Second):
		t.Fatal("the snapshot's table was never synced")
	}
	failMidSnapshot(t, s, faults, dim, errc)
}

// randomMemories returns n memories m0… with random dim-d embeddings,
// the same for the same seed.
func randomMemories(seed uint64, n, dim int) []Memory {
	r := rand.New(rand.NewPCG(seed, 2))
	ms := make([]Memory, n)
	for i := range ms {
		ms[i] = Memory{ID: fmt.Sprintf("m%d", i), Content: "c", Embedding: randVec(r, dim), Confidence: 1}
	}
	return ms
}

// failMidSnapshot fails s's WAL while a snapshot runs (its result comes on
// errc): a write then fails the store, the snapshot ends promptly with the
// failure, and Close returns.
func failMidSnapshot(t *testing.T, s *Store, faults *walFaults, dim int, errc <-chan error) {
	t.Helper()
	faults.on.Store(true)
	if err := s.Remember(ctx, "default", Memory{ID: "x", Content: "c", Embedding: randomMemories(9, 1, dim)[0].Embedding}); !errors.Is(err, ErrFailed) {
		t.Fatalf("remember on a failing WAL: %v, want ErrFailed", err)
	}
	var err error
	within(t, 10*time.Second, "the snapshot", func() { err = <-errc })
	if !errors.Is(err, ErrFailed) {
		t.Errorf("snapshot of a failed store: %v, want ErrFailed", err)
	}
	within(t, 20*time.Second, "Close", func() { s.Close() })
}
