package engine

import (
	"cmp"
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
)

// hnsw is a Hierarchical Navigable Small World graph (Malkov & Yashunin,
// 2016) over the slots of one space, for cosine similarity on unit vectors
// (distance = 1 − dot product).
//
// Concurrency: searches and inserts run concurrently. Each node's link lists
// are guarded by one of lockStripes mutexes (readers copy a list under it,
// never holding two); vectors and levels are written before a node becomes
// reachable, and a slot is never reused while the store is open, so reading a
// reachable node's vector needs no lock. The entry point is an atomic word.
//
// Deletes: a deleted node stays in the graph as a waypoint (its vector and
// links remain) but is never returned; the nodes it linked to are repaired
// by the indexer, which relinks them among the deleted node's neighbours.
// Slots are compacted away when the graph is snapshotted at Close.
type hnsw struct {
	sp       *space
	m, m0    int
	efC, efS int
	ml       float64

	links0 *chunks[uint32]   // width m0+1: [count, neighbours...]; off-heap
	dists0 *chunks[float32]  // width m0: distance to each layer-0 neighbour; off-heap
	dom0   *chunks[uint8]    // width m0: the dominance memo of each layer-0 list (dominance.go); nil if m0 > maxDomM0
	upper  *chunks[[]uint32] // layers 1..level: level × (2m+1) words per node: [count, neighbours×m, distance bits×m]
	// inDeg counts the layer-0 lists each node is in. A node no list
	// points to cannot be found (except as the entry point); when a
	// re-selection drops a node's last in-link, it is reconnected
	// (reconnect). Without this, about 0.3% of the nodes of a clustered
	// space became unreachable after doubling it by single inserts
	// (miss_test.go, 2026-11-27).
	inDeg *chunks[atomic.Int32]

	locks [lockStripes]sync.Mutex
	epMu  sync.Mutex
	ep    atomic.Uint64 // 0 = empty graph; else (slot+1)<<8 | level

	nodes   atomic.Int64 // inserted nodes (deleted ones included)
	deleted atomic.Int64 // inserted nodes since deleted

	// Snapshots (snaploop.go): inserts counts the inserts since Open;
	// snapInserts is its value when the last snapshot fixed its node set,
	// snapshotted whether there is one (written since Open, or loaded).
	inserts     atomic.Int64
	snapInserts atomic.Int64
	snapshotted atomic.Bool
	// reindexAtOpen is how many live memories Open found missing from the
	// snapshot and queued; set before the store serves, read-only after.
	reindexAtOpen int

	visited sync.Pool

	// checkDom, set by tests before any insert, is given each full list's
	// re-selection: n's list at layer l before r (at distance d) arrived,
	// and after.
	checkDom func(n, r uint32, d float32, l int, before, after []cand)

	connectState // connect.go

	// The indexing queue: slots waiting to be inserted (queue), being
	// inserted (busy), and deleted slots whose neighbours need repair.
	qmu       sync.Mutex
	queue     []uint32
	busy      map[uint32]struct{}
	dels      []uint32
	repairing int // deleted slots taken from dels whose repair runs
	workers   int
}

const lockStripes = 4096

// minInDegree is the fewest layer-0 in-links a node keeps: a node with
// fewer is reconnected from its nearest neighbours.
//
// Why layer 0 holds 3M links and full lists drop one member (reselect): a
// regression test stores 2 000 clustered memories, then 3× as many by
// single inserts, and searches for perturbed copies of the first ones
// (TestIndexKeepsOldMemoriesFindable). With 2M links and Malkov's heuristic
// 0.2–0.3% of the old memories were no longer found (nodes at the edge of a
// cluster lose their in-links to newer, closer nodes); with 3M and reselect,
// 0.06%, and inserts got cheaper (2026-11-27).
const minInDegree = 1

func newHNSW(sp *space, o IndexOptions) *hnsw {
	h := &hnsw{
		sp:   sp,
		m:    o.M,
		m0:   3 * o.M,
		efC:  o.EfConstruction,
		efS:  o.EfSearch,
		ml:   1 / math.Log(float64(o.M)),
		busy: map[uint32]struct{}{},
	}
	h.links0 = newChunks[uint32](h.m0+1, true)
	h.dists0 = newChunks[float32](h.m0, true)
	h.upper = newChunks[[]uint32](1, false)
	h.inDeg = newChunks[atomic.Int32](1, true)
	if h.m0 <= maxDomM0 {
		h.dom0 = newChunks[uint8](h.m0, true)
	}
	return h
}

