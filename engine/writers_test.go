package engine

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// bareStore is a Store with no pebble under it, for the write path alone.
func bareStore(idle time.Duration) *Store {
	return &Store{failCh: make(chan struct{}), writers: newWriterPool(idle)}
}

// waitFor polls cond for up to 10 s (a bound for a broken pool, not a
// timing assertion).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
	}
}

// Every caller gets its own write's result and its done runs once, with
// many callers sharing (and reusing pooled tasks on) a few writers.
func TestWriterPoolResults(t *testing.T) {
	s := bareStore(time.Minute)
	const callers, each = 8, 500
	var wg sync.WaitGroup
	dones := make([]atomic.Int32, callers*each)
	for c := 0; c < callers; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				n := c*each + i
				want := error(nil)
				if n%3 == 0 {
					want = fmt.Errorf("write %d", n)
				}
				err := s.write(func() error { return want }, func() { dones[n].Add(1) })
				if err != want {
					t.Errorf("write %d returned %v, want %v", n, err, want)
					return
				}
				if dones[n].Load() != 1 {
					t.Errorf("write %d: done ran %d times before write returned", n, dones[n].Load())
					return
				}
			}
		}()
	}
	wg.Wait()
	if n := s.inPebble.Load(); n != 0 {
		t.Errorf("inPebble = %d after all writes returned", n)
	}
	if live := s.writers.live.Load(); live < 1 || live > callers {
		t.Errorf("%d writers for %d concurrent callers", live, callers)
	}
	s.writers.stop(true)
	if live := s.writers.live.Load(); live != 0 {
		t.Errorf("%d writers left after stop", live)
	}
	if err := s.write(func() error { t.Error("write ran after stop"); return nil }, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("write after stop: %v, want ErrClosed", err)
	}
}

// One caller writing again and again uses one writer: it is back on the
// free count before its caller has the result.
func TestWriterPoolSequentialOneWriter(t *testing.T) {
	s := bareStore(time.Minute)
	defer s.writers.stop(true)
	for i := 0; i < 2000; i++ {
		if err := s.write(func() error { return nil }, nil); err != nil {
			t.Fatal(err)
		}
	}
	if n := s.writers.live.Load(); n != 1 {
		t.Errorf("%d writers for one sequential caller", n)
	}
}

// A writer that has been idle for a while exits; the next write starts a
// new one.
func TestWriterPoolIdleExit(t *testing.T) {
	s := bareStore(10 * time.Millisecond)
	defer s.writers.stop(true)
	for round := 0; round < 2; round++ {
		if err := s.write(func() error { return nil }, nil); err != nil {
			t.Fatal(err)
		}
		if s.writers.live.Load() == 0 {
			t.Fatal("no writer after a write")
		}
		waitFor(t, "idle writer exits", func() bool { return s.writers.live.Load() == 0 })
	}
}

// A write wedged when the store fails: its caller gets ErrFailed at once,
// its done runs once when the write finally returns (on the writer), a
// write after the failure never runs and its done runs at once, and
// inPebble counts the wedged write until it returns.
func TestWriterPoolAbandon(t *testing.T) {
	s := bareStore(time.Minute)
	release := make(chan struct{})
	entered := make(chan struct{})
	var done atomic.Int32
	res := make(chan error, 1)
	go func() {
		res <- s.write(func() error {
			close(entered)
			<-release
			return nil
		}, func() { done.Add(1) })
	}()
	<-entered
	failure := fmt.Errorf("%w: injected", ErrFailed)
	s.fail(failure)
	if err := <-res; err != failure {
		t.Fatalf("wedged write returned %v, want the failure", err)
	}
	if n := done.Load(); n != 0 {
		t.Fatalf("done ran %d times while the write is still wedged", n)
	}
	if n := s.inPebble.Load(); n != 1 {
		t.Fatalf("inPebble = %d with one wedged write", n)
	}
	var lateDone atomic.Int32
	if err := s.write(func() error { t.Error("write ran after the failure"); return nil }, func() { lateDone.Add(1) }); err != failure {
		t.Fatalf("write after the failure: %v", err)
	}
	if n := lateDone.Load(); n != 1 {
		t.Fatalf("done of a write after the failure ran %d times, want once at once", n)
	}
	// stop without waiting leaves the wedged writer behind; idle ones exit.
	s.writers.stop(false)
	if n := s.writers.live.Load(); n != 1 {
		t.Errorf("%d writers live, want the wedged one", n)
	}
	close(release)
	waitFor(t, "abandoned write's done", func() bool { return done.Load() == 1 })
	s.writers.stop(true)
	if n := done.Load(); n != 1 {
		t.Errorf("done ran %d times", n)
	}
	if n := s.inPebble.Load(); n != 0 {
		t.Errorf("inPebble = %d after the wedged write returned", n)
	}
}

// A write handed over just before the store fails does not reach pebble
// when its writer picks it up after the failure.
func TestWriterPoolFailBeforeRun(t *testing.T) {
	s := bareStore(time.Minute)
	defer s.writers.stop(false)
	failure := fmt.Errorf("%w: injected", ErrFailed)
	// Run the task directly as a writer would after the failure.
	t0 := &writeTask{s: s, fn: func() error { t.Error("write ran after the failure"); return nil }, res: make(chan error, 1)}
	var done atomic.Int32
	t0.done = func() { done.Add(1) }
	s.inPebble.Add(1)
	s.fail(failure)
	var free atomic.Int64
	t0.run(&free)
	if err := <-t0.res; err != failure {
		t.Errorf("result %v, want the failure", err)
	}
	if done.Load() != 1 || s.inPebble.Load() != 0 || free.Load() != 1 {
		t.Errorf("done ran %d times, inPebble = %d, free = %d", done.Load(), s.inPebble.Load(), free.Load())
	}
}

// After Close no writer goroutine is left, however many writes ran
// concurrently.
func TestCloseStopsWriters(t *testing.T) {
	s := open(t, t.TempDir(), Options{Dim: 16, NoSync: true})
	var wg sync.WaitGroup
	for w := 0; w < 6; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				id := fmt.Sprintf("w%d-%d", w, i)
				v := make([]float32, 16)
				v[(w+i)%16] = 1
				if err := s.Remember(ctx, "pool", Memory{ID: id, Content: id, Embedding: v}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if s.writers.live.Load() == 0 {
		t.Fatal("no writers while the store is open")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if n := s.writers.live.Load(); n != 0 {
		t.Errorf("%d writers left after Close", n)
	}
}

// A backlog queued in one call (the re-index after a crash) starts every
// worker it wants at once, not one per call: an idle store catches up on
// all its cores.
func TestBacklogStartsAllWorkers(t *testing.T) {
	h := &hnsw{sp: &space{st: &Store{}}}
	h.queue = make([]uint32, 1000)
	want := runtime.GOMAXPROCS(0)
	if n := h.startWorkersLocked(); n != want || h.workers != want {
		t.Fatalf("a 1000-slot backlog started %d workers (%d running), want %d", n, h.workers, want)
	}
	if n := h.startWorkersLocked(); n != 0 {
		t.Errorf("started %d more with all %d running", n, want)
	}
	h2 := &hnsw{sp: &space{st: &Store{}}}
	h2.queue = make([]uint32, 3)
	if n := h2.startWorkersLocked(); n != 1 {
		t.Errorf("a 3-slot queue started %d workers, want 1", n)
	}
	h2.sp.st.stopping.Store(true)
	h2.workers = 0
	if n := h2.startWorkersLocked(); n != 0 {
		t.Errorf("a stopping store started %d workers", n)
	}
}
