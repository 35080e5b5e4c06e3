package engine

import (
	"context"
	"runtime"
	"slices"
	"time"
)

// The indexer inserts published slots into a space's HNSW graph in the
// background, so that Remember returns after its durable write and not after
// an index insert (0.3–1 ms of CPU at 768 dimensions). Until a slot is
// inserted, searches find it by an exact scan of the queue: a memory is
// searchable as soon as Remember returns. RememberBatch inserts its slots
// itself, so bulk loads are indexed when they return and slow down when the
// machine is busy instead of building a backlog.

// helpThreshold is the queue length above which a writer inserts one queued
// slot itself before returning, so a write rate above the indexer's
// throughput slows writers instead of growing the exact-scan tail of every
// search.
const helpThreshold = 1024

// setFlags atomically sets and clears flags and returns the old value.
func setFlags(nm *nodeMeta, set, clr uint32) uint32 {
	for {
		old := nm.flags.Load()
		if nm.flags.CompareAndSwap(old, old&^clr|set) {
			return old
		}
	}
}

// enqueue queues published slots for the background indexer.
func (h *hnsw) enqueue(slots ...uint32) {
	if len(slots) == 0 {
		return
	}
	h.qmu.Lock()
	h.queue = append(h.queue, slots...)
	start := h.startWorkersLocked()
	help := len(h.queue) > helpThreshold
	h.qmu.Unlock()
	for range start {
		h.sp.st.goBackground(h.work)
	}
	if help {
		if r, ok := h.take(); ok {
			h.index(r)
		}
	}
}

// enqueueRepair queues a deleted, indexed slot for repair.
func (h *hnsw) enqueueRepair(r uint32) {
	h.qmu.Lock()
	h.dels = append(h.dels, r)
	start := h.startWorkersLocked()
	h.qmu.Unlock()
	for range start {
		h.sp.st.goBackground(h.work)
	}
}

// startWorkersLocked counts the workers to start now (and counts them as
// running): one while there is work, up to GOMAXPROCS for a large backlog.
// All of them at once: a backlog queued in one call (the re-index after a
// crash) used to start one worker, and a second only with the next write,
// so an idle engramd caught up on one core (measured 2026-11-27: 6,591
// memories re-indexed at 100k in 11 s, the profile at 102% CPU).
func (h *hnsw) startWorkersLocked() int {
	if h.sp.st.stopping.Load() {
		return 0
	}
	want := 1
	if len(h.queue) > 128 {
		want = runtime.GOMAXPROCS(0)
	}
	n := max(want-h.workers, 0)
	h.workers += n
	return n
}

// take claims the oldest queued slot.
func (h *hnsw) take() (uint32, bool) {
	h.qmu.Lock()
	defer h.qmu.Unlock()
	if len(h.queue) == 0 {
		return 0, false
	}
	r := h.queue[0]
	h.queue = h.queue[1:]
	if len(h.queue) == 0 {
		h.queue = nil
	}
	h.busy[r] = struct{}{}
	return r, true
}

func (h *hnsw) work(ctx context.Context) {
	locked := false
	// A failed store answers nothing more: stop indexing at once.
	for ctx.Err() == nil && !h.sp.st.failed.Load() {
		h.qmu.Lock()
		if n := len(h.dels); n > 0 {
			r := h.dels[n-1]
			h.dels = h.dels[:n-1]
			h.repairing++
			h.qmu.Unlock()
			h.repair(r)
			h.qmu.Lock()
			h.repairing--
			h.qmu.Unlock()
			h.kickConnect()
			runtime.Gosched()
			continue
		}
		if len(h.queue) == 0 {
			locked = true
			break
		}
		r := h.queue[0]
		h.queue = h.queue[1:]
		h.busy[r] = struct{}{}
		h.qmu.Unlock()
		h.index(r)
		runtime.Gosched()
	}
	if !locked {
		h.qmu.Lock()
	}
	h.workers--
	h.qmu.Unlock()
}

// insertNow inserts published slots on the calling goroutine.
func (h *hnsw) insertNow(slots []uint32) {
	h.qmu.Lock()
	for _, r := range slots {
		h.busy[r] = struct{}{}
	}
	h.qmu.Unlock()
	for i, r := range slots {
		h.index(r)
		if i&7 == 7 {
			runtime.Gosched()
		}
	}
}

