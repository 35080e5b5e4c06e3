//go:build linux

package resource

import (
	"os/exec"
	"syscall"
)

// setProcAttr puts a helper in its own process group and kills it when the
// harness dies.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
