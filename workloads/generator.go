package workloads

import (
	"fmt"
	"math"
)

// Generator makes the op stream of a scenario: op i is a pure function of
// (seed, i), so any worker, shard or replay that asks for op i gets the same
// bytes. It is safe for concurrent use.
type Generator struct {
	seed      uint64
	dim       int
	spaces    []string
	cum       [NumKinds]float64 // cumulative normalised weights
	dist      *distribution
	preload   uint64
	cueNoise  float32
	ops       OperationsSpec
	mode      RecallMode
	confLo    float32
	confRange float32
}

// NewGenerator returns the generator for sc and seed.
func NewGenerator(sc *Scenario, seed uint64) (*Generator, error) {
	dist, err := newDistribution(sc.Data.EmbeddingDistribution, sc.Data.EmbeddingDim, seed)
	if err != nil {
		return nil, err
	}
	mode, err := ParseRecallMode(sc.Operations.RecallMode)
	if err != nil {
		return nil, err
	}
	g := &Generator{
		seed:      seed,
		dim:       sc.Data.EmbeddingDim,
		spaces:    sc.SpaceNames(),
		dist:      dist,
		preload:   uint64(max(sc.PreloadCount(), 0)),
		cueNoise:  DefaultCueNoise,
		ops:       sc.Operations,
		mode:      mode,
		confLo:    float32(sc.Operations.ConfidenceMin),
		confRange: float32(sc.Operations.ConfidenceMax - sc.Operations.ConfidenceMin),
	}
	if sc.Data.CueNoise != nil {
		g.cueNoise = float32(*sc.Data.CueNoise)
	}
	w := sc.Operations.Weights()
	sum := 0.0
	for _, x := range w {
		sum += x
	}
	if !(sum > 0) {
		return nil, fmt.Errorf("op weights sum to zero")
	}
	acc := 0.0
	for k, x := range w {
		acc += x / sum
		g.cum[k] = acc
	}
	// Rounding may leave the total just below 1: the last kind with a weight
	// takes everything from its start up.
	last := NumKinds - 1
	for w[last] == 0 {
		last--
	}
	for k := last; k < NumKinds; k++ {
		g.cum[k] = math.Inf(1)
	}
	return g, nil
}

// Dim returns the embedding dimension.
func (g *Generator) Dim() int { return g.dim }

// Seed returns the generator's seed.
func (g *Generator) Seed() uint64 { return g.seed }

// Spaces returns the memory space ids.
func (g *Generator) Spaces() []string { return g.spaces }

// PreloadCount returns how many memories are stored before measuring (keys
// PreloadKey(0 … n-1)).
func (g *Generator) PreloadCount() uint64 { return g.preload }

// KindOf returns the kind of op i.
func (g *Generator) KindOf(i uint64) Kind {
	r := newRNG(g.seed, streamKind, i)
	u := r.float64()
	for k := Kind(0); k < NumKinds; k++ {
		if u < g.cum[k] {
			return k
		}
	}
	return NumKinds - 1
}

// SpaceOf returns the memory space of memory k: preloaded memory j lives in
// space j mod n; memories stored by op i (and its batch) in a seeded space.
func (g *Generator) SpaceOf(k Key) string {
	if len(g.spaces) == 1 {
		return g.spaces[0]
	}
	if k.IsPreload() {
		return g.spaces[uint64(k)%uint64(len(g.spaces))]
	}
	r := newRNG(g.seed, streamSpace, uint64(k&^OpKeyBit)>>memberBits)
	return g.spaces[r.intn(uint64(len(g.spaces)))]
}

// Embedding writes the unit-length embedding of memory k into dst (grown to
// Dim if needed) and returns it.
func (g *Generator) Embedding(k Key, dst []float32) []float32 {
	dst = grow(dst, g.dim)
	r := newRNG(g.seed, streamEmbed, uint64(k))
	g.dist.fill(dst, &r)
	return dst
}

