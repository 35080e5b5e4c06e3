package h1

import (
	"syscall"
	"unsafe"
)

// sysWrite and sysRead are write(2) and read(2) on a non-blocking socket
// without the runtime's system-call bookkeeping (entersyscall/exitsyscall):
// on a non-blocking descriptor neither call can block (a full or empty
// socket buffer returns EAGAIN at once), so the goroutine may keep its P
// for the few microseconds the kernel takes. With the bookkeeping, a write
// that spends ~10 µs delivering on loopback is often caught "in a system
// call" by sysmon, whose P is then handed to another thread: a futex wake,
// a thread switch and sysmon polling every 20 µs, per request. Measured at
// saturation on the 2-core VM (docs/benchmarking.md, "Harness ceiling").
func sysWrite(fd int, p []byte) (int, error) {
	var ptr unsafe.Pointer
	if len(p) > 0 {
		ptr = unsafe.Pointer(&p[0])
	}
	n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, uintptr(fd), uintptr(ptr), uintptr(len(p)))
	if e != 0 {
		return int(n), e
	}
	return int(n), nil
}

func sysRead(fd int, p []byte) (int, error) {
	var ptr unsafe.Pointer
	if len(p) > 0 {
		ptr = unsafe.Pointer(&p[0])
	}
	n, _, e := syscall.RawSyscall(syscall.SYS_READ, uintptr(fd), uintptr(ptr), uintptr(len(p)))
	if e != 0 {
		return -1, e
	}
	return int(n), nil
}
