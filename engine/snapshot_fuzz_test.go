package engine

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// memStream is a snapshot stream held in memory.
type memStream struct {
	*bytes.Reader
	n uint64
}

func (m memStream) size() uint64 { return m.n }
func (m memStream) done() bool   { return m.Len() == 0 }

// FuzzReadSnapshot feeds mutated index snapshot streams (behind valid
// checksums, as a bug in the writer would produce them) to the loader: it
// must load them or refuse them, never panic, and the graph it leaves must
// answer searches.
//
//	go test ./engine -run '^$' -fuzz FuzzReadSnapshot -fuzztime 60s
//
// snapshotSeed opens an in-memory store of 60 memories (8-d), snapshots
// it, deletes a few, and returns the store and the snapshot's stream.
func snapshotSeed(tb testing.TB) (*Store, []byte) {
	s, err := Open("db", Options{FS: vfs.NewMem(), Dim: 8, NoAutoLink: true, IndexSnapshotEvery: -1})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	r := rand.New(rand.NewPCG(8, 8))
	var ms []Memory
	for i := 0; i < 60; i++ {
		ms = append(ms, Memory{ID: fmt.Sprintf("m%d", i), Content: "c", Embedding: randVec(r, 8), Confidence: 1})
	}
	if err := s.RememberBatch(ctx, "default", ms); err != nil {
		tb.Fatal(err)
	}
	sp := s.space("default")
	// A valid stream as the seed: a snapshot, then a few deletes, so the
	// loader has unmapped nodes to repair around.
	if _, err := s.saveIndex(ctx, sp, false); err != nil {
		tb.Fatal(err)
	}
	for i := 0; i < 60; i += 9 {
		if err := s.Delete(ctx, "default", ms[i].ID); err != nil {
			tb.Fatal(err)
		}
	}
	s.waitIndexed("default")
	v, closer, err := s.db.Get(manifestKey("default"))
	if err != nil {
		tb.Fatal(err)
	}
	man, err := parseManifest(v)
	closer.Close()
	if err != nil {
		tb.Fatal(err)
	}
	pr := man.reader(s, "default")
	seed := make([]byte, pr.total)
	if _, err := pr.Read(seed); err != nil {
		tb.Fatal(err)
	}
	return s, seed
}

func FuzzReadSnapshot(f *testing.F) {
	s, seed := snapshotSeed(f)
	sp := s.space("default")
	r := rand.New(rand.NewPCG(9, 9))
	f.Add(seed)
	f.Add(seed[:len(seed)/2])
	f.Add(seed[:15])
	q := randVec(r, 8)
	f.Fuzz(func(t *testing.T, stream []byte) {
		s.resetIndex(sp)
		if err := s.readSnapshot(sp, memStream{bytes.NewReader(stream), uint64(len(stream))}); err != nil {
			s.resetIndex(sp)
			return
		}
		if _, err := s.Nearest(ctx, "default", q, 5); err != nil {
			t.Fatal(err)
		}
	})
}

// A link at layer l to a node without layer l (a writer bug: the live
// graph never makes one) is refused: following it would index past the
// node's lists.
func TestReadSnapshotRefusesLinkBelowItsLayer(t *testing.T) {
	s, stream := snapshotSeed(t)
	sp := s.space("default")
	count := int(binary.LittleEndian.Uint32(stream[7:]))
	levels := make([]int, count)
	off := 15
	for i := range levels {
		n, k := binary.Uvarint(stream[off:])
		off += k + int(n) + 8
		levels[i] = int(stream[off])
		off++
	}
	low := -1
	for i, l := range levels {
		if l == 0 {
			low = i
			break
		}
	}
	patched := false
	for i := 0; i < count && !patched; i++ {
		for l := 0; l <= levels[i]; l++ {
			c := int(stream[off])
			if l >= 1 && c > 0 && !patched {
				binary.LittleEndian.PutUint32(stream[off+1:], uint32(low))
				patched = true
			}
			off += 1 + 8*c
		}
	}
	if !patched || low < 0 {
		t.Skip("the seed graph has no upper-layer link to patch")
	}
	s.resetIndex(sp)
	err := s.readSnapshot(sp, memStream{bytes.NewReader(stream), uint64(len(stream))})
	if !errors.Is(err, errSnapshot) || !strings.Contains(err.Error(), "at layer") {
		t.Fatalf("a link below its layer: %v", err)
	}
}
