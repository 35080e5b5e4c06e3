package workloads

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"testing"
)

// chiSquare compares observed counts per rank with expected probabilities:
// ranks below cut get a cell each, the rest share one. It returns the
// statistic and the degrees of freedom.
func chiSquare(obs map[uint64]int, p func(r uint64) float64, n uint64, total int, cut uint64) (float64, int) {
	var chi, restP float64
	rest := total
	for r := uint64(0); r < cut && r < n; r++ {
		e := p(r) * float64(total)
		o := float64(obs[r])
		chi += (o - e) * (o - e) / e
		rest -= obs[r]
		restP += p(r)
	}
	if e := (1 - restP) * float64(total); e > 5 {
		chi += (float64(rest) - e) * (float64(rest) - e) / e
		return chi, int(min(cut, n))
	}
	return chi, int(min(cut, n)) - 1
}

// chiLimit is a generous upper bound for a χ² statistic with df degrees of
// freedom (mean df, sd √(2df); about p = 0.0001).
func chiLimit(df int) float64 { return float64(df) + 6*math.Sqrt(2*float64(df)) }

// zipfian(θ) frequencies match P(r) = (r+1)^−θ / ζ(n, θ), for the sampler on
// its own and for latest (the same law over recency).
func TestZipfianFrequencies(t *testing.T) {
	for _, theta := range []float64{0.5, 0.99, 1.0, 1.5} {
		for _, kind := range []string{PopZipfian, PopLatest} {
			t.Run(fmt.Sprintf("%s/theta=%g", kind, theta), func(t *testing.T) {
				const n, draws = 1000, 200_000
				p, err := newPopularity(kind, theta, 0, 0)
				if err != nil {
					t.Fatal(err)
				}
				zeta := 0.0
				for k := 1; k <= n; k++ {
					zeta += math.Pow(float64(k), -theta)
				}
				obs := map[uint64]int{}
				for i := uint64(0); i < draws; i++ {
					r := newRNG(5, streamPick, i)
					rank := p.pick(n, &r)
					if rank >= n {
						t.Fatalf("rank %d out of [0, %d)", rank, n)
					}
					if kind == PopLatest {
						rank = n - 1 - rank // the newest item is rank 0 of the law
					}
					obs[rank]++
				}
				prob := func(r uint64) float64 { return math.Pow(float64(r+1), -theta) / zeta }
				chi, df := chiSquare(obs, prob, n, draws, 40)
				if chi > chiLimit(df) {
					t.Errorf("χ² = %.1f with %d df (limit %.1f): frequencies do not follow zipfian(%g)", chi, df, chiLimit(df), theta)
				}
				// The head ratio is the law's signature: f(1)/f(2) = 2^θ.
				if got, want := float64(obs[0])/float64(obs[1]), math.Pow(2, theta); math.Abs(got-want)/want > 0.05 {
					t.Errorf("f(rank 0)/f(rank 1) = %.3f, want 2^θ = %.3f", got, want)
				}
			})
		}
	}
	if got, want := ZipfProbability(0, 3, 1), 1/(1+0.5+1.0/3); math.Abs(got-want) > 1e-12 {
		t.Errorf("ZipfProbability(0, 3, 1) = %v, want %v", got, want)
	}
}

func TestHotSpotAndUniformPicks(t *testing.T) {
	const n, draws = 500, 100_000
	hot, _ := newPopularity(PopHotSpot, 0, 0.2, 0.8)
	uni, _ := newPopularity(PopUniform, 0, 0, 0)
	inHot := 0
	counts := make([]int, n)
	for i := uint64(0); i < draws; i++ {
		r := newRNG(2, streamPick, i)
		if hot.pick(n, &r) < 100 {
			inHot++
		}
		r = newRNG(3, streamPick, i)
		counts[uni.pick(n, &r)]++
	}
	if share := float64(inHot) / draws; math.Abs(share-0.8) > 0.006 {
		t.Errorf("hot_spot: %.3f of picks in the hot 20%%, want 0.8", share)
	}
	chi := 0.0
	e := float64(draws) / n
	for _, c := range counts {
		chi += (float64(c) - e) * (float64(c) - e) / e
	}
	if chi > chiLimit(n-1) {
		t.Errorf("uniform: χ² = %.0f with %d df", chi, n-1)
	}
}

