//go:build linux

package drivers

import (
	"bytes"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// idleSource reads idle time as the spin gate needs it: from /proc/stat,
// only the CPUs this process may run on (sched_getaffinity, read once), and
// bounded by its cgroup v2 CPU quota when there is one.
type idleSource struct {
	allowed unix.CPUSet
	cgroup  string // cgroup v2 directory with a cpu.max quota, "" if none
	quota   float64
}

func newIdleSource() *idleSource {
	s := &idleSource{}
	if err := unix.SchedGetaffinity(0, &s.allowed); err != nil {
		s.allowed = unix.CPUSet{}
		for i := range len(s.allowed) * 64 {
			s.allowed.Set(i)
		}
	}
	if dir := cgroupV2Dir(); dir != "" {
		if b, err := os.ReadFile(filepath.Join(dir, "cpu.max")); err == nil {
			if q := parseCPUMax(b); q > 0 {
				s.cgroup, s.quota = dir, q
			}
		}
	}
	return s
}

// cgroupV2Dir is this process's cgroup v2 directory, or "".
func cgroupV2Dir() string {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return ""
	}
	for line := range bytes.Lines(b) {
		if p, ok := bytes.CutPrefix(bytes.TrimSpace(line), []byte("0::")); ok {
			return filepath.Join("/sys/fs/cgroup", string(p))
		}
	}
	return ""
}

func (s *idleSource) read() (idleSample, bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return idleSample{}, false
	}
	smp, ok := parseProcStat(b, s.allowed.IsSet)
	if !ok {
		return idleSample{}, false
	}
	if s.cgroup != "" {
		if b, err := os.ReadFile(filepath.Join(s.cgroup, "cpu.stat")); err == nil {
			if u, ok := parseCPUStatUsage(b); ok {
				smp.quota, smp.cgUsage, smp.at = s.quota, u, time.Now().UnixNano()
			}
		}
	}
	return smp, true
}
