package bench

import (
	"os/exec"
	"syscall"
)

// dieWithParent has Linux stop the child when the bench ends, however it
// ends (the Go runtime does not end the threads it starts processes from).
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
