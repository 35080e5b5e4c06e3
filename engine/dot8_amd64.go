//go:build amd64

package engine

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

//go:noescape
func dot8AVX2(a, b *int8, n int) int32

var haveAVX2 = cpu.X86.HasAVX2

// dot8 is the dot product of two int8 vectors of equal length, with every
// element in [-127, 127] (what quantize writes; -128 may give a wrong sum).
func dot8(a, b []int8) int32 {
	n := len(a)
	b = b[:n]
	if !haveAVX2 || n < 32 {
		return dot8Go(a, b)
	}
	m := n &^ 31
	s := dot8AVX2(&a[0], &b[0], m)
	if m < n {
		s += dot8Go(a[m:], b[m:])
	}
	return s
}

//go:noescape
func prefetchLines(p unsafe.Pointer, n int)

// prefetch asks the CPU to start loading b into cache.
func prefetch(b []int8) {
	if len(b) > 0 {
		prefetchLines(unsafe.Pointer(&b[0]), (len(b)+63)/64)
	}
}

// havePrefetch is whether prefetch and its kin do anything here.
const havePrefetch = true

// prefetchPtr asks the CPU to start loading the cache line at p.
func prefetchPtr(p unsafe.Pointer) { prefetchLines(p, 1) }

// prefetchF asks the CPU to start loading b into cache.
func prefetchF(b []float32) {
	if len(b) > 0 {
		prefetchLines(unsafe.Pointer(&b[0]), (4*len(b)+63)/64)
	}
}
