package engine

import (
	"context"
	"fmt"
	"math"
	"sort"
	"time"
)

// CompleteRequest asks for pattern completion: a full embedding
// reconstructed from a partial one. Zero fields mean the defaults.
type CompleteRequest struct {
	// Partial has Dim values; NaN marks a missing dimension. At least one
	// dimension must be known and the known part must not be all zero.
	Partial []float32
	// K is the number of neighbours the reconstruction uses. 0 means
	// DefaultCompleteK.
	K int
	// Iterations repeats the completion with the completed vector as the
	// cue, keeping the known dimensions, until the neighbours no longer
	// change (an attractor settling, as in Engram's CA3 model). 0 means 1.
	Iterations int
}

// Completion is the result of pattern completion.
type Completion struct {
	// Embedding is the completed vector (unit length): the known dimensions
	// as given (rescaled to the neighbours' magnitude), the missing ones the
	// activation-weighted mean of the neighbours'.
	Embedding []float32
	// Confidence in [0, 1] is Match × Agreement.
	Confidence float32
	// Match is the activation-weighted mean cosine similarity of the
	// neighbours on the known dimensions.
	Match float32
	// Agreement is the activation-weighted mean cosine of the neighbours'
	// missing parts to the reconstruction: 1 when they all agree.
	Agreement float32
	// Matches are the neighbours used, best first; Score is their cosine
	// similarity on the known dimensions.
	Matches    []Match
	KnownDims  int
	Iterations int
	Duration   time.Duration
}

// Complete reconstructs the missing dimensions of a partial embedding from
// the memories of a space that best match its known dimensions. Each
// neighbour's activation is its cosine similarity on the known dimensions
// (negatives count as 0). Candidates come from the index (searched with the
// missing dimensions set to 0, which scores exactly the known part) and are
// re-ranked by the masked cosine.
func (s *Store) Complete(ctx context.Context, spaceID string, req CompleteRequest) (Completion, error) {
	defer s.slow(s.slowStart())
	if err := s.enter(); err != nil {
		return Completion{}, err
	}
	defer s.leave()
	start := time.Now()
	if err := checkSpace(spaceID); err != nil {
		return Completion{}, err
	}
	if len(req.Partial) != s.dim {
		return Completion{}, invalid("partial", fmt.Sprintf("(%d values)", len(req.Partial)), "must have exactly %d values (NaN for missing)", s.dim)
	}
	if req.K == 0 {
		req.K = DefaultCompleteK
	}
	if req.K < 1 || req.K > 1000 {
		return Completion{}, invalid("k", fmt.Sprint(req.K), "must be in [1, 1000]")
	}
	if req.Iterations == 0 {
		req.Iterations = 1
	}
	if req.Iterations < 1 || req.Iterations > 100 {
		return Completion{}, invalid("iterations", fmt.Sprint(req.Iterations), "must be in [1, 100]")
	}
	known := make([]bool, s.dim)
	q := make([]float32, s.dim)
	nk := 0
	var norm float64
	for j, x := range req.Partial {
		if math.IsNaN(float64(x)) {
			continue
		}
		if math.IsInf(float64(x), 0) {
			return Completion{}, invalid("partial", fmt.Sprint(x), "known values must be finite")
		}
		known[j], q[j] = true, x
		nk++
		norm += float64(x) * float64(x)
	}
	if nk == 0 || norm == 0 {
		return Completion{}, invalid("partial", "", "needs at least one known, non-zero dimension")
	}
	unit(q)
	out := Completion{KnownDims: nk}
	sp := s.space(spaceID)
	if sp == nil {
		return out, fmt.Errorf("space %s: %w", spaceID, ErrNotFound)
	}
	cue := append([]float32(nil), q...)
	var prev []uint32
	for it := 1; it <= req.Iterations; it++ {
		if err := ctx.Err(); err != nil {
			return Completion{}, err
		}
		out.Iterations = it
		nb := sp.completeOnce(cue, q, known, req.K, s.opts.Index.EfSearch)
		if len(nb) == 0 {
			return out, fmt.Errorf("space %s has no memories to complete from: %w", spaceID, ErrNotFound)
		}
		full, match, agree := sp.reconstruct(q, known, nb)
		out.Embedding, out.Match, out.Agreement = full, match, agree
		out.Confidence = clamp01(match * agree)
		out.Matches = out.Matches[:0]
		slots := make([]uint32, len(nb))
		for i, n := range nb {
			out.Matches = append(out.Matches, Match{ID: sp.idOf(n.slot), Score: n.sim})
			slots[i] = n.slot
		}
		if sameSlots(prev, slots) {
			break
		}
		prev = slots
		cue = full
	}
	out.Duration = time.Since(start)
	return out, nil
}