func (h *hnsw) grow(n uint32) {
	h.links0.ensure(n)
	h.dists0.ensure(n)
	if h.dom0 != nil {
		h.dom0.ensure(n)
	}
	h.upper.ensure(n)
	h.inDeg.ensure(n)
}

func (h *hnsw) release() {
	h.links0.release()
	h.dists0.release()
	if h.dom0 != nil {
		h.dom0.release()
	}
	h.upper.release()
	h.inDeg.release()
}

// levelFor draws the layer of a node from its sequence number: P(level ≥ l)
// = M^−l. Deriving it from seq makes the graph a function of the insertion
// order.
func (h *hnsw) levelFor(seq uint64) uint8 {
	u := float64(splitmix(seq)>>11+1) / (1 << 53) // (0, 1]
	l := int(-math.Log(u) * h.ml)
	return uint8(min(l, 24))
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// prepareNode allocates the upper-layer lists of slot r before it is
// published. Under space.mu.
func (h *hnsw) prepareNode(r uint32, level uint8) {
	lst := h.links0.row(r)
	lst[0] = 0
	if level > 0 {
		*h.upper.at(r) = make([]uint32, int(level)*(2*h.m+1))
	} else {
		*h.upper.at(r) = nil
	}
}

// list returns the raw list of node r at layer l: [count, neighbours...].
// Callers hold r's stripe lock.
func (h *hnsw) list(r uint32, l int) []uint32 {
	if l == 0 {
		return h.links0.row(r)
	}
	u := *h.upper.at(r)
	o := (l - 1) * (2*h.m + 1)
	return u[o : o+h.m+1 : o+h.m+1]
}

// getDist and setDist access the stored distance of the i-th neighbour of
// r at layer l. Callers hold r's stripe lock.
func (h *hnsw) getDist(r uint32, l, i int) float32 {
	if l == 0 {
		return h.dists0.row(r)[i]
	}
	u := *h.upper.at(r)
	return math.Float32frombits(u[(l-1)*(2*h.m+1)+1+h.m+i])
}

func (h *hnsw) setDist(r uint32, l, i int, d float32) {
	if l == 0 {
		h.dists0.row(r)[i] = d
		return
	}
	u := *h.upper.at(r)
	u[(l-1)*(2*h.m+1)+1+h.m+i] = math.Float32bits(d)
}

// writeList replaces the list of r at layer l. Callers hold r's stripe lock.
// At layer 0 it keeps the in-degrees and returns the nodes that lost their
// last in-link, for the caller to reconnect once it holds no lock.
func (h *hnsw) writeList(r uint32, l int, nb []cand) (orphans []uint32) {
	lst := h.list(r, l)
	if l == 0 {
		old := lst[1 : 1+lst[0]]
		for _, x := range old {
			kept := false
			for _, c := range nb {
				if c.slot == x {
					kept = true
					break
				}
			}
			if !kept && h.inDeg.at(x).Add(-1) < minInDegree {
				orphans = append(orphans, x)
			}
		}
		for _, c := range nb {
			had := false
			for _, x := range old {
				if x == c.slot {
					had = true
					break
				}
			}
			if !had {
				h.inDeg.at(c.slot).Add(1)
			}
		}
	}
	lst[0] = uint32(len(nb))
	for i, c := range nb {
		lst[1+i] = c.slot
		h.setDist(r, l, i, c.dist)
	}
	if l == 0 {
		h.forgetDom(r, len(nb))
	}
	return orphans
}

// appendLink adds x (at distance d) to the list of n at layer l, which has
// room. Callers hold n's stripe lock.
func (h *hnsw) appendLink(n uint32, l int, x uint32, d float32) {
	lst := h.list(n, l)
	cnt := int(lst[0])
	lst[1+cnt] = x
	h.setDist(n, l, cnt, d)
	lst[0]++
	if l == 0 {
		h.inDeg.at(x).Add(1)
		h.domArrive(n, cnt, x, d, false)
	}
}

// replaceLink puts x (at distance d) in place of the i-th member of n's
// layer-0 list and returns that member, and whether it lost its last
// in-link (for the caller to reconnect once it holds no lock). Callers
// hold n's stripe lock.
func (h *hnsw) replaceLink(n uint32, i int, x uint32, d float32) (w uint32, orphaned bool) {
	lst := h.list(n, 0)
	w = lst[1+i]
	lst[1+i] = x
	h.setDist(n, 0, i, d)
	h.domArrive(n, i, x, d, true)
	h.inDeg.at(x).Add(1)
	return w, h.inDeg.at(w).Add(-1) < minInDegree
}

// reconnect gives each node with fewer than minInDegree layer-0 in-links
// (a live, indexed node few lists point to) links from its nearest
// neighbours; a full list gives up its farthest member, which may in turn
// need reconnecting (depth-bounded).
func (h *hnsw) reconnect(orphans []uint32, depth int) {
	for _, x := range orphans {
		if depth > 8 || !h.live(x) || h.inDeg.at(x).Load() >= minInDegree || h.sp.m(x).flags.Load()&flagIndexed == 0 {
			continue
		}
		if ep, _, _ := h.entry(); ep == x {
			continue
		}
		mu := h.lock(x)
		mu.Lock()
		lst := h.list(x, 0)
		var nb []cand
		for i, n := range lst[1 : 1+lst[0]] {
			if h.live(n) {
				nb = append(nb, cand{n, h.getDist(x, 0, i)})
			}
		}
		mu.Unlock()
		slices.SortFunc(nb, cmpCand)
		var next []uint32
		for _, c := range nb {
			if h.inDeg.at(x).Load() >= minInDegree {
				break
			}
			y, d := c.slot, c.dist
			mu = h.lock(y)
			mu.Lock()
			ly := h.list(y, 0)
			cnt := int(ly[0])
			normal, at := h.twinRule(y, 0, x, d)
			switch {
			case slices.Contains(ly[1:1+cnt], x):
			case !normal:
				if at >= 0 {
					if w, orphaned := h.replaceLink(y, at, x, d); orphaned {
						next = append(next, w)
					}
				}
			case cnt < h.m0:
				h.appendLink(y, 0, x, d)
			default:
				worst, wd := -1, float32(-2)
				for i := 0; i < cnt; i++ {
					if dd := h.getDist(y, 0, i); dd > wd {
						worst, wd = i, dd
					}
				}
				if wd > d { // only ever replace a farther member
					if w, orphaned := h.replaceLink(y, worst, x, d); orphaned {
						next = append(next, w)
					}
				}
			}
			mu.Unlock()
		}
		if len(next) > 0 {
			h.reconnect(next, depth+1)
		}
	}
}

// countInDegrees recomputes every in-degree from the lists (after loading a
// snapshot) and reconnects the orphans.
func (h *hnsw) countInDegrees(n uint32) {
	for r := uint32(0); r < n; r++ {
		h.inDeg.at(r).Store(0)
	}
	for r := uint32(0); r < n; r++ {
		if h.sp.m(r).flags.Load()&flagIndexed == 0 {
			continue
		}
		lst := h.list(r, 0)
		for _, x := range lst[1 : 1+lst[0]] {
			h.inDeg.at(x).Add(1)
		}
	}
	var orphans []uint32
	for r := uint32(0); r < n; r++ {
		if h.inDeg.at(r).Load() < minInDegree && h.sp.m(r).flags.Load()&flagIndexed != 0 {
			orphans = append(orphans, r)
		}
	}
	h.reconnect(orphans, 0)
}

func (h *hnsw) lock(r uint32) *sync.Mutex { return &h.locks[r&(lockStripes-1)] }

// neighbours copies the neighbours of r at layer l into dst.
func (h *hnsw) neighbours(r uint32, l int, dst []uint32) []uint32 {
	mu := h.lock(r)
	mu.Lock()
	lst := h.list(r, l)
	dst = append(dst[:0], lst[1:1+lst[0]]...)
	mu.Unlock()
	return dst
}

func (h *hnsw) entry() (slot uint32, level int, ok bool) {
	e := h.ep.Load()
	if e == 0 {
		return 0, 0, false
	}
	return uint32(e>>8) - 1, int(e & 0xff), true
}

func encEntry(slot uint32, level int) uint64 { return uint64(slot+1)<<8 | uint64(level) }

// cand is a search candidate: a slot and its distance to the query.
type cand struct {
	slot uint32
	dist float32
}

// visitSet marks visited slots in a bitset, cleared before each walk
// (n/8 bytes: 125 KB at a million slots, a few microseconds), small enough
// to stay in cache, unlike an array of generation numbers.
type visitSet struct {
	bits []uint64
}

func (h *hnsw) getVisited() *visitSet {
	v, _ := h.visited.Get().(*visitSet)
	if v == nil {
		v = &visitSet{}
	}
	if n := (h.links0.capacity() + 63) >> 6; len(v.bits) < n {
		v.bits = make([]uint64, n)
	} else {
		clear(v.bits)
	}
	return v
}

// reset clears the set for another walk.
func (v *visitSet) reset() { clear(v.bits) }

// visit marks r and reports whether it was unvisited.
func (v *visitSet) visit(r uint32) bool {
	w := int(r >> 6)
	if w >= len(v.bits) {
		nb := make([]uint64, (w+1024)&^1023)
		copy(nb, v.bits)
		v.bits = nb
	}
	bit := uint64(1) << (r & 63)
	if v.bits[w]&bit != 0 {
		return false
	}
	v.bits[w] |= bit
	return true
}

// minHeap and maxHeap order candidates by distance.
type minHeap []cand

// first orders a walk's candidates: the closest first and, among equally
// close ones (twins, twins.go), the newest, so that a walk goes down a
// vector's chain of copies from its newest end.
func first(a, b cand) bool { return a.dist < b.dist || a.dist == b.dist && a.slot > b.slot }

func (q *minHeap) push(c cand) {
	*q = append(*q, c)
	s := *q
	i := len(s) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !first(s[i], s[p]) {
			break
		}
		s[p], s[i] = s[i], s[p]
		i = p
	}
}

