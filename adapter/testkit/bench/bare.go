package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"time"
)

// bareMain is "dvc-bench bare -addr ADDR": a Go HTTP server that reads
// each request body and answers 200 {} and nothing else, the machine's
// ceiling under the same load generator. It runs until ctx ends. It lives
// in the bench tool so that no production binary carries it.
func bareMain(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("dvc-bench bare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8088", "listen `address`")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	srv := &http.Server{Addr: *addr, ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, "{}")
	})}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		_, _ = fmt.Fprintf(stderr, "dvc-bench bare: %v\n", err)
		return 2
	}
	return 0
}
