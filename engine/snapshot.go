package engine

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/objstorage/objstorageprovider"
	"github.com/cockroachdb/pebble/v2/sstable"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// HNSW snapshots. Close writes each space's graph to pebble so that Open
// does not rebuild it (a rebuild costs an index insert per memory: minutes at
// a million). Pebble's memory records stay the truth; the snapshot is a
// cache validated against them: a node is reused only if a live memory with
// its id and sequence number exists, links to memories deleted since the
// snapshot are repaired from those memories' own links, and memories
// written after it are indexed in the background. A snapshot that fails its
// checksums or does not fit the options is ignored (the graph is rebuilt).
//
// Keys:
//
//	'H' 0 <space>                     → manifest: generation, parts, bytes, prefix (framed, CRC)
//	'z' 0 <space> 0 <gen u64 BE> <part u32 BE> → part of the stream (framed, CRC)
//
// A manifest of 20 bytes (no prefix byte) was written before parts moved
// from 'h' to 'z'; its parts are read, and deleted by the next snapshot,
// under 'h'.
//
// Stream (little endian): magic "HNSW", version 2, m u16, nodes u32, entry
// u32 (index), then per node: uvarint id length, id, seq u64, level u8;
// then per node and layer 0..level: count u8, count × (u32 node index,
// float32 distance). Storing the distances saves recomputing one per link
// on Open (random memory accesses: seconds at a million memories).
const (
	pfxIndexManifest = 'H'
	snapshotVersion  = 2
	snapshotPart     = 1 << 20 // bytes per part
	snapshotMagic    = "HNSW"
	// A snapshot taken while the store serves is written in parts of
	// liveSnapshotPart bytes; the background loop's are paced to at most
	// liveSnapshotRate bytes a second, so that the table's writes leave
	// the disk to the WAL's fsyncs. Measured with 4 paced writers at 500
	// stores/s (docs/reference/benchmark-results.md): store p99 1.9–2.6 ms
	// without live snapshots; with snapshots written through the WAL,
	// 6.1–9.4 ms in 2-MiB batches, 4.6–5.5 ms in 64-KiB parts at 32 MiB/s,
	// 3.0–3.6 ms at 8 MiB/s. They are now ingested as tables (partWriter).
	liveSnapshotPart = 64 << 10
	liveSnapshotRate = 8 << 20 // 8 MiB/s
)

// snapshotRate is the background loop's pace: liveSnapshotRate, but
// benchmarks compare others (ENGRAM_BENCH_SNAPSHOTS).
var snapshotRate atomic.Int64

func init() { snapshotRate.Store(liveSnapshotRate) }

func manifestKey(space string) []byte { return append([]byte{pfxIndexManifest, 0}, space...) }

func partKey(space string, gen uint64, part uint32) []byte {
	return partKeyIn(pfxIndex, space, gen, part)
}

// partKeyIn is partKey under prefix pfx (pfxIndexV1 for an old manifest's).
func partKeyIn(pfx byte, space string, gen uint64, part uint32) []byte {
	k := idKey(nil, pfx, space, "")
	k = binary.BigEndian.AppendUint64(k, gen)
	return binary.BigEndian.AppendUint32(k, part)
}

// partWriter cuts a stream into framed parts and writes them, in key order,
// to an sstable beside the store, which close ingests into pebble: the
// parts never pass through the WAL. Every synced write's fsync carries
// whatever the WAL took since the last one, so a snapshot written as
// batches (even small, paced ones) lengthened the stores that followed it;
// it was also written twice (WAL, then the memtable's flush) and compacted.
// An ingested table is written once and lands in the lowest level its keys
// do not overlap: a generation's keys are new, so the bottom one. The
// synced manifest write that follows the ingest makes the snapshot current.
type partWriter struct {
	s     *Store
	space string
	gen   uint64
	buf   []byte
	part  uint32
	total int64
	err   error
	// created: the table was created (the caller's view: set once the op
	// that created it returned).
	created bool
	// tmu guards the table. Its ops (tableOp) run on the store's writers
	// one at a time; one abandoned by a store failure may still be
	// running when the snapshot ends, so drop takes tmu too.
	tmu     sync.Mutex
	path    string          // the table's file, until ingested or removed
	file    *tableFile      // the table's file, open until the writer closes it
	sw      *sstable.Writer // the table's writer, until closed
	dropped bool            // drop ran: no op may create or touch a table
	// partBytes is the size of a part; 0 means snapshotPart.
	partBytes int
	// rate, when set, paces the writes to at most rate bytes a second
	// from start; ctx stops the wait.
	rate  int64
	start time.Time
	ctx   context.Context
}

