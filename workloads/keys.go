package workloads

import (
	"fmt"
	"math"
	"sort"
)

// Key and tenant popularity (YCSB's request distributions).
//
// Items are ranked 0 … n−1 (for target keys: memories in the order they were
// stored, preload first; for tenants: space_0 … space_<n−1>).
//
//   - uniform: every item equally likely.
//   - zipfian(θ): P(rank r) ∝ 1/(r+1)^θ, item 0 the most popular (YCSB's
//     default θ = 0.99). Sampled exactly by rejection-inversion (Hörmann and
//     Derflinger 1996), which needs no ζ(n) table, so n may grow with every op.
//   - latest: zipfian over recency: the newest item is the most popular.
//   - hot_spot: hot_op_fraction of the picks go uniformly to the first
//     hot_fraction of the items, the rest uniformly to the others.
type popularity struct {
	kind        string
	theta       float64
	hotFraction float64
	hotOps      float64
	z           *zipfSampler
}

// Popularity names.
const (
	PopUniform = "uniform"
	PopZipfian = "zipfian"
	PopLatest  = "latest"
	PopHotSpot = "hot_spot"
)

// DefaultZipfTheta is YCSB's default skew.
const DefaultZipfTheta = 0.99

func newPopularity(kind string, theta, hotFraction, hotOps float64) (*popularity, error) {
	p := &popularity{kind: kind, theta: theta, hotFraction: hotFraction, hotOps: hotOps}
	switch kind {
	case "", PopUniform:
		p.kind = PopUniform
	case PopZipfian, PopLatest:
		if !(theta > 0) || theta > 10 {
			return nil, fmt.Errorf("zipf theta must be in (0, 10], got %g", theta)
		}
		p.z = newZipfSampler(theta)
	case PopHotSpot:
		if !(hotFraction > 0 && hotFraction < 1) || !(hotOps >= 0 && hotOps <= 1) {
			return nil, fmt.Errorf("hot_spot needs hot_fraction in (0, 1) and hot_op_fraction in [0, 1]")
		}
	default:
		return nil, fmt.Errorf("unknown distribution %q (want uniform, zipfian, latest or hot_spot)", kind)
	}
	return p, nil
}

// pick returns a rank in [0, n) (n ≥ 1).
func (p *popularity) pick(n uint64, r *rng) uint64 {
	switch p.kind {
	case PopZipfian:
		return p.z.sample(n, r) - 1
	case PopLatest:
		return n - p.z.sample(n, r)
	case PopHotSpot:
		hot := uint64(math.Ceil(p.hotFraction * float64(n)))
		hot = min(max(hot, 1), n)
		if r.float64() < p.hotOps || hot == n {
			return r.intn(hot)
		}
		return hot + r.intn(n-hot)
	default:
		return r.intn(n)
	}
}

// zipfSampler draws k in [1, n] with P(k) ∝ k^−s by rejection-inversion
// (W. Hörmann, G. Derflinger: "Rejection-inversion to generate variates from
// monotone discrete distributions", 1996). Expected draws per sample < 1.1.
type zipfSampler struct {
	s                 float64
	hIntegralX1, sCut float64
}

func newZipfSampler(s float64) *zipfSampler {
	z := &zipfSampler{s: s}
	z.hIntegralX1 = z.hIntegral(1.5) - 1
	z.sCut = 2 - z.hIntegralInverse(z.hIntegral(2.5)-z.h(2))
	return z
}

func (z *zipfSampler) sample(n uint64, r *rng) uint64 {
	if n <= 1 {
		return 1
	}
	hN := z.hIntegral(float64(n) + 0.5)
	for {
		u := hN + r.float64()*(z.hIntegralX1-hN)
		x := z.hIntegralInverse(u)
		kf := math.Floor(x + 0.5)
		k := uint64(1)
		if kf > 1 {
			k = min(uint64(kf), n)
		}
		if float64(k)-x <= z.sCut || u >= z.hIntegral(float64(k)+0.5)-z.h(float64(k)) {
			return k
		}
	}
}

// h(x) = x^−s; hIntegral is its antiderivative (up to a constant), written
// with log1p/expm1 helpers so that s = 1 needs no special case.
func (z *zipfSampler) h(x float64) float64 { return math.Exp(-z.s * math.Log(x)) }

func (z *zipfSampler) hIntegral(x float64) float64 {
	lx := math.Log(x)
	return helper2((1-z.s)*lx) * lx
}

func (z *zipfSampler) hIntegralInverse(x float64) float64 {
	t := x * (1 - z.s)
	if t < -1 {
		t = -1 // numerical safety at the left end
	}
	return math.Exp(helper1(t) * x)
}

// helper1(x) = log1p(x)/x, helper2(x) = expm1(x)/x, both → 1 at 0.
func helper1(x float64) float64 {
	if math.Abs(x) > 1e-8 {
		return math.Log1p(x) / x
	}
	return 1 - x*(0.5-x*(1.0/3-0.25*x))
}

func helper2(x float64) float64 {
	if math.Abs(x) > 1e-8 {
		return math.Expm1(x) / x
	}
	return 1 + x*0.5*(1+x*(1.0/3)*(1+0.25*x))
}

// cdfTable draws from a fixed discrete distribution over [0, n) by binary
// search on its cumulative weights (tenant skew: n ≤ MaxMemorySpaces).
type cdfTable []float64

func newZipfTable(n int, theta float64) cdfTable {
	c := make(cdfTable, n)
	acc := 0.0
	for k := range c {
		acc += math.Pow(float64(k+1), -theta)
		c[k] = acc
	}
	for k := range c {
		c[k] /= acc
	}
	c[n-1] = math.Inf(1)
	return c
}

func (c cdfTable) pick(r *rng) int {
	u := r.float64()
	return sort.SearchFloat64s(c, u)
}

// ZipfProbability returns P(rank r) of a zipfian(θ) over n items: the
// reference the statistics tests and docs compare against.
func ZipfProbability(r, n uint64, theta float64) float64 {
	var zeta float64
	for k := uint64(1); k <= n; k++ {
		zeta += math.Pow(float64(k), -theta)
	}
	return math.Pow(float64(r+1), -theta) / zeta
}
