//go:build crashtest

package main

import (
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
)

// crashHook, in binaries built with -tags crashtest, kills the process with
// SIGKILL the n-th time a submission reaches a step: DVC_CRASH_AT=sent:3
// dies right after the third treasury answer, before anything is recorded.
// Crash tests use it to stop the adapter at each point of the path.
func crashHook() func(string) {
	spec := os.Getenv("DVC_CRASH_AT")
	step, nth, ok := strings.Cut(spec, ":")
	if spec == "" {
		return nil
	}
	n := 1
	if ok {
		if v, err := strconv.Atoi(nth); err == nil && v > 0 {
			n = v
		}
	}
	var seen atomic.Int64
	return func(s string) {
		if s == step && seen.Add(1) == int64(n) {
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		}
	}
}
