package engine

import "slices"

// The dominance memo: what addLink's re-selection of a full layer-0 list
// (reselect) learnt about its members, kept for the next one.
//
// Why: a full list drops, after the twin rule, its farthest member that a
// closer member dominates (victim). Finding it compares members pairwise
// from the farthest down; on 768-d data many members are dominated by none,
// and at 20,000 clustered memories a re-selection computed 466 distances
// on average (1,176 when no member is dominated, a quarter of the calls),
// 6.6 re-selections per insert: about 30% of an insert's CPU in engramd's
// profile under mixed_balanced (2026-11-28). Between two re-selections of
// the same list only one member arrives and one leaves, so what was found
// mostly still holds.
//
// What is kept: a byte per layer-0 list position (hnsw.dom0), domUnknown,
// domNone (no closer member dominates it), or domBy+p (the member at
// position p, closer to the list's owner, dominates it). A member's
// dominators are the members closer to the owner (in cmpCand order) that
// are closer to it than the owner is; the set changes only when members
// arrive or leave, and each path that changes a list keeps the memo true:
//   - writeList forgets the list's memo (addLink's re-selection then writes
//     what it knows);
//   - appendLink and replaceLink forget the newcomer's state, and "none"
//     of the members farther than the newcomer (it may dominate them);
//     replaceLink forgets those the member it replaced dominated.
//
// The choice is exactly the one made without the memo
// (TestDominanceMemoMatchesDropOne checks every re-selection of a build
// with deletes and duplicates against the rule as first written); only
// distances already known are not computed again.
const (
	domUnknown uint8 = 0
	domNone    uint8 = 1
	domBy      uint8 = 2 // + the dominator's position in the stored list
)

// maxDomM0 is the longest layer-0 list the memo serves: positions must fit
// a byte beside domBy. Longer lists (M > 84) re-select without it.
const maxDomM0 = 255 - int(domBy)

// Working states of a re-selection's candidates (domCand.dom), besides the
// index of a dominator among the candidates.
const (
	dcUnknown = -2
	dcNone    = -1
)

// domCand is a candidate of a full list's re-selection: pos is its
// position in the stored list (-1 for the node being linked in), dom what
// is known of its dominators (dcUnknown, dcNone, or the index of one among
// the candidates).
type domCand struct {
	cand
	pos int16
	dom int16
}

// forgetDom marks positions [0, n) of r's layer-0 memo unknown. Callers
// hold r's stripe lock.
func (h *hnsw) forgetDom(r uint32, n int) {
	if h.dom0 != nil {
		clear(h.dom0.row(r)[:n])
	}
}

// domArrive updates r's layer-0 memo for a member x (at distance d) just
// written at position at, the others unchanged: x is unknown, and so is
// every member farther than x that no closer member dominated (x may). If
// x replaced a member, the members it dominated are unknown too. Callers
// hold r's stripe lock.
func (h *hnsw) domArrive(r uint32, at int, x uint32, d float32, replaced bool) {
	if h.dom0 == nil {
		return
	}
	st := h.dom0.row(r)
	lst := h.links0.row(r)
	c := cand{x, d}
	for i := range int(lst[0]) {
		switch {
		case i == at:
			st[i] = domUnknown
		case replaced && st[i] == domBy+uint8(at):
			st[i] = domUnknown
		case st[i] == domNone && less(c, cand{lst[1+i], h.getDist(r, 0, i)}):
			st[i] = domUnknown
		}
	}
}

