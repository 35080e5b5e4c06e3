package engine

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
)

// firstDominator returns the first member of cs (as stored) that dominates
// member i: closer to the list's owner (less) and closer to member i than
// the owner is; -1 if none.
func (h *hnsw) firstDominator(cs []cand, i int) int {
	for j, o := range cs {
		if j != i && less(o, cs[i]) && h.distSlots(cs[i].slot, o.slot) < cs[i].dist {
			return j
		}
	}
	return -1
}

// memoErrors checks what the dominance memo of n's layer-0 list claims
// against the list as stored, and counts the members whose state it knows.
func (h *hnsw) memoErrors(n uint32) (errs []string, known int) {
	mu := h.lock(n)
	mu.Lock()
	defer mu.Unlock()
	cs := h.listCands(n, 0)
	st := h.dom0.row(n)
	for i, c := range cs {
		switch s := st[i]; {
		case s == domUnknown:
			continue
		case s == domNone:
			if j := h.firstDominator(cs, i); j >= 0 {
				errs = append(errs, fmt.Sprintf("list of %d: member %d (slot %d) marked undominated, but member %d dominates it", n, i, c.slot, j))
			}
		default:
			p := int(s - domBy)
			if p >= len(cs) || p == i || !less(cs[p], c) || h.distSlots(c.slot, cs[p].slot) >= c.dist {
				errs = append(errs, fmt.Sprintf("list of %d: member %d (slot %d) marked dominated by member %d, which does not dominate it", n, i, c.slot, p))
			}
		}
		known++
	}
	return errs, known
}

// learnMemo fills in every unknown state of n's layer-0 memo, so that the
// steps after it have dominated and undominated members to keep true.
func (h *hnsw) learnMemo(n uint32) {
	mu := h.lock(n)
	mu.Lock()
	defer mu.Unlock()
	cs := h.listCands(n, 0)
	st := h.dom0.row(n)
	for i := range cs {
		if st[i] != domUnknown {
			continue
		}
		st[i] = domNone
		if j := h.firstDominator(cs, i); j >= 0 {
			st[i] = domBy + uint8(j)
		}
	}
}

// checkMemos checks every layer-0 list's memo in sp (quiescent).
func checkMemos(t *testing.T, sp *space, phase string) {
	t.Helper()
	known, bad := 0, 0
	for r := range sp.slotCount() {
		errs, k := sp.idx.memoErrors(r)
		known += k
		for _, e := range errs {
			if bad++; bad <= 5 {
				t.Errorf("%s: %s", phase, e)
			}
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d false memo entries", phase, bad)
	}
	if known == 0 {
		t.Errorf("%s: the memo knows no member's state", phase)
	}
}

// domChecker compares every full list's re-selection with the rule as
// first written (dropOne below), made without the dominance memo; it
// counts those at layer 0, the memo's.
type domChecker struct {
	mu       sync.Mutex
	checked  int
	mismatch []string
}

func (c *domChecker) attach(h *hnsw) {
	h.checkDom = func(n, r uint32, d float32, l int, before, after []cand) {
		want := h.dropOne(n, r, d, l, before)
		c.mu.Lock()
		defer c.mu.Unlock()
		if l == 0 {
			c.checked++
		}
		if !slices.Equal(want, after) && len(c.mismatch) < 5 {
			c.mismatch = append(c.mismatch, fmt.Sprintf("list of %d at layer %d: memo chose %v, dropOne %v", n, l, after, want))
		}
	}
}

// dropOne is what n's full list at layer l (members before, as stored)
// becomes when r arrives at distance d, by the rule as first written,
// comparing members pairwise from the farthest down: the members
// keepsMember keeps, sorted, and if over capacity less the older of two
// twins not n's own, else the farthest member a closer one dominates, else
// the farthest. Called with n's stripe lock held (the checkDom hook).
func (h *hnsw) dropOne(n, r uint32, d float32, l int, before []cand) []cand {
	capacity := h.m
	if l == 0 {
		capacity = h.m0
	}
	cs := []cand{{r, d}}
	for _, c := range before {
		if h.keepsMember(n, c.slot) {
			cs = append(cs, c)
		}
	}
	slices.SortFunc(cs, cmpCand)
	if len(cs) <= capacity {
		return cs
	}
	for i := len(cs) - 1; i > 0; i-- {
		if c, p := cs[i], cs[i-1]; c.dist-p.dist < twinTie && h.twins(c.slot, p.slot) && !h.twins(c.slot, n) {
			if p.slot < c.slot {
				i--
			}
			return append(cs[:i:i], cs[i+1:]...)
		}
	}
	for i := len(cs) - 1; i > 0; i-- {
		for j := 0; j < i; j++ {
			if h.distSlots(cs[i].slot, cs[j].slot) < cs[i].dist {
				return append(cs[:i:i], cs[i+1:]...)
			}
		}
	}
	return cs[:len(cs)-1]
}

func (c *domChecker) report(t *testing.T, phase string, atLeast int) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	t.Logf("%s: %d re-selections checked", phase, c.checked)
	for _, m := range c.mismatch {
		t.Error(m)
	}
	if c.checked < atLeast {
		t.Errorf("%s: %d re-selections checked, want at least %d: the test no longer exercises the memo", phase, c.checked, atLeast)
	}
	c.checked = 0
}

