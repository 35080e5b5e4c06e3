package engine

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"time"
)

// RecallMode selects how a recall combines similarity and spreading
// activation, as Engram names them.
type RecallMode uint8

// Recall modes.
const (
	// ModeSimilarity returns the memories most similar to the cue.
	ModeSimilarity RecallMode = iota
	// ModeSpreading seeds spreading activation with the cue's best
	// DefaultSpreadSeeds matches and returns what it activates.
	ModeSpreading
	// ModeHybrid returns the cue's matches and what spreading activation
	// from all of them reaches, ranked together.
	ModeHybrid
)

var recallModeNames = [...]string{"similarity", "spreading", "hybrid"}

// String returns the mode's name: similarity, spreading or hybrid.
func (m RecallMode) String() string {
	if int(m) < len(recallModeNames) {
		return recallModeNames[m]
	}
	return "mode(" + strconv.Itoa(int(m)) + ")"
}

// ParseRecallMode returns the mode named s ("similarity", "spreading" or
// "hybrid").
func ParseRecallMode(s string) (RecallMode, error) {
	for m, n := range recallModeNames {
		if n == s {
			return RecallMode(m), nil
		}
	}
	return 0, invalid("mode", s, "must be similarity, spreading or hybrid")
}

// RecallRequest is a recall by cue. Zero fields mean the defaults, except
// Threshold, which is used as given.
type RecallRequest struct {
	// Embedding is the cue (Dim values). Either it or Query is required;
	// with both, Embedding wins.
	Embedding []float32
	// Query is a text cue scored against content with Engram's rules (1 for
	// a case-insensitive substring, 0.8 when the content is a substring of
	// the query, else word Jaccard). It scans the space: O(memories).
	Query string
	Mode  RecallMode
	// Threshold is the minimum score of a result, in [0, 1] (Engram's
	// default is 0.5).
	Threshold float32
	// MaxResults caps vivid + associated results. 0 means DefaultMaxResults.
	MaxResults int
	// MaxHops bounds spreading activation. 0 means DefaultSpreadHops.
	MaxHops int
	// SpreadDecay is the activation factor per hop. 0 means
	// DefaultSpreadDecay.
	SpreadDecay float32
	// NoReinforce leaves last access and recall counts alone.
	NoReinforce bool
	// NoEmbeddings leaves the results' Embedding nil, for callers that do
	// not use them: each would otherwise be a copy of Dim floats (3 KB at
	// 768-d, 30 KB for ten results; engramd's recall answers carry none).
	NoEmbeddings bool
}

// Recalled is one recall result: the memory (read-time fields as of before
// this recall's reinforcement) and how it was found.
type Recalled struct {
	Memory
	// Score ranks results: the similarity of a direct match, the activation
	// of a memory reached by spreading, and in hybrid mode
	// 1 − (1 − similarity)(1 − activation) for a direct match that spreading
	// also reached.
	Score float32
	// Similarity is the cosine similarity to the cue (negatives clamped to 0;
	// the text score for a Query).
	Similarity float32
	// Activation is the spreading activation (0 when not reached).
	Activation float32
	// Hops and Path describe how spreading reached the memory (0 and nil for
	// a direct match).
	Hops int
	Path []string
}

// RecallResult splits results the way Engram does.
type RecallResult struct {
	// Vivid holds direct matches of the cue, best first.
	Vivid []Recalled
	// Associated holds memories reached only by spreading activation, best
	// first.
	Associated []Recalled
	// Searched is the number of memories in the space.
	Searched int
	// Hops is the deepest spreading path among the results.
	Hops     int
	Duration time.Duration
}

