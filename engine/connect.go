package engine

import (
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
	connected  atomic.Int64 // h.inserts when the last pass began
	relinked   atomic.Int64 // nodes linked back since Open
	connNext   uint32       // the slot the last pass's budget ran out at; under connMu
}

// connectRounds bounds the walks of one pass: linking a node into a full
// list drops another member (one that another list also points to), which
// can, rarely, leave that member unreached; the next walk finds it.
const connectRounds = 4

// connectBudget bounds the searches of one pass (one per unreached node).
// A few unreached nodes per ten thousand is the usual count; a space of
// many exact duplicates (the engine benchmark's writes: 1,024 vectors
// stored a thousand times each) can leave most of its layer 0 unreached
// without harm, since a search for such a vector finds its twins, and must
// not cost a search per node. The next pass goes on where this one
// stopped (connNext), so that such twins in the first slots cannot take
// every pass's budget and leave the islands after them unlinked.
const connectBudget = 512

// twinDist is the distance under which a search result is an exact
// duplicate of the node searched for: finding it serves the node's vector
// as well as the node itself would.
const twinDist = 1e-5

// connectPick is how many of an unreached node's nearest reached nodes are
// tried for a list with room before one gives up a member.
const connectPick = 8

// connect runs one pass and returns how many nodes it linked back.
func (h *hnsw) connect(ctx context.Context) int {
	h.connMu.Lock()
	defer h.connMu.Unlock()
	at := h.inserts.Load()
	total, budget := 0, connectBudget
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
	reached := make([]uint64, max(words, (ep+64)/64))
	var queue, buf []uint32
	if !h.walk(ctx, ep, reached, &queue, &buf) {
		return 0, false
	}
	// From the word where the last pass stopped, round to it.
	from := (h.connNext >> 6) % words
	for i := range words {
		w := (from + i) % words
		for un := indexed[w] &^ reached[w]; un != 0; un &= un - 1 {
			x := uint32(w)<<6 | uint32(bits.TrailingZeros64(un))
			if reachedBit(reached, x) || !h.live(x) {
				continue // linked with an island met earlier, or deleted since
			}
			if *budget <= 0 || ctx.Err() != nil {
				h.connNext = x
				return linked, false
			}
			*budget--
			res := h.search(h.nodeQuery(x), h.efC)
			switch {
			case slices.ContainsFunc(res, func(c cand) bool { return c.slot == x }):
				// Reached after all: lists changed under the walk.
				reached = h.mark(ctx, x, reached, &queue, &buf)
			case len(res) > 0 && res[0].dist < twinDist:
				// Its twin is found in its place.
			case h.linkFrom(res, x):
				// Only x counts as reached: the rest of its island is
				// reachable through it now, but a search for another
				// member may never walk as far as x, so each gets its
				// own search (and its own link unless that finds it).
				linked++
				setBit(reached, x)
			}
		}
	}
	return linked, linked > 0
}

// mark walks from x, growing reached as needed (x may be a slot allocated
// after the round sized it).
func (h *hnsw) mark(ctx context.Context, x uint32, reached []uint64, queue, buf *[]uint32) []uint64 {
	if need := int(x/64) + 1; need > len(reached) {
		reached = append(reached, make([]uint64, need-len(reached))...)
	}
	h.walk(ctx, x, reached, queue, buf)
	return reached
}

// walk marks in reached every node a walk of layer 0 from start reaches
// (nodes beyond reached's length are walked through but not marked); it
// reports false if ctx ended it.
func (h *hnsw) walk(ctx context.Context, start uint32, reached []uint64, queue, buf *[]uint32) bool {
	if reachedBit(reached, start) {
		return true
	}
	setBit(reached, start)
	*queue = append((*queue)[:0], start)
	for i := 0; i < len(*queue); i++ {
		if i&1023 == 1023 {
			if ctx.Err() != nil {
				return false
			}
			runtime.Gosched()
		}
		*buf = h.neighbours((*queue)[i], 0, *buf)
		for _, y := range *buf {
			if int(y>>6) >= len(reached) || reachedBit(reached, y) {
				continue
			}
			setBit(reached, y)
			*queue = append(*queue, y)
		}
	}
	return true
}

// linkFrom puts x into the layer-0 list of one of the nearest live nodes of
// res (a search's result, closest first): the first of connectPick with room,
// else the nearest whose list has a member another list also points to,
// which it replaces (the farthest such member). It reports whether it did.
func (h *hnsw) linkFrom(res []cand, x uint32) bool {
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
			if h.linkInto(c.slot, x, c.dist, full) {
				return true
			}
		}
	}
	return false
}

// linkInto adds x (at distance d) to y's layer-0 list: if the list has room,
// or, when replace is set, in place of its farthest member that has another
// in-link.
func (h *hnsw) linkInto(y, x uint32, d float32, replace bool) bool {
	mu := h.lock(y)
	mu.Lock()
	defer mu.Unlock()
	lst := h.list(y, 0)
	cnt := int(lst[0])
	if slices.Contains(lst[1:1+cnt], x) {
		return true
	}
	if cnt < h.m0 {
		lst[1+cnt] = x
		h.setDist(y, 0, cnt, d)
		lst[0]++
		h.inDeg.at(x).Add(1)
		return true
	}
	if !replace {
		return false
	}
	worst, wd := -1, float32(-2)
	for i := range cnt {
		if dd := h.getDist(y, 0, i); dd > wd && h.inDeg.at(lst[1+i]).Load() > minInDegree {
			worst, wd = i, dd
		}
	}
	if worst < 0 {
		return false
	}
	h.inDeg.at(lst[1+worst]).Add(-1)
	lst[1+worst] = x
	h.setDist(y, 0, worst, d)
	h.inDeg.at(x).Add(1)
	return true
}

// connectGapFactor and connectMinGap pace the background passes: the next
// one starts at the earliest connectGapFactor times the last one's duration
// later, and at least connectMinGap later, so a space that keeps taking
// inserts spends at most 1/connectGapFactor of one core on them. Measured
// 2026-11-27: a pass over the 100,000 memories of the engine benchmark took
// 37–52 ms (it found 5 unreached after the preload), one over a million
// nodes of 1,024 duplicated vectors 150–170 ms, its searches included.
const (
	connectGapFactor = 50
	connectMinGap    = 500 * time.Millisecond
)

// kickConnect starts the background pass unless it runs; index calls it
// after every insert.
func (h *hnsw) kickConnect() {
	if h.sp.st.stopping.Load() {
		return
	}
	if !h.connecting.Load() && h.connecting.CompareAndSwap(false, true) {
		h.sp.st.goBackground(h.connectLoop)
	}
}

// connectLoop runs passes until one finds no insert since the last, then
// exits (the next insert starts it again).
func (h *hnsw) connectLoop(ctx context.Context) {
	t := time.NewTimer(0)
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
		t.Reset(max(connectMinGap, connectGapFactor*time.Since(start)))
		if h.inserts.Load() != h.connected.Load() {
			continue
		}
		// Caught up: stop, unless an insert came in between (its
		// kickConnect saw the loop still running).
		h.connecting.Store(false)
		if h.inserts.Load() == h.connected.Load() || !h.connecting.CompareAndSwap(false, true) {
			return
		}
	}
}

func reachedBit(b []uint64, r uint32) bool {
	w := int(r >> 6)
	return w < len(b) && b[w]&(1<<(r&63)) != 0
}

func setBit(b []uint64, r uint32) { b[r>>6] |= 1 << (r & 63) }
