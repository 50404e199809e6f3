package ocsptest

import (
	"os/exec"
	"syscall"
)

// dieWithParent has Linux kill the responder when the thread that started
// it ends; start runs Start on a locked thread that lives until the
// responder exits, so a test binary killed by -timeout leaves none behind.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