// ingestSuffix names the tables a snapshot writes before pebble ingests
// them; pebble ignores such names, and Open removes any a crash left.
const ingestSuffix = ".index-ingest"

// ingestSeq numbers the tables being written, so that two stores in one
// directory's process never collide (one store per directory holds its
// lock, but tests reopen).
var ingestSeq atomic.Uint64

// Write implements io.Writer.
func (w *partWriter) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	w.buf = append(w.buf, p...)
	part := w.partBytes
	if part == 0 {
		part = snapshotPart
	}
	for len(w.buf) >= part {
		w.flushPart(w.buf[:part])
		w.buf = append(w.buf[:0], w.buf[part:]...)
	}
	return len(p), w.err
}

// pace waits until the bytes written so far fit the rate.
func (w *partWriter) pace() {
	if w.rate <= 0 || w.err != nil {
		return
	}
	due := w.start.Add(time.Duration(float64(w.total) / float64(w.rate) * float64(time.Second)))
	d := time.Until(due)
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-w.ctx.Done():
		w.err = fmt.Errorf("%w: %v", errSnapshotStopped, w.ctx.Err())
	}
}

// flushPart appends one framed part to the table. The file writes run on
// the store's writers (Store.write), like every pebble write, so a disk
// that stops answering fails the store instead of hanging the snapshot.
func (w *partWriter) flushPart(p []byte) {
	if w.err != nil {
		return
	}
	if !w.created {
		if w.err = w.tableOp(w.create); w.err != nil {
			return
		}
		w.created = true
	}
	key, val := partKey(w.space, w.gen, w.part), frame(p)
	w.err = w.tableOp(func() error { return w.sw.Set(key, val) })
	w.part++
	w.total += int64(len(p))
	w.pace()
}

// errTableDropped is what a table op gets once the snapshot was abandoned.
var errTableDropped = errors.New("index snapshot table dropped")

// tableOp runs fn, an operation on the table, on one of the store's
// writers, under tmu, unless the table was dropped.
func (w *partWriter) tableOp(fn func() error) error {
	return w.s.write(func() error {
		w.tmu.Lock()
		defer w.tmu.Unlock()
		if w.dropped {
			return errTableDropped
		}
		return fn()
	}, nil)
}

// create starts the table, its file synced in the background as it grows
// (pebble's own sstables are written the same way). A table op.
func (w *partWriter) create() error {
	fs := w.s.fs
	path := fs.PathJoin(w.s.dir, fmt.Sprintf("%d%s", ingestSeq.Add(1), ingestSuffix))
	f, err := fs.Create(path, vfs.WriteCategoryUnspecified)
	if err != nil {
		return fmt.Errorf("index snapshot table: %w", err)
	}
	w.path = path
	w.file = &tableFile{File: vfs.NewSyncingFile(f, vfs.SyncingFileOptions{BytesPerSync: 512 << 10})}
	w.sw = sstable.NewWriter(objstorageprovider.NewFileWritable(w.file), w.s.tableOpts)
	return nil
}

