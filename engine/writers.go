package engine

import (
	"sync"
	"sync/atomic"
	"time"
)

// writerIdle is how long a writer goroutine waits for a write before it
// exits: between writerIdle and twice that after its last write.
const writerIdle = 5 * time.Second

// writerPool runs the store's pebble writes (see Store.write) on long-lived
// goroutines, so that a write costs a channel hand-off rather than a new
// goroutine whose stack grows again through pebble's deep commit path.
//
// A write goes to an idle writer (one waiting on tasks); when none is, a
// new writer starts with it. The count of idle writers is what decides,
// not whether one happens to be parked on the channel at that instant: a
// caller reserves an idle writer (idle − 1) and then sends, and a writer
// leaving for good must first take itself off that count, which it cannot
// do while every idle writer is reserved. So there are at most as many
// writers as the peak number of writes in flight, plus those wedged inside
// a failed pebble, and each exits once it has been idle for writerIdle, or
// at stop. Writers hold no lock of the store: one wedged inside pebble
// after a failure blocks nothing but itself.
type writerPool struct {
	tasks chan *writeTask // unbuffered
	quit  chan struct{}   // closed by stop
	idle  time.Duration
	free  atomic.Int64 // writers waiting for a task, less those reserved by a caller
	live  atomic.Int64 // writers running, idle or wedged
	wg    sync.WaitGroup

	mu      sync.Mutex // guards stopped against a writer starting during stop
	stopped bool
}

func newWriterPool(idle time.Duration) *writerPool {
	return &writerPool{tasks: make(chan *writeTask), quit: make(chan struct{}), idle: idle}
}

// writeTask is one write handed to a writer. Tasks are pooled: the caller
// takes one, and puts it back only after it has received the result (the
// writer's last touch of the task is that send). A task whose caller
// stopped waiting (the store failed) stays with its writer and is never
// put back.
type writeTask struct {
	s    *Store
	fn   func() error
	done func()
	res  chan error // capacity 1: the writer never blocks on it
}

var writeTasks = sync.Pool{New: func() any { return &writeTask{res: make(chan error, 1)} }}

// run runs the task's write under guard — unless the store failed since the
// caller handed it over: then the write never reaches pebble — then done,
// then adds its writer back to free (before the caller can hand it the
// next write) and sends the result. s.inPebble was raised by the caller.
func (t *writeTask) run(free *atomic.Int64) {
	s := t.s
	var err error
	if s.failed.Load() {
		err = s.failErr
	} else {
		err = s.guard(t.fn)
	}
	s.inPebble.Add(-1)
	if t.done != nil {
		t.done()
	}
	free.Add(1)
	t.res <- err
}

// submit hands t to an idle writer, or starts a writer with it. It returns
// false, without running t, once the pool has stopped.
func (p *writerPool) submit(t *writeTask) bool {
	for {
		n := p.free.Load()
		if n <= 0 {
			break
		}
		if p.free.CompareAndSwap(n, n-1) {
			// A writer is ours: it is waiting on tasks or about to.
			select {
			case p.tasks <- t:
				return true
			case <-p.quit:
				return false
			}
		}
	}
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		return false
	}
	p.wg.Add(1)
	p.live.Add(1)
	p.mu.Unlock()
	go p.writer(t)
	return true
}

// writer runs t, then every task it receives, until it has been idle for a
// whole writerIdle period or the pool stops.
func (p *writerPool) writer(t *writeTask) {
	defer p.wg.Done()
	defer p.live.Add(-1)
	t.run(&p.free)
	// The timer is re-armed once per idle period, not once per write: a
	// writer leaves at the first tick with no write since the previous one,
	// if it can take itself off the free count (no caller has reserved
	// every free writer).
	timer := time.NewTimer(p.idle)
	defer timer.Stop()
	busy := true
	for {
		select {
		case t := <-p.tasks:
			t.run(&p.free)
			busy = true
		case <-timer.C:
			if !busy && p.leave() {
				return
			}
			busy = false
			timer.Reset(p.idle)
		case <-p.quit:
			return
		}
	}
}

// leave takes one writer off the free count, unless every free writer is
// reserved by a caller about to send.
func (p *writerPool) leave() bool {
	for {
		n := p.free.Load()
		if n <= 0 {
			return false
		}
		if p.free.CompareAndSwap(n, n-1) {
			return true
		}
	}
}

// stop makes every idle writer exit and keeps new ones from starting; with
// wait it waits for all of them, which only a writer wedged inside a failed
// pebble would keep from returning.
func (p *writerPool) stop(wait bool) {
	p.mu.Lock()
	if !p.stopped {
		p.stopped = true
		close(p.quit)
	}
	p.mu.Unlock()
	if wait {
		p.wg.Wait()
	}
}
