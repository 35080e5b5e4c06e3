//go:build !linux

package resource

import "os/exec"

func setProcAttr(*exec.Cmd) {}
