package engine

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/engram-bench/engram-bench/workloads"
)

// clusteredMemories returns n memories of the embeddings_search scenario's
// clustered distribution (dim dimensions), ids prefixed by prefix, drawn
// from preload positions [from, from+n).
func clusteredMemories(t *testing.T, dim, from, n int, prefix string) []Memory {
	t.Helper()
	sc, err := workloads.LoadBuiltin("embeddings_search")
	if err != nil {
		t.Fatal(err)
	}
	np := int64(from + n)
	sc.Data.Preload, sc.Data.NumNodes, sc.Data.EmbeddingDim, sc.Data.MemorySpaces = &np, np, dim, 1
	gen, err := workloads.NewGenerator(sc, 7)
	if err != nil {
		t.Fatal(err)
	}
	var op workloads.Op
	ms := make([]Memory, 0, n)
	for j := from; j < from+n; j++ {
		gen.FillPreload(uint64(j), &op)
		ms = append(ms, Memory{ID: fmt.Sprintf("%s%d", prefix, j), Content: "c", Embedding: append([]float32(nil), op.Embedding...), Confidence: 1})
	}
	return ms
}

// liveSet tracks what concurrent writers and deleters had acknowledged.
type liveSet struct {
	mu      sync.Mutex
	vecs    map[string][]float32 // acknowledged and not deleted
	deleted map[string]bool      // deletes acknowledged
}

func (l *liveSet) put(m Memory) {
	l.mu.Lock()
	l.vecs[m.ID] = m.Embedding
	l.mu.Unlock()
}

func (l *liveSet) del(id string) {
	l.mu.Lock()
	delete(l.vecs, id)
	l.deleted[id] = true
	l.mu.Unlock()
}

// checkFindsEveryMemory searches the index for every live memory by its own
// embedding: at least 99% must find themselves among the 10 results, and no
// result may be a deleted memory.
func checkFindsEveryMemory(t *testing.T, s *Store, live *liveSet) {
	t.Helper()
	found := 0
	for id, v := range live.vecs {
		res, err := s.Nearest(ctx, "default", v, 10)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range res {
			if m.ID == id {
				found++
			}
			if live.deleted[m.ID] {
				t.Fatalf("search returned %s, deleted before the crash", m.ID)
			}
		}
	}
	r := float64(found) / float64(len(live.vecs))
	t.Logf("%d of %d memories found by their own embedding (%.4f)", found, len(live.vecs), r)
	if r < 0.99 {
		t.Errorf("recall of exact ids after reopen = %.4f, want >= 0.99", r)
	}
}

