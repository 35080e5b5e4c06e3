//go:build unix

package engine

import (
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// offHeapAlloc returns n zeroed elements of anonymous mmap memory, outside the
// Go heap. T must hold no pointers. Why: the embedding matrix is most of the
// engine's memory (3 GB at a million 768-d memories); on the heap it would
// double the garbage collector's target (GOGC=100) and so the process's peak
// RSS. Pages are committed only when first written, so a sparsely used chunk
// costs only what it holds.
//
// Chunks of 2 MiB or more are aligned to 2 MiB and advised to use
// transparent huge pages: a graph walk touches vectors all over the matrix,
// and with 4 KiB pages nearly every one costs a TLB miss.
func offHeapAlloc[T any](n int) []T {
	var zero T
	size := n * int(unsafe.Sizeof(zero))
	if size == 0 {
		return nil
	}
	const huge = 2 << 20
	mapped := size
	if size >= huge {
		mapped = size + huge
	}
	b, err := unix.Mmap(-1, 0, mapped, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		// Out of address space or mappings: fall back to the heap.
		return make([]T, n)
	}
	start := 0
	if size >= huge {
		if off := int(uintptr(unsafe.Pointer(&b[0])) % huge); off != 0 {
			start = huge - off
		}
		adviseHuge(b[start : start+size])
	}
	p := unsafe.Pointer(&b[start])
	offHeapMu.Lock()
	offHeapMaps[uintptr(p)] = b
	offHeapMu.Unlock()
	return unsafe.Slice((*T)(p), n)
}

var (
	offHeapMu   sync.Mutex
	offHeapMaps = map[uintptr][]byte{} // slice start → whole mapping
)

// offHeapFree unmaps memory from offHeapAlloc. Heap fallbacks are left to the
// garbage collector.
func offHeapFree[T any](s []T) {
	if len(s) == 0 {
		return
	}
	p := uintptr(unsafe.Pointer(&s[0]))
	offHeapMu.Lock()
	b, ok := offHeapMaps[p]
	delete(offHeapMaps, p)
	offHeapMu.Unlock()
	if ok {
		_ = unix.Munmap(b)
	}
}
