//go:build !linux

package drivers

// idleSource is not available here: SpinAuto then always spins.
type idleSource struct{}

func newIdleSource() *idleSource { return &idleSource{} }

func (*idleSource) read() (idleSample, bool) { return idleSample{}, false }
