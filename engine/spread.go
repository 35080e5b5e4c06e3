package engine

import (
	"context"
	"fmt"
	"runtime"
	"sort"
	"time"
)

// SpreadRequest asks for spreading activation from seed memories. Zero
// fields mean the defaults.
type SpreadRequest struct {
	// Seeds are the memory ids activation starts from, each at activation 1.
	Seeds []string
	// MaxHops bounds the path length from a seed. 0 means DefaultSpreadHops.
	MaxHops int
	// Decay is the factor applied per hop, in (0, 1]. 0 means
	// DefaultSpreadDecay.
	Decay float32
	// Threshold prunes activations below it. 0 means DefaultSpreadThreshold.
	Threshold float32
	// MaxVisited caps the memories activated (seeds included); once reached,
	// no new memory is activated and the result is marked Truncated. 0 means
	// DefaultSpreadMaxVisited.
	MaxVisited int
	// MaxResults caps the memories returned, most activated first. 0 returns
	// all activated memories.
	MaxResults int
}

func (r *SpreadRequest) fill() error {
	if r.MaxHops == 0 {
		r.MaxHops = DefaultSpreadHops
	}
	if r.MaxHops < 1 || r.MaxHops > 64 {
		return invalid("max_hops", fmt.Sprint(r.MaxHops), "must be in [1, 64]")
	}
	if r.Decay == 0 {
		r.Decay = DefaultSpreadDecay
	}
	if !(r.Decay > 0 && r.Decay <= 1) {
		return invalid("decay", fmt.Sprint(r.Decay), "must be in (0, 1]")
	}
	if r.Threshold == 0 {
		r.Threshold = DefaultSpreadThreshold
	}
	if !(r.Threshold > 0 && r.Threshold <= 1) {
		return invalid("threshold", fmt.Sprint(r.Threshold), "must be in (0, 1]")
	}
	if r.MaxVisited == 0 {
		r.MaxVisited = DefaultSpreadMaxVisited
	}
	if r.MaxVisited < 1 || r.MaxVisited > 1_000_000 {
		return invalid("max_visited", fmt.Sprint(r.MaxVisited), "must be in [1, 1000000]")
	}
	if r.MaxResults < 0 {
		return invalid("max_results", fmt.Sprint(r.MaxResults), "must be >= 0")
	}
	return nil
}

// Activated is one memory reached by spreading activation.
type Activated struct {
	ID         string
	Activation float32
	// Hops is the length of Path: 0 for a seed.
	Hops int
	// Path lists the memory ids from the seed to this memory, both included.
	Path []string
}

// SpreadResult is the outcome of spreading activation.
type SpreadResult struct {
	// Activated holds the activated memories (seeds included), most
	// activated first, ties by id.
	Activated []Activated
	// Visited is the number of memories activated before MaxResults.
	Visited int
	// Truncated is set when MaxVisited stopped the spread.
	Truncated bool
	Duration  time.Duration
}

// Spread runs spreading activation over the memory graph of a space:
//
//	activation(child) = activation(parent) × weight(parent→child) × Decay
//
// level by level up to MaxHops, keeping for every memory its strongest
// activation over all paths (and that path), pruning activations below
// Threshold and activating at most MaxVisited memories. Neighbours are
// visited strongest edge first (ties by id), so the result is a function of
// the graph alone. A missing seed is ErrNotFound.
func (s *Store) Spread(ctx context.Context, spaceID string, req SpreadRequest) (SpreadResult, error) {
	defer s.slow(time.Now())
	if err := s.enter(); err != nil {
		return SpreadResult{}, err
	}
	defer s.leave()
	if err := checkSpace(spaceID); err != nil {
		return SpreadResult{}, err
	}
	if len(req.Seeds) == 0 {
		return SpreadResult{}, invalid("seeds", "", "at least one seed is required")
	}
	if err := req.fill(); err != nil {
		return SpreadResult{}, err
	}
	start := time.Now()
	sp := s.space(spaceID)
	if sp == nil {
		return SpreadResult{}, fmt.Errorf("memory %s/%s: %w", spaceID, req.Seeds[0], ErrNotFound)
	}
	seeds := make([]seed, 0, len(req.Seeds))
	for _, id := range req.Seeds {
		r, ok := sp.lookup(id)
		if !ok {
			return SpreadResult{}, fmt.Errorf("memory %s/%s: %w", spaceID, id, ErrNotFound)
		}
		seeds = append(seeds, seed{r, 1})
	}
	res, err := sp.spread(ctx, seeds, req)
	if err != nil {
		return SpreadResult{}, err
	}
	res.Duration = time.Since(start)
	return res, nil
}