func scenarioText(t *testing.T, text string) *Scenario {
	t.Helper()
	sc, err := Parse("test.toml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

// YCSB C over a preload with zipfian keys: by-id reads hit p0 with
// probability P(0) of zipfian(0.99) over the preload.
func TestGeneratorKeySkew(t *testing.T) {
	sc := scenarioText(t, `
[arrival]
pattern = "constant"
rate = 1000
[operations]
recall_by_id_weight = 1
key_distribution = "zipfian"
[data]
preload = 1000
embedding_dim = 8
`)
	g, err := NewGenerator(sc, 1)
	if err != nil {
		t.Fatal(err)
	}
	obs := map[uint64]int{}
	const draws = 100_000
	var op Op
	for i := uint64(0); i < draws; i++ {
		g.Fill(i, &op)
		if op.Kind != KindRecallByID || !op.Key.IsPreload() {
			t.Fatalf("op %d: %s", i, op.String())
		}
		obs[uint64(op.Key)]++
	}
	chi, df := chiSquare(obs, func(r uint64) float64 { return ZipfProbability(r, 1000, 0.99) }, 1000, draws, 30)
	if chi > chiLimit(df) {
		t.Errorf("χ² = %.1f with %d df: by-id targets are not zipfian(0.99)", chi, df)
	}
}

// latest over a growing store: reads aim at memories stored by recent ops
// (at least min_target_age back), never at ones not stored yet.
func TestGeneratorLatestFollowsWrites(t *testing.T) {
	sc := scenarioText(t, `
[arrival]
pattern = "constant"
rate = 1000
[operations]
store_weight = 5
recall_by_id_weight = 95
key_distribution = "latest"
min_target_age = 10
[data]
preload = 100
embedding_dim = 8
`)
	g, _ := NewGenerator(sc, 4)
	var op Op
	var ages []float64
	for i := uint64(5000); i < 15000; i++ {
		g.Fill(i, &op)
		if op.Kind != KindRecallByID {
			continue
		}
		if op.Key.IsPreload() {
			continue
		}
		j := uint64(op.Key&^OpKeyBit) >> memberBits
		if j+10 > i {
			t.Fatalf("op %d reads m%d: younger than min_target_age", i, j)
		}
		if g.KindOf(j) != KindStore {
			t.Fatalf("op %d reads m%d, which op %d did not store", i, j, j)
		}
		ages = append(ages, float64(i-j))
	}
	sort.Float64s(ages)
	// With 5% stores, the newest eligible memory is ~10–30 ops back; zipfian
	// over recency puts the median within a few dozen stores of it.
	if med := ages[len(ages)/2]; med > 400 {
		t.Errorf("median age of a latest read %v ops: not skewed to recent writes", med)
	}
	if len(ages) < 8000 {
		t.Errorf("only %d reads aimed at memories stored during the run", len(ages))
	}
}

// Tenant skew: stores spread over spaces by zipfian(θ), space_0 busiest.
func TestTenantSkew(t *testing.T) {
	sc := scenarioText(t, `
[arrival]
pattern = "constant"
rate = 1000
[operations]
store_weight = 1
[data]
preload = 0
embedding_dim = 8
memory_spaces = 16
tenant_distribution = "zipfian"
tenant_theta = 1.2
`)
	g, _ := NewGenerator(sc, 7)
	obs := map[uint64]int{}
	const draws = 80_000
	for i := uint64(0); i < draws; i++ {
		var n uint64
		fmt.Sscanf(strings.TrimPrefix(g.SpaceOf(OpKey(i)), "space_"), "%d", &n)
		obs[n]++
	}
	chi, df := chiSquare(obs, func(r uint64) float64 { return ZipfProbability(r, 16, 1.2) }, 16, draws, 16)
	if chi > chiLimit(df) {
		t.Errorf("χ² = %.1f with %d df: tenants are not zipfian(1.2): %v", chi, df, obs)
	}
}

// Drifting clusters: memories sit at the clustered mean cosine from their
// centre at their own time, and a centre has turned by 90° after drift_ops.
func TestDriftingStatistics(t *testing.T) {
	const sigma, drift = 0.1, 10_000
	d, err := newDistribution(DistributionSpec{Type: "drifting", NumClusters: 3, StdDev: sigma, DriftOps: drift}, 768, 5)
	if err != nil {
		t.Fatal(err)
	}
	want := 1 / math.Sqrt(1+3*sigma*sigma)
	var sum, sumStale float64
	const n = 2000
	v := make([]float32, 768)
	for k := 0; k < n; k++ {
		tau := float64(k * 10) // 0 … 20,000: two 90° turns
		r := newRNG(5, streamEmbed, uint64(k))
		c := d.fillAt(v, &r, tau)
		sum += Cosine(v, d.centreAt(c, tau))
		sumStale += Cosine(v, d.centreAt(c, 0))
	}
	if got := sum / n; math.Abs(got-want) > 0.005 {
		t.Errorf("mean cosine to the moving centre %.4f, want %.4f", got, want)
	}
	if got := sumStale / n; got > 0.75*want {
		t.Errorf("mean cosine to the starting centre %.4f: the centres did not move", got)
	}
	for c := 0; c < 3; c++ {
		if cos := Cosine(d.centreAt(c, 0), d.centreAt(c, drift)); math.Abs(cos) > 0.15 {
			t.Errorf("cluster %d: centre after drift_ops has cosine %.3f to its start, want ≈ 0", c, cos)
		}
		if cos := Cosine(d.centreAt(c, 0), d.centreAt(c, drift/10)); cos < 0.95 {
			t.Errorf("cluster %d: centre moved too fast (cosine %.3f after a tenth of drift_ops)", c, cos)
		}
	}
}

// Planted groups: a cue's exact nearest neighbours among the preload are its
// target's group, so recall@10 has a known answer.
func TestPlantedGroups(t *testing.T) {
	sc := scenarioText(t, `
[arrival]
pattern = "constant"
rate = 1000
[operations]
recall_weight = 1
[data]
preload = 2000
planted_group_size = 10
embedding_distribution = { type = "clustered", num_clusters = 5, std_dev = 0.1 }
`)
	g, _ := NewGenerator(sc, 8)
	vecs := make([][]float32, 2000)
	for j := range vecs {
		vecs[j] = g.Embedding(PreloadKey(uint64(j)), nil)
	}
	for i := uint64(0); i < 40; i++ {
		op := g.Op(i)
		if op.ExpectN != 10 || uint64(op.ExpectFrom)%10 != 0 || op.Target < op.ExpectFrom || op.Target >= op.ExpectFrom+10 {
			t.Fatalf("op %d: target %s, expected %s+%d", i, op.Target.ID(), op.ExpectFrom.ID(), op.ExpectN)
		}
		type hit struct {
			j   int
			cos float64
		}
		hits := make([]hit, len(vecs))
		for j, v := range vecs {
			hits[j] = hit{j, Cosine(op.Embedding, v)}
		}
		sort.Slice(hits, func(a, b int) bool { return hits[a].cos > hits[b].cos })
		op.BeginScore()
		for rank := 0; rank < 10; rank++ {
			op.ScoreResult(rank, PreloadKey(uint64(hits[rank].j)).ID())
		}
		if op.Found != 10 || !op.Hit {
			t.Errorf("op %d: exact top 10 holds %d of the planted group (hit %v)", i, op.Found, op.Hit)
		}
	}
}

// Spreading depth is drawn from its weights; search k from its range.
func TestDepthAndKDistributions(t *testing.T) {
	sc := scenarioText(t, `
[arrival]
pattern = "constant"
rate = 1000
[operations]
spreading_activation_weight = 1
embedding_search_weight = 1
spreading_depth_weights = [3, 1, 0, 0, 2]
search_k_min = 1
search_k = 4
[data]
preload = 100
embedding_dim = 8
`)
	g, _ := NewGenerator(sc, 3)
	depth := map[int]int{}
	ks := map[int]int{}
	var op Op
	nd, nk := 0, 0
	for i := uint64(0); i < 60000; i++ {
		g.Fill(i, &op)
		switch op.Kind {
		case KindSpread:
			depth[op.Depth]++
			nd++
		case KindSearch:
			ks[op.K]++
			nk++
		}
	}
	for d, w := range map[int]float64{1: 0.5, 2: 1.0 / 6, 3: 0, 4: 0, 5: 1.0 / 3} {
		if got := float64(depth[d]) / float64(nd); math.Abs(got-w) > 0.01 {
			t.Errorf("depth %d: share %.3f, want %.3f", d, got, w)
		}
	}
	for k := 1; k <= 4; k++ {
		if got := float64(ks[k]) / float64(nk); math.Abs(got-0.25) > 0.01 {
			t.Errorf("k = %d: share %.3f, want 0.25", k, got)
		}
	}
}

// Updates move a memory a little; forgets delete only forgettable stores,
// which no other op targets.
func TestUpdatesAndForgets(t *testing.T) {
	sc := scenarioText(t, `
[arrival]
pattern = "constant"
rate = 1000
[operations]
store_weight = 30
update_weight = 20
read_modify_write_weight = 10
forget_weight = 2
recall_by_id_weight = 38
[data]
preload = 50
`)
	g, _ := NewGenerator(sc, 6)
	var op Op
	forgets, updates, again := 0, 0, 0
	forgotten := map[Key]bool{}
	age := uint64(sc.Operations.MinTargetAge)
	for i := uint64(200); i < 5200; i++ {
		g.Fill(i, &op)
		switch op.Kind {
		case KindUpdate, KindReadModify:
			orig := g.Embedding(op.Key, nil)
			if c := Cosine(op.Embedding, orig); c < 0.999 || c > 0.99999 {
				t.Fatalf("op %d: update moved %s to cosine %.5f", i, op.Key.ID(), c)
			}
			updates++
		case KindForget:
			j := uint64(op.Key&^OpKeyBit) >> memberBits
			if op.Key.IsPreload() || !g.ephemeralStore(j) || g.KindOf(j) != KindStore {
				t.Fatalf("op %d forgets %s, which is not a forgettable store", i, op.Key.ID())
			}
			if j+age > i {
				t.Fatalf("op %d forgets %s, younger than min_target_age %d", i, op.Key.ID(), age)
			}
			if forgotten[op.Key] {
				again++
			}
			forgotten[op.Key] = true
			forgets++
		case KindRecallByID:
			if !op.Key.IsPreload() && g.ephemeralStore(uint64(op.Key&^OpKeyBit)>>memberBits) {
				t.Fatalf("op %d reads %s, which a forget may have deleted", i, op.Key.ID())
			}
		}
	}
	if forgets < 50 || updates < 1000 {
		t.Errorf("%d forgets, %d updates", forgets, updates)
	}
	// With more forgettable stores than forgets, a forget finds its memory:
	// drawn with replacement, 40 of these 92 forgets were repeats. (The
	// first blocks of a run, before a source block exists, still draw at
	// random: 7 repeats here, all before op 1,024.)
	if again > 7 {
		t.Errorf("%d of %d forgets pick a memory an earlier forget took", again, forgets)
	}
}

// hot_spot embeddings sit around one centre: with a seeded cube-uniform
// centre the mean cosine to it is 1/√(1+3σ²), as for one cluster.
func TestHotSpotEmbeddingStatistics(t *testing.T) {
	for _, sigma := range []float64{0.01, 0.2} {
		d, err := newDistribution(DistributionSpec{Type: "hot_spot", StdDev: sigma}, 768, 3)
		if err != nil {
			t.Fatal(err)
		}
		var sum float64
		const n = 2000
		v := make([]float32, 768)
		for k := 0; k < n; k++ {
			r := newRNG(3, streamEmbed, uint64(k))
			d.fill(v, &r)
			sum += Cosine(v, d.centres[0])
		}
		if got, want := sum/n, 1/math.Sqrt(1+3*sigma*sigma); math.Abs(got-want) > 0.005 {
			t.Errorf("σ=%g: mean cosine to the hot spot %.4f, want %.4f", sigma, got, want)
		}
	}
}