// close writes the last part, finishes and syncs the table and ingests it.
// On error the caller drops the table (discard).
func (w *partWriter) close() error {
	if len(w.buf) > 0 {
		w.flushPart(w.buf)
		w.buf = nil
	}
	if w.err != nil || !w.created {
		return w.err
	}
	w.err = w.tableOp(func() error {
		sw := w.sw
		w.sw, w.file = nil, nil            // Close closes the file, even on error
		if err := sw.Close(); err != nil { // Close syncs the file
			return err
		}
		if err := w.s.db.Ingest(context.Background(), []string{w.path}); err != nil {
			return err
		}
		w.path = "" // pebble removed it
		return nil
	})
	return w.err
}

// discard drops the table not ingested yet: on one of the store's writers
// while the store works; after a failure (when the store's writers take no
// more work) on a goroutine of its own, which waits for a table op the
// failure abandoned and may itself wait for a disk that stopped answering,
// but holds nothing anyone else needs.
func (w *partWriter) discard() {
	w.buf = nil
	ran := false
	w.s.write(func() error { ran = true; w.drop(); return nil }, func() {
		if !ran {
			go w.drop()
		}
	})
}

// drop closes the table's writer and file without writing anything more to
// them, removes the file (or leaves it to the next Open's
// removeIngestLeftovers if that fails) and stops any later table op.
func (w *partWriter) drop() {
	w.tmu.Lock()
	defer w.tmu.Unlock()
	w.dropped = true
	if w.sw != nil {
		w.file.aborted.Store(true)
		// Fails at its first write and closes the file; guarded, as this
		// may run on a goroutine of its own.
		sw := w.sw
		w.s.guard(sw.Close)
		w.sw, w.file = nil, nil
	}
	if w.path != "" {
		w.s.fs.Remove(w.path)
		w.path = ""
	}
}

// tableFile is a snapshot table's file; once aborted, writes and syncs
// fail, so that closing an abandoned table's writer writes nothing.
type tableFile struct {
	vfs.File
	aborted atomic.Bool
}

// Write implements vfs.File.
func (f *tableFile) Write(p []byte) (int, error) {
	if f.aborted.Load() {
		return 0, errTableDropped
	}
	return f.File.Write(p)
}

// Sync implements vfs.File.
func (f *tableFile) Sync() error {
	if f.aborted.Load() {
		return errTableDropped
	}
	return f.File.Sync()
}

