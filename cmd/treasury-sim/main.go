// Command treasury-sim runs the treasury simulator (package adapter/treasurysim) as an HTTP
// server, so the adapter can be run end to end on one machine.
//
//	treasury-sim -addr 127.0.0.1:8081 -client-id dvc-adapter -client-secret dev-treasury-secret
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/kbnn/dvc/adapter/treasurysim"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8081", "listen address")
	clientID := flag.String("client-id", "dvc-adapter", "client id accepted at /api/v1/login")
	clientSecret := flag.String("client-secret", "dev-treasury-secret", "client secret accepted at /api/v1/login")
	tokenTTL := flag.Duration("token-ttl", 15*time.Minute, "lifetime of issued access tokens")
	maxBody := flag.Int64("max-body-bytes", 32<<20, "largest accepted request body (a 5,000-line payroll document is about 1.5 MB)")
	flag.Parse()

	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	if err := run(log, *addr, treasurysim.Options{
		ClientID:     *clientID,
		ClientSecret: *clientSecret,
		TokenTTL:     *tokenTTL,
		MaxBodyBytes: *maxBody,
		Logger:       log,
	}); err != nil {
		log.Error("treasury-sim: stopped", "error", err.Error())
		os.Exit(1)
	}
}

func run(log *slog.Logger, addr string, opts treasurysim.Options) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	srv := &http.Server{
		Addr:              addr,
		Handler:           treasurysim.New(opts),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() {
		log.Info("treasury-sim: listening", "addr", addr, "clientId", opts.ClientID)
		errc <- srv.ListenAndServe()
	}()

	select {
	case err := <-errc:
		return fmt.Errorf("listen: %w", err)
	case <-ctx.Done():
	}
	log.Info("treasury-sim: shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	log.Info("treasury-sim: stopped")
	return nil
}