func (q *minHeap) pop() cand {
	s := *q
	top := s[0]
	n := len(s) - 1
	s[0] = s[n]
	*q = s[:n]
	s = s[:n]
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && first(s[r], s[l]) {
			m = r
		}
		if !first(s[m], s[i]) {
			break
		}
		s[i], s[m] = s[m], s[i]
		i = m
	}
	return top
}

type maxHeap []cand

func (q *maxHeap) push(c cand) {
	*q = append(*q, c)
	s := *q
	i := len(s) - 1
	for i > 0 {
		p := (i - 1) / 2
		if s[p].dist >= s[i].dist {
			break
		}
		s[p], s[i] = s[i], s[p]
		i = p
	}
}

func (q *maxHeap) pop() cand {
	s := *q
	top := s[0]
	n := len(s) - 1
	s[0] = s[n]
	*q = s[:n]
	s = s[:n]
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && s[r].dist > s[l].dist {
			m = r
		}
		if s[i].dist >= s[m].dist {
			break
		}
		s[i], s[m] = s[m], s[i]
		i = m
	}
	return top
}

// dist is the quantised distance of q to node r (quant.go).
func (h *hnsw) dist(q *query, r uint32) float32 {
	return 1 - float32(dot8(q.q, h.sp.vq(r)))*q.inv*h.sp.vinv(r)
}

