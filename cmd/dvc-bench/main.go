// Command dvc-bench is the end-to-end benchmark (make bench-e2e) and the
// soak run (make soak): it starts the stack as processes, drives it with
// dvc-replay's load mode and reads the adapter's CPU and memory from /proc.
// Run "dvc-bench -h"; the logic lives in adapter/testkit/bench.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/kbnn/dvc/adapter/testkit/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	status := bench.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(status)
}
