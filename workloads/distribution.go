package workloads

import (
	"fmt"
	"math"
)

// Embedding distributions. All follow Engram's loadtest definition, without its
// clamp to [-1, 1]: a centre c (clustered: components uniform in [-1, 1], one
// seeded centre per cluster; hot_spot: the configured centre, zero-padded, or a
// seeded one), plus per-component Gaussian noise of standard deviation σ
// (std_dev), then normalised to unit length. For a uniform-cube centre in d
// dimensions |c|² ≈ d/3, so the mean cosine between a memory and its centre is
//
//	cos ≈ |c| / √(|c|² + dσ²) = 1 / √(1 + 3σ²)       (0.985 for σ = 0.1)
//
// and two memories of one cluster have cosine ≈ 1/(1 + 3σ²). "uniform" draws a
// direction uniformly on the unit sphere (a normalised Gaussian vector).
//
// Speed: Gaussian noise comes from a seeded pool of poolSize standard normals.
// A vector's noise is (pool[a:a+d] + pool[b:b+d]) / √2 for two offsets a, b
// drawn from the vector's own seed: still exactly Gaussian per component, and two
// vectors share noise only if both offsets collide (probability ≈ 1/poolSize²).
// distribution_test.go checks the resulting statistics.
//
// "drifting" is clustered with moving centres: cluster c has two seeded
// cube-uniform vectors a_c, b_c and at memory time τ its centre is
// cos(φ)·a_c + sin(φ)·b_c with φ = (π/2)·τ/drift_ops, so a centre has turned
// by 90° (is unrelated to where it started) after drift_ops memories. Since
// a_c and b_c are nearly orthogonal with |a_c|² ≈ |b_c|² ≈ d/3, the centre's
// norm stays ≈ √(d/3) and the mean cosine to the centre is the clustered one.
// A memory's time τ is its preload index j, or preload + i for op i.
type distribution struct {
	kind     string
	dim      int
	sigma    float32
	centres  [][]float32 // clustered, drifting: one per cluster; hot_spot: one
	centres2 [][]float32 // drifting: the second basis vector per cluster
	driftOps float64
	pool     []float32
}

const poolMin = 1 << 20

func newDistribution(spec DistributionSpec, dim int, seed uint64) (*distribution, error) {
	d := &distribution{kind: spec.Type, dim: dim, sigma: float32(spec.StdDev)}
	n := max(poolMin, 64*dim)
	d.pool = make([]float32, n)
	r := newRNG(seed, streamPool, 0)
	for i := 0; i < n; i += 2 {
		// Box–Muller, both values.
		u1, u2 := r.float64(), r.float64()
		if u1 < 1e-300 {
			u1 = 1e-300
		}
		m := math.Sqrt(-2 * math.Log(u1))
		d.pool[i] = float32(m * math.Cos(2*math.Pi*u2))
		if i+1 < n {
			d.pool[i+1] = float32(m * math.Sin(2*math.Pi*u2))
		}
	}
	switch spec.Type {
	case "clustered":
		d.centres = make([][]float32, spec.NumClusters)
		for c := range d.centres {
			d.centres[c] = cubeCentre(seed, uint64(c), dim)
		}
	case "hot_spot":
		if len(spec.Center) > 0 {
			c := make([]float32, dim)
			for j, x := range spec.Center {
				c[j] = float32(x)
			}
			d.centres = [][]float32{c}
		} else {
			d.centres = [][]float32{cubeCentre(seed, 1<<40, dim)}
		}
	case "drifting":
		d.centres = make([][]float32, spec.NumClusters)
		d.centres2 = make([][]float32, spec.NumClusters)
		for c := range d.centres {
			d.centres[c] = cubeCentre(seed, uint64(c), dim)
			d.centres2[c] = cubeCentre(seed, uint64(c)|1<<41, dim)
		}
		d.driftOps = float64(spec.DriftOps)
	case "uniform":
		d.sigma = 1
	default:
		return nil, fmt.Errorf("unknown embedding distribution %q", spec.Type)
	}
	return d, nil
}

func cubeCentre(seed, c uint64, dim int) []float32 {
	r := newRNG(seed, streamCentre, c)
	v := make([]float32, dim)
	for j := range v {
		v[j] = float32(2*r.float64() - 1)
	}
	return v
}

// fillAt is fill for a memory of time tau (only drifting depends on it).
func (d *distribution) fillAt(dst []float32, r *rng, tau float64) int {
	if d.centres2 == nil {
		return d.fill(dst, r)
	}
	span := uint64(len(d.pool) - d.dim)
	a := r.intn(span)
	b := r.intn(span)
	cluster := int(r.intn(uint64(len(d.centres))))
	phi := math.Pi / 2 * tau / d.driftOps
	ca, cb := float32(math.Cos(phi)), float32(math.Sin(phi))
	s := d.sigma * (1 / math.Sqrt2)
	pa, pb := d.pool[a:a+uint64(d.dim)], d.pool[b:b+uint64(d.dim)]
	c0, c1 := d.centres[cluster], d.centres2[cluster]
	var s0, s1 float32
	for j := range dst {
		x := float32(ca*c0[j]) + float32(cb*c1[j]) + float32(s*float32(pa[j]+pb[j]))
		dst[j] = x
		if j&1 == 0 {
			s0 += float32(x * x)
		} else {
			s1 += float32(x * x)
		}
	}
	scale(dst, s0+s1)
	return cluster
}