// distSlots is the quantised distance between two nodes.
func (h *hnsw) distSlots(a, b uint32) float32 {
	return 1 - float32(dot8(h.sp.vq(a), h.sp.vq(b)))*h.sp.vinv(a)*h.sp.vinv(b)
}

// nodeQuery is node r as a query.
func (h *hnsw) nodeQuery(r uint32) *query {
	return &query{f: h.sp.vec(r), q: h.sp.vq(r), inv: h.sp.vinv(r)}
}

// insertQuery is node r as the query of its own insert: its twins are
// walked through but set aside (query.twins).
func (h *hnsw) insertQuery(r uint32) *query {
	q := h.nodeQuery(r)
	q.self = r + 1
	q.selfD = h.dist(q, r)
	return q
}

// greedy walks layer l from cur towards q and returns the closest node found.
func (h *hnsw) greedy(q *query, cur cand, l int, buf []uint32) (cand, []uint32) {
	for changed := true; changed; {
		changed = false
		buf = h.neighbours(cur.slot, l, buf)
		for _, n := range buf {
			if d := h.dist(q, n); d < cur.dist {
				cur, changed = cand{n, d}, true
			}
		}
	}
	return cur, buf
}

// searchLayer is the beam search of layer l from eps, keeping the ef closest
// live nodes. Deleted nodes are walked through but not kept. The beam holds
// one copy of a vector stored many times; a plain search returns, beside
// the beam, up to ef more copies it walked through (twinGroups), so up to
// 2·ef nodes. The result is sorted by distance, closest first.
func (h *hnsw) searchLayer(q *query, eps []cand, ef, l int, v *visitSet, buf []uint32) ([]cand, []uint32) {
	var cands minHeap = make([]cand, 0, ef*2)
	var res maxHeap = make([]cand, 0, ef+1)
	// An insert walks through a few copies of another vector (it links to
	// one of them at most); a search through as many as it may return.
	tw := twinGroups{keep: q.self == 0}
	walk := ef
	if q.self != 0 {
		walk = maxTwinWalk
	}
	// visit decides what becomes of n, at distance d: walked through and
	// kept in the beam, walked through only (a twin), or neither.
	visit := func(n uint32, d float32) {
		if h.ownTwin(q, n, d) {
			// Walked through (the first few), never kept.
			if q.walked.step(h.live(n), maxTwinWalk) {
				cands.push(cand{n, d})
			}
			return
		}
		if g := tw.group(h, res, n, d); g != nil {
			if g.add(h, n, d, ef, walk, tw.keep) {
				cands.push(cand{n, d})
			}
			return
		}
		cands.push(cand{n, d})
		if h.live(n) {
			res.push(cand{n, d})
			tw.kept(d)
		}
	}
	for _, e := range eps {
		if v.visit(e.slot) {
			visit(e.slot, e.dist)
		}
	}
	for len(res) > ef {
		res.pop()
	}
	bound := float32(math.Inf(1))
	if len(res) >= ef {
		bound = res[0].dist
	}
	steps := 0
	for len(cands) > 0 {
		c := cands.pop()
		if c.dist > bound {
			break
		}
		buf = h.neighbours(c.slot, l, buf)
		// Load the vectors of the unvisited neighbours ahead of their
		// distances: a walk is bound by memory latency, and overlapping the
		// misses beats taking them one by one. A few ahead, not all at
		// once: a node's 48 neighbours are over 600 cache lines, more than
		// the core keeps in flight, and prefetched all together the first
		// ones waited behind the rest (prefetchAhead).
		k := 0
		for _, n := range buf {
			if v.visit(n) {
				if k < prefetchAhead {
					prefetch(h.sp.q8.row(n))
				}
				buf[k] = n
				k++
			}
		}
		for i, n := range buf[:k] {
			if i+prefetchAhead < k {
				prefetch(h.sp.q8.row(buf[i+prefetchAhead]))
			}
			if d := h.dist(q, n); len(res) < ef || d < bound {
				visit(n, d)
				if len(res) > ef {
					res.pop()
				}
				if len(res) >= ef {
					bound = res[0].dist
				}
			}
		}
		// A long search yields now and then: Go preempts a running
		// goroutine only every 10 ms.
		if steps++; steps&255 == 0 {
			runtime.Gosched()
		}
	}
	out := []cand(res)
	slices.SortFunc(out, cmpCand)
	if tw.keep {
		out = tw.merge(out, ef)
	}
	return out, buf
}

