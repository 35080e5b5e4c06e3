package engine

import (
	"fmt"
	"os"
	"strconv"
	"testing"

	"github.com/engram-bench/engram-bench/workloads"
)

// envInt reads a test size from the environment (default def).
func envInt(t testing.TB, name string, def int) int {
	if v := os.Getenv(name); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("%s=%q: want a positive integer", name, v)
		}
		return n
	}
	return def
}

// loadScenario preloads n memories of a built-in scenario's generator into
// a store (one space) and returns the generator.
func loadScenario(t testing.TB, s *Store, scenario string, n int) *workloads.Generator {
	t.Helper()
	sc, err := workloads.LoadBuiltin(scenario)
	if err != nil {
		t.Fatal(err)
	}
	np := int64(n)
	sc.Data.Preload = &np
	sc.Data.NumNodes = np
	sc.Data.MemorySpaces = 1
	sc.Data.EmbeddingDim = s.Dim()
	gen, err := workloads.NewGenerator(sc, 1)
	if err != nil {
		t.Fatal(err)
	}
	const batch = 500
	var op workloads.Op
	for lo := 0; lo < n; lo += batch {
		ms := make([]Memory, 0, batch)
		for j := lo; j < min(lo+batch, n); j++ {
			gen.FillPreload(uint64(j), &op)
			ms = append(ms, Memory{ID: op.Key.ID(), Content: workloads.Content(op.Key), Embedding: append([]float32(nil), op.Embedding...), Confidence: op.Confidence})
		}
		if err := s.RememberBatch(ctx, op.Space, ms); err != nil {
			t.Fatal(err)
		}
	}
	return gen
}

// recallAt10 measures the index against exact search on queries the
// generator makes for embedding_search ops (a stored memory plus cue noise).
func recallAt10(t testing.TB, s *Store, gen *workloads.Generator, queries int) float64 {
	t.Helper()
	var op workloads.Op
	hits, total := 0, 0
	for i := uint64(0); total < queries*10; i++ {
		gen.Fill(i, &op)
		if op.Kind != workloads.KindSearch && op.Kind != workloads.KindRecall {
			continue
		}
		got, err := s.Nearest(ctx, op.Space, op.Embedding, 10)
		if err != nil {
			t.Fatal(err)
		}
		want, err := s.Search(ctx, op.Space, op.Embedding, 10)
		if err != nil {
			t.Fatal(err)
		}
		in := map[string]bool{}
		for _, m := range got {
			in[m.ID] = true
		}
		for _, m := range want {
			if in[m.ID] {
				hits++
			}
		}
		total += len(want)
	}
	return float64(hits) / float64(total)
}

// The index's recall@10 against exact search is at least 0.95 on the
// clustered data the harness sends: the real workload generator's clustered
// distribution of the built-in scenarios, with their cue noise.
// ENGRAM_RECALL_N sets the memories per case (default 3000).
func TestIndexRecallClustered(t *testing.T) {
	n := envInt(t, "ENGRAM_RECALL_N", 3000)
	for _, sc := range []string{"embeddings_search", "consolidation", "quickstart"} {
		t.Run(fmt.Sprintf("scenario=%s/n=%d", sc, n), func(t *testing.T) {
			s := open(t, t.TempDir(), Options{NoSync: true, NoAutoLink: true})
			defer s.Close()
			gen := loadScenario(t, s, sc, n)
			r := recallAt10(t, s, gen, 200)
			t.Logf("recall@10 = %.4f", r)
			if r < 0.95 {
				t.Errorf("recall@10 = %.4f, want >= 0.95", r)
			}
		})
	}
}
