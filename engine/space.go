package engine

import (
	"sort"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// Node flags (nodeMeta.flags).
const (
	flagLive         uint32 = 1 << iota // published and not deleted
	flagDeleted                         // deleted or replaced; never live again
	flagSemantic                        // formed by consolidation
	flagIndexed                         // inserted into the HNSW graph
	flagConsolidated                    // an episode that supports a belief
	flagAutoLink                        // auto links still to be derived by the indexer
)

// nodeMeta is the in-memory state of one slot. seq, created, conf and level
// are written before the slot is published and never change afterwards.
type nodeMeta struct {
	seq        uint64
	created    int64 // Unix ns
	conf       float32
	level      uint8 // HNSW layer of the node
	flags      atomic.Uint32
	lastAccess atomic.Int64 // Unix ns; 0 = never recalled
	recalls    atomic.Uint32
}

// edge is one in-memory edge; to is a slot of the same space.
type edge struct {
	to   uint32
	w    float32
	kind EdgeKind
}

// space is the in-memory state of one memory space. Memories live in slots
// numbered from 0 in insertion order; a slot is never reused before the next
// Open, so a reader holding a slot number can always read its vector.
type space struct {
	id      string
	st      *Store
	dim     int
	created time.Time

	// mu guards byID, next and the counters. Lock order: an id stripe
	// (Store.stripe), then graphMu, then mu.
	mu       sync.RWMutex
	byID     map[string]uint32
	next     uint32
	live     int
	semantic int

	// graphMu serialises mutations of edges (in pebble and in memory) and the
	// move of a replaced memory's edges to its new slot. RememberWith
	// (AutoLink) alone commits its links before taking it and reconciles
	// under it (edgegen.go).
	graphMu sync.Mutex
	edges   atomic.Int64 // directed edges

	vecs *chunks[float32]                // width dim, unit vectors, off-heap
	q8   *chunks[int8]                   // width dim+4: quantised vector, inverse scale (quant.go); off-heap
	dead *chunks[atomic.Uint64]          // bit per slot: deleted or replaced (for graph walks)
	meta *chunks[nodeMeta]               // width 1
	ids  *chunks[string]                 // width 1
	adj  *chunks[atomic.Pointer[[]edge]] // width 1, copy-on-write lists

	idx *hnsw

	persisted atomic.Bool // its 's' record is written

	cons consolidator
}

func newSpace(st *Store, id string, created time.Time) *space {
	sp := &space{
		id:      id,
		st:      st,
		dim:     st.dim,
		created: created,
		byID:    map[string]uint32{},
		vecs:    newChunks[float32](st.dim, true),
		q8:      newChunks[int8](st.dim+4, true),
		dead:    newChunks[atomic.Uint64](1, true),
		meta:    newChunks[nodeMeta](1, false),
		ids:     newChunks[string](1, false),
		adj:     newChunks[atomic.Pointer[[]edge]](1, false),
	}
	sp.idx = newHNSW(sp, st.opts.Index)
	return sp
}

func (sp *space) vec(r uint32) []float32 { return sp.vecs.row(r) }
func (sp *space) vq(r uint32) []int8     { return sp.q8.row(r)[:sp.dim] }
func (sp *space) vinv(r uint32) float32  { return *(*float32)(unsafe.Pointer(&sp.q8.row(r)[sp.dim])) }

// isDead reports whether slot r was deleted or replaced: one bit per slot in
// a small array, so graph walks check it without touching the slot's
// metadata.
func (sp *space) isDead(r uint32) bool {
	return sp.dead.at(r>>6).Load()&(1<<(r&63)) != 0
}
func (sp *space) m(r uint32) *nodeMeta { return sp.meta.at(r) }
func (sp *space) idOf(r uint32) string { return *sp.ids.at(r) }

func (sp *space) isLive(r uint32) bool { return sp.m(r).flags.Load()&flagLive != 0 }

// slotCount is the number of allocated slots (an upper bound for scans).
func (sp *space) slotCount() uint32 {
	sp.mu.RLock()
	defer sp.mu.RUnlock()
	return sp.next
}

// lookup returns the live slot of id.
func (sp *space) lookup(id string) (uint32, bool) {
	sp.mu.RLock()
	r, ok := sp.byID[id]
	sp.mu.RUnlock()
	return r, ok
}

// grow makes slot n-1 addressable in every per-slot array. Under mu.
func (sp *space) grow(n uint32) {
	sp.vecs.ensure(n)
	sp.q8.ensure(n)
	sp.dead.ensure((n + 63) >> 6)
	sp.meta.ensure(n)
	sp.ids.ensure(n)
	sp.adj.ensure(n)
	sp.idx.grow(n)
}

// put publishes a memory in a new slot (m.Embedding unit length). If a live
// memory with the same id exists, it is replaced: the new slot inherits its
// edges and access history and the old slot is marked deleted. A put whose
// seq is not newer than the live memory's is dropped (stale). It returns the
// new slot, and the old one when replaced. The caller holds graphMu.
func (sp *space) put(m *Memory, seq uint64, flags uint32, lastAccess int64, recalls uint32) (slot, old uint32, replaced, ok bool) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	old, replaced = sp.byID[m.ID]
	if replaced && sp.m(old).seq >= seq {
		return 0, 0, false, false
	}
	slot = sp.next
	sp.grow(slot + 1)
	sp.next++
	copy(sp.vec(slot), m.Embedding)
	*(*float32)(unsafe.Pointer(&sp.q8.row(slot)[sp.dim])) = quantize(m.Embedding, sp.vq(slot))
	nm := sp.m(slot)
	nm.seq = seq
	nm.created = m.CreatedAt.UnixNano()
	nm.conf = m.Confidence
	nm.level = sp.idx.levelFor(seq)
	nm.lastAccess.Store(lastAccess)
	nm.recalls.Store(recalls)
	nm.flags.Store(0)
	sp.idx.prepareNode(slot, nm.level)
	*sp.ids.at(slot) = m.ID
	if replaced {
		om := sp.m(old)
		if la := om.lastAccess.Load(); la > lastAccess {
			nm.lastAccess.Store(la)
		}
		if rc := om.recalls.Load(); rc > recalls {
			nm.recalls.Store(rc)
		}
		flags |= om.flags.Load() & flagConsolidated
		sp.moveEdges(old, slot)
		sp.retire(old)
	}
	sp.byID[m.ID] = slot
	setFlags(nm, flags|flagLive, 0)
	sp.live++
	if flags&flagSemantic != 0 {
		sp.semantic++
	}
	return slot, old, replaced, true
}

