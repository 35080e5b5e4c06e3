package engine

import (
	"context"
	"fmt"
	"sort"

	"github.com/cockroachdb/pebble/v2"
)

// Tier names where a memory is held. Every memory is in the warm tier
// (pebble); the hot tier caches decoded memories in RAM.
type Tier uint8

// Tiers.
const (
	TierAll  Tier = iota // every memory (the warm tier holds them all)
	TierHot              // memories currently in the hot tier
	TierWarm             // memories in pebble
)

// String returns the tier's name: all, hot or warm.
func (t Tier) String() string {
	switch t {
	case TierAll:
		return "all"
	case TierHot:
		return "hot"
	case TierWarm:
		return "warm"
	}
	return fmt.Sprintf("tier(%d)", uint8(t))
}

// ListRequest pages through the memories of a space in id order.
type ListRequest struct {
	Tier Tier
	// After lists ids strictly after this one (a cursor: O(limit)).
	After string
	// Offset skips this many memories first (O(offset)).
	Offset int
	// Limit is the page size: 0 means 100, at most 1000.
	Limit int
	// IncludeEmbeddings fills Memory.Embedding.
	IncludeEmbeddings bool
}

// ListResult is one page of memories.
type ListResult struct {
	Memories []Memory
	// Total is the number of memories in the tier.
	Total int
	// Hot and Warm count the space's memories per tier (Warm = all).
	Hot, Warm int
}

// List pages through the memories of a space in id order, reading and
// verifying each record (the warm tier scan; TierHot lists only memories the
// hot tier holds, without touching pebble).
func (s *Store) List(ctx context.Context, spaceID string, req ListRequest) (ListResult, error) {
	defer s.slow(s.slowStart())
	if err := s.enter(); err != nil {
		return ListResult{}, err
	}
	defer s.leave()
	if err := checkSpace(spaceID); err != nil {
		return ListResult{}, err
	}
	if req.Tier > TierWarm {
		return ListResult{}, invalid("tier", req.Tier.String(), "must be all, hot or warm")
	}
	if req.Limit == 0 {
		req.Limit = 100
	}
	if req.Limit < 1 || req.Limit > 1000 {
		return ListResult{}, invalid("limit", fmt.Sprint(req.Limit), "must be in [1, 1000]")
	}
	if req.Offset < 0 {
		return ListResult{}, invalid("offset", fmt.Sprint(req.Offset), "must be >= 0")
	}
	sp := s.space(spaceID)
	if sp == nil {
		return ListResult{}, nil
	}
	hotIDs := s.hot.idsOf(spaceID)
	res := ListResult{Warm: s.Count(spaceID), Hot: len(hotIDs)}
	now := s.opts.Clock()
	if req.Tier == TierHot {
		sort.Strings(hotIDs)
		res.Total = len(hotIDs)
		i := sort.SearchStrings(hotIDs, req.After)
		if req.After != "" && i < len(hotIDs) && hotIDs[i] == req.After {
			i++
		}
		for i += req.Offset; i < len(hotIDs) && len(res.Memories) < req.Limit; i++ {
			m, err := s.read(sp, spaceID, hotIDs[i], true)
			if errorsIsNotFound(err) {
				continue
			}
			if err != nil {
				return ListResult{}, err
			}
			res.Memories = append(res.Memories, s.listed(m, req.IncludeEmbeddings))
		}
		return res, nil
	}
	res.Total = res.Warm
	prefix := spaceKey(nil, pfxMemory, spaceID)
	lo := prefix
	if req.After != "" {
		lo = append(append([]byte(nil), prefix...), req.After...)
		lo = append(lo, 0) // the smallest key after After
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return ListResult{}, err
	}
	defer it.Close()
	skip := req.Offset
	var emb []float32
	for it.First(); it.Valid() && len(res.Memories) < req.Limit; it.Next() {
		if skip > 0 {
			skip--
			continue
		}
		if err := ctx.Err(); err != nil {
			return ListResult{}, err
		}
		id := string(it.Key()[len(prefix):])
		m := Memory{ID: id}
		if !req.IncludeEmbeddings {
			if emb == nil {
				emb = make([]float32, s.dim)
			}
			if _, err := decodeRecord(it.Value(), &m, emb, false); err != nil {
				return ListResult{}, fmt.Errorf("memory %s/%s: %w", spaceID, id, err)
			}
			m.Embedding = nil
		} else if _, err := decodeRecord(it.Value(), &m, nil, false); err != nil {
			return ListResult{}, fmt.Errorf("memory %s/%s: %w", spaceID, id, err)
		}
		if r, ok := sp.lookup(id); ok {
			sp.fillMeta(&m, r, now)
		} else {
			m.LastAccess = m.CreatedAt
			m.DecayedConfidence = m.Confidence * s.retention(m.Type, 0, now.Sub(m.CreatedAt))
		}
		res.Memories = append(res.Memories, m)
	}
	return res, it.Error()
}

func (s *Store) listed(m Memory, emb bool) Memory {
	if emb {
		m.Embedding = append([]float32(nil), m.Embedding...)
	} else {
		m.Embedding = nil
	}
	return m
}