// Snapshots taken while writers insert and deleters delete, then a crash
// (no Close): the reopened store reuses the last snapshot, re-indexes only
// what was written after it, and its index finds every memory and no
// deleted one.
func TestLiveSnapshotCrashReopen(t *testing.T) {
	const dim = 64
	base, writers, perWriter := 2000, 2, 250
	if raceEnabled {
		base, perWriter = 800, 100
	}
	fs := vfs.NewCrashableMem()
	opts := Options{FS: fs, Dim: dim, NoAutoLink: true, IndexSnapshotEvery: -1}
	s := open(t, "db", opts)
	defer s.Close()
	ms := clusteredMemories(t, dim, 0, base, "m")
	if err := s.RememberBatch(ctx, "default", ms); err != nil {
		t.Fatal(err)
	}
	live := &liveSet{vecs: map[string][]float32{}, deleted: map[string]bool{}}
	for _, m := range ms {
		live.put(m)
	}
	fresh := clusteredMemories(t, dim, base, writers*perWriter, "w")
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(fresh); i += writers {
				if err := s.Remember(ctx, "default", fresh[i]); err != nil {
					t.Error(err)
					return
				}
				live.put(fresh[i])
			}
		}()
	}
	wg.Add(1)
	go func() { // deletes every 7th preloaded memory
		defer wg.Done()
		for j := 0; j < base; j += 7 {
			if err := s.Delete(ctx, "default", ms[j].ID); err != nil {
				t.Error(err)
				return
			}
			live.del(ms[j].ID)
		}
	}()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	// Snapshots while they run; the last one is what the crash keeps.
	sp := s.space("default")
	var nodes, taken int
	for running := true; running && taken < 100; {
		select {
		case <-done:
			running = false
		default:
		}
		n, err := s.saveIndex(ctx, sp, false)
		if err != nil {
			t.Fatal(err)
		}
		nodes, taken = n, taken+1
	}
	<-done
	// Deletes after the last snapshot: its nodes for them are not mapped
	// on reopen and the lists that link to them are repaired.
	for j := 3; j < base; j += 14 {
		if err := s.Delete(ctx, "default", ms[j].ID); err != nil {
			t.Fatal(err)
		}
		live.del(ms[j].ID)
	}
	crashed := fs.CrashClone(vfs.CrashCloneCfg{})
	if st, _ := s.Stats(); st.IndexSnapshots.Taken != int64(taken) || st.IndexSnapshots.LastNodes != nodes || st.IndexSnapshots.LastBytes == 0 {
		t.Errorf("snapshot stats %+v", st.IndexSnapshots)
	}

	opts.FS = crashed
	c := open(t, "db", opts)
	defer c.Close()
	rec := c.Recovery()
	t.Logf("%d snapshots while writing and deleting, the last of %d nodes; reopen: %+v", taken, nodes, rec)
	if rec.Clean || !rec.IndexLoaded || len(rec.IndexNotes) != 0 {
		t.Fatalf("crash reopen did not use the live snapshot: %+v", rec)
	}
	if rec.Memories != len(live.vecs) {
		t.Fatalf("reopened with %d memories, %d acknowledged", rec.Memories, len(live.vecs))
	}
	if rec.IndexReused+rec.Reindexed != rec.Memories || rec.IndexReused < base/2 || rec.IndexReused > nodes {
		t.Errorf("reused %d + reindexed %d of %d memories (snapshot of %d nodes)", rec.IndexReused, rec.Reindexed, rec.Memories, nodes)
	}
	c.waitIndexed("default")
	if in, _ := c.Space("default"); in.Index.Nodes != len(live.vecs) || in.Index.Pending != 0 {
		t.Errorf("index after reopen: %+v", in.Index)
	}
	checkFindsEveryMemory(t, c, live)
}

// A backup taken while writers run carries a fresh snapshot: the restored
// store reuses the index instead of rebuilding it.
func TestBackupRestoreReusesIndex(t *testing.T) {
	const dim = 32
	base := 1500
	if raceEnabled {
		base = 800
	}
	root := t.TempDir()
	s := open(t, filepath.Join(root, "live"), Options{Dim: dim, NoAutoLink: true, IndexSnapshotEvery: -1})
	defer s.Close()
	ms := clusteredMemories(t, dim, 0, base, "m")
	if err := s.RememberBatch(ctx, "default", ms); err != nil {
		t.Fatal(err)
	}
	log := &writeLog{began: map[string]time.Time{}, acked: map[string]time.Time{}}
	stop := make(chan struct{})
	wait := startWriters(t, s, 2, 100, log, stop)
	time.Sleep(20 * time.Millisecond)
	man, err := s.Backup(ctx, filepath.Join(root, "b0"), BackupOptions{})
	close(stop)
	wait()
	if err != nil {
		t.Fatal(err)
	}
	st, _ := s.Stats()
	if st.IndexSnapshots.Taken != 1 || st.IndexSnapshots.LastNodes < base {
		t.Errorf("backup's snapshot: %+v", st.IndexSnapshots)
	}
	if _, err := Restore(ctx, []string{filepath.Join(root, "b0")}, filepath.Join(root, "restored")); err != nil {
		t.Fatal(err)
	}
	r := open(t, filepath.Join(root, "restored"), Options{Dim: dim, NoAutoLink: true})
	defer r.Close()
	rec := r.Recovery()
	t.Logf("backup of %d memories; restored: %+v", man.MemoryCount(), rec)
	if !rec.IndexLoaded || rec.IndexReused < base || rec.IndexReused+rec.Reindexed != rec.Memories {
		t.Fatalf("restore did not reuse the backup's index: %+v", rec)
	}
	// Only writes made while the backup ran can be missing from its snapshot.
	if rec.Reindexed > rec.Memories-base {
		t.Errorf("re-indexed %d of %d memories", rec.Reindexed, rec.Memories)
	}
	// A backup with nothing indexed since the last snapshot writes no new one.
	s.waitIndexed("default")
	if _, err := s.Backup(ctx, filepath.Join(root, "b1"), BackupOptions{}); err != nil {
		t.Fatal(err)
	}
	before, _ := s.Stats()
	if _, err := s.Backup(ctx, filepath.Join(root, "b2"), BackupOptions{}); err != nil {
		t.Fatal(err)
	}
	after, _ := s.Stats()
	if after.IndexSnapshots.Taken != before.IndexSnapshots.Taken {
		t.Errorf("a backup with no index change since the last snapshot wrote another: %d → %d", before.IndexSnapshots.Taken, after.IndexSnapshots.Taken)
	}
}

