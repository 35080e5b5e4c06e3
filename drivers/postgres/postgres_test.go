package postgres_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/engram-bench/engram-bench/drivers"
	"github.com/engram-bench/engram-bench/drivers/drivertest"
	"github.com/engram-bench/engram-bench/drivers/postgres"
	"github.com/engram-bench/engram-bench/drivers/systems"
	"github.com/engram-bench/engram-bench/drivers/systems/systemstest"
	"github.com/engram-bench/engram-bench/workloads"
)

func newDriver(tb testing.TB, target string, opts map[string]string) *postgres.Driver {
	tb.Helper()
	d, err := postgres.New(context.Background(), drivers.Config{Target: target, Dim: drivertest.Dim, Concurrency: 16, Options: opts})
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

func TestConformance(t *testing.T) {
	srv := systemstest.Start(t, "postgres", systems.Options{})
	drivertest.Conformance(t, func(tb testing.TB) drivers.Driver {
		return newDriver(tb, srv.Target, nil)
	}, drivertest.Features{
		Forget: true,
		Search: func(ctx context.Context, d drivers.Driver, space string, q []float32, k int) ([]drivertest.Match, error) {
			res, err := d.(*postgres.Driver).Search(ctx, space, q, k)
			out := make([]drivertest.Match, len(res))
			for i, m := range res {
				out[i] = drivertest.Match{ID: m.ID, Score: m.Score}
			}
			return out, err
		},
	})
}

func TestFreshSchemaAndDescribe(t *testing.T) {
	srv := systemstest.Start(t, "postgres", systems.Options{})
	ctx := context.Background()
	op := workloads.Op{Kind: workloads.KindStore, Space: "default", Key: workloads.PreloadKey(1), Embedding: []float32{1, 2, 3}, Dim: 3}
	get := func(d *postgres.Driver) error {
		g := workloads.Op{Kind: workloads.KindRecallByID, Space: "default", Key: op.Key}
		return d.Do(ctx, &g)
	}
	first := newDriver(t, srv.Target, nil)
	defer first.Close()
	if err := first.Probe(ctx); err != nil {
		t.Fatal(err)
	}
	if err := first.Do(ctx, &op); err != nil {
		t.Fatal(err)
	}
	if d := first.Describe(); !strings.Contains(d, "PostgreSQL 1") || !strings.Contains(d, "exact") {
		t.Errorf("Describe() = %q", d)
	}
	kept := newDriver(t, srv.Target, map[string]string{"fresh": "false"})
	defer kept.Close()
	if err := kept.Probe(ctx); err != nil {
		t.Fatal(err)
	}
	if err := get(kept); err != nil {
		t.Errorf("fresh=false: earlier memory gone: %v", err)
	}
	fresh := newDriver(t, srv.Target, nil)
	defer fresh.Close()
	if err := fresh.Probe(ctx); err != nil {
		t.Fatal(err)
	}
	if c := drivers.Classify(get(fresh)); c != "not_found" {
		t.Errorf("fresh driver still reads an earlier memory: class %q", c)
	}
}

func TestArrayModeForcedAndPgvectorRequired(t *testing.T) {
	srv := systemstest.Start(t, "postgres", systems.Options{})
	ctx := context.Background()
	arr := newDriver(t, srv.Target, map[string]string{"vector": "array"})
	defer arr.Close()
	if err := arr.Probe(ctx); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(arr.Describe(), "real[]") {
		t.Errorf("vector=array: %s", arr.Describe())
	}
	pgv := newDriver(t, srv.Target, map[string]string{"vector": "pgvector"})
	defer pgv.Close()
	err := pgv.Probe(ctx)
	if strings.Contains(pgv.Describe(), "pgvector 0") {
		if err != nil {
			t.Errorf("pgvector present but vector=pgvector failed: %v", err)
		}
		return
	}
	if err == nil || !strings.Contains(err.Error(), "vector=pgvector") {
		t.Errorf("vector=pgvector without pgvector: %v", err)
	}
}

func TestBadConfigAndUnreachable(t *testing.T) {
	for _, tc := range []struct {
		name   string
		target string
		opts   map[string]string
		want   string
	}{
		{name: "no target", want: "--target"},
		{name: "bad URL", target: "postgres://x:y:z", want: `target "postgres://x:y:z"`},
		{name: "unknown option", target: "postgres://u@127.0.0.1:1/db", opts: map[string]string{"pool": "3"}, want: `option "pool"`},
		{name: "bad vector", target: "postgres://u@127.0.0.1:1/db", opts: map[string]string{"vector": "hnsw"}, want: `vector="hnsw"`},
		{name: "empty schema", target: "postgres://u@127.0.0.1:1/db", opts: map[string]string{"schema": ""}, want: `schema=""`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := postgres.New(context.Background(), drivers.Config{Target: tc.target, Options: tc.opts})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err %v, want it to mention %s", err, tc.want)
			}
		})
	}
	t.Run("a closed port is connection_refused", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		d := newDriver(t, "postgres://u@"+addr+"/db?sslmode=disable", nil)
		defer d.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if c := drivers.Classify(d.Probe(ctx)); c != "connection_refused" {
			t.Errorf("class %q (%v)", c, d.Probe(ctx))
		}
	})
}
