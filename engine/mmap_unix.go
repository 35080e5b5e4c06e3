//go:build unix

package engine

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// offHeapAlloc returns n zeroed elements of anonymous mmap memory, outside the
// Go heap. T must hold no pointers. Why: the embedding matrix is most of the
// engine's memory (3 GB at a million 768-d memories); on the heap it would
// double the garbage collector's target (GOGC=100) and so the process's peak
// RSS. Pages are committed only when first written, so a sparsely used chunk
// costs only what it holds.
func offHeapAlloc[T any](n int) []T {
	var zero T
	size := n * int(unsafe.Sizeof(zero))
	if size == 0 {
		return nil
	}
	b, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		// Out of address space or mappings: fall back to the heap.
		return make([]T, n)
	}
	return unsafe.Slice((*T)(unsafe.Pointer(&b[0])), n)
}

// offHeapFree unmaps memory from offHeapAlloc. Heap fallbacks are left to the
// garbage collector.
func offHeapFree[T any](s []T) {
	if len(s) == 0 {
		return
	}
	var zero T
	b := unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), len(s)*int(unsafe.Sizeof(zero)))
	_ = unix.Munmap(b) // EINVAL for a heap fallback: nothing to do
}
