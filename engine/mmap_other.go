//go:build !unix

package engine

func offHeapAlloc[T any](n int) []T { return make([]T, n) }

func offHeapFree[T any](s []T) {}