// removeIngestLeftovers deletes the tables of snapshots a crash
// interrupted before pebble ingested them.
func (s *Store) removeIngestLeftovers() error {
	names, err := s.fs.List(s.dir)
	if err != nil {
		return err
	}
	for _, n := range names {
		if strings.HasSuffix(n, ingestSuffix) {
			if err := s.fs.Remove(s.fs.PathJoin(s.dir, n)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
	}
	return nil
}

// saveIndexes snapshots every space's graph. Called by Close with all
// background work stopped.
func (s *Store) saveIndexes() error {
	for _, id := range s.Spaces() {
		if _, err := s.saveIndex(context.Background(), s.space(id), true); err != nil {
			return fmt.Errorf("space %s: %w", id, err)
		}
	}
	return nil
}

// snapshotIndexes snapshots every space's graph while the store serves
// (Backup). It skips spaces whose graph has not changed since their last
// snapshot.
func (s *Store) snapshotIndexes(ctx context.Context) error {
	for _, id := range s.Spaces() {
		sp := s.space(id)
		if sp.idx.snapFresh() {
			continue
		}
		if _, err := s.saveIndex(ctx, sp, false); err != nil {
			return fmt.Errorf("space %s: %w", id, err)
		}
	}
	return nil
}

// errSnapshotStopped is returned by a live snapshot that the store's
// shutdown (or its caller's context) interrupted; nothing of it is kept.
var errSnapshotStopped = errors.New("index snapshot interrupted")

// saveIndex writes the graph of sp to pebble and reports how many nodes it
// holds. final is true when Close calls it, with every background goroutine
// stopped; otherwise it runs while the store serves: writers, deletes and
// the indexer keep going.
//
// A live snapshot is fuzzy, not a point in time: the node set is fixed
// first (every node indexed at that moment, live or awaiting its delete
// repair), then each node's lists are copied under its stripe lock, one
// node after another, so two nodes may be copied before and after the same
// insert. A consistent cut would have to stop every insert and repair of
// the space for the whole copy (tens of milliseconds of latency for every
// writer at 100,000 memories, seconds at a million) or keep copy-on-write
// versions of every list (a second graph in RAM in the worst case). The
// fuzzy copy needs neither, and everything it can contain is something
// Open already reconciles, because a snapshot is a cache validated against
// pebble, never the truth:
//   - links to nodes outside the set (inserted after it was fixed, or
//     deleted and already repaired) are dropped when written, so every
//     stored link names a node of the stream; a node that loses its last
//     in-link that way is reconnected on load (countInDegrees);
//   - a node whose lists changed after they were copied is loaded with the
//     copied lists, which were a valid list of its neighbours then (each
//     list is copied whole under its lock, with its distances);
//   - a node deleted or replaced after the set was fixed (or awaiting its
//     repair when it was) has no live memory with its id and sequence
//     number in pebble when the store reopens: it is not mapped, and the
//     lists that link to it are repaired from its own stored links;
//   - a memory written after the set was fixed is not in it and is indexed
//     in the background on Open;
//   - the entry point is a node of the set (the graph's, or the highest
//     one of the set); Open falls back to the highest mapped node if it is
//     gone.
//
// Every memory the snapshot names was committed to pebble before it became
// a node, and the manifest is written to the WAL after them (and after the
// parts' table is ingested), so a crash or a checkpoint that keeps the
// manifest keeps those records (pebble's WAL is replayed in order). A crash
// that keeps the ingested table but not the manifest leaves parts of a
// generation no manifest names: the next snapshot takes a generation past
// every one the space's parts hold, and deletes all the others.
//
// Memory: the stream is written part by part as nodes are copied; besides
// the parts in flight (the table writer's current block) it holds two words
// per slot (the node set and its numbering), not a copy of the graph.
func (s *Store) saveIndex(ctx context.Context, sp *space, final bool) (nodes int, err error) {
	return s.saveIndexAt(ctx, sp, final, 0)
}

// saveIndexAt is saveIndex with a live snapshot's writes paced to rate
// bytes a second (0: as fast as pebble takes them). The background loop
// paces; a backup, which copies the whole store next, does not.
func (s *Store) saveIndexAt(ctx context.Context, sp *space, final bool, rate int64) (nodes int, err error) {
	h := sp.idx
	s.snapMu.Lock()
	defer s.snapMu.Unlock()
	start := time.Now()
	var written int64
	defer func() { s.snaps.record(sp.id, start, nodes, written, err) }()
	if final {
		// Finish pending repairs: a repaired graph has no list that
		// depends on a deleted node.
		for _, r := range h.dels {
			h.repair(r)
		}
		h.dels = nil
	}
	// Inserts that complete from here on count towards the next snapshot.
	inserts := h.inserts.Load()
	n := sp.slotCount()
	h.qmu.Lock()
	repairing := make(map[uint32]bool, len(h.dels))
	for _, r := range h.dels {
		repairing[r] = true
	}
	h.qmu.Unlock()
	// index maps a slot to its position in the stream plus one (0: not in
	// the snapshot).
	index := make([]uint32, n)
	keep := make([]uint32, 0, n)
	for r := uint32(0); r < n; r++ {
		f := sp.m(r).flags.Load()
		if f&flagIndexed != 0 && (f&flagLive != 0 || repairing[r]) {
			keep = append(keep, r)
			index[r] = uint32(len(keep))
		}
	}
	var old uint64
	if v, closer, err := s.db.Get(manifestKey(sp.id)); err == nil {
		if m, err := parseManifest(v); err == nil {
			old = m.gen
		}
		closer.Close()
	}
	gen := old + 1
	if last, ok, err := s.lastPartGen(sp.id); err != nil {
		return 0, err
	} else if ok && last >= gen {
		gen = last + 1 // past parts no manifest names (see below)
	}
	w := &partWriter{s: s, space: sp.id, gen: gen}
	if !final {
		w.partBytes = liveSnapshotPart
		w.rate, w.start, w.ctx = rate, time.Now(), ctx
	}
	// Nothing of an unfinished snapshot reaches pebble: its table is
	// ingested whole, or dropped.
	abort := func(err error) (int, error) {
		w.discard()
		return 0, err
	}
	entry := uint32(0)
	if ep, _, ok := h.entry(); ok && ep < n && index[ep] != 0 {
		entry = index[ep] - 1
	} else {
		best := -1
		for i, r := range keep {
			if l := int(sp.m(r).level); l > best {
				best, entry = l, uint32(i)
			}
		}
	}
	hdr := []byte(snapshotMagic)
	hdr = append(hdr, snapshotVersion)
	hdr = binary.LittleEndian.AppendUint16(hdr, uint16(h.m))
	hdr = binary.LittleEndian.AppendUint32(hdr, uint32(len(keep)))
	hdr = binary.LittleEndian.AppendUint32(hdr, entry)
	w.Write(hdr)
	var rec []byte
	for _, r := range keep {
		id := sp.idOf(r)
		rec = binary.AppendUvarint(rec[:0], uint64(len(id)))
		rec = append(rec, id...)
		rec = binary.LittleEndian.AppendUint64(rec, sp.m(r).seq)
		rec = append(rec, sp.m(r).level)
		w.Write(rec)
	}
	for i, r := range keep {
		if i&1023 == 1023 {
			if err := ctx.Err(); err != nil && !final {
				return abort(fmt.Errorf("%w: %v", errSnapshotStopped, err))
			}
			if s.failed.Load() {
				return abort(s.failErr)
			}
			runtime.Gosched()
		}
		rec = rec[:0]
		mu := h.lock(r)
		mu.Lock()
		for l := 0; l <= int(sp.m(r).level); l++ {
			lst := h.list(r, l)
			at := len(rec)
			rec = append(rec, 0)
			cnt := 0
			for j, x := range lst[1 : 1+lst[0]] {
				if x < n && index[x] != 0 {
					rec = binary.LittleEndian.AppendUint32(rec, index[x]-1)
					rec = binary.LittleEndian.AppendUint32(rec, math.Float32bits(h.getDist(r, l, j)))
					cnt++
				}
			}
			rec[at] = byte(cnt)
		}
		mu.Unlock()
		w.Write(rec)
	}
	if err := w.close(); err != nil {
		return abort(err)
	}
	var man []byte
	man = binary.LittleEndian.AppendUint64(man, gen)
	man = binary.LittleEndian.AppendUint32(man, w.part)
	man = binary.LittleEndian.AppendUint64(man, uint64(w.total))
	man = append(man, pfxIndex)
	b := s.db.NewBatch()
	b.Set(manifestKey(sp.id), frame(man), nil)
	// Every other part of the space: the previous generation's, and any
	// generation no manifest names (a snapshot that a crash interrupted
	// between its ingest and this write; the 'z' parts a store keeps when
	// an older binary, which snapshots under 'h' from generation 1,
	// opened it). gen is past all of them, so one range covers them, and
	// it ends where this generation's parts begin: the next snapshot's
	// table overlaps it not even at a boundary.
	b.DeleteRange(partKey(sp.id, 0, 0), partKey(sp.id, gen, 0), nil)
	v1 := spaceKey(nil, pfxIndexV1, sp.id)
	b.DeleteRange(v1, prefixEnd(v1), nil)
	if err := s.commit(b, true); err != nil {
		return 0, err
	}
	h.snapInserts.Store(inserts)
	h.snapshotted.Store(true)
	written = w.total
	return len(keep), nil
}

// lastPartGen returns the highest generation of the space's parts under
// pfxIndex, whether or not a manifest names it.
func (s *Store) lastPartGen(space string) (gen uint64, ok bool, err error) {
	lo := spaceKey(nil, pfxIndex, space)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: prefixEnd(lo)})
	if err != nil {
		return 0, false, err
	}
	if it.Last() && len(it.Key()) >= len(lo)+8 {
		gen, ok = binary.BigEndian.Uint64(it.Key()[len(lo):]), true
	}
	return gen, ok, errors.Join(it.Error(), it.Close())
}