// The background loop snapshots a space once it took IndexSnapshotEvery
// inserts, and a crash after that reopens with the index reused; Close
// stops the loop.
func TestIndexSnapshotLoop(t *testing.T) {
	fs := vfs.NewCrashableMem()
	opts := Options{FS: fs, Dim: 16, NoAutoLink: true, IndexSnapshotEvery: 100, IndexSnapshotInterval: time.Millisecond}
	s := open(t, "db", opts)
	ms := clusteredMemories(t, 16, 0, 300, "m")
	for _, m := range ms {
		if err := s.Remember(ctx, "default", m); err != nil {
			t.Fatal(err)
		}
	}
	s.waitIndexed("default")
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := s.Stats()
		if err != nil {
			t.Fatal(err)
		}
		// The loop snapshots once per 100 inserts: the last one holds at
		// least 200 of the 300 nodes.
		if st.IndexSnapshots.Taken >= 1 && st.IndexSnapshots.LastNodes >= 200 {
			if st.IndexSnapshots.Failed != 0 || st.IndexSnapshots.LastAt.IsZero() || st.IndexSnapshots.LastDuration <= 0 {
				t.Errorf("snapshot stats %+v", st.IndexSnapshots)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no background snapshot of 200+ nodes after 300 inserts in 20 s: %+v", st.IndexSnapshots)
		}
		time.Sleep(5 * time.Millisecond)
	}
	crashed := fs.CrashClone(vfs.CrashCloneCfg{})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	opts.FS = crashed
	c := open(t, "db", opts)
	defer c.Close()
	if rec := c.Recovery(); rec.Clean || !rec.IndexLoaded || rec.IndexReused < 200 {
		t.Errorf("crash after a background snapshot: %+v", rec)
	}
}

