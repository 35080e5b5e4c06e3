package workloads

import (
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"math"
	"os"
	"sort"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/fingerprints.txt")

// fingerprint hashes the first n ops and the first m preload ops of a scenario.
func fingerprint(t *testing.T, sc *Scenario, seed uint64, n, m uint64) string {
	t.Helper()
	g, err := NewGenerator(sc, seed)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	var op Op
	for j := uint64(0); j < m && j < g.PreloadCount(); j++ {
		g.FillPreload(j, &op)
		fmt.Fprintln(h, op.String())
	}
	for i := uint64(0); i < n; i++ {
		g.Fill(i, &op)
		fmt.Fprintln(h, op.String())
	}
	a, err := NewSchedule(sc, seed)
	if err != nil {
		t.Fatal(err)
	}
	seq := NewSequence(a)
	for i := uint64(0); i < n; i++ {
		fmt.Fprintln(h, seq.Next())
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// Every built-in scenario's op stream is fixed for a seed: same bytes on
// every machine, for every release. A change here changes every baseline.
func TestOpStreamFingerprints(t *testing.T) {
	var lines []string
	for _, name := range BuiltinNames() {
		sc, err := LoadBuiltin(name)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, name+" "+fingerprint(t, sc, 1, 2000, 200))
	}
	sort.Strings(lines)
	got := strings.Join(lines, "\n") + "\n"
	const file = "testdata/fingerprints.txt"
	if *update {
		if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run go test ./workloads -update)", err)
	}
	if got != string(want) {
		t.Errorf("op stream fingerprints changed:\n got %s\nwant %s", got, want)
	}
}

func TestDeterminism(t *testing.T) {
	sc, _ := LoadBuiltin("multi_tenant")
	g1, _ := NewGenerator(sc, 42)
	g2, _ := NewGenerator(sc, 42)
	g3, _ := NewGenerator(sc, 43)
	same := 0
	for i := uint64(0); i < 500; i++ {
		// Ask in a different order: op i does not depend on earlier calls.
		a, b := g1.Op(i), g2.Op(499-i)
		b = g2.Op(i)
		if a.String() != b.String() {
			t.Fatalf("op %d differs between two generators with one seed", i)
		}
		if c := g3.Op(i); c.String() == a.String() {
			same++
		}
	}
	if same > 0 {
		t.Errorf("%d ops identical under another seed", same)
	}
}

func TestOpRoundTrip(t *testing.T) {
	sc, _ := LoadBuiltin("consolidation")
	sc.Operations.RecallByIDWeight = 10
	sc.Operations.StoreBatchWeight = 5
	sc.Operations.SpreadingActivationWeight = 5
	sc.Operations.BatchSize = 3
	g, err := NewGenerator(sc, 9)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[Kind]bool{}
	for i := uint64(0); i < 300; i++ {
		op := g.Op(i)
		kinds[op.Kind] = true
		s := op.String()
		back, err := ParseOp(s)
		if err != nil {
			t.Fatalf("ParseOp(%q): %v", s[:min(len(s), 80)], err)
		}
		if back.String() != s {
			t.Fatalf("op %d does not round-trip", i)
		}
	}
	if len(kinds) < 6 {
		t.Errorf("only %d kinds generated", len(kinds))
	}
}

func TestKeys(t *testing.T) {
	for _, k := range []Key{PreloadKey(0), PreloadKey(123456), OpKey(0), OpKey(99), MemberKey(7, 0), MemberKey(7, MaxBatch-1)} {
		back, err := ParseKey(k.ID())
		if err != nil || back != k {
			t.Errorf("ParseKey(%q) = %v, %v; want %v", k.ID(), back, err, k)
		}
	}
	if OpKey(5).ID() != "m5" || MemberKey(5, 2).ID() != "m5.2" || PreloadKey(5).ID() != "p5" {
		t.Errorf("ids: %s %s %s", OpKey(5).ID(), MemberKey(5, 2).ID(), PreloadKey(5).ID())
	}
	for _, bad := range []string{"", "x1", "p", "m1.x", "p-1", "m1.99999"} {
		if _, err := ParseKey(bad); err == nil {
			t.Errorf("ParseKey(%q) accepted", bad)
		}
	}
}

// Cues aim at stored memories: the target is the cue's nearest neighbour
// among the memories stored so far (preload and earlier stores).
func TestCuesAimAtTargets(t *testing.T) {
	sc, _ := LoadBuiltin("quickstart")
	pre := int64(500)
	sc.Data.Preload = &pre
	g, _ := NewGenerator(sc, 3)
	keys := []Key{}
	vecs := [][]float32{}
	for j := 0; j < int(pre); j++ {
		keys = append(keys, PreloadKey(uint64(j)))
		vecs = append(vecs, g.Embedding(PreloadKey(uint64(j)), nil))
	}
	checked, onStores := 0, 0
	for i := uint64(0); i < 600; i++ {
		op := g.Op(i)
		if op.Kind == KindStore {
			keys = append(keys, op.Key)
			vecs = append(vecs, append([]float32(nil), op.Embedding...))
			continue
		}
		if op.Kind != KindRecall && op.Kind != KindSearch {
			continue
		}
		if !op.HasTarget {
			t.Fatal("cue without a target despite preload")
		}
		best, bestCos := -1, -2.0
		for j, v := range vecs {
			if c := Cosine(op.Embedding, v); c > bestCos {
				best, bestCos = j, c
			}
		}
		if keys[best] != op.Target {
			t.Errorf("op %d aims at %s but its nearest memory is %s", i, op.Target.ID(), keys[best].ID())
		}
		if !op.Target.IsPreload() {
			onStores++
			if j := uint64(op.Target&^OpKeyBit) >> memberBits; j+DefaultMinTargetAge > i {
				t.Errorf("op %d aims at %s, stored fewer than %d ops earlier", i, op.Target.ID(), DefaultMinTargetAge)
			}
		}
		checked++
	}
	if checked < 150 || onStores == 0 {
		t.Errorf("only %d cues checked, %d aimed at memories stored during the run", checked, onStores)
	}
}

// The pooled noise keeps the distribution honest: unit vectors, the mean
// cosine to the cluster centre matches 1/sqrt(1+3σ²), noise vectors are
// uncorrelated, and components have the right spread.
func TestDistributionStatistics(t *testing.T) {
	for _, sigma := range []float64{0.05, 0.1, 0.3} {
		t.Run(fmt.Sprint("sigma=", sigma), func(t *testing.T) {
			spec := DistributionSpec{Type: "clustered", NumClusters: 4, StdDev: sigma}
			d, err := newDistribution(spec, 768, 11)
			if err != nil {
				t.Fatal(err)
			}
			const n = 3000
			var sumCos float64
			vs := make([][]float32, n)
			for k := 0; k < n; k++ {
				r := newRNG(11, streamEmbed, uint64(k))
				v := make([]float32, 768)
				c := d.fill(v, &r)
				var norm float64
				for _, x := range v {
					norm += float64(x) * float64(x)
				}
				if math.Abs(norm-1) > 1e-4 {
					t.Fatalf("vector %d has norm² %f", k, norm)
				}
				sumCos += Cosine(v, d.centres[c])
				vs[k] = v
			}
			want := 1 / math.Sqrt(1+3*sigma*sigma)
			if got := sumCos / n; math.Abs(got-want) > 0.005 {
				t.Errorf("mean cosine to centre %.4f, want %.4f", got, want)
			}
			// Residuals (vector minus its projection on the centre) of two
			// vectors are uncorrelated: mean |cos| ~ sqrt(2/(π·768)).
			var sumAbs float64
			pairs := 0
			for k := 0; k+1 < 1000; k += 2 {
				a, b := residual(vs[k], d), residual(vs[k+1], d)
				sumAbs += math.Abs(Cosine(a, b))
				pairs++
			}
			expect := math.Sqrt(2 / (math.Pi * 768))
			if got := sumAbs / float64(pairs); math.Abs(got-expect) > 0.006 {
				t.Errorf("mean |cos| between noise vectors %.4f, want %.4f (independent)", got, expect)
			}
		})
	}
	t.Run("uniform", func(t *testing.T) {
		d, _ := newDistribution(DistributionSpec{Type: "uniform"}, 768, 5)
		var sum, sumSq float64
		prev := make([]float32, 768)
		for k := 0; k < 2000; k++ {
			r := newRNG(5, streamEmbed, uint64(k))
			v := make([]float32, 768)
			d.fill(v, &r)
			if k > 0 {
				c := Cosine(v, prev)
				sum += c
				sumSq += c * c
			}
			prev = v
		}
		mean, sd := sum/1999, math.Sqrt(sumSq/1999-(sum/1999)*(sum/1999))
		if math.Abs(mean) > 0.003 || math.Abs(sd-1/math.Sqrt(768)) > 0.003 {
			t.Errorf("uniform: cosine between neighbours mean %.4f sd %.4f, want 0 and %.4f", mean, sd, 1/math.Sqrt(768))
		}
	})
}

// residual removes from v its component along the nearest centre.
func residual(v []float32, d *distribution) []float32 {
	best, bc := 0, -2.0
	for i, c := range d.centres {
		if x := Cosine(v, c); x > bc {
			best, bc = i, x
		}
	}
	c := d.centres[best]
	var cc, vc float64
	for j := range c {
		cc += float64(c[j]) * float64(c[j])
		vc += float64(v[j]) * float64(c[j])
	}
	out := make([]float32, len(v))
	for j := range v {
		out[j] = v[j] - float32(vc/cc)*c[j]
	}
	return out
}

func FuzzParseOp(f *testing.F) {
	sc, _ := LoadBuiltin("quickstart")
	sc.Data.EmbeddingDim = 4
	g, _ := NewGenerator(sc, 1)
	for i := uint64(0); i < 5; i++ {
		op := g.Op(i)
		f.Add(op.String())
	}
	f.Add("#1 store space=default key=m1 emb=AAAA dim=0")
	f.Fuzz(func(t *testing.T, s string) {
		op, err := ParseOp(s)
		if err != nil {
			return
		}
		again, err := ParseOp(op.String())
		if err != nil {
			t.Fatalf("re-parse of %q: %v", op.String(), err)
		}
		if again.String() != op.String() {
			t.Fatalf("not stable: %q vs %q", again.String(), op.String())
		}
	})
}
