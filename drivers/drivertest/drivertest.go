// Package drivertest checks that a driver does what the workload asks, against
// its real target: Conformance stores memories, reads them back, checks that
// searches return exactly what a brute-force cosine ranking returns, that
// memory spaces do not see each other, and that ops the target cannot do fail
// with drivers.ErrUnsupported.
//
// It is for tests of drivers (redis, postgres, and any later one): each test
// starts its real server and calls Conformance with a constructor.
//
// Adding a check: add a named case to Conformance; keep it independent of the
// others (each case gets a fresh driver on a fresh data set).
package drivertest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"testing"
	"time"

	"github.com/engram-bench/engram-bench/drivers"
	"github.com/engram-bench/engram-bench/workloads"
)

// Dim is the embedding dimension of the conformance data set (small, so the
// checks run fast; the drivers do not depend on it).
const Dim = 64

// Scenario returns the conformance scenario: two memory spaces, 300 clustered
// memories preloaded, every op kind in the mix, 200 ops/s for 2 s.
func Scenario(tb testing.TB) *workloads.Scenario {
	tb.Helper()
	sc, err := workloads.Parse("conformance.toml", []byte(fmt.Sprintf(`
name = "conformance"
[duration]
total_seconds = 2
[arrival]
pattern = "constant"
rate = 200.0
[operations]
store_weight = 20.0
recall_weight = 20.0
embedding_search_weight = 20.0
recall_by_id_weight = 20.0
store_batch_weight = 5.0
pattern_completion_weight = 5.0
spreading_activation_weight = 5.0
consolidation_weight = 5.0
batch_size = 10
[data]
num_nodes = 300
preload = 300
embedding_dim = %d
memory_spaces = 2
embedding_distribution = { type = "clustered", num_clusters = 5, std_dev = 0.1 }
`, Dim)))
	if err != nil {
		tb.Fatal(err)
	}
	return sc
}

// Features lists what a driver claims to support beyond store, store_batch,
// recall_by_id, recall_by_cue and embedding_search (which every driver
// checked here must do).
type Features struct {
	Forget bool
	// Search, when set, is the driver's direct top-k search (ids and cosine
	// scores, best first), checked rank by rank against brute force.
	Search func(ctx context.Context, d drivers.Driver, space string, query []float32, k int) ([]Match, error)
}

// New opens a driver on a fresh data set (its test's server, emptied).
type New func(tb testing.TB) drivers.Driver

