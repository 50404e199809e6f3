//go:build !linux

package redistest

import "os/exec"

// dieWithParent does nothing here: a test binary killed by -timeout may leave
// its throwaway server running.
func dieWithParent(*exec.Cmd) {}
