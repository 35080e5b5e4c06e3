package workloads

import (
	"fmt"
	"math"
)

// Generator makes the op stream of a scenario: op i is a pure function of
// (seed, i), so any worker, shard or replay that asks for op i gets the same
// bytes. It is safe for concurrent use.
//
// Which memory an op targets (by-id reads, updates, cues, spreading seeds) is
// drawn by the phase's key_distribution over the memories stored so far, in
// the order they were stored: the preload first, then the memories of store
// and store_batch ops. "So far" is counted in expectation so that it stays a
// pure function of i: with a share w of ops writing, about P + w·(i − age)
// memories exist when op i runs (age = min_target_age). A drawn rank beyond
// the preload maps to the op index where that many writes are expected, and
// walks back to the nearest op that really wrote.
type Generator struct {
	seed     uint64
	dim      int
	spaces   []string
	dist     *distribution
	preload  uint64
	cueNoise float32
	sched    *Schedule
	mixes    []mix
	// writesBefore[p] is the expected number of memory-writing ops before
	// phase p's first op.
	writesBefore []float64
	tenants      cdfTable // nil: uniform tenants
	plant        uint64   // planted group size (0, 1: none)
	plantNoise   float32
	ephemeral    bool // some phase forgets: 1 in 8 stores are forgettable, and never targeted otherwise
}

// mix is one phase's op mix and parameters, resolved.
type mix struct {
	cum       [NumKinds]float64 // cumulative normalised weights
	ops       OperationsSpec
	mode      RecallMode
	confLo    float32
	confRange float32
	depthCum  []float64 // nil: every op uses ops.SpreadingDepth
	keys      *popularity
	pWrite    float64 // share of ops that store memories
}

// updateNoise is how far an update moves a memory's embedding (norm).
const updateNoise = 0.02

func newMix(o OperationsSpec) (mix, error) {
	m := mix{ops: o, confLo: float32(o.ConfidenceMin), confRange: float32(o.ConfidenceMax - o.ConfidenceMin)}
	var err error
	if m.mode, err = ParseRecallMode(o.RecallMode); err != nil {
		return m, err
	}
	if m.keys, err = newPopularity(o.KeyDistribution, o.ZipfTheta, o.HotFraction, o.HotOpFraction); err != nil {
		return m, fmt.Errorf("operations.key_distribution: %w", err)
	}
	w := o.Weights()
	sum := 0.0
	for _, x := range w {
		sum += x
	}
	if !(sum > 0) {
		return m, fmt.Errorf("op weights sum to zero")
	}
	m.pWrite = (w[KindStore] + w[KindStoreBatch]) / sum
	acc := 0.0
	for k, x := range w {
		acc += x / sum
		m.cum[k] = acc
	}
	// Rounding may leave the total just below 1: the last kind with a weight
	// takes everything from its start up.
	last := NumKinds - 1
	for w[last] == 0 {
		last--
	}
	for k := last; k < NumKinds; k++ {
		m.cum[k] = math.Inf(1)
	}
	if len(o.SpreadingDepthWeights) > 0 {
		acc, tot := 0.0, 0.0
		for _, x := range o.SpreadingDepthWeights {
			tot += x
		}
		for _, x := range o.SpreadingDepthWeights {
			acc += x / tot
			m.depthCum = append(m.depthCum, acc)
		}
		m.depthCum[len(m.depthCum)-1] = math.Inf(1)
	}
	return m, nil
}

// NewGenerator returns the generator for sc and seed.
func NewGenerator(sc *Scenario, seed uint64) (*Generator, error) {
	sched, err := NewSchedule(sc, seed)
	if err != nil {
		return nil, err
	}
	return NewGeneratorFor(sc, sched, seed)
}

