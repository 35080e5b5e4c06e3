//go:build !amd64

package engine

import "unsafe"

// dot8 is the dot product of two int8 vectors of equal length.
func dot8(a, b []int8) int32 { return dot8Go(a, b[:len(a)]) }

// havePrefetch is whether prefetch and its kin do anything here.
const havePrefetch = false

func prefetch(b []int8) {}

func prefetchF(b []float32) {}

func prefetchPtr(p unsafe.Pointer) {}