// A store that Open had to re-index memories for snapshots once they are
// indexed, though fewer than IndexSnapshotEvery: the next crash reuses
// them instead of re-indexing the same memories again.
func TestIndexSnapshotAfterCatchUp(t *testing.T) {
	fs := vfs.NewCrashableMem()
	opts := Options{FS: fs, Dim: 16, NoAutoLink: true} // default IndexSnapshotEvery, far above 300
	s := open(t, "db", opts)
	ms := clusteredMemories(t, 16, 0, 300, "m")
	for _, m := range ms[:200] {
		if err := s.Remember(ctx, "default", m); err != nil {
			t.Fatal(err)
		}
	}
	s.waitIndexed("default")
	if _, err := s.saveIndex(ctx, s.space("default"), false); err != nil {
		t.Fatal(err)
	}
	for _, m := range ms[200:] {
		if err := s.Remember(ctx, "default", m); err != nil {
			t.Fatal(err)
		}
	}
	s.waitIndexed("default")
	crashed := fs.CrashClone(vfs.CrashCloneCfg{})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	opts.FS = crashed
	c := open(t, "db", opts)
	if rec := c.Recovery(); rec.IndexReused != 200 || rec.Reindexed != 100 {
		t.Fatalf("first crash: %+v, want 200 reused and 100 re-indexed", rec)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := c.Stats()
		if err != nil {
			t.Fatal(err)
		}
		if st.IndexSnapshots.Taken >= 1 {
			if st.IndexSnapshots.LastNodes != 300 {
				t.Errorf("snapshot after the catch-up holds %d nodes, want 300", st.IndexSnapshots.LastNodes)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no snapshot 20 s after reopening with 100 memories to re-index: %+v", st.IndexSnapshots)
		}
		time.Sleep(10 * time.Millisecond)
	}
	crashed = crashed.CrashClone(vfs.CrashCloneCfg{})
	c.abandon() // a crash: no snapshot from Close
	opts.FS = crashed
	d := open(t, "db", opts)
	defer d.Close()
	if rec := d.Recovery(); rec.IndexReused != 300 || rec.Reindexed != 0 {
		t.Errorf("second crash: %+v, want all 300 reused", rec)
	}
	time.Sleep(1500 * time.Millisecond) // a loop tick: nothing was re-indexed, so no snapshot
	if st, _ := d.Stats(); st.IndexSnapshots.Taken != 0 {
		t.Errorf("a reopen with nothing to re-index took %d background snapshots", st.IndexSnapshots.Taken)
	}
}

func TestSnapshotGap(t *testing.T) {
	for _, c := range []struct {
		interval, took, want time.Duration
	}{
		{time.Minute, 0, time.Second},                                // the first: a second after Open at the earliest
		{time.Minute, 20 * time.Millisecond, time.Second},            // cheap: at least a second apart
		{time.Minute, 300 * time.Millisecond, 6 * time.Second},       // 20× its cost
		{time.Minute, 5 * time.Second, time.Minute},                  // dear: no rarer than the interval
		{time.Millisecond, 300 * time.Millisecond, time.Millisecond}, // an interval below a second wins
	} {
		if got := snapshotGap(c.interval, c.took); got != c.want {
			t.Errorf("snapshotGap(%v, %v) = %v, want %v", c.interval, c.took, got, c.want)
		}
	}
}

// A snapshot interrupted by its context (Close cancels the loop's) leaves
// no part behind, is not counted, and the previous snapshot stays usable.
func TestLiveSnapshotInterrupted(t *testing.T) {
	dir := t.TempDir()
	opts := Options{Dim: 8, NoAutoLink: true, IndexSnapshotEvery: -1}
	s := open(t, dir, opts)
	ms := clusteredMemories(t, 8, 0, 1100, "m") // the context is checked every 1024 nodes
	if err := s.RememberBatch(ctx, "default", ms); err != nil {
		t.Fatal(err)
	}
	sp := s.space("default")
	if _, err := s.saveIndex(ctx, sp, false); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.saveIndex(cctx, sp, false); !errors.Is(err, errSnapshotStopped) {
		t.Fatalf("cancelled snapshot: %v", err)
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: partKey("default", 2, 0), UpperBound: partKey("default", 3, 0)})
	if err != nil {
		t.Fatal(err)
	}
	for it.First(); it.Valid(); it.Next() {
		t.Errorf("part of the interrupted snapshot left behind: %q", it.Key())
	}
	it.Close()
	if st, _ := s.Stats(); st.IndexSnapshots.Taken != 1 || st.IndexSnapshots.Failed != 0 {
		t.Errorf("stats after an interrupted snapshot: %+v", st.IndexSnapshots)
	}
	// Crash: the first snapshot is what Open finds.
	s.abandon()
	c := open(t, dir, opts)
	defer c.Close()
	if rec := c.Recovery(); !rec.IndexLoaded || rec.IndexReused != 1100 || rec.Reindexed != 0 {
		t.Errorf("reopen after an interrupted snapshot: %+v", rec)
	}
}

