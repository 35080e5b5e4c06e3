package engine

import (
	"fmt"
	"sort"

	"github.com/cockroachdb/pebble/v2"
)

// scan calls fn for every key with prefix pfx 0, in key order.
func (s *Store) scan(pfx byte, fn func(k, v []byte) error) error {
	return s.scanRange([]byte{pfx, 0}, fn)
}

// scanRange calls fn for every key with prefix lo, in key order.
func (s *Store) scanRange(lo []byte, fn func(k, v []byte) error) error {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: prefixEnd(lo)})
	if err != nil {
		return err
	}
	for it.First(); it.Valid(); it.Next() {
		if err := fn(it.Key(), it.Value()); err != nil {
			it.Close()
			return err
		}
	}
	if err := it.Error(); err != nil {
		it.Close()
		return err
	}
	return it.Close()
}

// load rebuilds the in-memory state from pebble: spaces, memories (vectors
// and metadata, not content), access history, edges and beliefs, then the
// indexes and the consolidation queues.
func (s *Store) load() error {
	err := s.scan(pfxSpace, func(k, v []byte) error {
		parts, ok := splitKey(k, 1)
		if !ok || !ValidSpaceID(parts[0]) {
			return fmt.Errorf("%w: malformed space key %q", ErrCorrupt, k)
		}
		created, err := decodeSpace(v)
		if err != nil {
			return fmt.Errorf("space %s: %w", parts[0], err)
		}
		sp := s.spaceFor(parts[0])
		sp.created = created
		sp.persisted.Store(true)
		return nil
	})
	if err != nil {
		return err
	}

	var m Memory
	emb := make([]float32, s.dim)
	var maxSeq, v1Seq uint64
	err = s.scan(pfxMemory, func(k, v []byte) error {
		parts, ok := splitKey(k, 2)
		if !ok || !ValidSpaceID(parts[0]) {
			return fmt.Errorf("%w: malformed key %q", ErrCorrupt, k)
		}
		spaceID, id := parts[0], parts[1]
		rm, err := decodeRecord(v, &m, emb, true)
		if err != nil {
			return fmt.Errorf("memory %s/%s: %w", spaceID, id, err)
		}
		if len(m.Embedding) != s.dim {
			return fmt.Errorf("memory %s/%s: embedding has %d dimensions, store has %d", spaceID, id, len(m.Embedding), s.dim)
		}
		if rm.seq == 0 { // a version 1 record
			v1Seq++
			rm.seq = v1Seq
		}
		maxSeq = max(maxSeq, rm.seq)
		var flags uint32
		if rm.flags&recSemantic != 0 {
			flags |= flagSemantic
		}
		if rm.flags&recAutoLink != 0 {
			flags |= flagAutoLink
		}
		m.ID = id
		sp := s.spaceFor(spaceID)
		sp.persisted.Store(true)
		sp.graphMu.Lock()
		sp.put(&m, rm.seq, flags, 0, 0)
		sp.graphMu.Unlock()
		s.recovery.Memories++
		return nil
	})
	if err != nil {
		return err
	}
	s.seq.Store(max(maxSeq, v1Seq))

	err = s.scan(pfxAccess, func(k, v []byte) error {
		parts, ok := splitKey(k, 2)
		if !ok {
			return fmt.Errorf("%w: malformed access key %q", ErrCorrupt, k)
		}
		last, n, err := decodeAccess(v)
		if err != nil {
			return fmt.Errorf("access %s/%s: %w", parts[0], parts[1], err)
		}
		if sp := s.space(parts[0]); sp != nil {
			if r, ok := sp.lookup(parts[1]); ok {
				sp.m(r).lastAccess.Store(last)
				sp.m(r).recalls.Store(n)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}

	// Edges are collected per memory and each list sorted once.
	type fromKey struct {
		sp   *space
		slot uint32
	}
	pending := map[fromKey][]edge{}
	err = s.scan(pfxEdge, func(k, v []byte) error {
		parts, ok := splitKey(k, 3)
		if !ok {
			return fmt.Errorf("%w: malformed edge key %q", ErrCorrupt, k)
		}
		w, kind, err := decodeEdge(v)
		if err != nil {
			return fmt.Errorf("edge %s/%s→%s: %w", parts[0], parts[1], parts[2], err)
		}
		sp := s.space(parts[0])
		if sp == nil {
			return nil
		}
		from, ok1 := sp.lookup(parts[1])
		to, ok2 := sp.lookup(parts[2])
		if !ok1 || !ok2 || from == to {
			return nil // an edge whose memory is gone: ignored
		}
		fk := fromKey{sp, from}
		pending[fk] = append(pending[fk], edge{to: to, w: w, kind: kind})
		if kind == EdgeAuto {
			setFlags(sp.m(from), 0, flagAutoLink) // its links were derived
		}
		if kind == EdgeMember && sp.m(from).flags.Load()&flagSemantic != 0 {
			setFlags(sp.m(to), flagConsolidated, 0)
		}
		return nil
	})
	if err != nil {
		return err
	}

	for fk, es := range pending {
		sp := fk.sp
		sort.Slice(es, func(a, b int) bool { return sp.edgeBefore(es[a], es[b]) })
		sp.adj.at(fk.slot).Store(&es)
		sp.edges.Add(int64(len(es)))
	}
	pending = nil

	err = s.scan(pfxBelief, func(k, v []byte) error {
		parts, ok := splitKey(k, 2)
		if !ok {
			return fmt.Errorf("%w: malformed belief key %q", ErrCorrupt, k)
		}
		b, err := decodeBelief(v)
		if err != nil {
			return fmt.Errorf("belief %s/%s: %w", parts[0], parts[1], err)
		}
		sp := s.space(parts[0])
		if sp == nil {
			return nil
		}
		if r, ok := sp.lookup(parts[1]); ok && sp.m(r).flags.Load()&flagSemantic != 0 {
			if sp.cons.beliefs == nil {
				sp.cons.beliefs = map[string]*beliefState{}
			}
			sp.cons.beliefs[parts[1]] = b
		}
		return nil
	})
	if err != nil {
		return err
	}

	for _, id := range s.Spaces() {
		sp := s.space(id)
		n := sp.slotCount()
		var live []uint32
		for r := uint32(0); r < n; r++ {
			if sp.isLive(r) {
				live = append(live, r)
			}
		}
		sort.Slice(live, func(a, b int) bool { return sp.m(live[a]).seq < sp.m(live[b]).seq })
		for _, r := range live {
			if sp.m(r).flags.Load()&(flagSemantic|flagConsolidated) == 0 {
				sp.cons.add(r)
			}
		}
		loaded, err := s.loadIndex(sp)
		if err != nil {
			return err
		}
		var todo []uint32
		for _, r := range live {
			if sp.m(r).flags.Load()&flagIndexed == 0 {
				todo = append(todo, r)
			}
		}
		s.recovery.IndexLoaded = s.recovery.IndexLoaded || loaded
		s.recovery.Reindexed += len(todo)
		sp.idx.reindexAtOpen = len(todo)
		if len(todo) > 0 {
			sp.idx.enqueue(todo...)
		}
	}
	return nil
}
