package engine

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

var ctx = context.Background()

func randVec(r *rand.Rand, dim int) []float32 {
	v := make([]float32, dim)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

func open(t *testing.T, dir string, opts Options) *Store {
	t.Helper()
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRememberGetSearch(t *testing.T) {
	s := open(t, t.TempDir(), Options{Dim: 16})
	defer s.Close()
	r := rand.New(rand.NewPCG(1, 2))
	vecs := map[string][]float32{}
	for i := 0; i < 200; i++ {
		id := fmt.Sprintf("m%d", i)
		vecs[id] = randVec(r, 16)
		if err := s.Remember(ctx, "default", Memory{ID: id, Content: "content " + id, Embedding: vecs[id], Confidence: 0.8}); err != nil {
			t.Fatal(err)
		}
	}
	m, err := s.Get(ctx, "default", "m17")
	if err != nil || m.Content != "content m17" || m.Confidence != 0.8 || len(m.Embedding) != 16 {
		t.Fatalf("Get = %+v, %v", m, err)
	}
	res, err := s.Search(ctx, "default", vecs["m42"], 5)
	if err != nil || len(res) != 5 || res[0].ID != "m42" || res[0].Score < 0.999 {
		t.Fatalf("Search = %v, %v", res, err)
	}
	for i := 1; i < len(res); i++ {
		if res[i].Score > res[i-1].Score {
			t.Errorf("results not sorted: %v", res)
		}
	}
	if _, err := s.Get(ctx, "default", "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing memory: %v", err)
	}
	if s.Count("default") != 200 {
		t.Errorf("count %d", s.Count("default"))
	}
}

func TestSpacesAreIsolated(t *testing.T) {
	s := open(t, t.TempDir(), Options{Dim: 8})
	defer s.Close()
	v := []float32{1, 2, 3, 4, 5, 6, 7, 8}
	if err := s.Remember(ctx, "tenant_a", Memory{ID: "x", Content: "secret a", Embedding: v, Confidence: 1}); err != nil {
		t.Fatal(err)
	}
	if err := s.Remember(ctx, "tenant_b", Memory{ID: "y", Content: "b", Embedding: v, Confidence: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "tenant_b", "x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("tenant_b sees tenant_a's memory: %v", err)
	}
	res, _ := s.Search(ctx, "tenant_b", v, 10)
	if len(res) != 1 || res[0].ID != "y" {
		t.Errorf("tenant_b search = %v", res)
	}
	res, _ = s.Search(ctx, "tenant_c", v, 10)
	if len(res) != 0 {
		t.Errorf("empty space search = %v", res)
	}
}

func TestSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{Dim: 8})
	r := rand.New(rand.NewPCG(3, 4))
	var batch []Memory
	for i := 0; i < 50; i++ {
		batch = append(batch, Memory{ID: fmt.Sprintf("b%d", i), Content: "batch", Embedding: randVec(r, 8), Confidence: 0.5})
	}
	if err := s.RememberBatch(ctx, "space_1", batch); err != nil {
		t.Fatal(err)
	}
	if err := s.Remember(ctx, "default", Memory{ID: "one", Content: "single", Embedding: randVec(r, 8), Confidence: 0.9}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir, Options{Dim: 8})
	defer s.Close()
	if s.Count("space_1") != 50 || s.Count("default") != 1 {
		t.Fatalf("after reopen: %d and %d memories", s.Count("space_1"), s.Count("default"))
	}
	res, err := s.Search(ctx, "space_1", batch[7].Embedding, 1)
	if err != nil || len(res) != 1 || res[0].ID != "b7" {
		t.Errorf("search after reopen = %v, %v", res, err)
	}
	if s.RecoveryTime() <= 0 {
		t.Error("no recovery time")
	}
}

