package engine

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestDot8(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	for _, n := range []int{1, 7, 31, 32, 33, 64, 100, 768, 1000} {
		a, b := make([]int8, n), make([]int8, n)
		for i := range a {
			a[i], b[i] = int8(r.IntN(255)-127), int8(r.IntN(255)-127)
		}
		if got, want := dot8(a, b), dot8Go(a, b); got != want {
			t.Errorf("n=%d: dot8 = %d, want %d", n, got, want)
		}
	}
	// Extremes do not overflow.
	a := make([]int8, 768)
	for i := range a {
		a[i] = -127
	}
	if got := dot8(a, a); got != 768*127*127 {
		t.Errorf("extreme dot8 = %d", got)
	}
	// Every sign combination at the extremes, and zeros.
	for _, c := range []struct{ x, y int8 }{{127, 127}, {127, -127}, {-127, 127}, {-127, -127}, {0, -127}, {-127, 0}, {1, -1}} {
		a, b := make([]int8, 800), make([]int8, 800)
		for i := range a {
			a[i], b[i] = c.x, c.y
		}
		if got, want := dot8(a, b), 800*int32(c.x)*int32(c.y); got != want {
			t.Errorf("dot8 of %d×%d vectors = %d, want %d", c.x, c.y, got, want)
		}
	}
}

// FuzzDot8 holds the assembly kernel to the portable one on any vectors in
// quantize's range.
func FuzzDot8(f *testing.F) {
	f.Add([]byte{1, 2, 3}, []byte{4, 5, 6})
	f.Add(make([]byte, 96), make([]byte, 96))
	f.Fuzz(func(t *testing.T, x, y []byte) {
		n := min(len(x), len(y))
		a, b := make([]int8, n), make([]int8, n)
		for i := range n {
			a[i], b[i] = int8(int(x[i])%255-127), int8(int(y[i])%255-127)
		}
		if got, want := dot8(a, b), dot8Go(a, b); got != want {
			t.Fatalf("n=%d: dot8 = %d, want %d", n, got, want)
		}
	})
}

// The quantised cosine is within 2e-3 of the exact one for 768-d unit
// vectors.
func TestQuantizedCosine(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 2))
	worst := 0.0
	for i := 0; i < 200; i++ {
		a, b := randVec(r, 768), randVec(r, 768)
		for j := range b { // correlated pairs too
			b[j] = a[j]*float32(i%5)/4 + b[j]
		}
		unit(a)
		unit(b)
		qa, qb := newQuery(a), newQuery(b)
		approx := float64(dot8(qa.q, qb.q)) * float64(qa.inv) * float64(qb.inv)
		worst = max(worst, math.Abs(approx-float64(dot(a, b))))
	}
	if worst > 2e-3 {
		t.Errorf("worst quantisation error %.5f", worst)
	}
	t.Logf("worst quantisation error %.5f", worst)
}

func BenchmarkDot8(b *testing.B) {
	x, y := make([]int8, 768), make([]int8, 768)
	for i := range x {
		x[i], y[i] = int8(i%255-127), int8(127-i%255)
	}
	var s int32
	for b.Loop() {
		s += dot8(x, y)
	}
	sink += float32(s)
}