// partReader reads the parts of a snapshot stream in order, verifying each.
type partReader struct {
	s     *Store
	space string
	pfx   byte // the parts' key prefix
	gen   uint64
	parts uint32
	total uint64 // stream bytes, from the manifest
	next  uint32
	cur   []byte
	err   error
}

func (r *partReader) fill() bool {
	for len(r.cur) == 0 {
		if r.err != nil || r.next >= r.parts {
			return false
		}
		v, closer, err := r.s.db.Get(partKeyIn(r.pfx, r.space, r.gen, r.next))
		if err != nil {
			r.err = fmt.Errorf("index part %d: %w", r.next, err)
			return false
		}
		p, err := unframe(v, "index part")
		if err != nil {
			closer.Close()
			r.err = err
			return false
		}
		r.cur = append([]byte(nil), p...)
		closer.Close()
		r.next++
	}
	return true
}

// ReadByte implements io.ByteReader.
func (r *partReader) ReadByte() (byte, error) {
	if !r.fill() {
		return 0, r.eof()
	}
	b := r.cur[0]
	r.cur = r.cur[1:]
	return b, nil
}

// Read implements io.Reader.
func (r *partReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if !r.fill() {
			return n, r.eof()
		}
		k := copy(p[n:], r.cur)
		r.cur = r.cur[k:]
		n += k
	}
	return n, nil
}

