package engine

import (
	"syscall"
	"time"
	"unsafe"
)

// threadCPU is the CPU time (user and system) the calling OS thread has
// used: CLOCK_THREAD_CPUTIME_ID. Time spent waiting for a processor, for a
// lock or for the disk is not in it.
func threadCPU() time.Duration {
	var ts syscall.Timespec
	const clockThreadCPUTimeID = 3
	if _, _, e := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockThreadCPUTimeID, uintptr(unsafe.Pointer(&ts)), 0); e != 0 {
		return 0
	}
	return time.Duration(ts.Nano())
}

const haveThreadCPU = true
