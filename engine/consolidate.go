package engine

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"runtime"
	"sort"
	"sync"
	"time"
)

// Consolidation turns recent episodic memories into semantic ones, as
// Engram's design has the hippocampus teach the neocortex: episodes that are
// similar to each other are clustered, each cluster becomes (or reinforces) a
// semantic memory whose embedding is the cluster's centroid, linked to its
// supporting episodes by member edges. An episode consolidates once; episodes
// that join no cluster stay candidates for a few more runs.

// ConsolidateOptions tunes a consolidation run. Zero fields mean the store's
// Options.Consolidation, whose zero fields mean the defaults.
type ConsolidateOptions struct {
	// Threshold is the cosine similarity an episode needs to its cluster's
	// centroid (or an existing semantic memory) to join it.
	Threshold float32
	// MinClusterSize is the number of episodes a new semantic memory needs.
	MinClusterSize int
	// MaxEpisodes bounds the episodes one run scans (oldest candidates first).
	MaxEpisodes int
}

func (o *ConsolidateOptions) fill(def ConsolidateOptions) error {
	if o.Threshold == 0 {
		o.Threshold = def.Threshold
	}
	if o.Threshold == 0 {
		o.Threshold = DefaultClusterThreshold
	}
	if !(o.Threshold > 0 && o.Threshold <= 1) {
		return invalid("consolidation.threshold", fmt.Sprint(o.Threshold), "must be in (0, 1]")
	}
	if o.MinClusterSize == 0 {
		o.MinClusterSize = def.MinClusterSize
	}
	if o.MinClusterSize == 0 {
		o.MinClusterSize = DefaultMinClusterSize
	}
	if o.MinClusterSize < 1 || o.MinClusterSize > 1_000_000 {
		return invalid("consolidation.min_cluster_size", fmt.Sprint(o.MinClusterSize), "must be in [1, 1000000]")
	}
	if o.MaxEpisodes == 0 {
		o.MaxEpisodes = def.MaxEpisodes
	}
	if o.MaxEpisodes == 0 {
		o.MaxEpisodes = DefaultMaxEpisodes
	}
	if o.MaxEpisodes < 1 || o.MaxEpisodes > 10_000_000 {
		return invalid("consolidation.max_episodes", fmt.Sprint(o.MaxEpisodes), "must be in [1, 10000000]")
	}
	return nil
}

// ConsolidationStats is what one consolidation run did.
type ConsolidationStats struct {
	Space           string
	Started         time.Time
	Duration        time.Duration
	EpisodesScanned int // candidate episodes examined
	ClustersFormed  int // new semantic memories
	BeliefsUpdated  int // existing semantic memories that gained support
	// EpisodesConsolidated is how many episodes joined a semantic memory.
	EpisodesConsolidated int
	// Beliefs lists the ids of the semantic memories formed or updated.
	Beliefs []string
}

// ConsolidationTotals counts consolidation runs since Open.
type ConsolidationTotals struct {
	Runs                 int64
	Failures             int64
	EpisodesScanned      int64
	ClustersFormed       int64
	BeliefsUpdated       int64
	EpisodesConsolidated int64
	LastRun              time.Time // start of the last successful run
	LastDuration         time.Duration
}

// Belief is a consolidated semantic memory with its support.
type Belief struct {
	ID         string    // the id of its semantic memory (stable across runs and Opens)
	Content    string    // a summary naming its support and first episode
	Embedding  []float32 // the centroid of its episodes (unit length)
	Confidence float32   // mean encoding confidence of its episodes
	// Strength in [0, 1]: cohesion × support / (support + MinClusterSize),
	// where cohesion is the mean cosine of its episodes to the centroid.
	Strength float32
	Support  int // episodes consolidated into it
	// Citations are its first supporting episodes (up to MaxCitations).
	Citations        []string
	CreatedAt        time.Time
	LastConsolidated time.Time
}

// MaxCitations is how many supporting episode ids a belief records.
const MaxCitations = 64

// maxTries is how many runs an episode that joined no cluster stays a
// candidate.
const maxTries = 3

