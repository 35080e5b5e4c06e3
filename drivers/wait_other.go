//go:build !linux

package drivers

import "time"

func preciseSleep(d int64) { time.Sleep(time.Duration(d)) }

const havePreciseSleep = false