// centreAt returns cluster c's centre at time tau (a new slice).
func (d *distribution) centreAt(c int, tau float64) []float32 {
	out := make([]float32, d.dim)
	if d.centres2 == nil {
		copy(out, d.centres[c])
		return out
	}
	phi := math.Pi / 2 * tau / d.driftOps
	for j := range out {
		out[j] = float32(math.Cos(phi))*d.centres[c][j] + float32(math.Sin(phi))*d.centres2[c][j]
	}
	return out
}

// fill writes the embedding for random stream r into dst (len dim) and returns
// the cluster it belongs to (0 for uniform and hot_spot).
func (d *distribution) fill(dst []float32, r *rng) int {
	span := uint64(len(d.pool) - d.dim)
	a := r.intn(span)
	b := r.intn(span)
	pa := d.pool[a : a+uint64(d.dim)]
	pb := d.pool[b : b+uint64(d.dim)]
	s := d.sigma * (1 / math.Sqrt2)
	cluster := 0
	var c []float32
	if d.centres != nil {
		if len(d.centres) > 1 {
			cluster = int(r.intn(uint64(len(d.centres))))
		}
		c = d.centres[cluster]
	}
	scale(dst, noiseInto(dst, c, pa, pb, s))
	return cluster
}

// perturb writes normalize(src + noise of norm ≈ rho) into dst.
func (d *distribution) perturb(dst, src []float32, rho float32, r *rng) {
	span := uint64(len(d.pool) - d.dim)
	a := r.intn(span)
	b := r.intn(span)
	s := rho / float32(math.Sqrt(float64(d.dim))) * (1 / math.Sqrt2)
	scale(dst, noiseInto(dst, src, d.pool[a:a+uint64(d.dim)], d.pool[b:b+uint64(d.dim)], s))
}

// noiseInto sets dst[j] = c[j] + s·(pa[j] + pb[j]) (c may be nil) and
// returns Σ dst[j]². Each step is rounded to float32 explicitly, so no platform
// fuses it into an FMA, and the sum uses four accumulators in a fixed order:
// the op stream is the same bytes on every machine.
func noiseInto(dst, c, pa, pb []float32, s float32) float32 {
	n := len(dst)
	pa, pb = pa[:n], pb[:n]
	if c == nil {
		c = zeros[:0]
	}
	var s0, s1, s2, s3 float32
	j := 0
	if len(c) >= n {
		c = c[:n]
		for ; j+4 <= n; j += 4 {
			x0 := c[j] + float32(s*float32(pa[j]+pb[j]))
			x1 := c[j+1] + float32(s*float32(pa[j+1]+pb[j+1]))
			x2 := c[j+2] + float32(s*float32(pa[j+2]+pb[j+2]))
			x3 := c[j+3] + float32(s*float32(pa[j+3]+pb[j+3]))
			dst[j], dst[j+1], dst[j+2], dst[j+3] = x0, x1, x2, x3
			s0 += float32(x0 * x0)
			s1 += float32(x1 * x1)
			s2 += float32(x2 * x2)
			s3 += float32(x3 * x3)
		}
		for ; j < n; j++ {
			x := c[j] + float32(s*float32(pa[j]+pb[j]))
			dst[j] = x
			s0 += float32(x * x)
		}
	} else {
		for ; j+4 <= n; j += 4 {
			x0 := float32(s * float32(pa[j]+pb[j]))
			x1 := float32(s * float32(pa[j+1]+pb[j+1]))
			x2 := float32(s * float32(pa[j+2]+pb[j+2]))
			x3 := float32(s * float32(pa[j+3]+pb[j+3]))
			dst[j], dst[j+1], dst[j+2], dst[j+3] = x0, x1, x2, x3
			s0 += float32(x0 * x0)
			s1 += float32(x1 * x1)
			s2 += float32(x2 * x2)
			s3 += float32(x3 * x3)
		}
		for ; j < n; j++ {
			x := float32(s * float32(pa[j]+pb[j]))
			dst[j] = x
			s0 += float32(x * x)
		}
	}
	return (s0 + s1) + (s2 + s3)
}

var zeros [0]float32

// scale multiplies v by 1/√sum (sum = Σ v²); the zero vector is left alone.
func scale(v []float32, sum float32) {
	if sum == 0 {
		return
	}
	inv := float32(1 / math.Sqrt(float64(sum)))
	j := 0
	for ; j+4 <= len(v); j += 4 {
		v[j] *= inv
		v[j+1] *= inv
		v[j+2] *= inv
		v[j+3] *= inv
	}
	for ; j < len(v); j++ {
		v[j] *= inv
	}
}

// normalize scales v to unit length.
func normalize(v []float32) {
	var s0, s1, s2, s3 float32
	j := 0
	for ; j+4 <= len(v); j += 4 {
		s0 += float32(v[j] * v[j])
		s1 += float32(v[j+1] * v[j+1])
		s2 += float32(v[j+2] * v[j+2])
		s3 += float32(v[j+3] * v[j+3])
	}
	for ; j < len(v); j++ {
		s0 += float32(v[j] * v[j])
	}
	scale(v, (s0+s1)+(s2+s3))
}

// Normalize scales v to unit length in place (the zero vector is left alone).
func Normalize(v []float32) { normalize(v) }

// Cosine returns the cosine similarity of a and b.
func Cosine(a, b []float32) float64 {
	var dot, na, nb float64
	for j := range a {
		dot += float64(a[j]) * float64(b[j])
		na += float64(a[j]) * float64(a[j])
		nb += float64(b[j]) * float64(b[j])
	}
	if na == 0 || nb == 0 {
		return 0
	}
	return dot / math.Sqrt(na*nb)
}
