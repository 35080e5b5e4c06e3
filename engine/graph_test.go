package engine

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// basis returns a unit vector along axis i (distinct memories that auto-link
// to nothing: all similarities are 0).
func basis(dim, i int) []float32 {
	v := make([]float32, dim)
	v[i%dim] = 1
	return v
}

func mustRemember(t *testing.T, s *Store, space, id string, v []float32) {
	t.Helper()
	if err := s.Remember(ctx, space, Memory{ID: id, Content: "content of " + id, Embedding: v, Confidence: 0.9}); err != nil {
		t.Fatal(err)
	}
}

func near(a, b float32) bool { return math.Abs(float64(a-b)) < 1e-5 }

// Spreading activation on a hand-built graph gives hand-computed activations.
//
//	A —0.9— B —0.5— D
//	A —0.4— C —1.0— D —0.8— E
//
// With decay 0.5 per hop from A (activation 1):
//
//	B = 1·0.9·0.5 = 0.45            (A→B)
//	C = 1·0.4·0.5 = 0.2             (A→C)
//	D = max(0.45·0.5·0.5, 0.2·1·0.5) = max(0.1125, 0.1) = 0.1125 via B
//	E = 0.1125·0.8·0.5 = 0.045      (3 hops: A→B→D→E)
func TestSpreadHandComputed(t *testing.T) {
	s := open(t, t.TempDir(), Options{Dim: 8, NoAutoLink: true})
	defer s.Close()
	for i, id := range []string{"A", "B", "C", "D", "E", "F"} {
		mustRemember(t, s, "graph", id, basis(8, i))
	}
	for _, e := range []struct {
		a, b string
		w    float32
	}{{"A", "B", 0.9}, {"B", "D", 0.5}, {"A", "C", 0.4}, {"C", "D", 1.0}, {"D", "E", 0.8}} {
		if err := s.Associate(ctx, "graph", e.a, e.b, e.w); err != nil {
			t.Fatal(err)
		}
	}
	want := []struct {
		id   string
		act  float32
		path string
	}{
		{"A", 1, "[A]"},
		{"B", 0.45, "[A B]"},
		{"C", 0.2, "[A C]"},
		{"D", 0.1125, "[A B D]"},
		{"E", 0.045, "[A B D E]"},
	}
	cases := []struct {
		name string
		req  SpreadRequest
		n    int
	}{
		{"three hops reach E", SpreadRequest{Seeds: []string{"A"}, MaxHops: 3, Decay: 0.5, Threshold: 0.001}, 5},
		{"two hops stop at D", SpreadRequest{Seeds: []string{"A"}, MaxHops: 2, Decay: 0.5, Threshold: 0.001}, 4},
		{"threshold 0.1 prunes E", SpreadRequest{Seeds: []string{"A"}, MaxHops: 5, Decay: 0.5, Threshold: 0.1}, 4},
		{"threshold 0.15 prunes D and E", SpreadRequest{Seeds: []string{"A"}, MaxHops: 5, Decay: 0.5, Threshold: 0.15}, 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for rep := 0; rep < 3; rep++ { // deterministic
				res, err := s.Spread(ctx, "graph", c.req)
				if err != nil {
					t.Fatal(err)
				}
				if len(res.Activated) != c.n {
					t.Fatalf("activated %v, want %d memories", res.Activated, c.n)
				}
				for i, a := range res.Activated {
					w := want[i]
					if a.ID != w.id || !near(a.Activation, w.act) || fmt.Sprint(a.Path) != w.path || a.Hops != len(a.Path)-1 {
						t.Errorf("result %d = %+v, want %s %.4f %s", i, a, w.id, w.act, w.path)
					}
				}
			}
		})
	}
	t.Run("max visited truncates", func(t *testing.T) {
		res, err := s.Spread(ctx, "graph", SpreadRequest{Seeds: []string{"A"}, MaxHops: 3, Decay: 0.5, Threshold: 0.001, MaxVisited: 3})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Activated) != 3 || !res.Truncated || res.Activated[1].ID != "B" || res.Activated[2].ID != "C" {
			t.Errorf("truncated spread = %+v", res)
		}
	})
	t.Run("missing seed", func(t *testing.T) {
		if _, err := s.Spread(ctx, "graph", SpreadRequest{Seeds: []string{"nope"}}); !errors.Is(err, ErrNotFound) {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("delete removes both directions", func(t *testing.T) {
		if err := s.Delete(ctx, "graph", "B"); err != nil {
			t.Fatal(err)
		}
		res, err := s.Spread(ctx, "graph", SpreadRequest{Seeds: []string{"A"}, MaxHops: 3, Decay: 0.5, Threshold: 0.001})
		if err != nil {
			t.Fatal(err)
		}
		// Now D is reached only through C: 0.2·1·0.5 = 0.1; E = 0.1·0.8·0.5 = 0.04.
		got := map[string]float32{}
		for _, a := range res.Activated {
			got[a.ID] = a.Activation
		}
		if _, ok := got["B"]; ok || !near(got["D"], 0.1) || !near(got["E"], 0.04) {
			t.Errorf("after deleting B: %v", got)
		}
		es, _ := s.Edges(ctx, "graph", "D")
		for _, e := range es {
			if e.To == "B" {
				t.Errorf("D still links to deleted B: %v", es)
			}
		}
	})
}

// Edges survive a reopen, with their weights and kinds.
func TestGraphPersists(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{Dim: 8, NoAutoLink: true})
	for i, id := range []string{"a1", "b1", "c1"} {
		mustRemember(t, s, "graph", id, basis(8, i))
	}
	if err := s.Associate(ctx, "graph", "a1", "b1", 0.75); err != nil {
		t.Fatal(err)
	}
	if err := s.Associate(ctx, "graph", "b1", "c1", 0.5); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = open(t, dir, Options{Dim: 8, NoAutoLink: true})
	defer s.Close()
	es, err := s.Edges(ctx, "graph", "b1")
	if err != nil || len(es) != 2 || es[0] != (Edge{To: "a1", Weight: 0.75, Kind: EdgeExplicit}) || es[1] != (Edge{To: "c1", Weight: 0.5, Kind: EdgeExplicit}) {
		t.Fatalf("edges after reopen = %v, %v", es, err)
	}
}

// auto_link links a new memory to its most similar memories above the
// threshold, with weight = similarity, and RememberWith reports the links.
func TestAutoLink(t *testing.T) {
	s := open(t, t.TempDir(), Options{Dim: 4})
	defer s.Close()
	mustRemember(t, s, "links", "x", []float32{1, 0, 0, 0})
	mustRemember(t, s, "links", "y", []float32{0, 1, 0, 0})
	mustRemember(t, s, "links", "far", []float32{0, 0, 1, 0})
	res, err := s.RememberWith(ctx, "links", Memory{ID: "xy", Content: "between", Embedding: []float32{1, 1, 0, 0.1}, Confidence: 1}, RememberOptions{AutoLink: true, LinkThreshold: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Links) != 2 || res.Links[0].ID != "x" && res.Links[0].ID != "y" {
		t.Fatalf("links = %+v", res.Links)
	}
	es, _ := s.Edges(ctx, "links", "xy")
	if len(es) != 2 || !near(es[0].Weight, res.Links[0].Score) || es[0].Kind != EdgeAuto {
		t.Errorf("edges = %+v", es)
	}
	// Remember's background auto-link (indexer) links "x2" to "x".
	mustRemember(t, s, "links", "x2", []float32{0.99, 0.05, 0, 0})
	s.waitIndexed("links")
	es, _ = s.Edges(ctx, "links", "x2")
	found := false
	for _, e := range es {
		found = found || e.To == "x"
		if e.To == "far" {
			t.Errorf("linked below threshold: %v", es)
		}
	}
	if !found {
		t.Errorf("x2 not auto-linked to x: %v", es)
	}
}

// Nothing stored in one space is ever visible from another, through any call.
func TestSpaceIsolationEveryCall(t *testing.T) {
	s := open(t, t.TempDir(), Options{Dim: 8})
	defer s.Close()
	r := rand.New(rand.NewPCG(7, 8))
	for i := 0; i < 30; i++ {
		v := randVec(r, 8)
		mustRemember(t, s, "tenant_a", fmt.Sprintf("a%d", i), v)
		// tenant_b holds near copies of tenant_a's vectors under other ids.
		mustRemember(t, s, "tenant_b", fmt.Sprintf("b%d", i), v)
	}
	if err := s.Associate(ctx, "tenant_a", "a1", "a2", 1); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Consolidate(ctx, "tenant_a", ConsolidateOptions{Threshold: 0.1, MinClusterSize: 2}); err != nil {
		t.Fatal(err)
	}
	s.waitIndexed("tenant_a")
	s.waitIndexed("tenant_b")
	onlyB := func(what string, ids []string) {
		for _, id := range ids {
			if id[0] != 'b' {
				t.Errorf("%s from tenant_b returned %q", what, id)
			}
		}
	}
	q := randVec(r, 8)
	ms, _ := s.Nearest(ctx, "tenant_b", q, 100)
	ex, _ := s.Search(ctx, "tenant_b", q, 100)
	var ids []string
	for _, m := range append(ms, ex...) {
		ids = append(ids, m.ID)
	}
	onlyB("search", ids)
	for _, mode := range []RecallMode{ModeSimilarity, ModeSpreading, ModeHybrid} {
		rr, err := s.Recall(ctx, "tenant_b", RecallRequest{Embedding: q, Mode: mode, MaxResults: 100})
		if err != nil {
			t.Fatal(err)
		}
		ids = ids[:0]
		for _, m := range append(rr.Vivid, rr.Associated...) {
			ids = append(ids, m.ID)
			ids = append(ids, m.Path...)
		}
		onlyB("recall "+mode.String(), ids)
	}
	if _, err := s.Get(ctx, "tenant_b", "a1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get a1 from tenant_b: %v", err)
	}
	if _, err := s.Edges(ctx, "tenant_b", "a1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Edges a1 from tenant_b: %v", err)
	}
	if _, err := s.Spread(ctx, "tenant_b", SpreadRequest{Seeds: []string{"a1"}}); !errors.Is(err, ErrNotFound) {
		t.Errorf("Spread a1 from tenant_b: %v", err)
	}
	if err := s.Delete(ctx, "tenant_b", "a1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Delete a1 from tenant_b: %v", err)
	}
	if err := s.Associate(ctx, "tenant_b", "a1", "b1", 1); !errors.Is(err, ErrNotFound) {
		t.Errorf("Associate across spaces: %v", err)
	}
	bs, _ := s.Beliefs(ctx, "tenant_b", 0)
	if len(bs) != 0 {
		t.Errorf("tenant_b sees beliefs %v", bs)
	}
	ba, _ := s.Beliefs(ctx, "tenant_a", 0)
	if len(ba) == 0 {
		t.Fatal("tenant_a formed no belief")
	}
	if _, err := s.Belief(ctx, "tenant_b", ba[0].ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("Belief of tenant_a from tenant_b: %v", err)
	}
	partial := append([]float32(nil), q...)
	for j := 4; j < 8; j++ {
		partial[j] = float32(math.NaN())
	}
	c, err := s.Complete(ctx, "tenant_b", CompleteRequest{Partial: partial, K: 50})
	if err != nil {
		t.Fatal(err)
	}
	ids = ids[:0]
	for _, m := range c.Matches {
		ids = append(ids, m.ID)
	}
	onlyB("complete", ids)
	lr, _ := s.List(ctx, "tenant_b", ListRequest{Limit: 1000})
	ids = ids[:0]
	for _, m := range lr.Memories {
		ids = append(ids, m.ID)
	}
	onlyB("list", ids)
	if lr.Total != 30 {
		t.Errorf("tenant_b lists %d memories", lr.Total)
	}
	tm, _ := s.SearchText(ctx, "tenant_b", "content of a1", 100)
	for _, m := range tm {
		if m.ID[0] != 'b' {
			t.Errorf("text search from tenant_b returned %q", m.ID)
		}
	}
	if in, _ := s.Space("tenant_b"); in.Beliefs != 0 || in.Edges != 0 && in.Memories != 30 {
		t.Errorf("tenant_b info %+v", in)
	}
}

