//go:build !linux

package systems

import "os/exec"

func setProcAttr(*exec.Cmd) {}

func runAs(*exec.Cmd, uint32, uint32) {}