type seed struct {
	slot uint32
	act  float32
}

type activation struct {
	act  float32
	path []uint32 // seed first
}

// spread is the spreading activation over slots; req is filled.
func (sp *space) spread(ctx context.Context, seeds []seed, req SpreadRequest) (SpreadResult, error) {
	acts := make(map[uint32]*activation, 64)
	var frontier []uint32
	for _, sd := range seeds {
		if a, ok := acts[sd.slot]; ok {
			a.act = max(a.act, sd.act)
			continue
		}
		if len(acts) >= req.MaxVisited {
			break
		}
		acts[sd.slot] = &activation{act: sd.act, path: []uint32{sd.slot}}
		frontier = append(frontier, sd.slot)
	}
	truncated := false
	sp.sortByActivation(frontier, acts)
	type update struct {
		act    float32
		parent uint32
	}
	var es []edge
	work := 0
	for hop := 1; hop <= req.MaxHops && len(frontier) > 0; hop++ {
		if err := ctx.Err(); err != nil {
			return SpreadResult{}, err
		}
		updates := map[uint32]update{}
		var order []uint32
		fresh := 0 // updates of memories not yet activated
		for _, u := range frontier {
			au := acts[u].act
			es = sp.sortedEdges(u, es)
			for _, e := range es {
				a := au * e.w * req.Decay
				if a < req.Threshold {
					break // edges are sorted strongest first
				}
				if cur, ok := acts[e.to]; ok && a <= cur.act {
					continue
				}
				if up, ok := updates[e.to]; ok {
					if a > up.act {
						updates[e.to] = update{a, u}
					}
					continue
				}
				_, seen := acts[e.to]
				if !seen && len(acts)+fresh >= req.MaxVisited {
					truncated = true
					continue
				}
				if !sp.isLive(e.to) {
					continue
				}
				if !seen {
					fresh++
				}
				updates[e.to] = update{a, u}
				order = append(order, e.to)
			}
			if work += len(es); work > 4096 {
				work = 0
				runtime.Gosched()
			}
		}
		frontier = frontier[:0]
		for _, v := range order {
			up := updates[v]
			pp := acts[up.parent].path
			path := make([]uint32, len(pp)+1)
			copy(path, pp)
			path[len(pp)] = v
			if a, ok := acts[v]; ok {
				a.act, a.path = up.act, path
			} else {
				acts[v] = &activation{act: up.act, path: path}
			}
			frontier = append(frontier, v)
		}
		sp.sortByActivation(frontier, acts)
	}
	all := make([]uint32, 0, len(acts))
	for r := range acts {
		all = append(all, r)
	}
	sp.sortByActivation(all, acts)
	res := SpreadResult{Visited: len(all), Truncated: truncated}
	if req.MaxResults > 0 && len(all) > req.MaxResults {
		all = all[:req.MaxResults]
	}
	res.Activated = make([]Activated, len(all))
	for i, r := range all {
		a := acts[r]
		path := make([]string, len(a.path))
		for j, p := range a.path {
			path[j] = sp.idOf(p)
		}
		res.Activated[i] = Activated{ID: path[len(path)-1], Activation: a.act, Hops: len(path) - 1, Path: path}
	}
	return res, nil
}

// sortedEdges returns the edges of u, strongest first, ties by id.
func (sp *space) sortedEdges(u uint32, buf []edge) []edge {
	buf = append(buf[:0], sp.edgesOf(u)...)
	sort.Slice(buf, func(a, b int) bool {
		if buf[a].w != buf[b].w {
			return buf[a].w > buf[b].w
		}
		return sp.idOf(buf[a].to) < sp.idOf(buf[b].to)
	})
	return buf
}

func (sp *space) sortByActivation(rs []uint32, acts map[uint32]*activation) {
	sort.Slice(rs, func(a, b int) bool {
		x, y := acts[rs[a]].act, acts[rs[b]].act
		if x != y {
			return x > y
		}
		return sp.idOf(rs[a]) < sp.idOf(rs[b])
	})
}