func TestIndexSnapshotOptions(t *testing.T) {
	cases := []struct {
		name      string
		every     int
		interval  time.Duration
		wantEvery int
		wantIntv  time.Duration
		bad       string // the field a ValidationError names
	}{
		{name: "defaults", wantEvery: DefaultIndexSnapshotEvery, wantIntv: DefaultIndexSnapshotInterval},
		{name: "set", every: 500, interval: time.Second, wantEvery: 500, wantIntv: time.Second},
		{name: "disabled", every: -1, wantEvery: -1, wantIntv: DefaultIndexSnapshotInterval},
		{name: "negative_interval", interval: -time.Second, bad: "index_snapshot_interval"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := Options{IndexSnapshotEvery: c.every, IndexSnapshotInterval: c.interval}
			err := o.fill()
			if c.bad != "" {
				var ve *ValidationError
				if !errors.As(err, &ve) || ve.Field != c.bad {
					t.Fatalf("fill: %v, want a ValidationError naming %s", err, c.bad)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if o.IndexSnapshotEvery != c.wantEvery || o.IndexSnapshotInterval != c.wantIntv {
				t.Errorf("filled every=%d interval=%v, want %d %v", o.IndexSnapshotEvery, o.IndexSnapshotInterval, c.wantEvery, c.wantIntv)
			}
		})
	}
	if _, err := Open(t.TempDir(), Options{IndexSnapshotInterval: -1}); err == nil {
		t.Error("Open accepted a negative index_snapshot_interval")
	}
}

// The index's M is bounded so that a layer-0 list (3M links) fits the
// snapshot's one-byte link count.
func TestIndexMBounds(t *testing.T) {
	for _, c := range []struct {
		m  int
		ok bool
	}{{2, true}, {maxIndexM, true}, {maxIndexM + 1, false}, {1, false}, {256, false}} {
		o := Options{Index: IndexOptions{M: c.m, EfConstruction: 1000}}
		err := o.fill()
		var ve *ValidationError
		if c.ok && err != nil {
			t.Errorf("M=%d: %v", c.m, err)
		}
		if !c.ok && (!errors.As(err, &ve) || ve.Field != "index.m") {
			t.Errorf("M=%d: %v, want a ValidationError naming index.m", c.m, err)
		}
	}
	if 3*maxIndexM > 255 {
		t.Errorf("3 × maxIndexM = %d links do not fit a byte", 3*maxIndexM)
	}
}

// A snapshot the background loop takes is written in small parts, paced to
// at most liveSnapshotRate, into a table that pebble ingests: the WAL, whose
// fsyncs concurrent synced writes wait for, takes only the manifest, and the
// table lands in the bottom level. (The pacing is a lower bound on its
// duration, which no machine can beat.)
func TestLiveSnapshotPaced(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{Dim: 64, NoAutoLink: true, IndexSnapshotEvery: -1})
	defer s.Close()
	if err := s.RememberBatch(ctx, "default", clusteredMemories(t, 64, 0, 3000, "m")); err != nil {
		t.Fatal(err)
	}
	sp := s.space("default")
	wal0 := s.db.Metrics().WAL.BytesIn
	t0 := time.Now()
	if _, err := s.saveIndexAt(ctx, sp, false, liveSnapshotRate); err != nil {
		t.Fatal(err)
	}
	took := time.Since(t0)
	if wal := s.db.Metrics().WAL.BytesIn - wal0; wal > 1024 {
		t.Errorf("the snapshot put %d bytes through the WAL, want only its manifest", wal)
	}
	tables, err := s.db.SSTables()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for level, ts := range tables {
		for _, tb := range ts {
			if tb.Smallest.UserKey[0] == pfxIndex {
				found = true
				if level != len(tables)-1 {
					t.Errorf("snapshot table %s ingested into L%d, want the bottom level", tb.FileNum, level)
				}
			}
		}
	}
	if !found {
		t.Error("no table holds the snapshot's parts")
	}
	if names, _ := s.fs.List(dir); slices.ContainsFunc(names, func(n string) bool { return strings.HasSuffix(n, ingestSuffix) }) {
		t.Errorf("a table to ingest was left in %s: %v", dir, names)
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: partKey("default", 1, 0), UpperBound: partKey("default", 2, 0)})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	parts, total := 0, 0
	for it.First(); it.Valid(); it.Next() {
		parts++
		total += len(it.Value())
		if len(it.Value()) > liveSnapshotPart+64 {
			t.Errorf("part %q holds %d bytes, more than a live part (%d)", it.Key(), len(it.Value()), liveSnapshotPart)
		}
	}
	if parts < 3 {
		t.Fatalf("%d parts of %d bytes: too small a snapshot to see the parts", parts, total)
	}
	// Every part but the last waited its turn.
	if floor := time.Duration(float64(total-liveSnapshotPart) / liveSnapshotRate * float64(time.Second)); took < floor {
		t.Errorf("%d bytes written in %s, faster than %d bytes/s allows (%s)", total, took, liveSnapshotRate, floor)
	}
}