// prefetchAhead is how many vectors ahead of its distance computations a
// walk prefetches. Against prefetching all of a node's unvisited
// neighbours at once, 8 ahead took embedding_search/k=10 at 100,000
// memories 18–32% less CPU in 6 of 7 alternating rounds (2026-11-27); 4
// ahead measured the same as 8.
const prefetchAhead = 8

// less orders candidates by distance, then slot (deterministic ties).
func less(a, b cand) bool {
	if a.dist != b.dist {
		return a.dist < b.dist
	}
	return a.slot < b.slot
}

// cmpCand is less as a three-way comparison, for slices.SortFunc (which
// sorts a few times faster than sort.Slice on these hot paths).
func cmpCand(a, b cand) int {
	switch {
	case a.dist < b.dist:
		return -1
	case a.dist > b.dist:
		return 1
	}
	return cmp.Compare(a.slot, b.slot)
}

// search returns live nodes close to q (ef, and up to ef more copies of
// duplicated vectors: searchLayer), closest first, with exact (float32)
// distances: the walk uses quantised distances, the result is re-ranked.
func (h *hnsw) search(q *query, ef int) []cand {
	ep, top, ok := h.entry()
	if !ok {
		return nil
	}
	var buf []uint32
	cur := cand{ep, h.dist(q, ep)}
	for l := top; l > 0; l-- {
		cur, buf = h.greedy(q, cur, l, buf)
	}
	v := h.getVisited()
	res, _ := h.searchLayer(q, []cand{cur}, ef, 0, v, buf)
	h.visited.Put(v)
	h.rerank(q.f, res)
	return res
}