type candidate struct {
	slot  uint32
	tries uint8
}

type beliefState struct {
	support   int
	cohesion  float64 // sum of member cosines to the centroid
	confSum   float64 // sum of member confidences
	created   int64
	last      int64
	citations []string
	minSize   int
}

func (b *beliefState) strength() float32 {
	if b.support == 0 {
		return 0
	}
	c := b.cohesion / float64(b.support)
	return float32(c * float64(b.support) / float64(b.support+b.minSize))
}

// consolidator is the consolidation state of one space.
type consolidator struct {
	runMu   sync.Mutex // one run at a time
	mu      sync.Mutex // guards the fields below
	queue   []candidate
	beliefs map[string]*beliefState
	totals  ConsolidationTotals
}

func (c *consolidator) add(r uint32) {
	c.mu.Lock()
	c.queue = append(c.queue, candidate{slot: r})
	c.mu.Unlock()
}

func (c *consolidator) forget(id string) {
	c.mu.Lock()
	delete(c.beliefs, id)
	c.mu.Unlock()
}

func (c *consolidator) totalsCopy() ConsolidationTotals {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.totals
}

func (c *consolidator) summary() (int, ConsolidationTotals) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.beliefs), c.totals
}

// beliefID is the stable id of the semantic memory founded by an episode.
func beliefID(space, founder string) string {
	h := fnv.New64a()
	h.Write([]byte(space))
	h.Write([]byte{0})
	h.Write([]byte(founder))
	return fmt.Sprintf("belief_%016x", h.Sum64())
}

// Belief record payload: support u32, cohesion f64, confSum f64, created
// i64, last i64, minSize u32, citations (uvarint count, then uvarint length
// + bytes each).
func encodeBelief(b *beliefState) []byte {
	p := make([]byte, 40, 64)
	binary.LittleEndian.PutUint32(p[0:], uint32(b.support))
	binary.LittleEndian.PutUint64(p[4:], math.Float64bits(b.cohesion))
	binary.LittleEndian.PutUint64(p[12:], math.Float64bits(b.confSum))
	binary.LittleEndian.PutUint64(p[20:], uint64(b.created))
	binary.LittleEndian.PutUint64(p[28:], uint64(b.last))
	binary.LittleEndian.PutUint32(p[36:], uint32(b.minSize))
	p = binary.AppendUvarint(p, uint64(len(b.citations)))
	for _, c := range b.citations {
		p = binary.AppendUvarint(p, uint64(len(c)))
		p = append(p, c...)
	}
	return frame(p)
}

func decodeBelief(v []byte) (*beliefState, error) {
	p, err := unframe(v, "belief")
	if err != nil {
		return nil, err
	}
	if len(p) < 41 {
		return nil, fmt.Errorf("%w: belief record of %d bytes", ErrCorrupt, len(p))
	}
	b := &beliefState{
		support:  int(binary.LittleEndian.Uint32(p[0:])),
		cohesion: math.Float64frombits(binary.LittleEndian.Uint64(p[4:])),
		confSum:  math.Float64frombits(binary.LittleEndian.Uint64(p[12:])),
		created:  int64(binary.LittleEndian.Uint64(p[20:])),
		last:     int64(binary.LittleEndian.Uint64(p[28:])),
		minSize:  int(binary.LittleEndian.Uint32(p[36:])),
	}
	rest := p[40:]
	n, k := binary.Uvarint(rest)
	if k <= 0 || n > MaxCitations {
		return nil, fmt.Errorf("%w: belief citations", ErrCorrupt)
	}
	rest = rest[k:]
	for i := uint64(0); i < n; i++ {
		l, k := binary.Uvarint(rest)
		if k <= 0 || l > uint64(len(rest)-k) {
			return nil, fmt.Errorf("%w: belief citation %d", ErrCorrupt, i)
		}
		b.citations = append(b.citations, string(rest[k:k+int(l)]))
		rest = rest[k+int(l):]
	}
	return b, nil
}