// The dominance memo changes what a full list's re-selection computes, not
// what it chooses: through inserts, exact duplicates, overwrites, deletes
// and their repairs, the connectivity pass, and a reopen from the index
// snapshot, every re-selection equals dropOne's.
func TestDominanceMemoMatchesDropOne(t *testing.T) {
	const dim = 48
	ix := IndexOptions{M: 4, EfConstruction: 32} // lists of 12: full soon, re-selected often
	dir := t.TempDir()
	s := open(t, dir, Options{Dim: dim, NoSync: true, NoAutoLink: true, Index: ix})
	sp := s.spaceFor("default")
	var c domChecker
	c.attach(sp.idx)

	n := 3000
	if raceEnabled {
		n = 1200
	}
	ms := clusteredMemories(t, dim, 0, n, "m")
	// Copies of a few vectors, spread through the stream.
	for i := range 120 {
		cp := ms[i%4]
		cp.ID = fmt.Sprintf("copy%d", i)
		ms = append(ms, cp)
	}
	for lo := 0; lo < len(ms); lo += 100 {
		if err := s.RememberBatch(ctx, "default", ms[lo:min(lo+100, len(ms))]); err != nil {
			t.Fatal(err)
		}
	}
	s.waitIndexed("default")
	c.report(t, "inserts", 200)
	checkMemos(t, sp, "inserts")

	// Deletes (repairs rewrite lists), overwrites (new slots, the old
	// ones deleted), then inserts into the lists those changed.
	for i := 0; i < n; i += 3 {
		if err := s.Delete(ctx, "default", ms[i].ID); err != nil {
			t.Fatal(err)
		}
	}
	over := clusteredMemories(t, dim, n, n/4, "m")
	for i := range over {
		over[i].ID = ms[3*i+1].ID
	}
	if err := s.RememberBatch(ctx, "default", over); err != nil {
		t.Fatal(err)
	}
	more := clusteredMemories(t, dim, 2*n, n/2, "x")
	if err := s.RememberBatch(ctx, "default", more); err != nil {
		t.Fatal(err)
	}
	s.waitIndexed("default")
	c.report(t, "after deletes and overwrites", 100)
	checkMemos(t, sp, "after deletes and overwrites")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Lists loaded from the snapshot have no memo.
	s = open(t, dir, Options{Dim: dim, NoSync: true, NoAutoLink: true, Index: ix})
	defer s.Close()
	sp = s.spaceFor("default")
	c.attach(sp.idx)
	if err := s.RememberBatch(ctx, "default", clusteredMemories(t, dim, 3*n, n/2, "y")); err != nil {
		t.Fatal(err)
	}
	s.waitIndexed("default")
	c.report(t, "after reopen", 100)
	checkMemos(t, sp, "after reopen")
}