type neighbour struct {
	slot uint32
	sim  float32 // cosine on the known dimensions
	kn   float32 // norm of its known part
}

// completeOnce finds the k live memories whose known part is most similar to
// q's (q is unit length over the known dimensions), searching the index with
// cue.
func (sp *space) completeOnce(cue, q []float32, known []bool, k, ef int) []neighbour {
	// The index ranks by the dot product on the known part, which is the
	// masked cosine times the norm of a memory's known part; norms vary by a
	// few percent, so re-rank a generous candidate list.
	n := max(20*k, 128)
	cs := sp.nearest(cue, n, max(ef, n))
	nb := make([]neighbour, 0, len(cs))
	for _, c := range cs {
		v := sp.vec(c.slot)
		var d, n2 float32
		for j, x := range v {
			if known[j] {
				d += q[j] * x
				n2 += x * x
			}
		}
		if n2 == 0 {
			continue
		}
		kn := float32(math.Sqrt(float64(n2)))
		nb = append(nb, neighbour{c.slot, d / kn, kn})
	}
	sort.Slice(nb, func(a, b int) bool {
		if nb[a].sim != nb[b].sim {
			return nb[a].sim > nb[b].sim
		}
		return nb[a].slot < nb[b].slot
	})
	if len(nb) > k {
		nb = nb[:k]
	}
	return nb
}

// reconstruct builds the completed vector and its match and agreement.
func (sp *space) reconstruct(q []float32, known []bool, nb []neighbour) ([]float32, float32, float32) {
	var wsum, match, scale float64
	for _, n := range nb {
		a := float64(max(0, n.sim))
		wsum += a
		match += a * float64(n.sim)
		scale += a * float64(n.kn)
	}
	if wsum == 0 { // nothing positively similar: weigh equally
		for _, n := range nb {
			wsum++
			match += float64(n.sim)
			scale += float64(n.kn)
		}
		for i := range nb {
			nb[i].sim = max(nb[i].sim, 0)
		}
	}
	match /= wsum
	scale /= wsum
	full := make([]float32, len(q))
	for _, n := range nb {
		a := float32(max(0, n.sim))
		if a == 0 {
			a = float32(1 / float64(len(nb)))
		}
		a /= float32(wsum)
		v := sp.vec(n.slot)
		for j, x := range v {
			if !known[j] {
				full[j] += a * x
			}
		}
	}
	// Agreement: how well each neighbour's missing part points the same
	// way as the reconstruction.
	var agree float64
	var fn float64
	for j, x := range full {
		if !known[j] {
			fn += float64(x) * float64(x)
		}
	}
	fn = math.Sqrt(fn)
	if fn == 0 {
		agree = 1 // nothing missing
	} else {
		for _, n := range nb {
			v := sp.vec(n.slot)
			var d, n2 float64
			for j, x := range v {
				if !known[j] {
					d += float64(x) * float64(full[j])
					n2 += float64(x) * float64(x)
				}
			}
			a := float64(max(0, n.sim))
			if a == 0 {
				a = 1 / float64(len(nb))
			}
			if n2 > 0 {
				agree += a / wsum * d / (math.Sqrt(n2) * fn)
			}
		}
	}
	for j, x := range q {
		if known[j] {
			full[j] = x * float32(scale)
		}
	}
	unit(full)
	return full, float32(match), clamp01(float32(agree))
}

func sameSlots(a, b []uint32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