// NewGeneratorFor returns the generator for sc and seed over a schedule
// already resolved with NewSchedule (which counts each phase's ops).
func NewGeneratorFor(sc *Scenario, sched *Schedule, seed uint64) (*Generator, error) {
	dist, err := newDistribution(sc.Data.EmbeddingDistribution, sc.Data.EmbeddingDim, seed)
	if err != nil {
		return nil, err
	}
	g := &Generator{
		seed:       seed,
		dim:        sc.Data.EmbeddingDim,
		spaces:     sc.SpaceNames(),
		dist:       dist,
		preload:    uint64(max(sc.PreloadCount(), 0)),
		cueNoise:   DefaultCueNoise,
		sched:      sched,
		plant:      uint64(max(sc.Data.PlantedGroupSize, 0)),
		plantNoise: float32(sc.Data.PlantedNoise),
	}
	if sc.Data.CueNoise != nil {
		g.cueNoise = float32(*sc.Data.CueNoise)
	}
	if sc.Data.TenantDistribution == PopZipfian && len(g.spaces) > 1 {
		g.tenants = newZipfTable(len(g.spaces), sc.Data.TenantTheta)
	}
	acc := 0.0
	for _, p := range sched.Phases {
		m, err := newMix(p.Ops)
		if err != nil {
			return nil, fmt.Errorf("phase %s: %w", p.Name, err)
		}
		if m.ops.ForgetWeight > 0 {
			g.ephemeral = true
		}
		g.mixes = append(g.mixes, m)
		g.writesBefore = append(g.writesBefore, acc)
		acc += float64(p.EndOp-p.FirstOp) * m.pWrite
	}
	return g, nil
}

// Dim returns the embedding dimension.
func (g *Generator) Dim() int { return g.dim }

// Seed returns the generator's seed.
func (g *Generator) Seed() uint64 { return g.seed }

// Spaces returns the memory space ids.
func (g *Generator) Spaces() []string { return g.spaces }

// Schedule returns the timeline the generator follows.
func (g *Generator) Schedule() *Schedule { return g.sched }

// PreloadCount returns how many memories are stored before measuring (keys
// PreloadKey(0 … n-1)).
func (g *Generator) PreloadCount() uint64 { return g.preload }

func (g *Generator) mixOf(i uint64) *mix { return &g.mixes[g.sched.PhaseOf(i)] }

// KindOf returns the kind of op i.
func (g *Generator) KindOf(i uint64) Kind {
	m := g.mixOf(i)
	r := newRNG(g.seed, streamKind, i)
	u := r.float64()
	for k := Kind(0); k < NumKinds; k++ {
		if u < m.cum[k] {
			return k
		}
	}
	return NumKinds - 1
}

// SpaceOf returns the memory space of memory k: preloaded memory j lives in
// space j mod n (uniform tenants) or a zipfian-drawn space (with planted
// groups, j is the group's index, so that a group shares its space); memories
// stored by op i (and its batch) in a seeded space drawn the same way.
func (g *Generator) SpaceOf(k Key) string {
	if len(g.spaces) == 1 {
		return g.spaces[0]
	}
	if k.IsPreload() {
		j := uint64(k)
		if g.plant > 1 {
			j /= g.plant // a planted group lives in one space
		}
		if g.tenants == nil {
			return g.spaces[j%uint64(len(g.spaces))]
		}
		r := newRNG(g.seed, streamTenant, j)
		return g.spaces[g.tenants.pick(&r)]
	}
	i := uint64(k&^OpKeyBit) >> memberBits
	if g.tenants == nil {
		r := newRNG(g.seed, streamSpace, i)
		return g.spaces[r.intn(uint64(len(g.spaces)))]
	}
	r := newRNG(g.seed, streamTenant, i|1<<62)
	return g.spaces[g.tenants.pick(&r)]
}

// tau is memory k's time for drifting distributions.
func (g *Generator) tau(k Key) float64 {
	if k.IsPreload() {
		return float64(k)
	}
	return float64(g.preload + uint64(k&^OpKeyBit)>>memberBits)
}