// rerank replaces quantised distances by exact ones and re-sorts. It
// prefetches two vectors ahead: all of them at once (about a hundred of
// 48 cache lines each) took embedding_search/k=10 at 100,000 memories
// 9–32% more CPU in 6 of 7 alternating rounds (2026-11-27).
func (h *hnsw) rerank(f []float32, cs []cand) {
	const ahead = 2 // vectors of 48 cache lines each
	for _, c := range cs[:min(len(cs), ahead)] {
		prefetchF(h.sp.vec(c.slot))
	}
	for i := range cs {
		if i+ahead < len(cs) {
			prefetchF(h.sp.vec(cs[i+ahead].slot))
		}
		cs[i].dist = 1 - dot(f, h.sp.vec(cs[i].slot))
	}
	slices.SortFunc(cs, cmpCand)
}

// selectNeighbours picks up to m of cands (sorted, closest first) for
// base's list with Malkov's heuristic: a candidate is kept only if it is
// closer to the base than to every candidate already kept, which spreads
// links in different directions (and so bridges clusters). Slots left over
// fill the list up to m, closest first (hnswlib's keepPrunedConnections):
// on high-dimensional data a full list measurably helps recall.
//
// Exact duplicates (twins) are the exception: of base's own twins only the
// maxOwnTwins newest are kept, and of any other vector's twins only the
// newest one; the rest are not filled back. Otherwise a vector stored many
// times fills its copies' lists, and its neighbours' lists, with copies
// (none dominates another) and the graph splits into groups no search
// leaves: with 10 vectors stored 150 times among 1,000 others, 19% of the
// others were no longer found by their own vector (connect_test.go).
func (h *hnsw) selectNeighbours(base uint32, cands []cand, m int) []cand {
	kept := make([]cand, 0, min(m, len(cands)))
	var own []cand
	for _, c := range cands {
		if h.twins(c.slot, base) {
			own = append(own, c)
		}
	}
	if len(own) > 0 {
		slices.SortFunc(own, func(a, b cand) int { return cmp.Compare(b.slot, a.slot) })
		kept = append(kept, own[:min(len(own), maxOwnTwins, m)]...)
	}
	// An own twin sits where base does, so it dominates nothing: the
	// comparisons start after them.
	nOwn := len(kept)
	var pruned []cand
	for _, c := range cands {
		if len(kept) >= m {
			break
		}
		if len(own) > 0 && h.twins(c.slot, base) {
			continue
		}
		good, twin := true, false
		for j, s := range kept[nOwn:] {
			// Twins are equally far from base: the codes are compared
			// only then, not for every pair.
			if c.dist-s.dist < twinTie && s.dist-c.dist < twinTie && h.twins(c.slot, s.slot) {
				if c.slot > s.slot {
					kept[nOwn+j] = c // the newer twin
				}
				good, twin = false, true
				break
			}
			if h.distSlots(c.slot, s.slot) < c.dist {
				good = false
				break
			}
		}
		switch {
		case good:
			kept = append(kept, c)
		case !twin:
			pruned = append(pruned, c)
		}
	}
	// The pruned ones fill what is left, closest first, and a twin of one
	// kept only once: a member dominated by another dominates its twins
	// too, so they were all pruned.
fill:
	for _, c := range pruned {
		if len(kept) >= m {
			break
		}
		for j, s := range kept[nOwn:] {
			if c.dist-s.dist < twinTie && s.dist-c.dist < twinTie && h.twins(c.slot, s.slot) {
				if c.slot > s.slot {
					kept[nOwn+j] = c
				}
				continue fill
			}
		}
		kept = append(kept, c)
	}
	slices.SortFunc(kept, cmpCand)
	return kept
}