// Recall recalls memories of a space by cue, in the request's mode, and
// reinforces what it returns (last access = now, recall count + 1), which
// slows their forgetting. Reinforcement is written without waiting for a
// sync.
func (s *Store) Recall(ctx context.Context, spaceID string, req RecallRequest) (RecallResult, error) {
	defer s.slow(s.slowStart())
	if err := s.enter(); err != nil {
		return RecallResult{}, err
	}
	defer s.leave()
	start := time.Now()
	if err := checkSpace(spaceID); err != nil {
		return RecallResult{}, err
	}
	if req.Mode > ModeHybrid {
		return RecallResult{}, invalid("mode", req.Mode.String(), "must be similarity, spreading or hybrid")
	}
	if !(req.Threshold >= 0 && req.Threshold <= 1) {
		return RecallResult{}, invalid("threshold", fmt.Sprint(req.Threshold), "must be in [0, 1]")
	}
	if req.MaxResults == 0 {
		req.MaxResults = DefaultMaxResults
	}
	if req.MaxResults < 1 || req.MaxResults > 10_000 {
		return RecallResult{}, invalid("max_results", fmt.Sprint(req.MaxResults), "must be in [1, 10000]")
	}
	spreadReq := SpreadRequest{MaxHops: req.MaxHops, Decay: req.SpreadDecay, Threshold: max(req.Threshold, DefaultSpreadThreshold)}
	if err := spreadReq.fill(); err != nil {
		return RecallResult{}, err
	}
	var q []float32
	if req.Embedding != nil || req.Query == "" {
		var err error
		if q, err = s.unitQuery("embedding", req.Embedding); err != nil {
			return RecallResult{}, err
		}
	}
	sp := s.space(spaceID)
	if sp == nil {
		return RecallResult{Duration: time.Since(start)}, nil
	}
	res := RecallResult{Searched: s.Count(spaceID)}

	// Direct matches.
	want := req.MaxResults
	if req.Mode == ModeSpreading {
		want = min(want, DefaultSpreadSeeds)
	}
	var direct []cand // dist = 1 − score
	if q != nil {
		direct = sp.nearest(q, want, s.opts.Index.EfSearch)
	} else {
		var err error
		if direct, err = s.textMatches(ctx, sp, req.Query, want); err != nil {
			return RecallResult{}, err
		}
	}
	type hit struct {
		slot      uint32
		sim, act  float32
		direct    bool
		score     float32
		spreadIdx int // index in the spread's activations (associated only)
	}
	hits := map[uint32]*hit{}
	var seeds []seed
	for _, c := range direct {
		sim := max(0, 1-c.dist)
		if sim < req.Threshold || sim <= 0 && req.Threshold > 0 {
			continue
		}
		hits[c.slot] = &hit{slot: c.slot, sim: sim, direct: true, score: sim}
		seeds = append(seeds, seed{c.slot, sim})
	}

	// Spreading activation from the direct matches.
	var spread spreadOut
	associated := 0
	if req.Mode != ModeSimilarity && len(seeds) > 0 {
		var err error
		if spread, err = sp.spread(ctx, seeds, spreadReq); err != nil {
			return RecallResult{}, err
		}
		for k := range spread.activated {
			a := spread.activation(k)
			r := spread.slot(k)
			if h, ok := hits[r]; ok {
				if spread.hops(k) > 0 {
					h.act = a
					if req.Mode == ModeHybrid {
						h.score = 1 - (1-h.sim)*(1-a)
					}
				}
				continue
			}
			if a < req.Threshold || associated == req.MaxResults {
				continue // sorted: only direct matches can still change
			}
			hits[r] = &hit{slot: r, act: a, score: a, spreadIdx: k}
			associated++
		}
	}
	list := make([]*hit, 0, len(hits))
	for _, h := range hits {
		list = append(list, h)
	}
	sort.Slice(list, func(a, b int) bool {
		if list[a].score != list[b].score {
			return list[a].score > list[b].score
		}
		return sp.idOf(list[a].slot) < sp.idOf(list[b].slot)
	})
	if len(list) > req.MaxResults {
		list = list[:req.MaxResults]
	}

	now := s.opts.Clock()
	var reinforce []uint32
	for _, h := range list {
		id := sp.idOf(h.slot)
		m, err := s.read(sp, spaceID, id, true)
		if err != nil {
			if errorsIsNotFound(err) {
				continue // deleted meanwhile
			}
			return RecallResult{}, err
		}
		if req.NoEmbeddings {
			m.Embedding = nil
		} else {
			m.Embedding = append([]float32(nil), m.Embedding...)
		}
		sim := h.sim
		if q != nil && !h.direct {
			sim = max(0, dot(q, sp.vec(h.slot)))
		}
		rc := Recalled{Memory: m, Score: h.score, Similarity: sim, Activation: h.act}
		if h.direct {
			res.Vivid = append(res.Vivid, rc)
		} else {
			rc.Path = spread.path(sp, h.spreadIdx)
			rc.Hops = len(rc.Path) - 1
			res.Associated = append(res.Associated, rc)
			res.Hops = max(res.Hops, rc.Hops)
		}
		reinforce = append(reinforce, h.slot)
	}
	if !req.NoReinforce && len(reinforce) > 0 {
		s.reinforce(sp, reinforce, now)
	}
	res.Duration = time.Since(start)
	return res, nil
}

// reinforce records a recall of slots: in memory at once, and in pebble
// without waiting for a sync (losing the latest reinforcements in a crash
// loses no memory).
func (s *Store) reinforce(sp *space, slots []uint32, now time.Time) {
	b := s.db.NewBatch()
	t := now.UnixNano()
	for _, r := range slots {
		nm := sp.m(r)
		nm.lastAccess.Store(t)
		n := nm.recalls.Add(1)
		b.Set(idKey(nil, pfxAccess, sp.id, sp.idOf(r)), encodeAccess(t, n), nil)
	}
	_ = s.commit(b, false) // in memory already; a failure marks the store failed
}