func TestDeleteForgetsEverywhere(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{Dim: 8})
	r := rand.New(rand.NewPCG(9, 9))
	v := randVec(r, 8)
	mustRemember(t, s, "default", "gone", v)
	mustRemember(t, s, "default", "kept", randVec(r, 8))
	if _, err := s.Get(ctx, "default", "gone"); err != nil { // into the hot tier
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "default", "gone"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "default", "gone"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}
	check := func(s *Store) {
		t.Helper()
		if _, err := s.Get(ctx, "default", "gone"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get after delete: %v", err)
		}
		for _, exact := range []bool{true, false} {
			res, _ := s.search(ctx, "default", v, 10, exact)
			for _, m := range res {
				if m.ID == "gone" {
					t.Errorf("search (exact=%v) finds a deleted memory", exact)
				}
			}
		}
		if s.Count("default") != 1 {
			t.Errorf("count %d", s.Count("default"))
		}
	}
	check(s)
	s.Close()
	s = open(t, dir, Options{Dim: 8})
	defer s.Close()
	check(s)
}

// Consolidation on planted clusters finds them: every cluster becomes one
// semantic memory supported by exactly its episodes, and noise episodes
// form nothing.
func TestConsolidationFindsPlantedClusters(t *testing.T) {
	const dim, clusters, per, noise = 64, 4, 12, 10
	s := open(t, t.TempDir(), Options{Dim: dim, NoAutoLink: true})
	defer s.Close()
	r := rand.New(rand.NewPCG(11, 12))
	centres := make([][]float32, clusters)
	for c := range centres {
		centres[c] = randVec(r, dim)
		unit(centres[c])
	}
	owner := map[string]int{}
	var batch []Memory
	for i := 0; i < clusters*per; i++ {
		c := i % clusters // interleaved, as episodes arrive
		v := make([]float32, dim)
		for j := range v {
			v[j] = centres[c][j] + 0.03*float32(r.NormFloat64())
		}
		id := fmt.Sprintf("ep%02d", i)
		owner[id] = c
		batch = append(batch, Memory{ID: id, Content: fmt.Sprintf("episode %d of cluster %d", i, c), Embedding: v, Confidence: 0.6})
	}
	for i := 0; i < noise; i++ {
		batch = append(batch, Memory{ID: fmt.Sprintf("noise%d", i), Content: "noise", Embedding: randVec(r, dim), Confidence: 0.6})
	}
	if err := s.RememberBatch(ctx, "sleep", batch); err != nil {
		t.Fatal(err)
	}
	st, err := s.Consolidate(ctx, "sleep", ConsolidateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if st.ClustersFormed != clusters || st.EpisodesScanned != clusters*per+noise || st.EpisodesConsolidated != clusters*per {
		t.Fatalf("stats = %+v", st)
	}
	bs, err := s.Beliefs(ctx, "sleep", 0)
	if err != nil || len(bs) != clusters {
		t.Fatalf("beliefs = %d, %v", len(bs), err)
	}
	seen := map[int]bool{}
	for _, b := range bs {
		if b.Support != per || len(b.Citations) != per {
			t.Errorf("belief %s support %d citations %d, want %d", b.ID, b.Support, len(b.Citations), per)
		}
		c := owner[b.Citations[0]]
		for _, id := range b.Citations {
			if owner[id] != c || id[:2] != "ep" {
				t.Errorf("belief %s mixes %s (cluster %d) into cluster %d", b.ID, id, owner[id], c)
			}
		}
		seen[c] = true
		if sim := dot(b.Embedding, centres[c]); sim < 0.99 {
			t.Errorf("belief centroid cosine to its planted centre = %.3f", sim)
		}
		m, err := s.Get(ctx, "sleep", b.ID)
		if err != nil || m.Type != Semantic {
			t.Errorf("semantic memory %s: %+v, %v", b.ID, m.Type, err)
		}
		es, _ := s.Edges(ctx, "sleep", b.ID)
		if len(es) != per || es[0].Kind != EdgeMember {
			t.Errorf("belief %s has %d member edges", b.ID, len(es))
		}
	}
	if len(seen) != clusters {
		t.Errorf("clusters found: %v", seen)
	}
	// A second run has nothing new: the noise stays unconsolidated.
	st, _ = s.Consolidate(ctx, "sleep", ConsolidateOptions{})
	if st.ClustersFormed != 0 || st.EpisodesConsolidated != 0 {
		t.Errorf("second run %+v", st)
	}
	// New episodes of cluster 0 reinforce its belief instead of forming one.
	var more []Memory
	for i := 0; i < 3; i++ {
		v := make([]float32, dim)
		for j := range v {
			v[j] = centres[0][j] + 0.03*float32(r.NormFloat64())
		}
		more = append(more, Memory{ID: fmt.Sprintf("late%d", i), Content: "late", Embedding: v, Confidence: 0.6})
	}
	if err := s.RememberBatch(ctx, "sleep", more); err != nil {
		t.Fatal(err)
	}
	st, _ = s.Consolidate(ctx, "sleep", ConsolidateOptions{})
	if st.ClustersFormed != 0 || st.BeliefsUpdated != 1 || st.EpisodesConsolidated != 3 {
		t.Errorf("reinforcing run %+v", st)
	}
	if tot := s.ConsolidationTotals("sleep"); tot.Runs != 3 || tot.ClustersFormed != clusters {
		t.Errorf("totals %+v", tot)
	}
}

// sortEntries orders exactly as the comparison it replaced: activation,
// strongest first, then memory id, with many ties and negative values.
func TestSortEntriesOrder(t *testing.T) {
	s := open(t, t.TempDir(), Options{Dim: 4})
	defer s.Close()
	var ms []Memory
	for i := range 300 {
		ms = append(ms, Memory{ID: fmt.Sprintf("m%03d", (i*7919)%300), Content: "x", Embedding: []float32{1, 0, 0, 0}})
	}
	if err := s.RememberBatch(ctx, "default", ms); err != nil {
		t.Fatal(err)
	}
	sp := s.space("default")
	r := rand.New(rand.NewPCG(5, 6))
	levels := []float32{-0.5, -1e-6, 0, 1e-6, 0.25, 0.5, 0.5000001, 1}
	for round := range 50 {
		tab := newActTable(len(ms))
		var is []uint32
		for i := range ms {
			if r.IntN(3) == 0 {
				continue
			}
			slot, ok := sp.lookup(ms[i].ID)
			if !ok {
				t.Fatal("not stored")
			}
			e, _ := tab.find(slot)
			tab.keys[e] = slot + 1
			if round%2 == 0 {
				tab.act[e] = levels[r.IntN(len(levels))]
			} else {
				tab.act[e] = r.Float32()*2 - 1
			}
			is = append(is, e)
		}
		want := slices.Clone(is)
		slices.SortFunc(want, func(a, b uint32) int {
			if x, y := tab.act[a], tab.act[b]; x != y {
				if x > y {
					return -1
				}
				return 1
			}
			return strings.Compare(sp.idOf(tab.keys[a]-1), sp.idOf(tab.keys[b]-1))
		})
		sp.sortEntries(tab, is)
		if !slices.Equal(is, want) {
			t.Fatalf("round %d: sortEntries gave %v, want %v", round, is, want)
		}
	}
}
