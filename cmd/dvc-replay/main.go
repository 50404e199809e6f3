// Command dvc-replay sends the fixture cases under testdata/fixtures to a
// running adapter and checks every answer against its expectation. Run
// "dvc-replay -h" for the flags; the logic lives in adapter/testkit/replay.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/kbnn/dvc/adapter/testkit/replay"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	status := replay.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(status)
}