// Consolidate runs one consolidation of a space now and reports what it did.
// o's zero fields mean Options.Consolidation. Runs of one space are
// serialised; runs of different spaces proceed in parallel.
func (s *Store) Consolidate(ctx context.Context, spaceID string, o ConsolidateOptions) (ConsolidationStats, error) {
	defer s.slow(s.slowStart())
	if err := s.enter(); err != nil {
		return ConsolidationStats{}, err
	}
	defer s.leave()
	if err := checkSpace(spaceID); err != nil {
		return ConsolidationStats{}, err
	}
	if err := o.fill(s.opts.Consolidation); err != nil {
		return ConsolidationStats{}, err
	}
	sp := s.space(spaceID)
	if sp == nil {
		return ConsolidationStats{Space: spaceID, Started: s.opts.Clock()}, nil
	}
	return s.consolidate(ctx, sp, o)
}

// consolidationLoop consolidates every space at Options.ConsolidationInterval.
func (s *Store) consolidationLoop(ctx context.Context) {
	t := time.NewTicker(s.opts.ConsolidationInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.mu.RLock()
		sps := make([]*space, 0, len(s.spaces))
		for _, sp := range s.spaces {
			sps = append(sps, sp)
		}
		s.mu.RUnlock()
		for _, sp := range sps {
			if ctx.Err() != nil || s.failed.Load() {
				return
			}
			sp.cons.mu.Lock()
			idle := len(sp.cons.queue) == 0
			sp.cons.mu.Unlock()
			if !idle {
				s.consolidate(ctx, sp, s.opts.Consolidation)
			}
		}
	}
}

type cluster struct {
	sum     []float32
	norm    float32
	members []uint32
}

func (c *cluster) add(v []float32) {
	for j, x := range v {
		c.sum[j] += x
	}
	c.norm = float32(math.Sqrt(float64(dot(c.sum, c.sum))))
}

func (s *Store) consolidate(ctx context.Context, sp *space, o ConsolidateOptions) (st ConsolidationStats, err error) {
	c := &sp.cons
	c.runMu.Lock()
	defer c.runMu.Unlock()
	start := time.Now()
	now := s.opts.Clock()
	st = ConsolidationStats{Space: sp.id, Started: now}
	defer func() {
		c.mu.Lock()
		if err != nil {
			c.totals.Failures++
		} else {
			c.totals.Runs++
			c.totals.EpisodesScanned += int64(st.EpisodesScanned)
			c.totals.ClustersFormed += int64(st.ClustersFormed)
			c.totals.BeliefsUpdated += int64(st.BeliefsUpdated)
			c.totals.EpisodesConsolidated += int64(st.EpisodesConsolidated)
			c.totals.LastRun = now
			c.totals.LastDuration = st.Duration
		}
		c.mu.Unlock()
	}()

	// Take the oldest candidates.
	c.mu.Lock()
	n := min(o.MaxEpisodes, len(c.queue))
	batch := append([]candidate(nil), c.queue[:n]...)
	c.queue = c.queue[n:]
	if len(c.queue) == 0 {
		c.queue = nil
	}
	type target struct {
		id   string
		slot uint32
	}
	var targets []target
	for id := range c.beliefs {
		if r, ok := sp.lookup(id); ok {
			targets = append(targets, target{id, r})
		}
	}
	c.mu.Unlock()
	sort.Slice(targets, func(a, b int) bool { return targets[a].id < targets[b].id })
	requeue := func(cs []candidate) {
		c.mu.Lock()
		for _, x := range cs {
			if x.tries+1 < maxTries && sp.isLive(x.slot) {
				c.queue = append(c.queue, candidate{x.slot, x.tries + 1})
			}
		}
		c.mu.Unlock()
	}

	// Assign each episode to an existing belief or to a new cluster.
	joins := map[string][]uint32{}
	var clusters []*cluster
	var leftovers []candidate
	for i, x := range batch {
		if i&63 == 63 {
			if err := ctx.Err(); err != nil {
				requeue(batch[i:])
				return st, err
			}
			runtime.Gosched()
		}
		f := sp.m(x.slot).flags.Load()
		if f&flagLive == 0 || f&(flagConsolidated|flagSemantic) != 0 {
			continue
		}
		st.EpisodesScanned++
		v := sp.vec(x.slot)
		best, bestSim := -1, float32(-2)
		for t, tg := range targets {
			if sim := dot(v, sp.vec(tg.slot)); sim > bestSim {
				best, bestSim = t, sim
			}
		}
		if best >= 0 && bestSim >= o.Threshold {
			joins[targets[best].id] = append(joins[targets[best].id], x.slot)
			continue
		}
		bc, bcSim := -1, float32(-2)
		for k, cl := range clusters {
			if sim := dot(v, cl.sum) / cl.norm; sim > bcSim {
				bc, bcSim = k, sim
			}
		}
		if bc >= 0 && bcSim >= o.Threshold {
			clusters[bc].members = append(clusters[bc].members, x.slot)
			clusters[bc].add(v)
			continue
		}
		cl := &cluster{sum: make([]float32, sp.dim), members: []uint32{x.slot}}
		cl.add(v)
		clusters = append(clusters, cl)
	}
	var formed []*cluster
	for _, cl := range clusters {
		if len(cl.members) >= o.MinClusterSize {
			formed = append(formed, cl)
			continue
		}
		for _, r := range cl.members {
			leftovers = append(leftovers, candidate{slot: r})
		}
	}
	// Restore the tries of leftovers.
	tries := map[uint32]uint8{}
	for _, x := range batch {
		tries[x.slot] = x.tries
	}
	for i := range leftovers {
		leftovers[i].tries = tries[leftovers[i].slot]
	}
	defer requeue(leftovers)
	if len(formed) == 0 && len(joins) == 0 {
		st.Duration = time.Since(start)
		return st, nil
	}
	var slots []uint32
	slots, err = s.commitConsolidation(sp, o, now, joins, formed, &st)
	// Index after every lock is released: indexing may take graphMu.
	sp.idx.enqueue(slots...)
	st.Duration = time.Since(start)
	return st, err
}

