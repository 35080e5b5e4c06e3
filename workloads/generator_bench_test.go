package workloads

import (
	"fmt"
	"testing"
)

// BenchmarkGenerate measures op generation per core (one goroutine). The
// issue's bar: ≥ 500,000 clustered 768-d store ops/s per core, i.e. ≤ 2 µs
// per op (kind=store/dist=clustered). Run:
//
//	go test ./workloads -run '^$' -bench Generate -count 10
func BenchmarkGenerate(b *testing.B) {
	cases := []struct {
		name string
		ops  string
		data string
	}{
		{"kind=store/dist=clustered", "store_weight = 1", `embedding_distribution = { type = "clustered", num_clusters = 10, std_dev = 0.1 }`},
		{"kind=store/dist=uniform", "store_weight = 1", `embedding_distribution = { type = "uniform" }`},
		{"kind=store/dist=drifting", "store_weight = 1", `embedding_distribution = { type = "drifting", num_clusters = 10, std_dev = 0.1 }`},
		{"kind=store/tenants=zipfian", "store_weight = 1", "memory_spaces = 16\ntenant_distribution = \"zipfian\""},
		{"kind=recall_by_cue/keys=uniform", "recall_weight = 1", ""},
		{"kind=recall_by_id/keys=zipfian", "recall_by_id_weight = 1\nkey_distribution = \"zipfian\"", ""},
		{"kind=recall_by_id/keys=latest", "recall_by_id_weight = 19\nstore_weight = 1\nkey_distribution = \"latest\"", ""},
		{"kind=mixed/planted=10", "store_weight = 40\nrecall_weight = 40\nembedding_search_weight = 20", "planted_group_size = 10"},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			text := fmt.Sprintf("[arrival]\npattern = \"constant\"\nrate = 1000\n[operations]\n%s\n[data]\npreload = 10000\nembedding_dim = 768\n%s\n", c.ops, c.data)
			sc, err := Parse("bench.toml", []byte(text))
			if err != nil {
				b.Fatal(err)
			}
			g, err := NewGenerator(sc, 42)
			if err != nil {
				b.Fatal(err)
			}
			var op Op
			b.ReportAllocs()
			i := uint64(0)
			for b.Loop() {
				g.Fill(i, &op)
				i++
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
		})
	}
}