func (r *partReader) eof() error {
	if r.err != nil {
		return r.err
	}
	return io.ErrUnexpectedEOF
}

// manifest is a decoded 'H' record: which generation of parts is current.
type manifest struct {
	gen   uint64
	parts uint32
	total uint64 // stream bytes
	pfx   byte   // the parts' key prefix
}

// parseManifest decodes a framed manifest record.
func parseManifest(v []byte) (manifest, error) {
	p, err := unframe(v, "index manifest")
	if err != nil {
		return manifest{}, err
	}
	m := manifest{pfx: pfxIndexV1}
	switch {
	case len(p) == 20:
	case len(p) == 21 && p[20] == pfxIndex:
		m.pfx = p[20]
	default:
		return manifest{}, fmt.Errorf("%w: index manifest of %d bytes", ErrCorrupt, len(p))
	}
	m.gen = binary.LittleEndian.Uint64(p)
	m.parts = binary.LittleEndian.Uint32(p[8:])
	m.total = binary.LittleEndian.Uint64(p[12:])
	return m, nil
}

// reader reads the stream the manifest names.
func (m manifest) reader(s *Store, space string) *partReader {
	return &partReader{s: s, space: space, pfx: m.pfx, gen: m.gen, parts: m.parts, total: m.total}
}

// errSnapshot marks a snapshot that cannot be used (the graph is rebuilt).
var errSnapshot = errors.New("unusable index snapshot")

// loadIndex loads a space's snapshot after its memories are loaded. It
// reports whether a snapshot was used; an unusable one is not an error.
func (s *Store) loadIndex(sp *space) (bool, error) {
	v, closer, err := s.db.Get(manifestKey(sp.id))
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	m, err := parseManifest(v)
	closer.Close()
	if err != nil {
		s.noteIndex(sp, "manifest: %v", err)
		return false, nil
	}
	r := m.reader(s, sp.id)
	if err := s.readSnapshot(sp, r); err != nil {
		s.noteIndex(sp, "%v", err)
		s.resetIndex(sp)
		return false, nil
	}
	sp.idx.kickConnect() // a graph saved before may hold unreached nodes
	return true, nil
}

