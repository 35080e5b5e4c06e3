package engine

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// An island (two nodes linked only to each other) is linked back into the
// graph by each of the four ways a pass runs: waitIndexed's, the
// background one that an insert or a delete starts, and Open's on a
// loaded snapshot.
func TestConnectLinksIslands(t *testing.T) {
	const dim = 16
	dir := t.TempDir()
	opts := Options{Dim: dim, NoSync: true}
	s := open(t, dir, opts)
	defer func() { s.Close() }()
	ms := randomMemories(3, 300, dim)
	for _, m := range ms {
		if err := s.Remember(ctx, "default", m); err != nil {
			t.Fatal(err)
		}
	}
	s.waitIndexed("default")

	check := func(s *Store, how string, island []Memory) {
		t.Helper()
		sp := s.space("default")
		reached := sp.idx.reachable()
		for _, m := range ms {
			if !reached[sp.byID[m.ID]] {
				t.Errorf("%s: %s unreachable", how, m.ID)
			}
		}
		for _, m := range island {
			if !foundBy(t, s, m) {
				t.Errorf("%s: %s not found by its own embedding", how, m.ID)
			}
		}
		if st := sp.idx.stats(); st.Relinked < 1 {
			t.Errorf("%s: Relinked = %d, want ≥ 1", how, st.Relinked)
		}
	}

	island := makeIsland(t, s, ms)
	s.waitIndexed("default")
	check(s, "waitIndexed", island)

	// after starts the background pass with a change and waits for it to
	// link something back.
	after := func(what string, change func() error) {
		t.Helper()
		before := s.space("default").idx.relinked.Load()
		if err := change(); err != nil {
			t.Fatal(err)
		}
		within(t, time.Minute, "the background pass after "+what, func() {
			for s.space("default").idx.relinked.Load() == before {
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
	island = makeIsland(t, s, ms)
	extra := randomMemories(4, 1, dim)[0]
	extra.ID = "extra"
	after("an insert", func() error { return s.Remember(ctx, "default", extra) })
	check(s, "insert", island)

	island = makeIsland(t, s, ms)
	after("a delete", func() error { return s.Delete(ctx, "default", extra.ID) })
	check(s, "delete", island)

	island = makeIsland(t, s, ms)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir, opts)
	if rec := s.Recovery(); !rec.IndexLoaded || rec.Reindexed != 0 {
		t.Fatalf("reopen: %+v", rec)
	}
	within(t, time.Minute, "Open's background pass", func() {
		for s.space("default").idx.relinked.Load() == 0 {
			time.Sleep(10 * time.Millisecond)
		}
	})
	check(s, "Open", island)
}

// waitConnectIdle waits for h's background pass to stop (it pauses up to
// connectGapFactor times its last pass's duration, which under the race
// detector can be seconds).
func waitConnectIdle(t *testing.T, h *hnsw) {
	t.Helper()
	within(t, time.Minute, "the background pass to stop", func() {
		for h.connecting.Load() {
			time.Sleep(time.Millisecond)
		}
	})
}

// makeIsland cuts two neighbouring memories of ms out of the graph (every
// layer-0 list outside drops them; they keep each other) and checks that
// the graph no longer finds them. It waits for the background pass to stop
// first, so that nothing links them back before the caller looks.
func makeIsland(t *testing.T, s *Store, ms []Memory) []Memory {
	t.Helper()
	sp := s.space("default")
	h := sp.idx
	waitConnectIdle(t, h)
	ep, _, _ := h.entry()
	var a, b uint32
	var ia, ib int
	found := false
	for i := 0; i < len(ms) && !found; i++ {
		a = sp.byID[ms[i].ID]
		if a == ep || sp.m(a).level > 0 {
			continue
		}
		for _, c := range h.search(h.nodeQuery(a), 8) {
			if c.slot != a && c.slot != ep && sp.m(c.slot).level == 0 {
				b, ia, found = c.slot, i, true
				break
			}
		}
	}
	if !found {
		t.Fatal("no two neighbouring level-0 nodes")
	}
	for i, m := range ms {
		if sp.byID[m.ID] == b {
			ib = i
		}
	}
	cutIsland(h, a, b)
	island := []Memory{ms[ia], ms[ib]}
	reached := h.reachable()
	for _, m := range island {
		if reached[sp.byID[m.ID]] {
			t.Fatalf("%s still reachable after the cut", m.ID)
		}
		if foundBy(t, s, m) {
			t.Fatalf("%s still found after the cut", m.ID)
		}
	}
	return island
}

// cutIsland drops a and b from every other layer-0 list and leaves each
// in the other's list only: an island of two.
func cutIsland(h *hnsw, a, b uint32) {
	h.connMu.Lock() // no pass while the lists are cut
	defer h.connMu.Unlock()
	cutOut(h, map[uint32]bool{a: true, b: true})
	d := h.distSlots(a, b)
	h.setList(a, 0, []cand{{b, d}})
	h.setList(b, 0, []cand{{a, d}})
}

// cutOut drops the slots of out from every other layer-0 list; their own
// lists stay. Callers hold connMu.
func cutOut(h *hnsw, out map[uint32]bool) {
	for r := uint32(0); r < h.sp.slotCount(); r++ {
		if out[r] || h.sp.m(r).flags.Load()&flagIndexed == 0 {
			continue
		}
		h.lock(r).Lock()
		lst := h.list(r, 0)
		var keep []cand
		for i, x := range lst[1 : 1+lst[0]] {
			if !out[x] {
				keep = append(keep, cand{x, h.getDist(r, 0, i)})
			}
		}
		h.writeList(r, 0, keep)
		h.lock(r).Unlock()
	}
}

// foundBy reports whether a search for m's embedding returns m.
func foundBy(t *testing.T, s *Store, m Memory) bool {
	t.Helper()
	res, err := s.Nearest(ctx, "default", m.Embedding, 10)
	if err != nil {
		t.Fatal(err)
	}
	return slices.ContainsFunc(res, func(r Match) bool { return r.ID == m.ID })
}

// reachable marks the slots a walk from the entry point reaches (the
// connectivity pass's walk, every layer).
func (h *hnsw) reachable() map[uint32]bool {
	ep, _, ok := h.entry()
	if !ok {
		return nil
	}
	n := max(h.sp.slotCount(), ep+1)
	bits := make([]uint64, (n+63)/64)
	h.walk(ctx, ep, bits)
	seen := map[uint32]bool{}
	for r := range n {
		if reachedBit(bits, r) {
			seen[r] = true
		}
	}
	return seen
}

// A space of exact duplicates (10 vectors stored 300 times each, the shape
// of the engine benchmark's writes before 2026-11-27 at a smaller scale)
// keeps its copies reachable: each list holds at most maxOwnTwins copies of
// its own vector and one of any other, so the copies of a vector form a
// chain instead of filling each other's lists (before, 703 of 3,000 nodes
// were reached). The passes waitIndexed runs link the few a build leaves
// unreached, and a search for any vector returns 10 of its copies.
func TestConnectTwins(t *testing.T) {
	const dim = 16
	distinct, copies := 10, 300
	if raceEnabled {
		distinct, copies = 4, 200 // still more copies than a list holds
	}
	s := open(t, t.TempDir(), Options{Dim: dim, NoSync: true})
	defer s.Close()
	vs := randomMemories(5, distinct, dim)
	for c := range copies {
		for i, v := range vs {
			m := v
			m.ID = fmt.Sprintf("v%d_c%d", i, c)
			if err := s.Remember(ctx, "default", m); err != nil {
				t.Fatal(err)
			}
		}
	}
	s.waitIndexed("default")
	h := s.space("default").idx
	n := h.connect(ctx)
	t.Logf("%d of %d nodes reached from the entry point; the passes during the build linked %d back, another %d", len(h.reachable()), distinct*copies, h.relinked.Load()-int64(n), n)
	if n > 0 {
		t.Errorf("a pass after waitIndexed's linked %d more nodes, want 0", n)
	}
	if reached := len(h.reachable()); reached != distinct*copies {
		t.Errorf("%d of %d nodes reached from the entry point, want all", reached, distinct*copies)
	}
	for i, v := range vs {
		res, err := s.Nearest(ctx, "default", v.Embedding, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(res) != 10 || res[9].Score < 0.9999 {
			t.Errorf("vector %d: %+v, want 10 exact twins", i, res)
		}
	}
}

// A space whose first slots hold more unreached twins than one pass's
// budget of searches (cut out of the graph by hand: half the copies of a
// few vectors) still gets an island among its later slots linked back:
// each pass goes on where the last one stopped, instead of spending its
// budget on the same twins every time.
func TestConnectBudgetMovesOn(t *testing.T) {
	const dim, distinct, copies, budget = 16, 4, 100, 64
	// A small candidate list and budget keep the passes short, and so the
	// background loop's pause after them (connectGapFactor).
	s := open(t, t.TempDir(), Options{Dim: dim, NoSync: true, Index: IndexOptions{EfConstruction: 32}})
	defer s.Close()
	// The twins lie around −e0 and the other memories around +e0, so a
	// search for one of the latter finds its own kind.
	shift := func(m Memory, by float32) Memory {
		m.Embedding = slices.Clone(m.Embedding)
		m.Embedding[0] += by
		return m
	}
	vs := randomMemories(5, distinct, dim)
	for c := range copies {
		for i, v := range vs {
			m := shift(v, -2)
			m.ID = fmt.Sprintf("v%d_c%d", i, c)
			if err := s.Remember(ctx, "default", m); err != nil {
				t.Fatal(err)
			}
		}
	}
	ms := randomMemories(3, 300, dim)
	for i := range ms {
		if i == 0 {
			h := s.space("default").idx
			h.connMu.Lock()
			h.budget = budget
			h.connMu.Unlock()
		}
		ms[i] = shift(ms[i], 2)
		if err := s.Remember(ctx, "default", ms[i]); err != nil {
			t.Fatal(err)
		}
	}
	s.waitIndexed("default")
	sp := s.space("default")
	h := sp.idx
	waitConnectIdle(t, h)
	out := map[uint32]bool{}
	for c := 1; c < copies; c += 2 {
		for i := range vs {
			if r := sp.byID[fmt.Sprintf("v%d_c%d", i, c)]; sp.m(r).level == 0 {
				out[r] = true
			}
		}
	}
	h.connMu.Lock()
	cutOut(h, out)
	h.connMu.Unlock()
	if un := distinct*copies + len(ms) - len(h.reachable()); un <= 2*budget {
		t.Fatalf("%d nodes unreached, want more than %d for the test to mean something", un, 2*budget)
	}
	island := makeIsland(t, s, ms)
	passes := (distinct*copies)/budget + 2
	linked := 0
	for range passes {
		linked += h.connect(ctx)
	}
	if linked == 0 {
		t.Errorf("%d passes linked nothing back: the island after the twins was never searched for", passes)
	}
	for _, m := range island {
		if !foundBy(t, s, m) {
			t.Errorf("%s not found by its own embedding after %d passes", m.ID, passes)
		}
	}
}

// An island whose two members are far apart (each in the other's list
// only) has both found again after a pass: linking the first one it meets
// makes the other reachable through it, but a search for the other's
// vector never walks that far, so it needs a link of its own.
func TestConnectLinksEveryIslandMember(t *testing.T) {
	const dim = 16
	s := open(t, t.TempDir(), Options{Dim: dim, NoSync: true})
	defer s.Close()
	ms := randomMemories(3, 300, dim)
	for _, m := range ms {
		if err := s.Remember(ctx, "default", m); err != nil {
			t.Fatal(err)
		}
	}
	s.waitIndexed("default")
	sp := s.space("default")
	h := sp.idx
	waitConnectIdle(t, h)
	ep, _, _ := h.entry()
	ia := slices.IndexFunc(ms, func(m Memory) bool {
		r := sp.byID[m.ID]
		return r != ep && sp.m(r).level == 0
	})
	a := sp.byID[ms[ia].ID]
	var z uint32
	var iz int
	far := float32(-1)
	for i, m := range ms {
		r := sp.byID[m.ID]
		if r == a || r == ep || sp.m(r).level > 0 {
			continue
		}
		if d := h.distSlots(a, r); d > far {
			far, z, iz = d, r, i
		}
	}
	cutIsland(h, a, z)
	island := []Memory{ms[ia], ms[iz]}
	for _, m := range island {
		if foundBy(t, s, m) {
			t.Fatalf("%s still found after the cut", m.ID)
		}
	}
	if n := h.connect(ctx); n == 0 {
		t.Fatal("the pass linked nothing back")
	}
	for _, m := range island {
		if !foundBy(t, s, m) {
			t.Errorf("%s not found by its own embedding after a pass", m.ID)
		}
	}
}

// Exact duplicates among distinct memories (10 vectors stored 150 times
// each, interleaved with 1,000 memories of their own vector) must not cost
// the others their place in the graph: every distinct memory stays
// reachable from the entry point and is found by a search for its own
// vector, and a search for a duplicated vector still returns 10 twins.
func TestIndexDuplicatesAmongDistinct(t *testing.T) {
	const dim = 32
	distinct, vectors, copies := 1000, 10, 150
	if raceEnabled {
		distinct, copies = 400, 100
	}
	s := open(t, t.TempDir(), Options{Dim: dim, NoSync: true})
	defer s.Close()
	ms := clusteredMemories(t, dim, 0, distinct+vectors, "d")
	uniq, dups := ms[:distinct], ms[distinct:]
	per := distinct / copies
	for c := range copies {
		for _, m := range uniq[c*per : (c+1)*per] {
			if err := s.Remember(ctx, "default", m); err != nil {
				t.Fatal(err)
			}
		}
		for i, v := range dups {
			m := v
			m.ID = fmt.Sprintf("v%d_c%d", i, c)
			if err := s.Remember(ctx, "default", m); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, m := range uniq[copies*per:] {
		if err := s.Remember(ctx, "default", m); err != nil {
			t.Fatal(err)
		}
	}
	s.waitIndexed("default")
	sp := s.space("default")
	seen := sp.idx.reachable()
	unreached, missed := 0, 0
	for _, m := range uniq {
		if r, ok := sp.lookup(m.ID); ok && !seen[r] {
			unreached++
		}
		if !foundBy(t, s, m) {
			missed++
		}
	}
	t.Logf("%d of %d nodes reached; of the %d distinct memories %d unreached, %d not found by their own vector; %d relinked", len(seen), distinct+vectors*copies, distinct, unreached, missed, sp.idx.relinked.Load())
	if unreached > 0 || missed*200 > distinct {
		t.Errorf("%d distinct memories unreached, %d of %d not found: want 0 and at most 0.5%%", unreached, missed, distinct)
	}
	for i, v := range dups {
		res, err := s.Nearest(ctx, "default", v.Embedding, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(res) != 10 || res[9].Score < 0.9999 {
			t.Errorf("vector %d: %d results, the last with score %.4f; want 10 exact twins", i, len(res), res[len(res)-1].Score)
		}
	}
}