// insert links slot r into the graph. The slot is published (live or
// already deleted); inserting the same slot twice is a bug the indexing
// queue prevents.
func (h *hnsw) insert(r uint32) []cand {
	level := int(h.sp.m(r).level)
	q := h.insertQuery(r)
	for h.ep.Load() == 0 {
		h.epMu.Lock()
		if h.ep.Load() == 0 {
			h.ep.Store(encEntry(r, level))
			h.epMu.Unlock()
			h.nodes.Add(1)
			return nil
		}
		h.epMu.Unlock()
	}
	ep, top, _ := h.entry()
	var buf []uint32
	cur := cand{ep, h.dist(q, ep)}
	for l := top; l > level; l-- {
		cur, buf = h.greedy(q, cur, l, buf)
	}
	eps := []cand{cur}
	v := h.getVisited()
	var base []cand
	var orphans []uint32
	for l := min(level, top); l >= 0; l-- {
		v.reset() // a fresh visited set per layer
		var w []cand
		q.twins, q.walked = q.twins[:0], twinWalk{}
		w, buf = h.searchLayer(q, eps, h.efC, l, v, buf)
		w = dropSlot(w, r)
		if len(q.twins) > 0 {
			w = append(w, q.twins...)
			slices.SortFunc(w, cmpCand)
		}
		nb := h.selectNeighbours(r, w, h.m)
		orphans = append(orphans, h.setList(r, l, nb)...)
		for _, n := range nb {
			orphans = append(orphans, h.addLink(n.slot, r, n.dist, l)...)
		}
		if l == 0 {
			base = w
		}
		if len(w) > 0 {
			eps = w
		}
	}
	h.visited.Put(v)
	h.nodes.Add(1)
	if level > top {
		h.epMu.Lock()
		if _, cur, _ := h.entry(); level > cur {
			h.ep.Store(encEntry(r, level))
		}
		h.epMu.Unlock()
	}
	h.reconnect(orphans, 0)
	return base
}

// linkedIn makes sure a freshly inserted node is reachable: full neighbour
// lists may all have declined it. Called once the node is marked indexed.
func (h *hnsw) linkedIn(r uint32) {
	if h.inDeg.at(r).Load() < minInDegree {
		h.reconnect([]uint32{r}, 0)
	}
}

func dropSlot(cs []cand, r uint32) []cand {
	for i, c := range cs {
		if c.slot == r {
			return append(cs[:i:i], cs[i+1:]...)
		}
	}
	return cs
}

// setList replaces the list of r at layer l and returns the orphans.
func (h *hnsw) setList(r uint32, l int, nb []cand) []uint32 {
	mu := h.lock(r)
	mu.Lock()
	orphans := h.writeList(r, l, nb)
	mu.Unlock()
	return orphans
}

// addLink adds r to the list of n at layer l (d = their distance). A full
// list drops one of its live members and r (reselect), after leaving out
// deleted ones other than n's own twins.
func (h *hnsw) addLink(n, r uint32, d float32, l int) []uint32 {
	capacity := h.m
	if l == 0 {
		capacity = h.m0
	}
	mu := h.lock(n)
	mu.Lock()
	defer mu.Unlock()
	lst := h.list(n, l)
	cnt := int(lst[0])
	if slices.Contains(lst[1:1+cnt], r) {
		return nil
	}
	if normal, at := h.twinRule(n, l, r, d); !normal {
		if at < 0 {
			return nil
		}
		return h.swapLink(n, l, at, r, d)
	}
	if cnt < capacity {
		h.appendLink(n, l, r, d)
		return nil
	}
	if h.checkDom == nil {
		return h.reselect(n, r, d, l, lst)
	}
	before := h.listCands(n, l)
	orphans := h.reselect(n, r, d, l, lst)
	h.checkDom(n, r, d, l, before, h.listCands(n, l))
	return orphans
}

