package redistest

import (
	"os/exec"
	"syscall"
)

// dieWithParent has Linux kill the server when the thread that started it
// ends; startOn runs Start on a locked thread that lives until the server
// exits, so a test binary killed by -timeout leaves no server behind.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
