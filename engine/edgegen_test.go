package engine

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/cockroachdb/pebble/v2"
)

// checkGraphStored reports the first difference between the edges of a
// space in memory and in pebble: every in-memory edge is stored with its
// weight and kind and has its twin; every stored edge between live memories
// is in memory.
func checkGraphStored(s *Store, spaceID string) error {
	sp := s.space(spaceID)
	if sp == nil {
		return nil
	}
	for _, id := range sp.liveIDs() {
		es, err := s.Edges(ctx, spaceID, id)
		if err != nil {
			return err
		}
		for _, e := range es {
			v, closer, err := s.db.Get(edgeKey(nil, spaceID, id, e.To))
			if errors.Is(err, pebble.ErrNotFound) {
				return fmt.Errorf("edge %s→%s %v is in memory, not stored", id, e.To, e)
			}
			if err != nil {
				return err
			}
			w, kind, err := decodeEdge(bytes.Clone(v))
			closer.Close()
			if err != nil {
				return err
			}
			if w != e.Weight || kind != e.Kind {
				return fmt.Errorf("edge %s→%s is %v in memory, stored as %v %v", id, e.To, e, w, kind)
			}
			back, err := s.Edges(ctx, spaceID, e.To)
			if err != nil {
				return fmt.Errorf("%s links to missing %s", id, e.To)
			}
			twin := false
			for _, b := range back {
				twin = twin || b.To == id && b.Weight == e.Weight && b.Kind == e.Kind
			}
			if !twin {
				return fmt.Errorf("edge %s→%s %v has no twin", id, e.To, e)
			}
		}
	}
	return s.scan(pfxEdge, func(k, v []byte) error {
		parts, _ := splitKey(k, 3)
		if parts[0] != spaceID {
			return nil
		}
		_, ok1 := sp.lookup(parts[1])
		_, ok2 := sp.lookup(parts[2])
		if !ok1 || !ok2 {
			return nil // ignored at Open
		}
		w, kind, _ := decodeEdge(v)
		es, _ := s.Edges(ctx, spaceID, parts[1])
		for _, e := range es {
			if e.To == parts[2] && e.Weight == w && e.Kind == kind {
				return nil
			}
		}
		return fmt.Errorf("stored edge %s→%s (%v %v) not in memory: %v", parts[1], parts[2], w, kind, es)
	})
}

// A RememberWith(AutoLink) commits its links before it takes the graph
// lock; each case runs a conflicting graph write in that gap (deterministic,
// through the linksCommitted hook). Memory and pebble must agree afterwards,
// edges in pairs, and again after a reopen.
func TestAutoLinkRacesGraphWrites(t *testing.T) {
	const dim = 16
	base := make([]float32, dim)
	base[0] = 1
	near := func(k float32) []float32 {
		v := append([]float32(nil), base...)
		v[1] = k
		return v
	}
	cases := []struct {
		name string
		// meanwhile runs between the commit of m's links and graphMu.
		meanwhile func(s *Store) error
		// link is whether m ends linked to t.
		link bool
	}{
		{"nothing", func(s *Store) error { return nil }, true},
		{"target deleted", func(s *Store) error { return s.Delete(ctx, "sp1", "t") }, false},
		{"target deleted and remembered again", func(s *Store) error {
			if err := s.Delete(ctx, "sp1", "t"); err != nil {
				return err
			}
			return s.Remember(ctx, "sp1", Memory{ID: "t", Content: "t again", Embedding: near(0.3), Confidence: 0.5})
		}, true},
		{"target replaced", func(s *Store) error {
			return s.Remember(ctx, "sp1", Memory{ID: "t", Content: "t new", Embedding: near(0.3), Confidence: 0.5})
		}, true},
		{"pair associated", func(s *Store) error { return s.Associate(ctx, "sp1", "m", "t", 0.9) }, true},
		{"target links to the old m", func(s *Store) error {
			_, err := s.RememberWith(ctx, "sp1", Memory{ID: "t", Content: "t linked", Embedding: near(0.5), Confidence: 0.5}, RememberOptions{AutoLink: true, LinkThreshold: 0.1})
			return err
		}, true},
		{"target's other memory deleted", func(s *Store) error { return s.Delete(ctx, "sp1", "u") }, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			opts := Options{Dim: dim, NoAutoLink: true}
			s := open(t, dir, opts)
			for id, k := range map[string]float32{"t": 0.1, "m": 0.9, "u": -0.2} {
				if err := s.Remember(ctx, "sp1", Memory{ID: id, Content: id, Embedding: near(k), Confidence: 0.5}); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Associate(ctx, "sp1", "t", "u", 0.4); err != nil {
				t.Fatal(err)
			}
			var hookErr error
			s.linksCommitted = func(id string) {
				if id == "m" {
					hookErr = tc.meanwhile(s)
				}
			}
			res, err := s.RememberWith(ctx, "sp1", Memory{ID: "m", Content: "m linked", Embedding: near(0.2), Confidence: 0.5}, RememberOptions{AutoLink: true, LinkThreshold: 0.1})
			s.linksCommitted = nil
			if err != nil || hookErr != nil {
				t.Fatal(err, hookErr)
			}
			linked := func(s *Store) bool {
				es, _ := s.Edges(ctx, "sp1", "m")
				for _, e := range es {
					if e.To == "t" {
						return true
					}
				}
				return false
			}
			reported := false
			for _, l := range res.Links {
				reported = reported || l.ID == "t"
			}
			if linked(s) != tc.link || reported != tc.link {
				t.Errorf("m linked to t: %v in memory, %v reported, want %v", linked(s), reported, tc.link)
			}
			if err := checkGraphStored(s, "sp1"); err != nil {
				t.Fatal("before reopen:", err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = open(t, dir, opts)
			defer s.Close()
			if err := checkGraphStored(s, "sp1"); err != nil {
				t.Fatal("after reopen:", err)
			}
			if linked(s) != tc.link {
				t.Errorf("after reopen m linked to t: %v, want %v", linked(s), tc.link)
			}
		})
	}
}