// A store whose snapshot was written before its parts moved from 'h' to
// 'z' (a 20-byte manifest) loads it, and the next snapshot deletes it,
// with the 'z' parts such a store kept from before an older binary opened
// it (here generation 1, and a later one a crash left unnamed).
func TestIndexSnapshotOldLayout(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{Dim: 16, NoAutoLink: true, IndexSnapshotEvery: -1})
	if err := s.RememberBatch(ctx, "default", clusteredMemories(t, 16, 0, 500, "m")); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Rewrite generation 1 as the old layout wrote it.
	s = open(t, dir, Options{Dim: 16, NoAutoLink: true, IndexSnapshotEvery: -1})
	v, closer, err := s.db.Get(manifestKey("default"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := parseManifest(v)
	closer.Close()
	if err != nil || m.pfx != pfxIndex {
		t.Fatalf("manifest %+v, %v: want parts under %q", m, err, pfxIndex)
	}
	b := s.db.NewBatch()
	for p := uint32(0); p < m.parts; p++ {
		v, closer, err := s.db.Get(partKey("default", m.gen, p))
		if err != nil {
			t.Fatal(err)
		}
		b.Set(partKeyIn(pfxIndexV1, "default", m.gen, p), v, nil)
		b.Set(partKey("default", m.gen+5, p), v, nil)
		closer.Close()
	}
	var old []byte
	old = binary.LittleEndian.AppendUint64(old, m.gen)
	old = binary.LittleEndian.AppendUint32(old, m.parts)
	old = binary.LittleEndian.AppendUint64(old, m.total)
	b.Set(manifestKey("default"), frame(old), nil)
	if err := b.Commit(pebble.Sync); err != nil {
		t.Fatal(err)
	}
	s.abandon() // no Close: keep the old layout

	s = open(t, dir, Options{Dim: 16, NoAutoLink: true, IndexSnapshotEvery: -1})
	if rec := s.Recovery(); !rec.IndexLoaded || rec.Reindexed != 0 {
		t.Fatalf("old layout: %+v, want the snapshot loaded and nothing re-indexed", rec)
	}
	if _, err := s.saveIndex(ctx, s.space("default"), false); err != nil {
		t.Fatal(err)
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{pfxIndexV1}, UpperBound: []byte{pfxIndexV1 + 1}})
	if err != nil {
		t.Fatal(err)
	}
	if it.First() {
		t.Errorf("an old part is left after the next snapshot: %q", it.Key())
	}
	it.Close()
	v, closer, err = s.db.Get(manifestKey("default"))
	if err != nil {
		t.Fatal(err)
	}
	now, err := parseManifest(v)
	closer.Close()
	if err != nil || now.pfx != pfxIndex || now.gen <= m.gen+5 {
		t.Fatalf("manifest %+v, %v: want parts under %q past generation %d", now, err, pfxIndex, m.gen+5)
	}
	lo := spaceKey(nil, pfxIndex, "default")
	it, err = s.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: prefixEnd(lo)})
	if err != nil {
		t.Fatal(err)
	}
	parts := 0
	for it.First(); it.Valid(); it.Next() {
		if gen := binary.BigEndian.Uint64(it.Key()[len(lo):]); gen != now.gen {
			t.Errorf("a part of generation %d is left beside the current %d: %q", gen, now.gen, it.Key())
		}
		parts++
	}
	it.Close()
	if parts != int(now.parts) {
		t.Errorf("%d parts under %q, want the manifest's %d", parts, pfxIndex, now.parts)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir, Options{Dim: 16, NoAutoLink: true, IndexSnapshotEvery: -1})
	defer s.Close()
	if rec := s.Recovery(); !rec.IndexLoaded || rec.Reindexed != 0 {
		t.Fatalf("after the next snapshot: %+v", rec)
	}
}

// A table a crash left before pebble ingested it is removed on Open.
func TestIngestLeftoverRemoved(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{Dim: 8})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	left := filepath.Join(dir, "7"+ingestSuffix)
	if err := os.WriteFile(left, []byte("half a table"), 0o644); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir, Options{Dim: 8})
	defer s.Close()
	if _, err := os.Stat(left); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s: %v, want it removed", left, err)
	}
}
