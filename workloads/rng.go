package workloads

import (
	"math"
	"math/bits"
)

// Streams keep the random numbers of different decisions apart, so that, say,
// the op kind of op i and its embedding never share bits.
const (
	streamKind uint64 = iota + 1
	streamEmbed
	streamTarget
	streamSpace
	streamCue
	streamArrival
	streamCentre
	streamPool
	streamPreload
	streamParams
	streamBursty
	streamThink
	streamPick
	streamTenant
	streamDepth
	streamPlant
	streamUpdate
)

// mix64 is SplitMix64's finaliser: a bijective, well-mixed hash of x.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// rng is a tiny counter-based generator (SplitMix64). It is seeded from
// (seed, stream, index), never from time or a worker id, so every random
// decision is a pure function of its inputs.
type rng struct{ s uint64 }

func newRNG(seed, stream, i uint64) rng {
	return rng{s: mix64(seed^mix64(stream*0x9e3779b97f4a7c15+0x632be59bd9b4e019)) ^ mix64(i+0x2545f4914f6cdd1d)}
}

func (r *rng) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	return mix64(r.s)
}

// float64 returns a uniform value in [0, 1).
func (r *rng) float64() float64 { return float64(r.next()>>11) * (1.0 / (1 << 53)) }

// intn returns a uniform value in [0, n) (Lemire's multiply-shift; the bias is
// below n/2^64).
func (r *rng) intn(n uint64) uint64 {
	hi, _ := bits.Mul64(r.next(), n)
	return hi
}

// exp returns an exponential value with mean 1.
func (r *rng) exp() float64 { return -math.Log1p(-r.float64()) }