// reselect adds r (at distance d) to n's full list at layer l: it leaves
// out the members keepsMember does not keep, as repair does, and if the
// list is still over capacity drops one member (victim). At layer 0 it
// does so with the dominance memo: the members farther than r that no
// closer member dominated are compared with r (one distance each), a
// member's dominators are searched only if the memo does not know them,
// and what it learnt is written back. Callers hold n's stripe lock; lst
// is n's list at layer l.
func (h *hnsw) reselect(n, r uint32, d float32, l int, lst []uint32) []uint32 {
	capacity := h.m
	var st []uint8 // the memo; nil above layer 0, or for lists too long for it
	if l == 0 {
		capacity = h.m0
		if h.dom0 != nil {
			st = h.dom0.row(n)
		}
	}
	cnt := int(lst[0])
	cs := make([]domCand, 1, cnt+1)
	cs[0] = domCand{cand{r, d}, -1, dcUnknown}
	for i, x := range lst[1 : 1+cnt] {
		if h.keepsMember(n, x) {
			cs = append(cs, domCand{cand{x, h.getDist(n, l, i)}, int16(i), dcUnknown})
		}
	}
	slices.SortFunc(cs, func(a, b domCand) int { return cmpCand(a.cand, b.cand) })
	if st != nil {
		h.fromMemo(cs, st, cnt, r)
	}
	if len(cs) > capacity {
		cs = dropDom(cs, h.victim(n, cs))
	}
	nb := make([]cand, len(cs))
	for k, c := range cs {
		nb[k] = c.cand
	}
	orphans := h.writeList(n, l, nb)
	if st != nil {
		for k, c := range cs {
			switch c.dom {
			case dcUnknown:
				st[k] = domUnknown
			case dcNone:
				st[k] = domNone
			default:
				st[k] = domBy + uint8(c.dom)
			}
		}
	}
	return orphans
}

// fromMemo fills the candidates' dominators in from the memo st of a list of
// cnt members (cs sorted, r the node being linked in): what the memo knew,
// with a dominator left out forgotten, and r as the dominator of the
// members farther than it that nothing closer dominated.
func (h *hnsw) fromMemo(cs []domCand, st []uint8, cnt int, r uint32) {
	var at [maxDomM0 + 1]int16 // stored position → candidate index, -1 if left out
	for i := range cnt {
		at[i] = -1
	}
	kr := 0
	for k, c := range cs {
		if c.pos < 0 {
			kr = k
		} else {
			at[c.pos] = int16(k)
		}
	}
	for k := range cs {
		if cs[k].pos < 0 {
			continue
		}
		switch s := st[cs[k].pos]; {
		case s == domNone:
			cs[k].dom = dcNone
		case s >= domBy && int(s-domBy) < cnt:
			if j := at[s-domBy]; j >= 0 {
				cs[k].dom = j
			}
		}
	}
	for k := kr + 1; k < len(cs); k++ {
		if cs[k].dom == dcNone && h.distSlots(cs[k].slot, r) < cs[k].dist {
			cs[k].dom = int16(kr)
		}
	}
}

// victim is the index of the member an overfull list drops from cs
// (sorted, closest first): the older of two twins (not n's own, which
// twinRule bounds), else the farthest member that a closer member
// dominates (is closer to it than the list's owner), else the farthest.
// It is what Malkov's heuristic with the pruned candidates filled back in
// drops, at the cost of a few distances instead of a quadratic number:
// usually the farthest member is dominated by one of the first few it is
// compared with. Twins have the same distance to n, so they usually sit
// side by side in the sorted list (one distance may be exact, from the
// connectivity pass, and the other quantised; such a pair is not seen
// here, and the rules below apply). Dominators already known (dom) are
// used; those it finds are recorded in cs.
func (h *hnsw) victim(n uint32, cs []domCand) int {
	for i := len(cs) - 1; i > 0; i-- {
		if c, p := cs[i], cs[i-1]; c.dist-p.dist < twinTie && h.twins(c.slot, p.slot) && !h.twins(c.slot, n) {
			if p.slot < c.slot {
				return i - 1
			}
			return i
		}
	}
	for i := len(cs) - 1; i > 0; i-- {
		c := &cs[i]
		if c.dom == dcUnknown {
			c.dom = dcNone
			for j := range i {
				if h.distSlots(c.slot, cs[j].slot) < c.dist {
					c.dom = int16(j)
					break
				}
			}
		}
		if c.dom >= 0 {
			return i
		}
	}
	return len(cs) - 1
}

// dropDom removes candidate v: the ones it dominated become unknown, and
// the dominator indices past it shift down.
func dropDom(cs []domCand, v int) []domCand {
	cs = append(cs[:v], cs[v+1:]...)
	for k := range cs {
		switch dom := int(cs[k].dom); {
		case dom == v:
			cs[k].dom = dcUnknown
		case dom > v:
			cs[k].dom--
		}
	}
	return cs
}
