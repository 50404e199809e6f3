// Command adapter runs the treasury ↔ portal adapter.
//
//	adapter [-config configs/local.yaml]
//
// Without -config it runs on the embedded configs/local.yaml. Environment
// variables DVC_<SECTION>_<KEY> override the file.
package main

import (
	"context"
	"crypto/tls"
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
	"github.com/kbnn/dvc/adapter/tlsconf"
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
	handler  http.Handler // the public listener's
	admin    http.Handler // the admin listener's
	delivery worker
	close    func() error // releases the stores' connections
}

// assemble builds the adapter's parts with app.New.
func assemble(cfg *config.Config, o app.Options) (*parts, error) {
	a, err := app.New(cfg, o)
	if err != nil {
		return nil, err
	}
	return &parts{handler: a.Handler, admin: a.Admin, delivery: a.Delivery, close: a.Close}, nil
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
	adminLn, err := net.Listen("tcp", cfg.Server.AdminAddr)
	if err != nil {
		_ = ln.Close()
		return fmt.Errorf("admin listener: %w", err)
	}
	scheme := "http"
	if t := cfg.Server.TLS; t.CertFile != "" {
		tcfg, err := serverTLS(ctx, t, log)
		if err != nil {
			_, _ = ln.Close(), adminLn.Close()
			return err
		}
		ln, adminLn, scheme = tls.NewListener(ln, tcfg), tls.NewListener(adminLn, tcfg), "https"
	}
	log.Info("adapter listening", "addr", ln.Addr().String(), "adminAddr", adminLn.Addr().String(),
		"scheme", scheme, "procedures", len(cfg.Procedures))
	warnExposedAdmin(log, adminLn.Addr(), scheme == "https")
	return serve(ctx, []listening{
		{"public", newServer(cfg.Server, p.handler), ln},
		{"admin", newServer(cfg.Server, p.admin), adminLn},
	}, p.delivery, cfg.Server.ShutdownTimeout, log)
}

// warnExposedAdmin logs a warning when the admin listener serves plain
// HTTP on an address other than loopback: its bearer tokens and /metrics
// then cross the network in clear, to anyone who can reach the port.
func warnExposedAdmin(log *slog.Logger, addr net.Addr, tls bool) bool {
	if tls {
		return false
	}
	if a, ok := addr.(*net.TCPAddr); ok && a.IP.IsLoopback() {
		return false
	}
	log.Warn("admin listener serves plain HTTP on a non-loopback address: operator tokens and metrics cross the network in clear; "+
		"bind server.adminAddr to loopback or a private interface, or set server.tls", "adminAddr", addr.String())
	return true
}

// serverTLS is the listeners' TLS: the configured pair, checked for a
// change every reload interval until ctx ends.
func serverTLS(ctx context.Context, t config.TLS, log *slog.Logger) (*tls.Config, error) {
	cert, err := tlsconf.NewCert(t.CertFile, t.KeyFile, log)
	if err != nil {
		return nil, err
	}
	cfg, err := tlsconf.Server(tlsconf.Options{Cert: cert, MinVersion: t.MinVersion, ClientCAFile: t.ClientCAFile})
	if err != nil {
		return nil, err
	}
	go cert.Watch(ctx, t.ReloadInterval)
	return cfg, nil
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

// listening is one HTTP server and the listener it serves.
type listening struct {
	name string // for the log: public or admin
	srv  server
	ln   net.Listener
}

// serve starts the delivery workers and every server on its listener, and
// runs until ctx ends or a server fails. Then it shuts every server down,
// waits for their goroutines to return, and stops the workers, all within
// shutdownTimeout. It returns the servers' errors (nil for a server stopped
// by the shutdown) joined with failed shutdowns'.
func serve(ctx context.Context, ls []listening, delivery worker, shutdownTimeout time.Duration, log *slog.Logger) error {
	if err := delivery.Start(context.Background()); err != nil {
		for _, l := range ls {
			_ = l.ln.Close()
		}
		return err
	}
	type result struct {
		i   int
		err error
	}
	errc := make(chan result, len(ls))
	for i, l := range ls {
		go func() { errc <- result{i, l.srv.Serve(l.ln)} }()
	}
	serveErrs := make([]error, len(ls))
	returned := 0
	select {
	case r := <-errc:
		returned++
		serveErrs[r.i] = fmt.Errorf("%s listener: %w", ls[r.i].name, r.err)
		log.Error("listener failed, stopping", "listener", ls[r.i].name, "err", r.err, "drain", shutdownTimeout.String())
	case <-ctx.Done():
		log.Info("shutting down", "drain", shutdownTimeout.String())
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	shutErrs := make([]error, len(ls))
	for i, l := range ls {
		shutErrs[i] = l.srv.Shutdown(sctx)
	}
	// Serve returns once Shutdown has closed the listener.
	for ; returned < len(ls); returned++ {
		r := <-errc
		if !errors.Is(r.err, http.ErrServerClosed) {
			serveErrs[r.i] = fmt.Errorf("%s listener: %w", ls[r.i].name, r.err)
		}
	}
	// Finish the deliveries in flight; what is left waits in the outbox.
	if err := delivery.Stop(sctx); err != nil {
		log.Warn("delivery workers did not drain in time", "err", err)
	}
	return errors.Join(errors.Join(serveErrs...), errors.Join(shutErrs...))
}

func level(s string) slog.Level {
	var l slog.Level
	_ = l.UnmarshalText([]byte(s))
	return l
}