// Cluster returns the cluster memory k was drawn from (0 unless clustered).
func (g *Generator) Cluster(k Key) int {
	if len(g.dist.centres) <= 1 {
		return 0
	}
	r := newRNG(g.seed, streamEmbed, uint64(k))
	r.intn(1)
	r.intn(1)
	return int(r.intn(uint64(len(g.dist.centres))))
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
	g.fillStore(op, j, PreloadKey(j))
}

func (g *Generator) fillStore(op *Op, i uint64, k Key) {
	*op = Op{Index: i, Kind: KindStore, Key: k, Space: g.SpaceOf(k), Dim: g.dim, Embedding: op.Embedding}
	op.Embedding = g.Embedding(k, op.Embedding)
	r := newRNG(g.seed, streamParams, uint64(k))
	op.Confidence = g.confLo + float32(r.float64())*g.confRange
}

// Fill overwrites op with op i, reusing op's embedding buffer.
func (g *Generator) Fill(i uint64, op *Op) {
	kind := g.KindOf(i)
	switch kind {
	case KindStore:
		g.fillStore(op, i, OpKey(i))
		return
	case KindStoreBatch:
		n := g.ops.BatchSize
		k0 := OpKey(i)
		*op = Op{Index: i, Kind: kind, Key: MemberKey(i, 0), Space: g.SpaceOf(k0), Dim: g.dim, Count: n, Embedding: op.Embedding}
		if cap(op.Embedding) < n*g.dim {
			op.Embedding = make([]float32, n*g.dim)
		}
		op.Embedding = op.Embedding[:n*g.dim]
		r := newRNG(g.seed, streamParams, uint64(k0))
		op.Confidence = g.confLo + float32(r.float64())*g.confRange
		for m := 0; m < n; m++ {
			g.Embedding(MemberKey(i, m), op.Vector(m))
		}
		return
	}
	buf := op.Embedding
	*op = Op{Index: i, Kind: kind, Dim: g.dim}
	switch kind {
	case KindRecall, KindSearch, KindComplete:
		t, ok := g.target(i)
		op.Target, op.HasTarget = t, ok
		op.Embedding = g.cue(i, t, ok, buf)
		if ok {
			op.Space = g.SpaceOf(t)
		} else {
			op.Space = g.randomSpace(i)
		}
		switch kind {
		case KindRecall:
			op.K, op.Threshold, op.Mode = g.ops.MaxResults, float32(g.ops.RecallThreshold), g.mode
		case KindSearch:
			op.K = g.ops.SearchK
		case KindComplete:
			// The second half of the dimensions is unknown.
			for j := g.dim / 2; j < g.dim; j++ {
				op.Embedding[j] = float32(math.NaN())
			}
			op.K = 1
		}
	case KindRecallByID, KindSpread:
		t, ok := g.target(i)
		if !ok {
			t = OpKey(i) // nothing stored yet: a read of a missing memory
		}
		op.Key, op.Space = t, g.SpaceOf(t)
		if kind == KindSpread {
			op.Depth = g.ops.SpreadingDepth
			op.Threshold = 0.01
			op.K = g.ops.MaxResults
		}
	case KindForget:
		t, ok := g.earlierStore(i)
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
	r := newRNG(g.seed, streamSpace, i|1<<62)
	return g.spaces[r.intn(uint64(len(g.spaces)))]
}

// target picks the memory op i aims at: a preloaded memory, uniformly; with
// no preload, a memory stored by an earlier op.
func (g *Generator) target(i uint64) (Key, bool) {
	if g.preload > 0 {
		r := newRNG(g.seed, streamTarget, i)
		return PreloadKey(r.intn(g.preload)), true
	}
	return g.earlierStore(i)
}

// earlierStore finds a store op before i (up to 32 seeded tries).
func (g *Generator) earlierStore(i uint64) (Key, bool) {
	if i == 0 || g.cum[KindStore] == 0 {
		return 0, false
	}
	r := newRNG(g.seed, streamTarget, i|1<<63)
	for try := 0; try < 32; try++ {
		k := r.intn(i)
		if g.KindOf(k) == KindStore {
			return OpKey(k), true
		}
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