// commitConsolidation writes new and reinforced beliefs in one batch and
// applies them to memory. It returns the slots of the semantic memories
// written, for the caller to index once the locks are released.
func (s *Store) commitConsolidation(sp *space, o ConsolidateOptions, now time.Time, joins map[string][]uint32, formed []*cluster, st *ConsolidationStats) ([]uint32, error) {
	// Collect every id involved and lock their stripes, then graphMu.
	var ids []string
	for id, members := range joins {
		ids = append(ids, id)
		for _, r := range members {
			ids = append(ids, sp.idOf(r))
		}
	}
	founders := make([]string, len(formed))
	for i, cl := range formed {
		founders[i] = sp.idOf(cl.members[0])
		ids = append(ids, beliefID(sp.id, founders[i]))
		for _, r := range cl.members {
			ids = append(ids, sp.idOf(r))
		}
	}
	unlock := s.lockIDs(sp.id, ids)
	defer unlock()
	sp.graphMu.Lock()
	defer sp.graphMu.Unlock()

	type plan struct {
		m       Memory
		seq     uint64
		state   *beliefState
		members []uint32
		sims    []float32
		isNew   bool
	}
	var plans []*plan
	live := func(rs []uint32) []uint32 {
		out := rs[:0:0]
		for _, r := range rs {
			if f := sp.m(r).flags.Load(); f&flagLive != 0 && f&flagConsolidated == 0 {
				out = append(out, r)
			}
		}
		return out
	}
	sortedJoins := make([]string, 0, len(joins))
	for id := range joins {
		sortedJoins = append(sortedJoins, id)
	}
	sort.Strings(sortedJoins)
	for _, id := range sortedJoins {
		members := live(joins[id])
		r, ok := sp.lookup(id)
		sp.cons.mu.Lock()
		old := sp.cons.beliefs[id]
		sp.cons.mu.Unlock()
		if !ok || old == nil || len(members) == 0 {
			continue
		}
		prev, err := s.read(sp, sp.id, id, true)
		if err != nil {
			return nil, err
		}
		// New centroid: the old one weighted by its support, plus the members.
		sum := make([]float32, sp.dim)
		ov := sp.vec(r)
		for j := range sum {
			sum[j] = ov[j] * float32(old.support)
		}
		for _, m := range members {
			for j, x := range sp.vec(m) {
				sum[j] += x
			}
		}
		unit(sum)
		ns := *old
		ns.citations = append([]string(nil), old.citations...)
		p := &plan{state: &ns, members: members}
		for _, m := range members {
			sim := dot(sum, sp.vec(m))
			p.sims = append(p.sims, sim)
			ns.support++
			ns.cohesion += float64(sim)
			ns.confSum += float64(sp.m(m).conf)
			if len(ns.citations) < MaxCitations {
				ns.citations = append(ns.citations, sp.idOf(m))
			}
		}
		ns.last = now.UnixNano()
		p.m = Memory{ID: id, Embedding: sum, CreatedAt: prev.CreatedAt, Confidence: clamp01(float32(ns.confSum / float64(ns.support)))}
		p.m.Content = beliefContent(ns.support, prev.Content)
		plans = append(plans, p)
	}
	for i, cl := range formed {
		members := live(cl.members)
		if len(members) < o.MinClusterSize {
			continue
		}
		sum := make([]float32, sp.dim)
		for _, m := range members {
			for j, x := range sp.vec(m) {
				sum[j] += x
			}
		}
		unit(sum)
		founder, err := s.read(sp, sp.id, founders[i], true)
		if err != nil {
			return nil, err
		}
		ns := &beliefState{created: now.UnixNano(), last: now.UnixNano(), minSize: o.MinClusterSize}
		p := &plan{state: ns, members: members, isNew: true}
		for _, m := range members {
			sim := dot(sum, sp.vec(m))
			p.sims = append(p.sims, sim)
			ns.support++
			ns.cohesion += float64(sim)
			ns.confSum += float64(sp.m(m).conf)
			if len(ns.citations) < MaxCitations {
				ns.citations = append(ns.citations, sp.idOf(m))
			}
		}
		id := beliefID(sp.id, founders[i])
		if _, exists := sp.lookup(id); exists {
			id = beliefID(sp.id, fmt.Sprintf("%s#%d", founders[i], now.UnixNano()))
		}
		p.m = Memory{ID: id, Embedding: sum, CreatedAt: now, Confidence: clamp01(float32(ns.confSum / float64(ns.support)))}
		p.m.Content = beliefContent(ns.support, founder.Content)
		plans = append(plans, p)
	}
	if len(plans) == 0 {
		return nil, nil
	}
	b := s.db.NewBatch()
	for _, p := range plans {
		p.seq = s.seq.Add(1)
		b.Set(memoryKey(nil, sp.id, p.m.ID), encodeRecord(nil, &p.m, p.seq, recSemantic), nil)
		b.Set(idKey(nil, pfxBelief, sp.id, p.m.ID), encodeBelief(p.state), nil)
		for k, m := range p.members {
			w := clampWeight(p.sims[k])
			mid := sp.idOf(m)
			b.Set(edgeKey(nil, sp.id, p.m.ID, mid), encodeEdge(w, EdgeMember), nil)
			b.Set(edgeKey(nil, sp.id, mid, p.m.ID), encodeEdge(w, EdgeMember), nil)
		}
	}
	if err := s.commit(b, true); err != nil {
		return nil, fmt.Errorf("consolidate %s: %w", sp.id, err)
	}
	for _, p := range plans {
		s.gens.touch(sp.id, p.m.ID)
		for _, m := range p.members {
			s.gens.touch(sp.id, sp.idOf(m))
		}
	}
	var slots []uint32
	for _, p := range plans {
		slot, _, _, ok := sp.put(&p.m, p.seq, flagSemantic, 0, 0)
		if !ok {
			continue
		}
		s.hot.invalidate(sp.id, p.m.ID)
		for k, m := range p.members {
			w := clampWeight(p.sims[k])
			sp.setEdge(slot, m, w, EdgeMember)
			sp.setEdge(m, slot, w, EdgeMember)
			setFlags(sp.m(m), flagConsolidated, 0)
		}
		sp.cons.mu.Lock()
		if sp.cons.beliefs == nil {
			sp.cons.beliefs = map[string]*beliefState{}
		}
		sp.cons.beliefs[p.m.ID] = p.state
		sp.cons.mu.Unlock()
		slots = append(slots, slot)
		if p.isNew {
			st.ClustersFormed++
		} else {
			st.BeliefsUpdated++
		}
		st.EpisodesConsolidated += len(p.members)
		st.Beliefs = append(st.Beliefs, p.m.ID)
	}
	return slots, nil
}

