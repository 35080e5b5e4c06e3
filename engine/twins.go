package engine

import (
	"math"
	"slices"
)

// Exact duplicates ("twins") in the index: the same embedding stored many
// times, as repeated content is. Two slots are twins when their int8 codes
// and scales are equal; their distances to any vector are then the same
// number, which is how a walk notices them without comparing codes each
// time. Unchecked, twins fill one another's lists and their neighbours'
// (none ever dominates another) and split the graph into groups no search
// leaves (docs/engine.md, "Exact duplicates"). So:
//
//   - a list holds at most maxOwnTwins copies of its owner's vector, and
//     one copy (the newest) of any other vector (selectNeighbours,
//     twinRule, reselect);
//   - an insert's walk steps through its own twins without keeping them
//     among its candidates, and through at most maxTwinWalk of them
//     (ownTwin);
//   - a search keeps one copy of a vector in its beam, so that copies do
//     not crowd the memories around them out of it, and returns the other
//     copies it walked through beside it (twinGroups).

// twins reports whether slots a and b hold exact duplicates as the walk
// sees them: the same int8 codes and scale. Their distances to any vector
// are then the same number.
func (h *hnsw) twins(a, b uint32) bool { return slices.Equal(h.sp.q8.row(a), h.sp.q8.row(b)) }

// maxOwnTwins is how many of a node's exact duplicates its lists hold.
// Two, the newest ones when it was inserted (its list has no room for later
// ones): each copy links to the two copies before it, so a vector's copies
// form a chain from the newest back to the oldest, and the lists outside
// the chain link its newest copy (selectNeighbours, twinRule). A search
// that reaches one copy walks the chain (all at the same distance).
const maxOwnTwins = 2

// twinTie bounds the difference between two members' stored distances to
// a list's owner under which they may be twins: stored distances are
// quantised (about 1e-3 from the exact ones) or, from the connectivity
// pass, exact.
const twinTie = 3e-3

// twinsIn looks in n's list at layer l for twins of x, which is at
// distance d from n. If x is one of n's own twins, every own twin in the
// list is one of x's: it returns how many there are (own) and the position
// of the oldest, lowest slot (at). Otherwise it returns the position of a
// member that is a twin of x, or -1, and own = 0. Callers hold n's stripe
// lock.
func (h *hnsw) twinsIn(n uint32, l int, x uint32, d float32) (at, own int) {
	lst := h.list(n, l)
	at = -1
	if h.twins(x, n) {
		for i, y := range lst[1 : 1+lst[0]] {
			if h.twins(y, n) {
				if own++; at < 0 || y < lst[1+at] {
					at = i
				}
			}
		}
		return at, own
	}
	for i, y := range lst[1 : 1+lst[0]] {
		if dy := h.getDist(n, l, i); dy-d < twinTie && d-dy < twinTie && h.twins(x, y) {
			return i, 0
		}
	}
	return -1, 0
}

// twinRule is how x, at distance d from n, may join n's list at layer l
// given the twins the list holds: by the usual rules (normal); not at all,
// since the list holds maxOwnTwins of n's own twins already, or a newer
// twin of x, which serves x's vector (at < 0); or in place of member at, an
// older twin of x. Callers hold n's stripe lock.
func (h *hnsw) twinRule(n uint32, l int, x uint32, d float32) (normal bool, at int) {
	at, own := h.twinsIn(n, l, x, d)
	switch {
	case own >= maxOwnTwins:
		return false, -1
	case own > 0 || at < 0:
		return true, -1
	case x > h.list(n, l)[1+at]:
		return false, at
	}
	return false, -1
}

// swapLink puts x (at distance d) in place of the i-th member of n's list
// at layer l and returns that member if it lost its last in-link. Callers
// hold n's stripe lock.
func (h *hnsw) swapLink(n uint32, l, i int, x uint32, d float32) []uint32 {
	if l == 0 {
		if w, orphaned := h.replaceLink(n, i, x, d); orphaned {
			return []uint32{w}
		}
		return nil
	}
	h.list(n, l)[1+i] = x
	h.setDist(n, l, i, d)
	return nil
}

// ownTwin reports whether n, at distance d from an insert's query, is a
// twin of the node inserted, and if n is live keeps it among the newest in
// q.twins. A twin's distance is the node's own to the bit (the same
// integers and scales), which spares the comparison of codes for others.
func (h *hnsw) ownTwin(q *query, n uint32, d float32) bool {
	if q.self == 0 || d != q.selfD || n == q.self-1 || !h.twins(n, q.self-1) {
		return false
	}
	if !h.live(n) || hasSlot(q.twins, n) {
		return true
	}
	if len(q.twins) < maxOwnTwins {
		q.twins = append(q.twins, cand{n, d})
		return true
	}
	oldest := 0
	for j, c := range q.twins {
		if c.slot < q.twins[oldest].slot {
			oldest = j
		}
	}
	if n > q.twins[oldest].slot {
		q.twins[oldest] = cand{n, d}
	}
	return true
}