// retire marks a live slot deleted and tells the index. Under mu.
func (sp *space) retire(r uint32) {
	sp.dead.at(r >> 6).Or(1 << (r & 63))
	f := setFlags(sp.m(r), flagDeleted, flagLive)
	sp.live--
	if f&flagSemantic != 0 {
		sp.semantic--
	}
	sp.idx.retired(r, f)
}

// remove deletes the live memory id from memory: its slot and both
// directions of its edges. Under graphMu. It returns the slot and the edges
// it had.
func (sp *space) remove(id string) (uint32, []edge, bool) {
	sp.mu.Lock()
	r, ok := sp.byID[id]
	if !ok {
		sp.mu.Unlock()
		return 0, nil, false
	}
	delete(sp.byID, id)
	sp.retire(r)
	sp.mu.Unlock()
	es := sp.edgesOf(r)
	for _, e := range es {
		sp.dropEdge(e.to, r)
	}
	sp.adj.at(r).Store(nil)
	sp.edges.Add(-int64(len(es)))
	return r, es, true
}

// edgesOf returns the edges of slot r (shared: do not modify).
func (sp *space) edgesOf(r uint32) []edge {
	if p := sp.adj.at(r).Load(); p != nil {
		return *p
	}
	return nil
}

// setEdge adds or updates the edge from → to. Under graphMu. It reports
// whether the edge is new. Edge lists are kept sorted, strongest first and
// ties by memory id, so spreading activation walks them in a deterministic
// order without sorting.
func (sp *space) setEdge(from, to uint32, w float32, kind EdgeKind) bool {
	old := sp.edgesOf(from)
	nl := make([]edge, 0, len(old)+1)
	isNew := true
	for _, e := range old {
		if e.to == to {
			isNew = false
			continue
		}
		nl = append(nl, e)
	}
	e := edge{to: to, w: w, kind: kind}
	i := sort.Search(len(nl), func(i int) bool { return !sp.edgeBefore(nl[i], e) })
	nl = append(nl, edge{})
	copy(nl[i+1:], nl[i:])
	nl[i] = e
	sp.adj.at(from).Store(&nl)
	if isNew {
		sp.edges.Add(1)
	}
	return isNew
}