func beliefContent(support int, first string) string {
	if len(first) > 200 {
		first = first[:200]
	}
	return fmt.Sprintf("semantic memory consolidated from %d episodes; first: %s", support, first)
}

func clamp01(x float32) float32 { return max(0, min(1, x)) }

// Beliefs lists the consolidated beliefs of a space, strongest first (ties
// by id), at most limit (0 = all).
func (s *Store) Beliefs(ctx context.Context, spaceID string, limit int) ([]Belief, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	if err := checkSpace(spaceID); err != nil {
		return nil, err
	}
	if limit < 0 {
		return nil, invalid("limit", fmt.Sprint(limit), "must be >= 0")
	}
	sp := s.space(spaceID)
	if sp == nil {
		return nil, nil
	}
	sp.cons.mu.Lock()
	type entry struct {
		id string
		st float32
	}
	es := make([]entry, 0, len(sp.cons.beliefs))
	for id, b := range sp.cons.beliefs {
		es = append(es, entry{id, b.strength()})
	}
	sp.cons.mu.Unlock()
	sort.Slice(es, func(a, b int) bool {
		if es[a].st != es[b].st {
			return es[a].st > es[b].st
		}
		return es[a].id < es[b].id
	})
	if limit > 0 && len(es) > limit {
		es = es[:limit]
	}
	out := make([]Belief, 0, len(es))
	for _, e := range es {
		b, err := s.belief(sp, e.id)
		if errors.Is(err, ErrNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

// Belief returns one consolidated belief by the id of its semantic memory.
func (s *Store) Belief(ctx context.Context, spaceID, id string) (Belief, error) {
	if err := s.enter(); err != nil {
		return Belief{}, err
	}
	defer s.leave()
	if err := checkSpace(spaceID); err != nil {
		return Belief{}, err
	}
	sp := s.space(spaceID)
	if sp == nil {
		return Belief{}, fmt.Errorf("belief %s/%s: %w", spaceID, id, ErrNotFound)
	}
	return s.belief(sp, id)
}

func (s *Store) belief(sp *space, id string) (Belief, error) {
	sp.cons.mu.Lock()
	st := sp.cons.beliefs[id]
	var cp beliefState
	if st != nil {
		cp = *st
		cp.citations = append([]string(nil), st.citations...)
	}
	sp.cons.mu.Unlock()
	if st == nil {
		return Belief{}, fmt.Errorf("belief %s/%s: %w", sp.id, id, ErrNotFound)
	}
	m, err := s.read(sp, sp.id, id, true)
	if err != nil {
		return Belief{}, err
	}
	conf := float32(0)
	if cp.support > 0 {
		conf = clamp01(float32(cp.confSum / float64(cp.support)))
	}
	return Belief{
		ID:               id,
		Content:          m.Content,
		Embedding:        append([]float32(nil), m.Embedding...),
		Confidence:       conf,
		Strength:         cp.strength(),
		Support:          cp.support,
		Citations:        cp.citations,
		CreatedAt:        time.Unix(0, cp.created),
		LastConsolidated: time.Unix(0, cp.last),
	}, nil
}

// ConsolidationTotals counts the consolidation runs of a space since Open.
func (s *Store) ConsolidationTotals(spaceID string) ConsolidationTotals {
	sp := s.space(spaceID)
	if sp == nil {
		return ConsolidationTotals{}
	}
	return sp.cons.totalsCopy()
}
