package engine

import (
	"testing"

	"github.com/engram-bench/engram-bench/workloads"
)

// Memories stay findable as their space grows by single inserts: preload
// 2 000 memories of the quickstart scenario, store three times as many one
// by one (indexed in the background), then search for the generator's cues
// of the first 2 000: the memory a cue was made from must come back in the
// top 10 at least 99.5% of the time (it is the exact nearest neighbour with
// cosine ≈ 0.999, the next ones ≈ 0.97).
func TestIndexKeepsOldMemoriesFindable(t *testing.T) {
	pre, more := 2000, 6000
	if raceEnabled {
		pre, more = 500, 1500
	}
	s := open(t, t.TempDir(), Options{NoSync: true, NoAutoLink: true})
	defer s.Close()
	gen := loadScenario(t, s, "quickstart", pre)
	var op workloads.Op
	stored := 0
	for i := uint64(0); stored < more; i++ {
		gen.Fill(i, &op)
		if op.Kind == workloads.KindStore {
			if err := s.Remember(ctx, op.Space, Memory{ID: op.Key.ID(), Content: "x", Embedding: op.Embedding, Confidence: 0.5}); err != nil {
				t.Fatal(err)
			}
			stored++
		}
	}
	s.waitIndexed("default")
	miss, n := 0, 0
	for i := uint64(0); n < 3000; i++ {
		gen.Fill(i, &op)
		if (op.Kind != workloads.KindRecall && op.Kind != workloads.KindSearch) || !op.HasTarget || uint64(op.Target) >= uint64(pre) {
			continue
		}
		n++
		res, err := s.Nearest(ctx, op.Space, op.Embedding, 10)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, m := range res {
			found = found || m.ID == op.Target.ID()
		}
		if !found {
			miss++
		}
	}
	t.Logf("%d of %d old memories not found after the space grew %d→%d", miss, n, pre, pre+more)
	if miss*200 > n {
		t.Errorf("%d of %d searches missed their memory (more than 0.5%%)", miss, n)
	}
}