// Embedding writes the unit-length embedding of memory k into dst (grown to
// Dim if needed) and returns it. A planted preload memory is its group's base
// plus noise of norm planted_noise.
func (g *Generator) Embedding(k Key, dst []float32) []float32 {
	dst = grow(dst, g.dim)
	if g.plant > 1 && k.IsPreload() {
		grp := uint64(k) / g.plant
		r := newRNG(g.seed, streamPlant, grp)
		g.dist.fillAt(dst, &r, float64(grp*g.plant))
		r = newRNG(g.seed, streamEmbed, uint64(k))
		g.dist.perturb(dst, dst, g.plantNoise, &r)
		return dst
	}
	r := newRNG(g.seed, streamEmbed, uint64(k))
	g.dist.fillAt(dst, &r, g.tau(k))
	return dst
}

// Expected returns the memories a cue aimed at target t should find: the
// preload keys [from, from+n) of t's planted group, or t alone.
func (g *Generator) Expected(t Key) (from Key, n int) {
	if g.plant > 1 && t.IsPreload() && uint64(t) < g.preload {
		lo := uint64(t) / g.plant * g.plant
		hi := min(lo+g.plant, g.preload)
		return PreloadKey(lo), int(hi - lo)
	}
	return t, 1
}

func grow(b []float32, n int) []float32 {
	if cap(b) < n {
		return make([]float32, n)
	}
	return b[:n]
}

// Op returns op i in a newly allocated Op.
func (g *Generator) Op(i uint64) Op {
	var op Op
	g.Fill(i, &op)
	return op
}

// FillPreload fills op with the store of preloaded memory j.
func (g *Generator) FillPreload(j uint64, op *Op) {
	g.fillStore(op, &g.mixes[0], j, PreloadKey(j))
}

func (g *Generator) fillStore(op *Op, m *mix, i uint64, k Key) {
	*op = Op{Index: i, Kind: KindStore, Key: k, Space: g.SpaceOf(k), Dim: g.dim, Embedding: op.Embedding}
	op.Embedding = g.Embedding(k, op.Embedding)
	r := newRNG(g.seed, streamParams, uint64(k))
	op.Confidence = m.confLo + float32(r.float64())*m.confRange
}

// Fill overwrites op with op i, reusing op's embedding buffer.
func (g *Generator) Fill(i uint64, op *Op) {
	m := g.mixOf(i)
	kind := g.KindOf(i)
	switch kind {
	case KindStore:
		g.fillStore(op, m, i, OpKey(i))
		return
	case KindStoreBatch:
		n := m.ops.BatchSize
		k0 := OpKey(i)
		*op = Op{Index: i, Kind: kind, Key: MemberKey(i, 0), Space: g.SpaceOf(k0), Dim: g.dim, Count: n, Embedding: op.Embedding}
		if cap(op.Embedding) < n*g.dim {
			op.Embedding = make([]float32, n*g.dim)
		}
		op.Embedding = op.Embedding[:n*g.dim]
		r := newRNG(g.seed, streamParams, uint64(k0))
		op.Confidence = m.confLo + float32(r.float64())*m.confRange
		for j := 0; j < n; j++ {
			g.Embedding(MemberKey(i, j), op.Vector(j))
		}
		return
	}
	buf := op.Embedding
	*op = Op{Index: i, Kind: kind, Dim: g.dim}
	switch kind {
	case KindRecall, KindSearch, KindComplete:
		t, ok := g.target(i, m)
		op.Target, op.HasTarget = t, ok
		op.Embedding = g.cue(i, t, ok, buf)
		if ok {
			op.Space = g.SpaceOf(t)
			op.ExpectFrom, op.ExpectN = g.Expected(t)
		} else {
			op.Space = g.randomSpace(i)
		}
		switch kind {
		case KindRecall:
			op.K, op.Threshold, op.Mode = m.ops.MaxResults, float32(m.ops.RecallThreshold), m.mode
		case KindSearch:
			op.K = m.ops.SearchK
			if lo := m.ops.SearchKMin; lo < op.K {
				r := newRNG(g.seed, streamDepth, i)
				op.K = lo + int(r.intn(uint64(op.K-lo+1)))
			}
		case KindComplete:
			// The second half of the dimensions is unknown.
			for j := g.dim / 2; j < g.dim; j++ {
				op.Embedding[j] = float32(math.NaN())
			}
			op.K = 1
		}
	case KindRecallByID, KindSpread:
		t, ok := g.target(i, m)
		if !ok {
			t = OpKey(i) // nothing stored yet: a read of a missing memory
		}
		op.Key, op.Space = t, g.SpaceOf(t)
		if kind == KindSpread {
			op.Depth = m.ops.SpreadingDepth
			if m.depthCum != nil {
				r := newRNG(g.seed, streamDepth, i)
				u := r.float64()
				d := 0
				for d < len(m.depthCum)-1 && u >= m.depthCum[d] {
					d++
				}
				op.Depth = d + 1
			}
			op.Threshold = 0.01
			op.K = m.ops.MaxResults
		}
	case KindUpdate, KindReadModify:
		t, ok := g.target(i, m)
		if !ok {
			t = OpKey(i)
		}
		op.Key, op.Space = t, g.SpaceOf(t)
		buf = grow(buf, 2*g.dim)
		out, tmp := buf[:g.dim], buf[g.dim:2*g.dim]
		g.Embedding(t, tmp)
		r := newRNG(g.seed, streamUpdate, i)
		g.dist.perturb(out, tmp, updateNoise, &r)
		op.Embedding = out
		op.Confidence = m.confLo + float32(r.float64())*m.confRange
	case KindForget:
		t, ok := g.forgettable(i, m)
		if !ok {
			t = OpKey(i)
		}
		op.Key, op.Space = t, g.SpaceOf(t)
	case KindConsolidate:
		op.Space = g.randomSpace(i)
	}
	if op.Embedding == nil {
		op.Embedding = buf[:0]
	}
}