func TestValidation(t *testing.T) {
	s := open(t, t.TempDir(), Options{Dim: 4})
	defer s.Close()
	good := Memory{ID: "a", Content: "c", Embedding: []float32{1, 0, 0, 0}, Confidence: 0.5}
	cases := []struct {
		name  string
		space string
		mod   func(m *Memory)
		field string
	}{
		{"wrong dimension", "default", func(m *Memory) { m.Embedding = []float32{1, 2} }, "embedding"},
		{"zero vector", "default", func(m *Memory) { m.Embedding = []float32{0, 0, 0, 0} }, "embedding"},
		{"confidence above 1", "default", func(m *Memory) { m.Confidence = 1.5 }, "confidence"},
		{"empty content", "default", func(m *Memory) { m.Content = "" }, "content"},
		{"empty id", "default", func(m *Memory) { m.ID = "" }, "id"},
		{"bad space", "Bad Space!", func(m *Memory) {}, "space"},
		{"short space", "ab", func(m *Memory) {}, "space"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := good
			c.mod(&m)
			err := s.Remember(ctx, c.space, m)
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Field != c.field {
				t.Errorf("err = %v, want a ValidationError on %s", err, c.field)
			}
		})
	}
}

// A flipped byte in a stored record is an error, never data.
func TestCorruptRecordDetected(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{Dim: 4})
	if err := s.Remember(ctx, "default", Memory{ID: "a", Content: "precious", Embedding: []float32{1, 2, 3, 4}, Confidence: 0.5}); err != nil {
		t.Fatal(err)
	}
	// Corrupt the stored value in place through pebble.
	key := memoryKey(nil, "default", "a")
	v, closer, err := s.db.Get(key)
	if err != nil {
		t.Fatal(err)
	}
	bad := append([]byte(nil), v...)
	closer.Close()
	bad[len(bad)-3] ^= 0x20 // inside the content
	if err := s.db.Set(key, bad, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "default", "a"); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Get of corrupt record: %v", err)
	}
	s.Close()
	if _, err := Open(dir, Options{Dim: 4}); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Open over a corrupt record: %v", err)
	}
}

func TestRecordRoundTrip(t *testing.T) {
	m := Memory{Content: "hello", Embedding: []float32{0.5, -0.25}, Confidence: 0.75}
	b := encodeRecord(nil, &m, 42, recSemantic)
	var got Memory
	rm, err := decodeRecord(b, &got, nil, false)
	if err != nil || got.Content != "hello" || got.Embedding[1] != -0.25 || got.Confidence != 0.75 || rm.seq != 42 || got.Type != Semantic {
		t.Fatalf("round trip: %+v %+v, %v", got, rm, err)
	}
	for i := range b {
		c := append([]byte(nil), b...)
		c[i] ^= 1
		if _, err := decodeRecord(c, &got, nil, false); err == nil {
			t.Fatalf("flipping a bit at byte %d went unnoticed", i)
		}
	}
	if _, err := decodeRecord(b[:10], &got, nil, false); err == nil {
		t.Error("truncated record accepted")
	}
}

func TestFormatVersionChecked(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{Dim: 4})
	s.db.Set(formatKey, []byte{99}, nil)
	s.Close()
	_, err := Open(dir, Options{Dim: 4})
	if err == nil || !strings.Contains(err.Error(), "format version 99") {
		t.Fatalf("opening a store of an unknown format version: %v", err)
	}
}

