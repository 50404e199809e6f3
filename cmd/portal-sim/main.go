// Command portal-sim stands in for the National Public Service Portal's
// integration endpoint on :8082 so that `make run` has every party. Today it
// answers the session login and records every service call it receives at
// GET /sim/received; status delivery to it arrives with the callbacks work.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

type received struct {
	Service string    `json:"service"`
	MaHoSo  string    `json:"maHoSo,omitempty"`
	Status  string    `json:"status,omitempty"`
	Time    time.Time `json:"time"`
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8082", "listen address")
	flag.Parse()
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	var (
		mu   sync.Mutex
		recs = []received{}
	)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"error_code": 0, "session": "sim-session"})
	})
	mux.HandleFunc("POST /", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Service string `json:"service"`
		}
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if json.Unmarshal(body, &req) != nil || req.Service == "" {
			writeJSON(w, map[string]any{"error_code": "99", "message": "bad request"})
			return
		}
		mu.Lock()
		recs = append(recs, received{Service: req.Service, Time: time.Now()})
		mu.Unlock()
		writeJSON(w, map[string]any{"error_code": "00", "message": "ok"})
	})
	mux.HandleFunc("GET /sim/received", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		writeJSON(w, recs)
	})
	srv := &http.Server{Addr: *addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	log.Info("portal simulator listening", "addr", *addr)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Error("portal simulator", "err", err)
		os.Exit(1)
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
