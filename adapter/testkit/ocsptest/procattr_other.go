//go:build !linux

package ocsptest

import "os/exec"

// dieWithParent does nothing here: a test binary killed by -timeout may leave
// its responder running.
func dieWithParent(*exec.Cmd) {}
