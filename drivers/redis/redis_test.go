package redis_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/engram-bench/engram-bench/drivers"
	"github.com/engram-bench/engram-bench/drivers/drivertest"
	"github.com/engram-bench/engram-bench/drivers/redis"
	"github.com/engram-bench/engram-bench/drivers/systems"
	"github.com/engram-bench/engram-bench/drivers/systems/systemstest"
	"github.com/engram-bench/engram-bench/workloads"
)

func newDriver(tb testing.TB, target string, opts map[string]string) *redis.Driver {
	tb.Helper()
	d, err := redis.New(context.Background(), drivers.Config{Target: target, Dim: drivertest.Dim, Concurrency: 16, Options: opts})
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

func TestConformance(t *testing.T) {
	srv := systemstest.Start(t, "redis", systems.Options{})
	drivertest.Conformance(t, func(tb testing.TB) drivers.Driver {
		return newDriver(tb, srv.Target, nil) // fresh=true: each case starts empty
	}, drivertest.Features{
		Forget: true,
		Search: func(ctx context.Context, d drivers.Driver, space string, q []float32, k int) ([]drivertest.Match, error) {
			res, err := d.(*redis.Driver).Search(ctx, space, q, k)
			out := make([]drivertest.Match, len(res))
			for i, m := range res {
				out[i] = drivertest.Match{ID: m.ID, Score: m.Score}
			}
			return out, err
		},
	})
}

func TestFreshAndPrefix(t *testing.T) {
	srv := systemstest.Start(t, "redis", systems.Options{})
	ctx := context.Background()
	store := func(d *redis.Driver, j uint64) {
		t.Helper()
		op := workloads.Op{Kind: workloads.KindStore, Space: "default", Key: workloads.PreloadKey(j), Embedding: []float32{1, 2, 3}, Dim: 3}
		if err := d.Do(ctx, &op); err != nil {
			t.Fatal(err)
		}
	}
	present := func(d *redis.Driver, j uint64) bool {
		op := workloads.Op{Kind: workloads.KindRecallByID, Space: "default", Key: workloads.PreloadKey(j)}
		return d.Do(ctx, &op) == nil
	}
	for _, tc := range []struct {
		name      string
		opts      map[string]string
		wantKept  bool
		otherKept bool
	}{
		{name: "fresh (default) deletes an earlier run's keys", opts: nil, wantKept: false, otherKept: true},
		{name: "fresh=false keeps them", opts: map[string]string{"fresh": "false"}, wantKept: true, otherKept: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			first := newDriver(t, srv.Target, map[string]string{"fresh": "false"})
			defer first.Close()
			other := newDriver(t, srv.Target, map[string]string{"fresh": "false", "prefix": "someone-else:"})
			defer other.Close()
			store(first, 1)
			store(other, 1)
			second := newDriver(t, srv.Target, tc.opts)
			defer second.Close()
			if err := second.Probe(ctx); err != nil {
				t.Fatal(err)
			}
			if got := present(second, 1); got != tc.wantKept {
				t.Errorf("earlier memory present = %v, want %v", got, tc.wantKept)
			}
			if got := present(other, 1); got != tc.otherKept {
				t.Errorf("another prefix's memory present = %v: a reset must only touch its own prefix", got)
			}
		})
	}
}

func TestDescribeSaysHowSearchWorks(t *testing.T) {
	srv := systemstest.Start(t, "redis", systems.Options{})
	d := newDriver(t, srv.Target, nil)
	defer d.Close()
	if err := d.Probe(context.Background()); err != nil {
		t.Fatal(err)
	}
	desc := d.Describe()
	if !strings.HasPrefix(desc, "redis 7") && !strings.HasPrefix(desc, "redis ") || !strings.Contains(desc, "exact scan in the client") {
		t.Errorf("Describe() = %q", desc)
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
		{name: "target without port", target: "localhost", want: `target "localhost"`},
		{name: "bad URL", target: "redis://x:y:z/abc", want: "redis://x:y:z/abc"},
		{name: "unknown option", target: "127.0.0.1:1", opts: map[string]string{"pool": "3"}, want: `option "pool"`},
		{name: "bad fresh", target: "127.0.0.1:1", opts: map[string]string{"fresh": "maybe"}, want: `fresh="maybe"`},
		{name: "bad timeout", target: "127.0.0.1:1", opts: map[string]string{"timeout": "-1s"}, want: `timeout="-1s"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := redis.New(context.Background(), drivers.Config{Target: tc.target, Options: tc.opts})
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
		d := newDriver(t, addr, nil)
		defer d.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if c := drivers.Classify(d.Probe(ctx)); c != "connection_refused" {
			t.Errorf("class %q", c)
		}
	})
}
