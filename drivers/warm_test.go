package drivers

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/engram-bench/engram-bench/workloads"
)

// orderDriver records the order in which Execute calls it.
type orderDriver struct {
	mu    sync.Mutex
	calls []string
}

func (d *orderDriver) note(s string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if n := len(d.calls); n == 0 || d.calls[n-1] != s {
		d.calls = append(d.calls, s)
	}
}

func (d *orderDriver) Probe(context.Context) error { d.note("probe"); return nil }
func (d *orderDriver) Warm(context.Context) error  { d.note("warm"); return nil }
func (d *orderDriver) Preload(_ context.Context, ops []workloads.Op) error {
	d.note("preload")
	return nil
}
func (d *orderDriver) Do(context.Context, *workloads.Op) error { d.note("do"); return nil }

func init() {
	Register(Meta{Name: "order", Help: "test double: records the order of Probe, Preload, Warm and Do", New: func(context.Context, Config) (Driver, error) {
		return &orderDriver{}, nil
	}})
}

// The connections are warmed after the preload, just before the schedule:
// a pool filled before a long preload would find its unused connections
// closed by the server's timeout for a first request.
func TestWarmAfterPreload(t *testing.T) {
	sc := parse(t, `
[operations]
store_weight = 100
[data]
embedding_dim = 8
preload = 1000
[duration]
total_seconds = 0.05
[arrival]
pattern = "constant"
rate = 200
`)
	var d *orderDriver
	res, err := Execute(context.Background(), Plan{Scenario: sc, Seed: 1, Driver: "order", MaxLag: time.Second, Concurrency: 4,
		Opened: func(x Driver) { d = x.(*orderDriver) }})
	if err != nil {
		t.Fatal(err)
	}
	if res.Preload.Memories != 1000 {
		t.Fatalf("preloaded %d", res.Preload.Memories)
	}
	want := []string{"probe", "preload", "warm", "do"}
	if len(d.calls) != len(want) {
		t.Fatalf("calls %v, want %v", d.calls, want)
	}
	for i := range want {
		if d.calls[i] != want[i] {
			t.Fatalf("calls %v, want %v", d.calls, want)
		}
	}
}
