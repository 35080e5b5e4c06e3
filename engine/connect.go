package engine

import (
	"cmp"
	"context"
	"math/bits"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Connectivity. Concurrent inserts can leave a few nodes of a graph that no
// walk from the entry point reaches: small islands whose members are in one
// another's lists, while every list outside that pointed into the island
// re-selected its members away (the in-degree check of reconnect cannot see
// them: each member has in-links). A search never finds such a memory. In
// 2026-11 about 1 build in 40 of 150 random 16-d memories, indexed by two
// workers, left 1–5 nodes unreachable; none did when the same memories were
// inserted one at a time.
//
// So, as Lucene does after a merge, the engine looks for them: connect walks
// layer 0 from the entry point, and searches for the vector of every indexed
// node the walk did not reach: one found is reachable after all (and so is
// what a walk from it reaches); one not found is linked into the list of
// its nearest reached node. Each member of an island is searched for on its
// own, since being reachable through a linked member does not make it
// found: a search walks from its own vector's region. A background pass
// (connectLoop) runs while inserts keep coming, at most every connectGap;
// Open runs one on a loaded graph.

// connectState is the connectivity pass's bookkeeping, part of hnsw.
type connectState struct {
	connMu     sync.Mutex   // one pass at a time
	connecting atomic.Bool  // connectLoop is running
	connected  atomic.Int64 // h.changes() when the last pass began
	nextPass   atomic.Int64 // unix nanoseconds before which the loop starts no pass
	relinked   atomic.Int64 // nodes linked back since Open
	connNext   uint32       // the slot the last pass's budget ran out at; under connMu
	budget     int          // searches per pass; 0 means connectBudget (tests set fewer)
	recheck    []uint32     // nodes to search for in the next rounds (noteLinked); under connMu
}

// connectRounds bounds the walks of one pass: linking a node into a full
// list drops another member (one that another list also points to), which
// can, rarely, leave that member unreached; the next walk finds it.
const connectRounds = 4

// connectBudget bounds the searches of one pass (one per unreached node).
// A few unreached nodes per ten thousand is the usual count; a graph built
// before lists bounded their twins (maxOwnTwins) can hold many unreached
// exact duplicates. The next pass goes on where this one stopped
// (connNext), so that many unreached nodes in the first slots cannot take
// every pass's budget and leave the islands after them unlinked.
const connectBudget = 512

// connectPick is how many of an unreached node's nearest reached nodes are
// tried for a list with room before one gives up a member.
const connectPick = 8

// connect runs one pass and returns how many nodes it linked back.
func (h *hnsw) connect(ctx context.Context) int {
	h.connMu.Lock()
	defer h.connMu.Unlock()
	at := h.changes()
	total, budget := 0, cmp.Or(h.budget, connectBudget)
	for range connectRounds {
		n, again := h.connectRound(ctx, &budget)
		total += n
		if !again {
			break
		}
	}
	h.connected.Store(at)
	h.relinked.Add(int64(total))
	return total
}

// connectRound walks the graph once and links the nodes it did not reach,
// searching for each (budget counts the searches left). It reports again
// when it linked some and another walk should check the result. Nodes
// indexed during the walk are left to the next pass: the walk may have
// passed their in-links before they were written.
func (h *hnsw) connectRound(ctx context.Context, budget *int) (linked int, again bool) {
	ep, _, ok := h.entry()
	if !ok {
		return 0, false
	}
	n := h.sp.slotCount()
	words := (n + 63) / 64
	indexed := make([]uint64, words)
	for r := uint32(0); r < n; r++ {
		if f := h.sp.m(r).flags.Load(); f&flagIndexed != 0 && f&flagLive != 0 {
			indexed[r>>6] |= 1 << (r & 63)
		}
	}
	reached := make([]uint64, words) // ep < n: read before n
	if !h.walk(ctx, ep, reached) {
		return 0, false
	}
	// check searches for x and links it back unless the search finds it.
	// Only x counts as reached after that, found or linked: the nodes
	// reachable through it may still be out of reach of a search for
	// their own vectors, which may never walk as far as x, so each gets
	// its own search.
	check := func(x uint32) {
		*budget--
		if ok, d := h.relink(x); ok {
			linked++
			h.noteLinked(x, d, reached)
		}
		if x < n {
			setBit(reached, x)
		}
	}
	// First the nodes earlier links left to check, then the unreached
	// ones from the word where the last pass stopped, round to it.
	for len(h.recheck) > 0 && *budget > 0 && ctx.Err() == nil {
		x := h.recheck[len(h.recheck)-1]
		h.recheck = h.recheck[:len(h.recheck)-1]
		if h.live(x) {
			check(x)
		}
	}
	from := (h.connNext >> 6) % words
	for i := range words {
		w := (from + i) % words
		for un := indexed[w] &^ reached[w]; un != 0; un &= un - 1 {
			x := uint32(w)<<6 | uint32(bits.TrailingZeros64(un))
			if reachedBit(reached, x) || !h.live(x) {
				continue // searched for already, or deleted since
			}
			if *budget <= 0 || ctx.Err() != nil {
				h.connNext = x
				return linked, false
			}
			check(x)
		}
	}
	return linked, linked > 0
}

// maxRecheck bounds the nodes left to check by later passes.
const maxRecheck = 4 * connectBudget

// noteLinked queues for a search of their own, whatever a walk says of
// them, the nodes a link of x may leave reachable but unfound: the member
// it displaced (d, noSlot if none), which may now be reachable only from
// far away, and the members of x's island (its neighbours the round's walk
// did not reach), now reachable only through x. Under connMu.
func (h *hnsw) noteLinked(x, d uint32, reached []uint64) {
	if d != noSlot && len(h.recheck) < maxRecheck {
		h.recheck = append(h.recheck, d)
	}
	var buf []uint32
	for _, y := range h.neighbours(x, 0, buf) {
		if !reachedBit(reached, y) && len(h.recheck) < maxRecheck {
			h.recheck = append(h.recheck, y)
		}
	}
}

// relink searches for x's vector and, unless the search finds x, links x
// into a nearby list (linkFrom). It reports whether it linked x, and the
// member the link displaced (noSlot if none).
//
// An unreached exact duplicate is linked too, though a search finds its
// twins: a vector's copies are a chain from the newest back (maxOwnTwins),
// so an unreached copy may be the only way to the older ones, and a search
// for k of them would come back short. (Before lists bounded their twins, a
// space of copies left most of them unreached and the pass skipped them.)
//
// The search is as wide as a user's search for the top 10 (ef_search): one
// as wide as an insert's (ef_construction) sometimes found a node that a
// user's search then missed, and left it unlinked.
func (h *hnsw) relink(x uint32) (linked bool, dropped uint32) {
	res := h.search(h.nodeQuery(x), h.efS)
	if hasSlot(res, x) {
		return false, noSlot
	}
	return h.linkFrom(res, x)
}

// walk marks in reached every node a walk from start reaches, on every
// layer: a search descends the upper layers to its own region before it
// walks layer 0, so a part of layer 0 that only the upper layers link to
// the rest is reached too. Nodes beyond reached's length (allocated since
// the round sized it) are not followed. It reports false if ctx ended it.
func (h *hnsw) walk(ctx context.Context, start uint32, reached []uint64) bool {
	setBit(reached, start)
	queue := []uint32{start}
	var buf []uint32
	for i := 0; i < len(queue); i++ {
		if i&1023 == 1023 {
			if ctx.Err() != nil {
				return false
			}
			runtime.Gosched()
		}
		x := queue[i]
		for l := range int(h.sp.m(x).level) + 1 {
			buf = h.neighbours(x, l, buf)
			for _, y := range buf {
				if int(y>>6) >= len(reached) || reachedBit(reached, y) {
					continue
				}
				setBit(reached, y)
				queue = append(queue, y)
			}
		}
	}
	return true
}

// linkFrom puts x into the layer-0 list of one of the nearest live nodes of
// res (a search's result, closest first): the first of connectPick with room,
// else the nearest whose list can give up a member (linkInto). It reports
// whether it did, and the member it displaced (noSlot if none).
func (h *hnsw) linkFrom(res []cand, x uint32) (ok bool, dropped uint32) {
	var near []cand
	for _, c := range res {
		if c.slot != x && h.live(c.slot) {
			near = append(near, c)
			if len(near) == connectPick {
				break
			}
		}
	}
	for _, full := range []bool{false, true} {
		for _, c := range near {
			ok, dropped, orphan := h.linkInto(c.slot, x, c.dist, full)
			if orphan {
				h.reconnect([]uint32{dropped}, 0)
			}
			if ok {
				return true, dropped
			}
		}
	}
	return false, noSlot
}

// noSlot is no slot (slots are below the store's slot count).
const noSlot = ^uint32(0)

// linkInto adds x (at distance d) to y's layer-0 list if the list has room,
// or, when replace is set, in place of a member another list also points to:
// the farthest such member that a closer member dominates (is closer to it
// than y is, so a walk through y still finds it in one more step), else the
// farthest such member, as addLink's re-selection (reselect) would choose. It
// returns the member it displaced (noSlot if none), and orphan if a
// concurrent re-selection left that member no other in-link meanwhile, for
// the caller to reconnect once it holds no lock.
func (h *hnsw) linkInto(y, x uint32, d float32, replace bool) (ok bool, dropped uint32, orphan bool) {
	mu := h.lock(y)
	mu.Lock()
	defer mu.Unlock()
	lst := h.list(y, 0)
	cnt := int(lst[0])
	if slices.Contains(lst[1:1+cnt], x) {
		return true, noSlot, false
	}
	if cnt < h.m0 {
		h.appendLink(y, 0, x, d)
		return true, noSlot, false
	}
	if !replace {
		return false, noSlot, false
	}
	members := make([]cand, 0, cnt)
	for i := range cnt {
		if w := lst[1+i]; h.inDeg.at(w).Load() > minInDegree {
			members = append(members, cand{uint32(i), h.getDist(y, 0, i)}) // slot holds the list index
		}
	}
	if len(members) == 0 {
		return false, noSlot, false
	}
	slices.SortFunc(members, func(a, b cand) int { return cmp.Compare(b.dist, a.dist) }) // farthest first
	victim := members[0].slot
dominated:
	for _, c := range members {
		w := lst[1+c.slot]
		for j := range cnt {
			if u := lst[1+j]; u != w && h.getDist(y, 0, j) < c.dist && h.distSlots(u, w) < c.dist {
				victim = c.slot
				break dominated
			}
		}
	}
	w, orphaned := h.replaceLink(y, int(victim), x, d)
	return true, w, orphaned
}

// connectGapFactor and connectMinGap pace the background passes: the next
// one starts at the earliest connectGapFactor times the last one's duration
// later, and at least connectMinGap later, so a space that keeps taking
// inserts spends at most 1/connectGapFactor of one core on them. Measured
// 2026-11-27: a pass over the 100,000 memories of the engine benchmark took
// 33–34 ms (the first, at Open, had found 5 unreached after the preload),
// one over a million nodes of 1,024 vectors stored ~1,000 times each 74–92
// ms, its 512 searches included.
const (
	connectGapFactor = 50
	connectMinGap    = 500 * time.Millisecond
)

// changes counts the inserts and deletes since Open: both can leave nodes
// unreached (a delete's repair re-selects its neighbours' lists).
func (h *hnsw) changes() int64 { return h.inserts.Load() + h.deleted.Load() }

// kickConnect starts the background pass unless it runs; index calls it
// after every insert, the indexer after every delete's repair.
func (h *hnsw) kickConnect() {
	if h.sp.st.stopping.Load() {
		return
	}
	if !h.connecting.Load() && h.connecting.CompareAndSwap(false, true) {
		h.sp.st.goBackground(h.connectLoop)
	}
}

// connectLoop runs passes until one finds no change since the last, then
// exits (the next change starts it again). The gap after a pass holds
// across restarts: a trickle of changes, each restarting the loop, gets no
// more passes than a steady stream.
func (h *hnsw) connectLoop(ctx context.Context) {
	t := time.NewTimer(time.Until(time.Unix(0, h.nextPass.Load())))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			h.connecting.Store(false)
			return
		case <-t.C:
		}
		if h.sp.st.failed.Load() {
			h.connecting.Store(false)
			return
		}
		start := time.Now()
		h.connect(ctx)
		gap := max(connectMinGap, connectGapFactor*time.Since(start))
		h.nextPass.Store(start.Add(gap).UnixNano())
		t.Reset(gap)
		if h.changes() != h.connected.Load() {
			continue
		}
		// Caught up: stop, unless a change came in between (its
		// kickConnect saw the loop still running).
		h.connecting.Store(false)
		if h.changes() == h.connected.Load() || !h.connecting.CompareAndSwap(false, true) {
			return
		}
	}
}

func reachedBit(b []uint64, r uint32) bool {
	w := int(r >> 6)
	return w < len(b) && b[w]&(1<<(r&63)) != 0
}

func setBit(b []uint64, r uint32) { b[r>>6] |= 1 << (r & 63) }
