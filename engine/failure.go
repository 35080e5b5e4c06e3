package engine

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
)

// How the store fails. A WAL write or sync that fails is fatal to pebble: it
// panics (through Options.Logger's Fatalf, or its own panic(err) in the
// commit path) and may do so with its commit pipeline's mutex held, so every
// later write — and pebble's own Close, which takes that mutex — blocks
// forever. The engine therefore
//   - runs every pebble write on a writer goroutine, not the caller (write,
//     writerPool) and stops waiting for it once the store has failed:
//     callers (writers, the indexer, consolidation) get ErrFailed and
//     release their locks, while the write itself, and its writer, may stay
//     blocked inside pebble;
//   - sends no write to pebble once the store has failed;
//   - gives pebble failedCloseWait to close after a failure; if it does not,
//     it fences the store's files (every further file operation of that
//     pebble instance fails), releases the directory lock so the store can be
//     opened again in this process, and leaves pebble's blocked goroutines
//     behind (they hold no lock the engine or a new Store needs).

// failedCloseWait is how long Close waits for pebble to close after a
// storage failure before it abandons it.
const failedCloseWait = time.Second

// errFenced is what a fenced (abandoned) pebble instance gets from its file
// system.
var errFenced = errors.New("engine: store abandoned after a storage failure")

// fail marks the store failed with err (the first failure wins) and wakes
// every caller waiting on a pebble write.
func (s *Store) fail(err error) {
	s.failOnce.Do(func() {
		s.failErr = err
		s.failed.Store(true)
		close(s.failCh)
	})
}

// guard runs a pebble call, turning a pebble panic (a fatal WAL error under
// our logger) into ErrFailed for this and every later call.
func (s *Store) guard(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", ErrFailed, r)
			s.fail(err)
		}
	}()
	return fn()
}

// write runs the pebble write fn under guard on one of the store's writer
// goroutines (writerPool) and waits for it, or for the store to fail,
// whichever comes first; then it calls done (if not nil) once fn has
// returned — at once if fn never ran, later on the writer if it was
// abandoned. Once the store has failed fn does not run: neither when write
// is called nor when a writer picks it up. An abandoned write may still
// have reached the WAL, but it is reported as failed and never applied to
// memory: nothing is reported written that was not.
//
// The hand-off costs a caller about a microsecond and no allocation (two
// goroutine switches; BenchmarkStoreWrite, fn=noop). A caller locked to
// its OS thread (runtime.LockOSThread, as Options.Slowdown and
// BenchmarkEngine's single-goroutine sub-benchmarks do) pays two OS thread
// switches instead: 10–20 µs per write on the shared 2-core development
// machine (docs/reference/benchmark-results.md).
func (s *Store) write(fn func() error, done func()) error {
	if s.failed.Load() {
		if done != nil {
			done()
		}
		return s.failErr
	}
	t := writeTasks.Get().(*writeTask)
	t.s, t.fn, t.done = s, fn, done
	s.inPebble.Add(1)
	if !s.writers.submit(t) {
		s.inPebble.Add(-1)
		putTask(t)
		if done != nil {
			done()
		}
		return ErrClosed
	}
	select {
	case err := <-t.res:
		putTask(t)
		return err
	case <-s.failCh:
		select {
		case err := <-t.res:
			putTask(t)
			return err
		default:
			// Abandoned: t stays with its writer, never back in the pool.
			return s.failErr
		}
	}
}

// putTask returns a task whose result was received to the pool.
func putTask(t *writeTask) {
	t.s, t.fn, t.done = nil, nil, nil
	writeTasks.Put(t)
}

// closeDB closes pebble: without a failure it waits as long as pebble
// takes; after one, failedCloseWait at most, then it fences the files of
// this pebble instance and releases its directory lock.
//
// Either way it then stops the writer goroutines: after a clean close it
// waits for them to exit (all are idle); after a failure it leaves behind
// those wedged inside pebble.
func (s *Store) closeDB() error {
	defer func() { s.writers.stop(!s.failed.Load()) }()
	ch := make(chan error, 1)
	go func() { ch <- s.guard(s.db.Close) }()
	if !s.failed.Load() {
		select {
		case err := <-ch:
			return err
		case <-s.failCh:
		}
	}
	select {
	case err := <-ch:
		return err
	case <-time.After(failedCloseWait):
	}
	s.fs.fence()
	return fmt.Errorf("pebble did not close within %s of the storage failure (%d writes still blocked inside it): its files were fenced and its lock released", failedCloseWait, s.inPebble.Load())
}

// fenceFS is the file system under each pebble instance: after fence every
// operation fails with errFenced (closing files still works), and the
// directory lock is released, so an abandoned instance can never again
// touch the store's files while a new one uses them.
type fenceFS struct {
	*errorfs.FS
	fenced atomic.Bool
	mu     sync.Mutex
	locks  []*onceCloser
}

func newFenceFS(base vfs.FS) *fenceFS {
	if base == nil {
		base = vfs.Default
	}
	f := &fenceFS{}
	f.FS = errorfs.Wrap(base, errorfs.InjectorFunc(func(errorfs.Op) error {
		if f.fenced.Load() {
			return errFenced
		}
		return nil
	}))
	return f
}

// Lock implements vfs.FS, remembering the lock for fence.
func (f *fenceFS) Lock(name string) (io.Closer, error) {
	c, err := f.FS.Lock(name)
	if err != nil {
		return nil, err
	}
	oc := &onceCloser{c: c}
	f.mu.Lock()
	f.locks = append(f.locks, oc)
	f.mu.Unlock()
	return oc, nil
}

// fence fails every later operation and releases the locks.
func (f *fenceFS) fence() {
	f.fenced.Store(true)
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, l := range f.locks {
		l.Close()
	}
}

// onceCloser closes c once (pebble's lock panics when released twice).
type onceCloser struct {
	once sync.Once
	c    io.Closer
	err  error
}

func (o *onceCloser) Close() error {
	o.once.Do(func() { o.err = o.c.Close() })
	return o.err
}

// fenceLogger forwards to the caller's logger; once the store's files are
// fenced, a Fatalf of the abandoned pebble instance (its background work
// failing on the fenced files) parks that goroutine instead: it must not
// take the process down.
type fenceLogger struct {
	pebble.Logger
	fs *fenceFS
}

func (l fenceLogger) Fatalf(format string, args ...any) {
	if l.fs.fenced.Load() {
		select {}
	}
	l.Logger.Fatalf(format, args...)
}
