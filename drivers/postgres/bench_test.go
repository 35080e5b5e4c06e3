package postgres_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/engram-bench/engram-bench/drivers/drivertest"
	"github.com/engram-bench/engram-bench/drivers/systems"
	"github.com/engram-bench/engram-bench/drivers/systems/systemstest"
	"github.com/engram-bench/engram-bench/workloads"
)

// BenchmarkSearch measures one exact in-SQL search over a space of n
// 768-d memories (a sequential scan computing sum(a*b) over unnest per row).
//
//	go test ./drivers/postgres -run '^$' -bench Search -benchtime 50x
func BenchmarkSearch(b *testing.B) {
	srv := systemstest.Start(b, "postgres", systems.Options{})
	sc := drivertest.Scenario(b)
	sc.Data.EmbeddingDim = 768
	sc.Data.MemorySpaces = 1
	gen, err := workloads.NewGenerator(sc, 1)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for _, n := range []int{1000, 5000} {
		b.Run(fmt.Sprintf("memories=%d", n), func(b *testing.B) {
			d := newDriver(b, srv.Target, nil)
			defer d.Close()
			if err := d.Probe(ctx); err != nil {
				b.Fatal(err)
			}
			ops := make([]workloads.Op, n)
			for j := range ops {
				gen.FillPreload(uint64(j), &ops[j])
			}
			if err := d.Preload(ctx, ops); err != nil {
				b.Fatal(err)
			}
			q := gen.Embedding(workloads.PreloadKey(3), nil)
			b.SetBytes(int64(n) * 768 * 4)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := d.Search(ctx, ops[0].Space, q, 10); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
