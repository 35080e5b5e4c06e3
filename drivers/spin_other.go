//go:build !linux

package drivers

// readIdle is not available here: SpinAuto then always spins.
func readIdle() (idleSample, bool) { return idleSample{}, false }