// Conformance runs every check against drivers made by newDriver.
func Conformance(t *testing.T, newDriver New, f Features) {
	sc := Scenario(t)
	gen, err := workloads.NewGenerator(sc, 7)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	open := func(t *testing.T) drivers.Driver {
		d := newDriver(t)
		t.Cleanup(func() { drivers.Close(d) })
		if p, ok := d.(drivers.Prober); ok {
			pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			if err := p.Probe(pctx); err != nil {
				t.Fatalf("probe: %v", err)
			}
		}
		return d
	}
	preload := func(t *testing.T, d drivers.Driver, n uint64) {
		t.Helper()
		byspace := map[string][]workloads.Op{}
		for j := uint64(0); j < n; j++ {
			var op workloads.Op
			gen.FillPreload(j, &op)
			byspace[op.Space] = append(byspace[op.Space], op)
		}
		for sp, ops := range byspace {
			if pl, ok := d.(drivers.Preloader); ok {
				if err := pl.Preload(ctx, ops); err != nil {
					t.Fatalf("preload %s: %v", sp, err)
				}
				continue
			}
			for i := range ops {
				if err := d.Do(ctx, &ops[i]); err != nil {
					t.Fatalf("store %s: %v", ops[i].Key.ID(), err)
				}
			}
		}
	}
	const n = 300

	t.Run("store then recall_by_id returns the stored content", func(t *testing.T) {
		d := open(t)
		var op workloads.Op
		gen.FillPreload(42, &op)
		if err := d.Do(ctx, &op); err != nil {
			t.Fatal(err)
		}
		get := workloads.Op{Kind: workloads.KindRecallByID, Space: op.Space, Key: op.Key}
		if err := d.Do(ctx, &get); err != nil {
			t.Fatal(err)
		}
		if !get.Scored || !get.Hit {
			t.Errorf("scored %v hit %v", get.Scored, get.Hit)
		}
		// Storing the same id again replaces it (no duplicate, no error).
		if err := d.Do(ctx, &op); err != nil {
			t.Errorf("re-store: %v", err)
		}
	})

	t.Run("recall_by_id of a missing memory is class not_found", func(t *testing.T) {
		d := open(t)
		get := workloads.Op{Kind: workloads.KindRecallByID, Space: "default", Key: workloads.OpKey(999)}
		err := d.Do(ctx, &get)
		if c := drivers.Classify(err); c != "not_found" {
			t.Errorf("class %q (err %v), want not_found", c, err)
		}
	})

	t.Run("searches rank exactly as brute-force cosine does", func(t *testing.T) {
		d := open(t)
		preload(t, d, n)
		for i := uint64(0); i < 40; i++ {
			var q workloads.Op
			kind := workloads.KindSearch
			if i%2 == 1 {
				kind = workloads.KindRecall
			}
			// Cue: memory j's embedding perturbed, taken from a real op of the stream.
			q = findOp(t, gen, kind, i)
			want := bruteForce(gen, n, q.Space, q.Embedding, q.K)
			if err := d.Do(ctx, &q); err != nil {
				t.Fatalf("%s: %v", q.Kind, err)
			}
			if !q.Scored {
				t.Fatalf("%s aimed at %s was not scored", q.Kind, q.Target.ID())
			}
			wantHit, wantFound := false, 0
			for rank, m := range want {
				if kind == workloads.KindRecall && m.Score < float64(q.Threshold) {
					break
				}
				if m.ID == q.Target.ID() {
					wantHit = true
				}
				if k, err := workloads.ParseKey(m.ID); err == nil && rank < q.ScoreDepth() && q.Expects(k) {
					wantFound++
				}
			}
			if q.Hit != wantHit {
				t.Errorf("op %d %s: hit %v, brute force says %v (top %v)", q.Index, q.Kind, q.Hit, wantHit, want)
			}
			// Found is what recall@10 counts: a driver that only sets Hit
			// reports recall@10 = 0 for a perfect answer.
			if q.Found != wantFound {
				t.Errorf("op %d %s: found %d of the expected memories in the top %d, brute force says %d (top %v)", q.Index, q.Kind, q.Found, q.ScoreDepth(), wantFound, want)
			}
		}
		if f.Search != nil {
			for i := uint64(0); i < 20; i++ {
				q := findOp(t, gen, workloads.KindSearch, 100+i)
				got, err := f.Search(ctx, d, q.Space, q.Embedding, 10)
				if err != nil {
					t.Fatal(err)
				}
				want := bruteForce(gen, n, q.Space, q.Embedding, 10)
				if len(got) != len(want) {
					t.Fatalf("search returned %d, want %d", len(got), len(want))
				}
				for r := range want {
					if math.Abs(float64(got[r].Score)-want[r].Score) > 1e-4 {
						t.Errorf("query %d rank %d: %s %.6f, brute force %s %.6f", i, r, got[r].ID, got[r].Score, want[r].ID, want[r].Score)
					}
				}
				if got[0].ID != want[0].ID {
					t.Errorf("query %d: best %s, brute force %s", i, got[0].ID, want[0].ID)
				}
			}
		}
	})

	t.Run("memory spaces do not see each other", func(t *testing.T) {
		d := open(t)
		var op workloads.Op
		gen.FillPreload(0, &op) // space_0
		if op.Space != "space_0" {
			t.Fatalf("preload 0 is in %s", op.Space)
		}
		if err := d.Do(ctx, &op); err != nil {
			t.Fatal(err)
		}
		get := workloads.Op{Kind: workloads.KindRecallByID, Space: "space_1", Key: op.Key}
		if c := drivers.Classify(d.Do(ctx, &get)); c != "not_found" {
			t.Errorf("memory of space_0 read from space_1: class %q", c)
		}
		q := workloads.Op{Kind: workloads.KindSearch, Space: "space_1", Embedding: op.Embedding, K: 10, Target: op.Key, HasTarget: true, Dim: Dim}
		if err := d.Do(ctx, &q); err != nil {
			t.Fatal(err)
		}
		if q.Hit {
			t.Error("search of space_1 found a memory of space_0")
		}
		if f.Search != nil {
			res, err := f.Search(ctx, d, "space_1", op.Embedding, 10)
			if err != nil || len(res) != 0 {
				t.Errorf("search of an empty space: %v, %v", res, err)
			}
		}
	})

	t.Run("store_batch stores every member", func(t *testing.T) {
		d := open(t)
		b := findOp(t, gen, workloads.KindStoreBatch, 0)
		if err := d.Do(ctx, &b); err != nil {
			t.Fatal(err)
		}
		for m := 0; m < b.Count; m++ {
			get := workloads.Op{Kind: workloads.KindRecallByID, Space: b.Space, Key: workloads.MemberKey(b.Index, m)}
			if err := d.Do(ctx, &get); err != nil || !get.Hit {
				t.Errorf("member %d: %v hit %v", m, err, get.Hit)
			}
		}
	})

	t.Run("forget", func(t *testing.T) {
		d := open(t)
		var op workloads.Op
		gen.FillPreload(5, &op)
		if err := d.Do(ctx, &op); err != nil {
			t.Fatal(err)
		}
		fg := workloads.Op{Kind: workloads.KindForget, Space: op.Space, Key: op.Key}
		err := d.Do(ctx, &fg)
		if !f.Forget {
			if !errors.Is(err, drivers.ErrUnsupported) {
				t.Errorf("forget on a driver without it: %v", err)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		get := workloads.Op{Kind: workloads.KindRecallByID, Space: op.Space, Key: op.Key}
		if c := drivers.Classify(d.Do(ctx, &get)); c != "not_found" {
			t.Errorf("read after forget: class %q", c)
		}
		if c := drivers.Classify(d.Do(ctx, &fg)); c != "not_found" {
			t.Errorf("second forget: class %q", c)
		}
	})

	t.Run("ops the target cannot do are unsupported, not errors", func(t *testing.T) {
		d := open(t)
		preload(t, d, n) // a target that can do them needs data to do them on
		for _, k := range []workloads.Kind{workloads.KindComplete, workloads.KindSpread, workloads.KindConsolidate} {
			op := findOp(t, gen, k, 0)
			err := d.Do(ctx, &op)
			if err == nil {
				continue // the driver can do it
			}
			if c := drivers.Classify(err); c != "unsupported" {
				t.Errorf("%s: class %q (%v), want unsupported or success", k, c, err)
			}
		}
	})

	t.Run("a whole run: preload, open-loop load, exact recall", func(t *testing.T) {
		name := "drivertest-run-" + t.Name()
		var opened drivers.Driver
		drivers.Register(drivers.Meta{Name: name, New: func(context.Context, drivers.Config) (drivers.Driver, error) {
			opened = newDriver(t)
			return opened, nil
		}})
		res, err := drivers.Execute(ctx, drivers.Plan{Scenario: sc, Seed: 7, Driver: name, Concurrency: 16})
		if err != nil {
			t.Fatal(err)
		}
		if opened == nil || res.Preload.Memories != n || res.Preload.Errors != 0 {
			t.Fatalf("preload %+v", res.Preload)
		}
		for _, k := range []string{"store", "recall_by_id", "recall_by_cue", "embedding_search", "store_batch"} {
			st, ok := res.Ops[k]
			if !ok || st.Count == 0 {
				t.Errorf("%s: no ops", k)
				continue
			}
			if st.Errors != 0 {
				t.Errorf("%s: %d errors %v", k, st.Errors, st.ErrorsByClass)
			}
		}
		for _, k := range []string{"recall_by_cue", "embedding_search"} {
			if hr := res.Ops[k].HitRate; hr == nil || *hr < 0.95 {
				t.Errorf("%s hit rate %v: exact search on clustered data should find nearly every target", k, hr)
			}
		}
		for _, k := range []string{"pattern_completion", "spreading_activation", "consolidation"} {
			st := res.Ops[k]
			if st.Errors != st.ErrorsByClass["unsupported"] {
				t.Errorf("%s: errors %v other than unsupported", k, st.ErrorsByClass)
			}
		}
	})
}

// Match is one search result: a memory id and its cosine similarity.
type Match struct {
	ID    string
	Score float32
}

type ref struct {
	ID    string
	Score float64
}

// bruteForce ranks the first n preloaded memories of space by cosine to q.
func bruteForce(gen *workloads.Generator, n uint64, space string, q []float32, k int) []ref {
	var out []ref
	var buf []float32
	qn := norm(q)
	for j := uint64(0); j < n; j++ {
		key := workloads.PreloadKey(j)
		if gen.SpaceOf(key) != space {
			continue
		}
		buf = gen.Embedding(key, buf)
		var dot float64
		for i := range q {
			dot += float64(q[i]) * float64(buf[i])
		}
		out = append(out, ref{ID: key.ID(), Score: dot / (qn * norm(buf))})
	}
	sort.Slice(out, func(a, b int) bool {
		if out[a].Score != out[b].Score {
			return out[a].Score > out[b].Score
		}
		return out[a].ID < out[b].ID
	})
	if len(out) > k {
		out = out[:k]
	}
	return out
}

func norm(v []float32) float64 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	return math.Sqrt(s)
}

// findOp returns the nth op of kind in the stream (searching a bounded prefix).
func findOp(tb testing.TB, gen *workloads.Generator, kind workloads.Kind, nth uint64) workloads.Op {
	tb.Helper()
	seen := uint64(0)
	for i := uint64(0); i < 100_000; i++ {
		if gen.KindOf(i) != kind {
			continue
		}
		if seen == nth {
			return gen.Op(i)
		}
		seen++
	}
	tb.Fatalf("no op %d of kind %s in the first 100000", nth, kind)
	return workloads.Op{}
}