func (g *Generator) randomSpace(i uint64) string {
	if len(g.spaces) == 1 {
		return g.spaces[0]
	}
	if g.tenants != nil {
		r := newRNG(g.seed, streamTenant, i|1<<61)
		return g.spaces[g.tenants.pick(&r)]
	}
	r := newRNG(g.seed, streamSpace, i|1<<62)
	return g.spaces[r.intn(uint64(len(g.spaces)))]
}

// expectedWrites is the expected number of memory-writing ops before op h.
func (g *Generator) expectedWrites(h uint64) float64 {
	p := g.sched.PhaseOf(h)
	ph := &g.sched.Phases[p]
	if h < ph.FirstOp {
		return g.writesBefore[p]
	}
	return g.writesBefore[p] + float64(min(h, ph.EndOp)-ph.FirstOp)*g.mixes[p].pWrite
}

// opAtWrites inverts expectedWrites: the op index where x writes are expected.
func (g *Generator) opAtWrites(x float64) uint64 {
	for p := len(g.mixes) - 1; p >= 0; p-- {
		if g.writesBefore[p] <= x && g.mixes[p].pWrite > 0 {
			return g.sched.Phases[p].FirstOp + uint64((x-g.writesBefore[p])/g.mixes[p].pWrite)
		}
	}
	return 0
}

// ephemeralStore reports whether store op j's memory is one that forget ops
// may delete (and other ops therefore never target).
func (g *Generator) ephemeralStore(j uint64) bool {
	return g.ephemeral && mix64(g.seed^mix64(j+0x3c6ef372fe94f82b))&7 == 0
}

// maxWalk bounds the walk back from a drawn op index to a writing op.
const maxWalk = 512

