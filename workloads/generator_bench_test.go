package workloads

import "testing"

func BenchmarkGenerateStore(b *testing.B) {
	sc, err := LoadBuiltin("mixed_balanced")
	if err != nil {
		b.Fatal(err)
	}
	sc.Operations = OperationsSpec{StoreWeight: 1, MaxResults: 10, SearchK: 10, SpreadingDepth: 3, BatchSize: 1, RecallMode: "similarity", ConfidenceMin: 0.9, ConfidenceMax: 1}
	g, err := NewGenerator(sc, 42)
	if err != nil {
		b.Fatal(err)
	}
	var op Op
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		g.Fill(uint64(i), &op)
	}
}
