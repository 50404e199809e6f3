// Command adapter runs the treasury ↔ portal adapter.
//
//	adapter [-config configs/local.yaml]
//
// Without -config it runs on the embedded configs/local.yaml. Environment
// variables DVC_<SECTION>_<KEY> override the file.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/kbnn/dvc/adapter/app"
	"github.com/kbnn/dvc/adapter/config"
	"github.com/kbnn/dvc/configs"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.LookupEnv, os.Stdout, assemble)
	stop()
	var usage usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
	case errors.As(err, &usage):
		os.Exit(2) // the flag set printed the mistake and the usage
	default:
		fmt.Fprintln(os.Stderr, "adapter:", err)
		os.Exit(1)
	}
}

// usageError is a command line the flags did not accept.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// worker is what run needs of the delivery workers.
type worker interface {
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
}

// parts is an assembled adapter as run serves it.
type parts struct {
	handler  http.Handler
	delivery worker
	close    func() error // releases the stores' connections
}

// assemble builds the adapter's parts with app.New.
func assemble(cfg *config.Config, o app.Options) (*parts, error) {
	a, err := app.New(cfg, o)
	if err != nil {
		return nil, err
	}
	return &parts{handler: a.Handler, delivery: a.Delivery, close: a.Close}, nil
}

// run reads the command line and the configuration (env gives the
// DVC_* overrides), assembles the adapter with build and serves it until
// ctx ends or the listener fails. Either way the delivery workers are
// stopped (draining the deliveries in flight) and the stores closed before
// it returns; the error is the listener's, nil after a clean shutdown.
func run(ctx context.Context, args []string, env func(string) (string, bool), stdout io.Writer,
	build func(*config.Config, app.Options) (*parts, error)) error {
	flags := flag.NewFlagSet("adapter", flag.ContinueOnError)
	path := flags.String("config", "", "configuration file (default: the embedded configs/local.yaml)")
	if err := flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	raw := configs.Local
	if *path != "" {
		var err error
		if raw, err = os.ReadFile(*path); err != nil {
			return fmt.Errorf("config: %w", err)
		}
	}
	cfg, err := config.Load(raw, env)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(stdout, &slog.HandlerOptions{Level: level(cfg.Log.Level)}))
	slog.SetDefault(log)
	p, err := build(cfg, app.Options{Log: log, Hook: crashHook()})
	if err != nil {
		return err
	}
	defer func() {
		if err := p.close(); err != nil {
			log.Warn("store connections not closed cleanly", "err", err)
		}
	}()
	ln, err := net.Listen("tcp", cfg.Server.Addr)
	if err != nil {
		return err
	}
	log.Info("adapter listening", "addr", cfg.Server.Addr, "procedures", len(cfg.Procedures))
	return serve(ctx, newServer(cfg.Server, p.handler), ln, p.delivery, cfg.Server.ShutdownTimeout, log)
}

// newServer is the adapter's HTTP server. A keep-alive connection may stay
// idle for twice the read timeout: long enough for a client's next request,
// short enough that idle connections do not pile up.
func newServer(c config.Server, h http.Handler) *http.Server {
	return &http.Server{
		Addr: c.Addr, Handler: h,
		ReadTimeout: c.ReadTimeout, WriteTimeout: c.WriteTimeout,
		ReadHeaderTimeout: c.ReadTimeout,
		IdleTimeout:       2 * c.ReadTimeout,
	}
}

// server is what serve needs of an *http.Server.
type server interface {
	Serve(ln net.Listener) error
	Shutdown(ctx context.Context) error
}

// serve starts the delivery workers and srv on ln, and runs until ctx ends
// or srv fails. Then it shuts srv down, waits for its goroutine to return,
// and stops the workers, all within shutdownTimeout. It returns srv's error
// (nil when srv stopped because of the shutdown) joined with a failed
// shutdown's.
func serve(ctx context.Context, srv server, ln net.Listener, delivery worker, shutdownTimeout time.Duration, log *slog.Logger) error {
	if err := delivery.Start(context.Background()); err != nil {
		_ = ln.Close()
		return err
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	var serveErr error
	running := true
	select {
	case serveErr = <-errc:
		running = false
		log.Error("listener failed, stopping", "err", serveErr, "drain", shutdownTimeout.String())
	case <-ctx.Done():
		log.Info("shutting down", "drain", shutdownTimeout.String())
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	shutErr := srv.Shutdown(sctx)
	if running {
		// Serve returns once Shutdown has closed the listener.
		serveErr = <-errc
	}
	if errors.Is(serveErr, http.ErrServerClosed) {
		serveErr = nil
	}
	// Finish the deliveries in flight; what is left waits in the outbox.
	if err := delivery.Stop(sctx); err != nil {
		log.Warn("delivery workers did not drain in time", "err", err)
	}
	return errors.Join(serveErr, shutErr)
}

func level(s string) slog.Level {
	var l slog.Level
	_ = l.UnmarshalText([]byte(s))
	return l
}
