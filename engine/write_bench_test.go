package engine

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/cockroachdb/pebble/v2"
)

// BenchmarkStoreWrite measures the cost of the engine's pebble write path
// (Store.write: the hand-off that lets callers stop waiting for a write
// wedged after a WAL failure) against calling the same function on the
// caller's goroutine (path=direct), for an empty function (fn=noop: the
// hand-off alone) and a NoSync pebble write of a memory-sized value
// (fn=set_nosync: what Remember commits). caller=pinned runs the caller
// locked to its OS thread, as BenchmarkEngine's single-goroutine
// sub-benchmarks and Options.Slowdown do: a hand-off from a locked goroutine
// needs two OS thread switches per write, whatever the engine does.
// goroutines=4 is four callers on the 2 processors.
//
//	go test ./engine -run '^$' -bench BenchmarkStoreWrite -count 6
func BenchmarkStoreWrite(b *testing.B) {
	s, err := Open(b.TempDir(), Options{NoSync: true, SyncInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	val := make([]byte, 3200)
	fns := []struct {
		name string
		fn   func(i int) func() error
	}{
		{"noop", func(int) func() error { return func() error { return nil } }},
		{"set_nosync", func(i int) func() error {
			key := []byte(fmt.Sprintf("!bench_write_%d", i%4096))
			return func() error { return s.db.Set(key, val, pebble.NoSync) }
		}},
	}
	for _, f := range fns {
		for _, pinned := range []bool{false, true} {
			caller := "free"
			if pinned {
				caller = "pinned"
			}
			for _, path := range []string{"direct", "write"} {
				b.Run(fmt.Sprintf("fn=%s/caller=%s/path=%s", f.name, caller, path), func(b *testing.B) {
					if pinned {
						runtime.LockOSThread()
						defer runtime.UnlockOSThread()
					}
					b.ReportAllocs()
					i := 0
					for b.Loop() {
						fn := f.fn(i)
						var err error
						if path == "direct" {
							err = fn()
						} else {
							err = s.write(fn, nil)
						}
						if err != nil {
							b.Fatal(err)
						}
						i++
					}
				})
			}
		}
		b.Run(fmt.Sprintf("fn=%s/caller=free/path=write/goroutines=4", f.name), func(b *testing.B) {
			b.ReportAllocs()
			b.SetParallelism(4 / runtime.GOMAXPROCS(0))
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					if err := s.write(f.fn(i), nil); err != nil {
						b.Error(err)
						return
					}
					i++
				}
			})
		})
	}
}
