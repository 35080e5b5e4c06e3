package engine

import (
	"sync"
	"sync/atomic"
)

// chunkShift sets the rows per chunk of every per-slot array (vectors, index
// links, metadata): 1024. Fixed chunks instead of one growing slice: growing a
// 100 MB slice copies it in one uninterruptible memmove, and a garbage
// collection waiting to stop the world behind that copy stalls every
// goroutine for tens of milliseconds (measured: 35 ms process-wide stalls at
// 30 MB, 2026-11-26).
const (
	chunkShift = 10
	chunkRows  = 1 << chunkShift
	chunkMask  = chunkRows - 1
)

// chunks is an append-only array of rows of width elements, stored in
// fixed-size chunks that are never moved. Rows are addressed by slot number.
// Readers find a chunk through an atomically published directory, so growing
// the array never blocks or races with readers of existing rows; what a
// reader may do with the elements of a row is up to the caller's own
// synchronisation.
type chunks[T any] struct {
	width int
	alloc func(n int) []T // make, or off-heap (mmap) for plain numbers
	free  func([]T)

	mu  sync.Mutex // serialises growth
	dir atomic.Pointer[[][]T]
}

func newChunks[T any](width int, offHeap bool) *chunks[T] {
	c := &chunks[T]{width: width}
	if offHeap {
		c.alloc, c.free = offHeapAlloc[T], offHeapFree[T]
	} else {
		c.alloc = func(n int) []T { return make([]T, n) }
	}
	empty := [][]T{}
	c.dir.Store(&empty)
	return c
}

// ensure makes rows [0, n) addressable.
func (c *chunks[T]) ensure(n uint32) {
	need := int((uint64(n) + chunkRows - 1) >> chunkShift)
	if len(*c.dir.Load()) >= need {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	d := *c.dir.Load()
	if len(d) >= need {
		return
	}
	nd := make([][]T, len(d), max(need, 2*len(d)))
	copy(nd, d)
	for len(nd) < need {
		nd = append(nd, c.alloc(chunkRows*c.width))
	}
	c.dir.Store(&nd)
}

// row returns row r; it must have been made addressable by ensure.
func (c *chunks[T]) row(r uint32) []T {
	ch := (*c.dir.Load())[r>>chunkShift]
	o := int(r&chunkMask) * c.width
	return ch[o : o+c.width : o+c.width]
}

// at returns a pointer to the first element of row r.
func (c *chunks[T]) at(r uint32) *T {
	ch := (*c.dir.Load())[r>>chunkShift]
	return &ch[int(r&chunkMask)*c.width]
}

// capacity is the number of addressable rows.
func (c *chunks[T]) capacity() int { return len(*c.dir.Load()) * chunkRows }

// bytes is the memory reserved by the array, in bytes, given the size of T.
func (c *chunks[T]) bytes(elem int) int64 {
	return int64(len(*c.dir.Load())) * chunkRows * int64(c.width) * int64(elem)
}

// release frees off-heap chunks. Nobody may use the array afterwards.
func (c *chunks[T]) release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	d := *c.dir.Load()
	if c.free != nil {
		for _, ch := range d {
			c.free(ch)
		}
	}
	empty := [][]T{}
	c.dir.Store(&empty)
}