// Every way a layer-0 list changes keeps its memo true: random re-selections
// (addLink), members replaced (the connectivity pass, a twin's swap) and
// appended after a list shrank, checked after each step.
func TestDominanceMemoStaysTrue(t *testing.T) {
	const dim = 32
	s := open(t, t.TempDir(), Options{Dim: dim, NoSync: true, NoAutoLink: true, Index: IndexOptions{M: 4, EfConstruction: 16}})
	defer s.Close()
	ms := clusteredMemories(t, dim, 0, 400, "m")
	for i := range 40 { // twins: equal codes make the twin rules run
		cp := ms[i%5]
		cp.ID = fmt.Sprintf("copy%d", i)
		ms = append(ms, cp)
	}
	if err := s.RememberBatch(ctx, "default", ms); err != nil {
		t.Fatal(err)
	}
	s.waitIndexed("default")
	sp := s.space("default")
	h := sp.idx
	total := sp.slotCount()
	twinsOf := map[uint32][]uint32{}
	for i := range 40 {
		a, b := sp.byID[ms[i%5].ID], sp.byID[fmt.Sprintf("copy%d", i)]
		twinsOf[a] = append(twinsOf[a], b)
		twinsOf[b] = append(twinsOf[b], a)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for step := range 4000 {
		n := rng.Uint32N(total)
		// x near n (a neighbour's neighbour) is likely to dominate some
		// of n's members, or to be dominated.
		x := rng.Uint32N(total)
		if nb := h.neighbours(n, 0, nil); len(nb) > 0 {
			if nb2 := h.neighbours(nb[rng.IntN(len(nb))], 0, nil); len(nb2) > 0 {
				x = nb2[rng.IntN(len(nb2))]
			}
		}
		if x == n {
			continue
		}
		d := h.distSlots(n, x)
		// Put a twin of one of n's members beside it, as only a replace
		// (the connectivity pass) does: the next re-selection drops one
		// of the two, and the members the dropped one dominated must not
		// be left undominated (the other twin dominates them).
		if rng.IntN(4) == 0 {
			mu := h.lock(n)
			mu.Lock()
			lst := h.list(n, 0)
			for _, y := range lst[1 : 1+lst[0]] {
				tw := twinsOf[y]
				if len(tw) == 0 {
					continue
				}
				if z := tw[rng.IntN(len(tw))]; z != n && !slices.Contains(lst[1:1+lst[0]], z) {
					h.replaceLink(n, int(lst[0])-1, z, h.distSlots(n, z))
				}
				break
			}
			mu.Unlock()
			h.learnMemo(n)
		}
		if rng.IntN(2) == 0 {
			h.learnMemo(n)
		}
		mu := h.lock(n)
		switch op := rng.IntN(10); {
		case op < 6:
			h.addLink(n, x, d, 0)
		case op < 8:
			mu.Lock()
			if lst := h.list(n, 0); lst[0] > 0 && !slices.Contains(lst[1:1+lst[0]], x) {
				h.replaceLink(n, rng.IntN(int(lst[0])), x, d)
			}
			mu.Unlock()
		default: // shrink the list (writeList forgets its memo): later links append
			mu.Lock()
			lst := h.list(n, 0)
			if cnt := int(lst[0]); cnt > 3 {
				keep := h.listCands(n, 0)[:cnt-3]
				h.writeList(n, 0, keep)
			}
			mu.Unlock()
		}
		if errs, _ := h.memoErrors(n); len(errs) > 0 {
			t.Fatalf("step %d: %v", step, errs)
		}
	}
	checkMemos(t, sp, "random steps")
}

// A member the memo names as another's dominator may be deleted (its
// repair still queued) when the list is next re-selected: it is left out,
// and what it dominated must be searched again, not kept as dominated by
// whichever candidate took its place.
func TestDominanceMemoDeletedDominator(t *testing.T) {
	const dim = 32
	s := open(t, t.TempDir(), Options{Dim: dim, NoSync: true, NoAutoLink: true, Index: IndexOptions{M: 4, EfConstruction: 16}})
	defer s.Close()
	sp := s.spaceFor("default")
	h := sp.idx
	var c domChecker
	c.attach(h)
	if err := s.RememberBatch(ctx, "default", clusteredMemories(t, dim, 0, 400, "m")); err != nil {
		t.Fatal(err)
	}
	s.waitIndexed("default")
	c.report(t, "inserts", 50)

	// The dead bit alone is what a re-selection sees of a delete whose
	// repair has not run; it is cleared again after each step.
	setDead := func(r uint32, dead bool) {
		if dead {
			sp.dead.at(r >> 6).Or(1 << (r & 63))
		} else {
			sp.dead.at(r >> 6).And(^uint64(1 << (r & 63)))
		}
	}
	total := sp.slotCount()
	rng := rand.New(rand.NewPCG(5, 6))
	cases := 0
	for step := range 3000 {
		n := rng.Uint32N(total)
		h.learnMemo(n)
		mu := h.lock(n)
		mu.Lock()
		lst := h.list(n, 0)
		cnt := int(lst[0])
		victim := uint32(noSlot)
		if cnt == h.m0 {
			st := h.dom0.row(n)
			for i := range cnt {
				if st[i] >= domBy {
					victim = lst[1+int(st[i]-domBy)]
					break
				}
			}
		}
		mu.Unlock()
		if victim == noSlot {
			continue
		}
		x := rng.Uint32N(total)
		if nb := h.neighbours(victim, 0, nil); len(nb) > 0 {
			x = nb[rng.IntN(len(nb))] // near the list, to stay in it
		}
		if x == n || x == victim || slices.Contains(h.neighbours(n, 0, nil), x) {
			continue
		}
		setDead(victim, true)
		h.addLink(n, x, h.distSlots(n, x), 0)
		errs, _ := h.memoErrors(n)
		setDead(victim, false)
		if len(errs) > 0 {
			t.Fatalf("step %d: %v", step, errs)
		}
		cases++
	}
	c.report(t, "deleted dominators", 100)
	if cases < 100 {
		t.Errorf("%d re-selections with a deleted dominator, want at least 100", cases)
	}
}