// target picks the memory op i aims at by its phase's key distribution over
// the memories stored at least min_target_age ops before it.
func (g *Generator) target(i uint64, m *mix) (Key, bool) {
	age := uint64(m.ops.MinTargetAge)
	var horizon uint64
	if i > age {
		horizon = i - age
	}
	n := g.preload + uint64(g.expectedWrites(horizon))
	if n == 0 {
		return 0, false
	}
	r := newRNG(g.seed, streamPick, i)
	rank := m.keys.pick(n, &r)
	if rank < g.preload {
		return PreloadKey(rank), true
	}
	j := min(g.opAtWrites(float64(rank-g.preload)+0.5), horizon-1)
	for steps := 0; steps < maxWalk; steps++ {
		switch g.KindOf(j) {
		case KindStore:
			if !g.ephemeralStore(j) {
				return OpKey(j), true
			}
		case KindStoreBatch:
			return MemberKey(j, int(r.intn(uint64(g.mixOf(j).ops.BatchSize)))), true
		}
		if j == 0 {
			break
		}
		j--
	}
	if g.preload > 0 {
		return PreloadKey(r.intn(g.preload)), true
	}
	return 0, false
}

// forgetBlock is the block of ops within which forgets are paired with the
// ephemeral stores of an earlier block (forgettable).
const forgetBlock = 256

// forgettable picks an ephemeral store before op i for a forget, so that no
// two forgets pick the same store while there are stores enough: the ops
// are cut into blocks of forgetBlock, and the k-th forget of block b takes
// the k-th ephemeral store of block b − L, the newest block at least
// min_target_age ops back. Drawn with replacement instead, half the forgets
// of a run found their memory already forgotten, an error the harness made
// itself (measured 2026-11-28: 25 of 48 not_found). A forget beyond its
// source block's ephemeral stores takes one of the block before, from its
// end; beyond those too, or too early in the run for a source block, it
// draws one at random (forgettableAny). So forgets find their memory when
// forget_weight is well below store_weight / 8 (1 store in 8 is
// forgettable).
func (g *Generator) forgettable(i uint64, m *mix) (Key, bool) {
	age := uint64(m.ops.MinTargetAge)
	lag := uint64(1)
	if age > 1 {
		lag += (age-2)/forgetBlock + 1 // (lag−1)·forgetBlock ≥ age − 1
	}
	b := i / forgetBlock
	if b >= lag {
		k := 0
		for j := b * forgetBlock; j < i; j++ {
			if g.KindOf(j) == KindForget {
				k++
			}
		}
		src := (b - lag) * forgetBlock
		for j := src; j < src+forgetBlock; j++ {
			if g.ephemeralStore(j) && g.KindOf(j) == KindStore {
				if k == 0 {
					return OpKey(j), true
				}
				k--
			}
		}
		// More forgets than the source block's stores: the rest take the
		// block before it from its end, whose own forgets took it from its
		// start.
		if src >= forgetBlock {
			for j := src - 1; j >= src-forgetBlock; j-- {
				if g.ephemeralStore(j) && g.KindOf(j) == KindStore {
					if k == 0 {
						return OpKey(j), true
					}
					k--
				}
			}
		}
	}
	return g.forgettableAny(i, m)
}

// forgettableAny picks an ephemeral store before op i: from a uniform
// start, the nearest one back (wrapping around), within maxWalk×4 ops.
func (g *Generator) forgettableAny(i uint64, m *mix) (Key, bool) {
	age := uint64(m.ops.MinTargetAge)
	if i <= age {
		return 0, false
	}
	r := newRNG(g.seed, streamTarget, i|1<<63)
	horizon := i - age
	j := r.intn(horizon)
	for steps := 0; steps < 4*maxWalk && uint64(steps) < horizon; steps++ {
		if g.KindOf(j) == KindStore && g.ephemeralStore(j) {
			return OpKey(j), true
		}
		if j == 0 {
			j = horizon // wrap around to the newest eligible op
		}
		j--
	}
	return 0, false
}

// cue returns a perturbed copy of memory t's embedding (or, with no target, a
// fresh draw from the distribution).
func (g *Generator) cue(i uint64, t Key, ok bool, buf []float32) []float32 {
	buf = grow(buf, 2*g.dim)
	out, tmp := buf[:g.dim], buf[g.dim:2*g.dim]
	r := newRNG(g.seed, streamCue, i)
	if !ok {
		g.dist.fill(out, &r)
		return out
	}
	g.Embedding(t, tmp)
	g.dist.perturb(out, tmp, g.cueNoise, &r)
	return out
}
