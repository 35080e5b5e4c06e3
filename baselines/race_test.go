//go:build race

package baselines

// raceEnabled: TestGatePower runs fewer gates under the race detector.
const raceEnabled = true