// edgeBefore orders edges strongest first, ties by the target's id.
func (sp *space) edgeBefore(a, b edge) bool {
	if a.w != b.w {
		return a.w > b.w
	}
	return sp.idOf(a.to) < sp.idOf(b.to)
}

// hasEdge reports whether from → to exists.
func (sp *space) hasEdge(from, to uint32) bool {
	for _, e := range sp.edgesOf(from) {
		if e.to == to {
			return true
		}
	}
	return false
}

// dropEdge removes from → to. Under graphMu.
func (sp *space) dropEdge(from, to uint32) {
	old := sp.edgesOf(from)
	for i, e := range old {
		if e.to == to {
			nl := make([]edge, 0, len(old)-1)
			nl = append(nl, old[:i]...)
			nl = append(nl, old[i+1:]...)
			if len(nl) == 0 {
				sp.adj.at(from).Store(nil)
			} else {
				sp.adj.at(from).Store(&nl)
			}
			sp.edges.Add(-1)
			return
		}
	}
}

// moveEdges gives slot to the edges of slot from and points their twins at
// to. Under graphMu.
func (sp *space) moveEdges(from, to uint32) {
	es := sp.edgesOf(from)
	if len(es) == 0 {
		return
	}
	sp.adj.at(to).Store(sp.adj.at(from).Load())
	sp.adj.at(from).Store(nil)
	for _, e := range es {
		old := sp.edgesOf(e.to)
		nl := append([]edge(nil), old...)
		for i := range nl {
			if nl[i].to == from {
				nl[i].to = to
			}
		}
		sp.adj.at(e.to).Store(&nl)
	}
}

// liveIDs returns the ids of live memories, sorted.
func (sp *space) liveIDs() []string {
	sp.mu.RLock()
	out := make([]string, 0, len(sp.byID))
	for id := range sp.byID {
		out = append(out, id)
	}
	sp.mu.RUnlock()
	sort.Strings(out)
	return out
}

// memoryMeta fills the read-time fields of m from slot r.
func (sp *space) fillMeta(m *Memory, r uint32, now time.Time) {
	nm := sp.m(r)
	f := nm.flags.Load()
	m.Type = Episodic
	if f&flagSemantic != 0 {
		m.Type = Semantic
	}
	m.RecallCount = int(nm.recalls.Load())
	m.LastAccess = m.CreatedAt
	if la := nm.lastAccess.Load(); la != 0 {
		m.LastAccess = time.Unix(0, la)
	}
	m.DecayedConfidence = sp.st.decayed(nm, f, now)
}

// queueEpisode makes a new episodic slot a consolidation candidate.
func (sp *space) queueEpisode(r uint32) {
	if sp.m(r).flags.Load()&(flagSemantic|flagConsolidated) == 0 {
		sp.cons.add(r)
	}
}