// keepsMember reports whether a re-selection of n's list (repair, a full
// list in addLink) keeps x among its candidates: a live node, or one of n's
// own twins even when deleted, since the chain of a duplicated vector's
// copies runs through its deleted ones to the older live copies (twins.go).
func (h *hnsw) keepsMember(n, x uint32) bool { return h.live(x) || h.twins(x, n) }

// repair unlinks deleted slot r from its live neighbours, giving each of
// them r's other neighbours as replacement candidates. Walks go through
// deleted nodes, and three kinds of link through them are kept: a deleted
// neighbour's list is left as it is; a live copy of a duplicated vector
// keeps its deleted older copies (the chain of twins.go); and a list whose
// members are all deleted stays rather than becoming empty. Rebuilt from
// live candidates only, those lists cut the chain of copies at every
// deleted one, and a walk entering above the gap found half of a vector's
// live copies, or none (TestTwinsFoundFromAnyCopy).
func (h *hnsw) repair(r uint32) {
	level := int(h.sp.m(r).level)
	var mine, theirs, orphans []uint32
	defer func() { h.reconnect(orphans, 0) }()
	for l := 0; l <= level; l++ {
		mine = h.neighbours(r, l, mine)
		for _, n := range mine {
			if n == r || !h.live(n) {
				continue
			}
			capacity := h.m
			if l == 0 {
				capacity = h.m0
			}
			mu := h.lock(n)
			mu.Lock()
			lst := h.list(n, l)
			theirs = append(theirs[:0], lst[1:1+lst[0]]...)
			found := false
			for _, x := range theirs {
				if x == r {
					found = true
					break
				}
			}
			if found {
				seen := map[uint32]bool{n: true, r: true}
				var cs []cand
				for _, x := range append(theirs, mine...) {
					if seen[x] || !h.keepsMember(n, x) {
						continue
					}
					seen[x] = true
					cs = append(cs, cand{x, h.distSlots(n, x)})
				}
				slices.SortFunc(cs, cmpCand)
				if len(cs) == 0 {
					// Every member is deleted: the list stays, a path
					// through deleted nodes, rather than none at all.
					mu.Unlock()
					continue
				}
				orphans = append(orphans, h.writeList(n, l, h.selectNeighbours(n, cs, capacity))...)
			}
			mu.Unlock()
		}
	}
}

// stats describes the graph.
func (h *hnsw) stats() IndexStats {
	pending := h.backlog()
	_, top, ok := h.entry()
	levels := 0
	if ok {
		levels = top + 1
	}
	n := h.nodes.Load()
	return IndexStats{
		Nodes:    int(n - h.deleted.Load()),
		Deleted:  int(h.deleted.Load()),
		Pending:  pending,
		Levels:   levels,
		Relinked: h.relinked.Load(),
		Bytes:    h.links0.bytes(4) + h.dists0.bytes(4) + h.domBytes() + h.sp.vecs.bytes(4) + h.sp.q8.bytes(1) + h.upperBytes(),
	}
}

// listCands returns the list of r at layer l with its distances. Callers
// hold r's stripe lock.
func (h *hnsw) listCands(r uint32, l int) []cand {
	lst := h.list(r, l)
	out := make([]cand, lst[0])
	for i := range out {
		out[i] = cand{lst[1+i], h.getDist(r, l, i)}
	}
	return out
}

func (h *hnsw) domBytes() int64 {
	if h.dom0 == nil {
		return 0
	}
	return h.dom0.bytes(1)
}

func (h *hnsw) upperBytes() int64 {
	// About 1/M of the nodes have upper layers, each (m+1) words per layer.
	return h.nodes.Load() / int64(h.m) * int64(2*h.m+1) * 4
}

// live reports whether a reachable node may be returned: not deleted.
// Reachable nodes are always published.
func (h *hnsw) live(r uint32) bool { return !h.sp.isDead(r) }
