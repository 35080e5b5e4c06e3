package engine

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
)

// Many goroutines write, replace, delete, associate, consolidate, search,
// recall, spread and complete in one space at once (run it with -race). The
// state they leave is consistent: in memory, in the index, and after a
// reopen.
func TestConcurrentEverything(t *testing.T) {
	dir := t.TempDir()
	const dim = 16
	opts := Options{Dim: dim, NoSync: true, HotCapacity: 50, Index: IndexOptions{M: 8, EfConstruction: 32}}
	s := open(t, dir, opts)
	iters := 300
	if raceEnabled {
		iters = 120
	}
	ids := 400
	vec := func(r *rand.Rand) []float32 { return randVec(r, dim) }
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	run := func(seed uint64, fn func(r *rand.Rand, i int) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(seed, seed))
			for i := 0; i < iters; i++ {
				if err := fn(r, i); err != nil && !errors.Is(err, ErrNotFound) {
					errs <- err
					return
				}
			}
		}()
	}
	id := func(r *rand.Rand) string { return fmt.Sprintf("m%d", r.IntN(ids)) }
	for w := 0; w < 3; w++ {
		run(uint64(w), func(r *rand.Rand, i int) error {
			return s.Remember(ctx, "busy", Memory{ID: id(r), Content: "c", Embedding: vec(r), Confidence: 0.5})
		})
	}
	// Synchronous auto links race with deletes and replacements of their
	// targets: what is stored must match what is in memory (checked across
	// the reopen below).
	run(9, func(r *rand.Rand, i int) error {
		_, err := s.RememberWith(ctx, "busy", Memory{ID: id(r), Content: "linked", Embedding: vec(r), Confidence: 0.5}, RememberOptions{AutoLink: true, LinkThreshold: 0.1})
		return err
	})
	run(10, func(r *rand.Rand, i int) error {
		ms := make([]Memory, 8)
		for j := range ms {
			ms[j] = Memory{ID: id(r), Content: "batch", Embedding: vec(r), Confidence: 0.5}
		}
		return s.RememberBatch(ctx, "busy", ms)
	})
	run(11, func(r *rand.Rand, i int) error { return s.Delete(ctx, "busy", id(r)) })
	run(12, func(r *rand.Rand, i int) error {
		a, b := id(r), id(r)
		if a == b {
			return nil
		}
		return s.Associate(ctx, "busy", a, b, 0.5)
	})
	run(13, func(r *rand.Rand, i int) error {
		if i%20 != 0 {
			return nil
		}
		_, err := s.Consolidate(ctx, "busy", ConsolidateOptions{Threshold: 0.3, MinClusterSize: 2})
		return err
	})
	run(14, func(r *rand.Rand, i int) error {
		if _, err := s.Nearest(ctx, "busy", vec(r), 10); err != nil {
			return err
		}
		_, err := s.Get(ctx, "busy", id(r))
		return err
	})
	run(15, func(r *rand.Rand, i int) error {
		_, err := s.Recall(ctx, "busy", RecallRequest{Embedding: vec(r), Mode: RecallMode(i % 3), Threshold: 0.2})
		return err
	})
	run(16, func(r *rand.Rand, i int) error {
		_, err := s.Spread(ctx, "busy", SpreadRequest{Seeds: []string{id(r)}, MaxHops: 3})
		return err
	})
	run(17, func(r *rand.Rand, i int) error {
		p := vec(r)
		for j := dim / 2; j < dim; j++ {
			p[j] = nan32()
		}
		_, err := s.Complete(ctx, "busy", CompleteRequest{Partial: p})
		return err
	})
	run(18, func(r *rand.Rand, i int) error {
		_, err := s.Stats()
		return err
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	s.waitIndexed("busy")
	check := func(s *Store, when string) {
		t.Helper()
		// Every stored edge between live memories is in memory too (a
		// stored edge the in-memory graph lacks would appear at the next
		// Open).
		err := s.scan(pfxEdge, func(k, v []byte) error {
			parts, _ := splitKey(k, 3)
			if parts[0] != "busy" || s.Count("busy") == 0 {
				return nil
			}
			if _, ok := s.space("busy").lookup(parts[2]); !ok {
				return nil
			}
			es, err := s.Edges(ctx, "busy", parts[1])
			if err != nil {
				return nil // from is gone: ignored at Open
			}
			w, kind, _ := decodeEdge(v)
			for _, e := range es {
				if e.To == parts[2] && e.Weight == w && e.Kind == kind {
					return nil
				}
			}
			return fmt.Errorf("%s: stored edge %s→%s (%v %v) not in memory: %v", when, parts[1], parts[2], w, kind, es)
		})
		if err != nil {
			t.Fatal(err)
		}
		// And every edge in memory is stored, as it is, with its twin.
		if err := checkGraphStored(s, "busy"); err != nil {
			t.Fatalf("%s: %v", when, err)
		}
		live := s.space("busy").liveIDs()
		if len(live) != s.Count("busy") {
			t.Fatalf("%s: %d ids, count %d", when, len(live), s.Count("busy"))
		}
		in, _ := s.Space("busy")
		if in.Index.Nodes != len(live) || in.Index.Pending != 0 {
			t.Errorf("%s: index %+v for %d memories", when, in.Index, len(live))
		}
		for _, id := range live {
			m, err := s.Get(ctx, "busy", id)
			if err != nil {
				t.Fatalf("%s: get %s: %v", when, id, err)
			}
			res, _ := s.Search(ctx, "busy", m.Embedding, 1)
			if len(res) == 0 || res[0].Score < 0.999 {
				t.Fatalf("%s: exact search for %s's own vector = %v", when, id, res)
			}
			es, _ := s.Edges(ctx, "busy", id)
			for _, e := range es {
				back, err := s.Edges(ctx, "busy", e.To)
				if err != nil {
					t.Fatalf("%s: %s links to missing %s", when, id, e.To)
				}
				twin := false
				for _, b := range back {
					twin = twin || b.To == id && b.Weight == e.Weight && b.Kind == e.Kind
				}
				if !twin {
					t.Fatalf("%s: edge %s→%s %v has no twin", when, id, e.To, e)
				}
			}
		}
	}
	check(s, "after the run")
	n := s.Count("busy")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir, opts)
	defer s.Close()
	if s.Count("busy") != n {
		t.Fatalf("count after reopen %d, want %d", s.Count("busy"), n)
	}
	check(s, "after reopen")
	// Close while calls are in flight: they finish or report ErrClosed.
	var wg2 sync.WaitGroup
	r := rand.New(rand.NewPCG(99, 99))
	for g := 0; g < 4; g++ {
		wg2.Add(1)
		go func() {
			defer wg2.Done()
			for i := 0; i < 50; i++ {
				_, err := s.Nearest(context.Background(), "busy", randVec(rand.New(rand.NewPCG(uint64(i), 1)), dim), 5)
				if err != nil && !errors.Is(err, ErrClosed) {
					t.Error(err)
				}
			}
		}()
	}
	_ = r
	s.Close()
	wg2.Wait()
}

func nan32() float32 { var z float32; return z / z }
