//go:build race

package engine

// raceEnabled shrinks test sizes under the race detector (10–20× slower).
const raceEnabled = true