// Every kind of stored record is verified: a flipped byte anywhere in it is
// an error wrapping ErrCorrupt, never data.
func TestSmallRecordsDetectCorruption(t *testing.T) {
	cases := []struct {
		name   string
		rec    []byte
		decode func([]byte) error
	}{
		{"access", encodeAccess(1234567, 5), func(b []byte) error { _, _, err := decodeAccess(b); return err }},
		{"edge", encodeEdge(0.75, EdgeExplicit), func(b []byte) error { _, _, err := decodeEdge(b); return err }},
		{"space", encodeSpace(time.Unix(100, 0)), func(b []byte) error { _, err := decodeSpace(b); return err }},
		{"belief", encodeBelief(&beliefState{support: 4, cohesion: 3.5, confSum: 2, created: 1, last: 2, minSize: 3, citations: []string{"e1", "e2"}}),
			func(b []byte) error { _, err := decodeBelief(b); return err }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := c.decode(c.rec); err != nil {
				t.Fatalf("intact record rejected: %v", err)
			}
			for i := range c.rec {
				for bit := 0; bit < 8; bit++ {
					bad := append([]byte(nil), c.rec...)
					bad[i] ^= 1 << bit
					if err := c.decode(bad); !errors.Is(err, ErrCorrupt) {
						t.Fatalf("byte %d bit %d flipped: %v", i, bit, err)
					}
				}
			}
		})
	}
}

// A corrupt edge record fails Open, naming the edge.
func TestCorruptEdgeFailsOpen(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{Dim: 4, NoAutoLink: true})
	mustRemember(t, s, "default", "a", []float32{1, 0, 0, 0})
	mustRemember(t, s, "default", "b", []float32{0, 1, 0, 0})
	if err := s.Associate(ctx, "default", "a", "b", 0.5); err != nil {
		t.Fatal(err)
	}
	k := edgeKey(nil, "default", "a", "b")
	v, closer, err := s.db.Get(k)
	if err != nil {
		t.Fatal(err)
	}
	bad := append([]byte(nil), v...)
	closer.Close()
	bad[5] ^= 0x01
	s.db.Set(k, bad, nil)
	s.Close()
	_, err = Open(dir, Options{Dim: 4})
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "edge default/a→b") {
		t.Fatalf("Open over a corrupt edge: %v", err)
	}
}

// BoundedMemory adds up the store's bounded caches and buffers from its
// options: two 64 MiB memtables, the block cache and a full hot tier.
func TestBoundedMemory(t *testing.T) {
	for _, c := range []struct {
		name string
		o    Options
		want int64
	}{
		{"defaults", Options{}, 2*64<<20 + 64<<20 + DefaultHotCapacity*(DefaultDim*4+hotEntryBytes)},
		{"no hot tier, small cache", Options{HotCapacity: -1, CacheSize: 8 << 20, Dim: 16}, 2*64<<20 + 8<<20},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := Open(t.TempDir(), c.o)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if got := s.BoundedMemory(); got != c.want {
				t.Errorf("BoundedMemory = %d, want %d", got, c.want)
			}
		})
	}
}

// Deleted and replaced memories keep their slots until the next Open, and
// the space's Retired count says how many: it is what memory holds beyond
// the live memories.
func TestRetiredSlotsCounted(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{Dim: 16})
	ms := randomMemories(3, 10, 16)
	for _, m := range ms {
		if err := s.Remember(ctx, "default", m); err != nil {
			t.Fatal(err)
		}
	}
	retired := func(s *Store) (int, int) {
		t.Helper()
		st, err := s.Stats()
		if err != nil {
			t.Fatal(err)
		}
		return st.Spaces[0].Retired, st.Spaces[0].Memories
	}
	if r, n := retired(s); r != 0 || n != 10 {
		t.Fatalf("after storing 10: %d retired, %d live; want 0, 10", r, n)
	}
	for _, m := range ms[:3] {
		m.Content += " again"
		if err := s.Remember(ctx, "default", m); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range ms[3:5] {
		if err := s.Delete(ctx, "default", m.ID); err != nil {
			t.Fatal(err)
		}
	}
	if r, n := retired(s); r != 5 || n != 8 {
		t.Fatalf("after replacing 3 and deleting 2: %d retired, %d live; want 5, 8", r, n)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir, Options{Dim: 16})
	defer s.Close()
	if r, n := retired(s); r != 0 || n != 8 {
		t.Fatalf("after reopening: %d retired, %d live; want 0, 8", r, n)
	}
}
