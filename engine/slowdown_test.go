package engine

import (
	"runtime"
	"testing"
	"time"
)

// The planted slowdown burns a fraction of the op's own CPU time, and does
// not amplify time the op spent waiting.
func TestSlowdownIsAFractionOfTheOpsCPU(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	s := &Store{opts: Options{Slowdown: 0.5}}

	t.Run("work", func(t *testing.T) {
		m := s.slowStart()
		for threadCPU()-m.cpu < 5*time.Millisecond {
		}
		work := threadCPU() - m.cpu
		s.slow(m)
		if total := threadCPU() - m.cpu; total < work+work/2 {
			t.Errorf("op worked %v, then %v in all; want at least %v", work, total, work+work/2)
		}
	})
	t.Run("waiting", func(t *testing.T) {
		m := s.slowStart()
		time.Sleep(50 * time.Millisecond)
		s.slow(m)
		if total := threadCPU() - m.cpu; total > 25*time.Millisecond {
			t.Errorf("an op that slept 50ms burned %v of CPU", total)
		}
	})
	t.Run("off", func(t *testing.T) {
		off := &Store{}
		if m := off.slowStart(); m.on {
			t.Error("no slowdown configured, yet the op is measured")
		}
	})
}