// index inserts claimed slot r, derives its auto links if asked to, and
// releases the claim.
func (h *hnsw) index(r uint32) {
	nm := h.sp.m(r)
	if nm.flags.Load()&flagDeleted == 0 {
		base := h.insert(r)
		old := setFlags(nm, flagIndexed, 0)
		h.inserts.Add(1)
		h.linkedIn(r)
		h.kickConnect()
		if old&flagDeleted != 0 {
			h.deleted.Add(1)
			h.enqueueRepair(r)
		} else if old&flagAutoLink != 0 {
			h.sp.st.autoLinkIndexed(h.sp, r, base)
		}
	}
	h.qmu.Lock()
	delete(h.busy, r)
	h.qmu.Unlock()
}

// retired is called once a slot is marked deleted: an indexed slot's
// neighbours get repaired.
func (h *hnsw) retired(r uint32, oldFlags uint32) {
	if oldFlags&flagIndexed != 0 {
		h.deleted.Add(1)
		h.enqueueRepair(r)
	}
}

// backlog is how many slots are queued or being inserted.
func (h *hnsw) backlog() int {
	h.qmu.Lock()
	defer h.qmu.Unlock()
	return len(h.queue) + len(h.busy)
}

// pendingSlots appends the slots queued or being inserted.
func (h *hnsw) pendingSlots(dst []uint32) []uint32 {
	h.qmu.Lock()
	dst = append(dst, h.queue...)
	for r := range h.busy {
		dst = append(dst, r)
	}
	h.qmu.Unlock()
	return dst
}

// nearest returns the k live slots closest to q: the graph's answer merged
// with a scan of the slots not yet in the graph (quantised distances, then
// the best re-ranked exactly with the graph's). ef is the graph's minimum
// candidate list; a large k gets 2k, since a list barely longer than k
// misses about one in seven of the exact top 100 at 100,000 memories.
func (sp *space) nearest(q []float32, k, ef int) []cand {
	qq := newQuery(q)
	res := sp.idx.search(qq, max(2*k, ef))
	pend := sp.idx.pendingSlots(nil)
	if len(pend) > 0 {
		var top maxHeap = make([]cand, 0, k+1)
		for i, r := range pend {
			if i+8 < len(pend) {
				prefetch(sp.q8.row(pend[i+8]))
			}
			if !sp.isLive(r) {
				continue
			}
			// A slot being inserted may be in the graph's answer already:
			// only one that would enter the top is looked for there (a
			// map of the answer's slots cost a tenth of nearest's CPU in
			// engramd under mixed_balanced, 2026-11-28).
			if c := (cand{r, sp.idx.dist(qq, r)}); (len(top) < k || c.dist < top[0].dist) && !hasSlot(res, r) && !hasSlot(top, r) {
				if len(top) == k {
					top.pop()
				}
				top.push(c)
			}
			if i&1023 == 1023 {
				runtime.Gosched()
			}
		}
		sp.idx.rerank(q, top)
		res = append(res, top...)
		slices.SortFunc(res, cmpCand)
	}
	if len(res) > k {
		res = res[:k]
	}
	return res
}

// hasSlot reports whether cs holds slot r.
func hasSlot(cs []cand, r uint32) bool {
	for _, c := range cs {
		if c.slot == r {
			return true
		}
	}
	return false
}

// exact returns the k live slots closest to q by scanning every slot,
// chunk by chunk, yielding between chunks so a long scan never holds a
// processor for milliseconds.
func (sp *space) exact(q []float32, k int) []cand {
	n := sp.slotCount()
	var h maxHeap = make([]cand, 0, k+1)
	for r := uint32(0); r < n; r++ {
		if !sp.isLive(r) {
			continue
		}
		d := 1 - dot(q, sp.vec(r))
		if len(h) < k {
			h.push(cand{r, d})
		} else if d < h[0].dist {
			h.pop()
			h.push(cand{r, d})
		}
		if r&chunkMask == chunkMask {
			runtime.Gosched()
		}
	}
	out := []cand(h)
	slices.SortFunc(out, cmpCand)
	return out
}

// waitIndexed blocks until a space's indexing queue is empty and no repair
// of a deleted node is running (a pass beside a repair can count a node
// reached through a link the repair then removes), then runs a
// connectivity pass so that every indexed node is reachable (tests and
// benchmarks; the background pass would a few seconds later).
func (s *Store) waitIndexed(spaceID string) {
	sp := s.space(spaceID)
	if sp == nil {
		return
	}
	for {
		if st := sp.idx.stats(); st.Pending == 0 {
			sp.idx.qmu.Lock()
			n := len(sp.idx.dels) + sp.idx.repairing
			sp.idx.qmu.Unlock()
			if n == 0 {
				sp.idx.connect(context.Background())
				return
			}
		}
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
}
