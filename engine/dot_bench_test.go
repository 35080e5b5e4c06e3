package engine

import (
	"testing"

	"github.com/viterin/vek/vek32"
)

var sink float32

func BenchmarkDotGo(b *testing.B) {
	x, y := make([]float32, 768), make([]float32, 768)
	for i := range x {
		x[i], y[i] = float32(i)/768, float32(768-i)/768
	}
	for b.Loop() {
		sink += dot(x, y)
	}
}

func BenchmarkDotVek(b *testing.B) {
	x, y := make([]float32, 768), make([]float32, 768)
	for i := range x {
		x[i], y[i] = float32(i)/768, float32(768-i)/768
	}
	for b.Loop() {
		sink += vek32.Dot(x, y)
	}
}

func BenchmarkScanVek10k(b *testing.B) {
	n := 10000
	m := make([]float32, n*768)
	q := make([]float32, 768)
	for i := range m {
		m[i] = float32(i%97) / 97
	}
	for b.Loop() {
		for r := 0; r < n; r++ {
			sink += vek32.Dot(q, m[r*768:(r+1)*768])
		}
	}
}