// maxTwinWalk is how many of its own twins an insert's walk steps through
// on a layer. A vector's copies are a chain (maxOwnTwins), and a walk
// expanding every twin would take each new copy through all the earlier
// ones: a quadratic cost in the number of copies. The lists outside the
// chain link its newest copy, so the first twins a walk meets are the
// newest ones, the ones it links to.
const maxTwinWalk = 4 * maxOwnTwins

// twinGroups is a search's record of the twins among what it walked: a
// node at the same distance from the query as one in the beam (res) is
// checked, and if it is a twin it joins that node's group instead of the
// beam. A bloom filter on the distances keeps the common case (no equal
// distances) to a hash and a bit test per node.
type twinGroups struct {
	bloom  [128]uint64
	groups []twinGroup
	keep   bool // keep the copies walked through (a search's, not an insert's)
}

// twinGroup is one vector's copies met by a search: rep is the one in the
// beam, walked how many others were walked through, extra the live ones
// (up to the search's ef) returned beside rep; an insert keeps none.
type twinGroup struct {
	rep    uint32
	dist   float32
	walked twinWalk
	extra  []cand
}

// twinWalk counts the live twins a walk went through. Deleted ones are
// walked through without a bound: deleted copies keep their lists, like any
// deleted node, and repair keeps a live copy's deleted older copies in its
// list (hnsw.repair), so a vector whose middle copies were deleted reaches
// its older live copies through a chain of deleted ones. Bounding them lost
// those (with 990 of 1,000 copies deleted, a search found 5 of the 10 live
// ones). They cost a walk near that vector a step each until a restart
// drops them from the graph.
type twinWalk struct{ live int }

// step counts a twin and reports whether the walk goes through it.
func (w *twinWalk) step(live bool, bound int) bool {
	if !live {
		return true
	}
	w.live++
	return w.live <= bound
}

func twinBit(d float32) (word int, bit uint64) {
	x := uint64(math.Float32bits(d)) * 0x9E3779B97F4A7C15 >> 51
	return int(x >> 6), 1 << (x & 63)
}

// kept notes that a node at distance d entered the beam.
func (t *twinGroups) kept(d float32) {
	w, b := twinBit(d)
	t.bloom[w] |= b
}

// group returns the group of the beam's twin of n (at distance d), or nil
// if n has no twin there.
func (t *twinGroups) group(h *hnsw, res []cand, n uint32, d float32) *twinGroup {
	if w, b := twinBit(d); t.bloom[w]&b == 0 {
		return nil
	}
	for i := range t.groups {
		if g := &t.groups[i]; g.dist == d && h.twins(n, g.rep) {
			return g
		}
	}
	for _, c := range res {
		if c.dist == d && c.slot != n && h.twins(n, c.slot) {
			t.groups = append(t.groups, twinGroup{rep: c.slot, dist: d})
			return &t.groups[len(t.groups)-1]
		}
	}
	return nil
}

// add records n, a twin in group g: the first ef live ones are returned,
// and the walk goes through the first walk ones (the caller pushes n as a
// candidate if add says so).
func (g *twinGroup) add(h *hnsw, n uint32, d float32, ef, walk int, keep bool) bool {
	live := h.live(n)
	if keep && live && len(g.extra) < ef {
		g.extra = append(g.extra, cand{n, d})
	}
	return g.walked.step(live, walk)
}

// merge adds the groups' copies, the ef closest of them, to a search's
// sorted result. It keeps every node of the beam: the walk's distances are
// quantised (about 1e-3 from the exact ones), so copies of a vector a hair
// farther than a memory can look closer, and a beam cut back to ef after
// the merge would lose the very memory searched for to its neighbour's
// copies. The caller re-ranks what this returns.
func (t *twinGroups) merge(out []cand, ef int) []cand {
	if len(t.groups) == 0 {
		return out
	}
	var extra []cand
	for _, g := range t.groups {
		extra = append(extra, g.extra...)
	}
	slices.SortFunc(extra, cmpCand)
	out = append(out, extra[:min(len(extra), ef)]...)
	slices.SortFunc(out, cmpCand)
	return out
}
