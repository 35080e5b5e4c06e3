//go:build !linux

package h1

import "syscall"

func sysWrite(fd int, p []byte) (int, error) { return syscall.Write(fd, p) }
func sysRead(fd int, p []byte) (int, error)  { return syscall.Read(fd, p) }
