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
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/kbnn/dvc/adapter/app"
	"github.com/kbnn/dvc/adapter/config"
	"github.com/kbnn/dvc/configs"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "adapter:", err)
		os.Exit(1)
	}
}

func run() error {
	path := flag.String("config", "", "configuration file (default: the embedded configs/local.yaml)")
	flag.Parse()
	var (
		cfg *config.Config
		err error
	)
	if *path == "" {
		cfg, err = config.Load(configs.Local, os.LookupEnv)
	} else {
		cfg, err = config.LoadFile(*path)
	}
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: level(cfg.Log.Level)}))
	slog.SetDefault(log)
	a, err := app.New(cfg, app.Options{Log: log, Hook: crashHook()})
	if err != nil {
		return err
	}
	defer func() {
		if err := a.Close(); err != nil {
			log.Warn("store connections not closed cleanly", "err", err)
		}
	}()
	srv := &http.Server{
		Addr: cfg.Server.Addr, Handler: a.Handler,
		ReadTimeout: cfg.Server.ReadTimeout, WriteTimeout: cfg.Server.WriteTimeout,
		ReadHeaderTimeout: cfg.Server.ReadTimeout,
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := a.Delivery.Start(context.Background()); err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Info("adapter listening", "addr", cfg.Server.Addr, "procedures", len(cfg.Procedures))
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down", "drain", cfg.Server.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), cfg.Server.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	// Finish the deliveries in flight; what is left waits in the outbox.
	if err := a.Delivery.Stop(sctx); err != nil {
		log.Warn("delivery workers did not drain in time", "err", err)
	}
	return nil
}

func level(s string) slog.Level {
	var l slog.Level
	_ = l.UnmarshalText([]byte(s))
	return l
}