func (s *Store) noteIndex(sp *space, format string, args ...any) {
	s.recovery.IndexNotes = append(s.recovery.IndexNotes, fmt.Sprintf("space %s: index snapshot ignored, rebuilding: ", sp.id)+fmt.Sprintf(format, args...))
}

// resetIndex forgets a partly loaded graph.
func (s *Store) resetIndex(sp *space) {
	h := sp.idx
	n := sp.slotCount()
	for r := uint32(0); r < n; r++ {
		setFlags(sp.m(r), 0, flagIndexed)
		h.inDeg.at(r).Store(0)
		h.links0.row(r)[0] = 0
		if u := *h.upper.at(r); u != nil {
			clear(u)
		}
	}
	h.ep.Store(0)
	h.nodes.Store(0)
}

// snapStream is a snapshot stream being read: from pebble (partReader),
// or from memory (the fuzz test).
type snapStream interface {
	io.Reader
	io.ByteReader
	size() uint64 // the stream's length in bytes, as its manifest says
	done() bool   // everything was read
}

func (r *partReader) size() uint64 { return r.total }
func (r *partReader) done() bool   { return r.next == r.parts && len(r.cur) == 0 }

func (s *Store) readSnapshot(sp *space, r snapStream) error {
	h := sp.idx
	var hdr [15]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return err
	}
	if string(hdr[:4]) != snapshotMagic || hdr[4] != snapshotVersion {
		return fmt.Errorf("%w: bad magic or version", errSnapshot)
	}
	if m := int(binary.LittleEndian.Uint16(hdr[5:])); m != h.m {
		return fmt.Errorf("%w: built with M=%d, store uses M=%d", errSnapshot, m, h.m)
	}
	count := binary.LittleEndian.Uint32(hdr[7:])
	entry := binary.LittleEndian.Uint32(hdr[11:])
	if count > 0 && entry >= count {
		return fmt.Errorf("%w: entry point %d of %d nodes", errSnapshot, entry, count)
	}
	// A node takes at least 11 bytes (id length, id, seq, level); a count
	// the stream cannot hold is refused before anything is allocated.
	if uint64(count)*11 > r.size() {
		return fmt.Errorf("%w: %d nodes in a stream of %d bytes", errSnapshot, count, r.size())
	}
	const unmapped = ^uint32(0)
	slots := make([]uint32, count) // snapshot index → slot or unmapped
	levels := make([]uint8, count)
	var idb []byte
	var seqb [8]byte
	for i := range slots {
		n, err := binary.ReadUvarint(r)
		if err != nil || n > 256 {
			return fmt.Errorf("%w: node %d id", errSnapshot, i)
		}
		idb = append(idb[:0], make([]byte, n)...)
		if _, err := io.ReadFull(r, idb); err != nil {
			return err
		}
		if _, err := io.ReadFull(r, seqb[:]); err != nil {
			return err
		}
		lv, err := r.ReadByte()
		if err != nil {
			return err
		}
		levels[i] = lv
		slots[i] = unmapped
		if slot, ok := sp.byID[string(idb)]; ok && sp.m(slot).seq == binary.LittleEndian.Uint64(seqb[:]) {
			if sp.m(slot).level != lv {
				return fmt.Errorf("%w: node %s level %d, expected %d", errSnapshot, idb, lv, sp.m(slot).level)
			}
			slots[i] = slot
		}
	}
	// Links. Links to unmapped nodes (deleted since the snapshot) are
	// replaced by those nodes' own links, then the list is re-selected.
	type gap struct {
		slot  uint32
		layer int
		lost  []uint32 // snapshot indexes of unmapped targets
	}
	var gaps []gap
	lostLinks := map[[2]uint32][]uint32{} // (unmapped index, layer) → its links (snapshot indexes)
	var raw [256 * 8]byte
	for i := uint32(0); i < count; i++ {
		for l := 0; l <= int(levels[i]); l++ {
			c, err := r.ReadByte()
			if err != nil {
				return err
			}
			capacity := h.m
			if l == 0 {
				capacity = h.m0
			}
			if int(c) > capacity {
				return fmt.Errorf("%w: node %d layer %d has %d links, capacity %d", errSnapshot, i, l, c, capacity)
			}
			b := raw[:8*int(c)]
			if _, err := io.ReadFull(r, b); err != nil {
				return err
			}
			links := make([]uint32, c)
			dists := make([]float32, c)
			for k := range links {
				links[k] = binary.LittleEndian.Uint32(b[8*k:])
				dists[k] = math.Float32frombits(binary.LittleEndian.Uint32(b[8*k+4:]))
				if links[k] >= count {
					return fmt.Errorf("%w: link to node %d of %d", errSnapshot, links[k], count)
				}
				// A layer's links name nodes of that layer (a list of
				// layer l is read for every node it names).
				if int(levels[links[k]]) < l {
					return fmt.Errorf("%w: node %d links to node %d of level %d at layer %d", errSnapshot, i, links[k], levels[links[k]], l)
				}
				if !(dists[k] >= -1 && dists[k] <= 3) {
					return fmt.Errorf("%w: link distance %v", errSnapshot, dists[k])
				}
			}
			if slots[i] == unmapped {
				lostLinks[[2]uint32{i, uint32(l)}] = links
				continue
			}
			lst := h.list(slots[i], l)
			n := 0
			var lost []uint32
			for j, x := range links {
				if slots[x] == unmapped {
					lost = append(lost, x)
					continue
				}
				lst[1+n] = slots[x]
				h.setDist(slots[i], l, n, dists[j])
				n++
			}
			lst[0] = uint32(n)
			if l == 0 {
				h.forgetDom(slots[i], n)
			}
			if len(lost) > 0 {
				gaps = append(gaps, gap{slots[i], l, lost})
			}
		}
	}
	if !r.done() {
		return fmt.Errorf("%w: trailing bytes after the last node", errSnapshot)
	}
	for _, g := range gaps {
		capacity := h.m
		if g.layer == 0 {
			capacity = h.m0
		}
		lst := h.list(g.slot, g.layer)
		seen := map[uint32]bool{g.slot: true}
		var cs []cand
		add := func(x uint32) {
			if !seen[x] {
				seen[x] = true
				cs = append(cs, cand{x, h.distSlots(g.slot, x)})
			}
		}
		for _, x := range lst[1 : 1+lst[0]] {
			add(x)
		}
		for _, u := range g.lost {
			for _, x := range lostLinks[[2]uint32{u, uint32(g.layer)}] {
				if slots[x] != unmapped {
					add(slots[x])
				}
			}
		}
		sort.Slice(cs, func(a, b int) bool { return less(cs[a], cs[b]) })
		h.writeList(g.slot, g.layer, h.selectNeighbours(g.slot, cs, capacity)) // in-degrees are counted below
	}
	// Entry point: the snapshot's, or the highest mapped node.
	var ep uint32
	found := false
	if count > 0 && slots[entry] != unmapped {
		ep, found = slots[entry], true
	} else {
		best := -1
		for i, slot := range slots {
			if slot != unmapped && int(levels[i]) > best {
				best, ep, found = int(levels[i]), slot, true
			}
		}
	}
	nodes := int64(0)
	for _, slot := range slots {
		if slot != unmapped {
			setFlags(sp.m(slot), flagIndexed, flagAutoLink)
			nodes++
		}
	}
	if found {
		h.ep.Store(encEntry(ep, int(sp.m(ep).level)))
	}
	h.nodes.Store(nodes)
	h.countInDegrees(sp.next)
	h.snapshotted.Store(true)
	s.recovery.IndexReused += int(nodes)
	return nil
}
