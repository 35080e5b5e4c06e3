//go:build !linux

package engine

import "time"

// threadCPU falls back to the wall clock where no per-thread CPU clock is
// wired up: the slowdown then also amplifies waiting.
func threadCPU() time.Duration { return time.Duration(time.Now().UnixNano()) }

// haveThreadCPU reports whether threadCPU reads a per-thread CPU clock.
const haveThreadCPU = false
