//go:build linux

package drivers

import "os"

// readIdle reads the machine's CPU times from /proc/stat: idle (idle and
// iowait) and total, over all CPUs. Steal time counts as busy: a core the
// hypervisor gave to someone else is not spare.
func readIdle() (idleSample, bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return idleSample{}, false
	}
	return parseProcStat(b)
}
