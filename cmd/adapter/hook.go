//go:build !crashtest

package main

// crashHook is nil in the production build; the crashtest build kills the
// process at a chosen step (see crash_hook.go).
func crashHook() func(string) { return nil }
