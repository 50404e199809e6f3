// Command portal-sim runs the portal simulator (package adapter/portalsim) as an HTTP server,
// so the adapter's status delivery can be run end to end on one machine.
//
//	portal-sim -addr 127.0.0.1:8082 -username dvc-adapter -password dev-portal-secret
//
// With -tls-cert and -tls-key it serves HTTPS; with -client-ca too, it
// requires a client certificate from those CAs (mutual TLS).
//
// Routes: POST /api (session JSON: Login, TraCuuHoSo, DongBoHoSoMC, CapNhatTienDoHoSoMC),
// POST /auth (OpenCPS's separate login: {"username","password"} → a session for /api),
// POST /oauth/token and POST /api/<service> (bearer variant), GET /sim/received (every service
// call received, in arrival order), GET /sim/dossiers and GET /sim/dossiers/<maHoSo> (a
// dossier as the portal's citizen page would show it: status, due and end dates, result
// documents, correction rounds, the latest progress entries). With -dstcode, every protocol
// request must carry that dstcode header (403 otherwise).
//
// # Fault injection
//
// The flags set faults at start-up; the admin routes change them while it runs:
//
//	GET    /sim/admin/faults   current faults as JSON
//	PUT    /sim/admin/faults   replace them (missing fields are zero; unknown fields or invalid
//	                           values: 400), e.g.
//	       curl -X PUT localhost:8082/sim/admin/faults -d '{"errorCode":"99","errorRate":0.5}'
//	DELETE /sim/admin/faults   clear them; dossiers, sessions and received calls are kept
//
// JSON fields: down (bool: 503 with Retry-After: 1), latency ("200ms"), errorCode (answered as
// error_code to service calls), errorRate (share of service calls, 0..1; 0 with errorCode set
// means all), expireSessions (bool: every session and token expires after one call).
package main

import (
	"context"
	"flag"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/kbnn/dvc/adapter/sim/portalsim"
	"github.com/kbnn/dvc/adapter/sim/simkit"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8082", "listen address")
	var opts portalsim.Options
	flag.StringVar(&opts.Username, "username", "dvc-adapter", "username accepted by Login (and client id at /oauth/token)")
	flag.StringVar(&opts.Password, "password", "dev-portal-secret", "password accepted by Login (and client secret at /oauth/token)")
	flag.DurationVar(&opts.SessionTTL, "session-ttl", 30*time.Minute, "lifetime of a session after login")
	flag.DurationVar(&opts.TokenTTL, "token-ttl", 5*time.Minute, "lifetime of bearer tokens")
	flag.StringVar(&opts.SuccessCode, "success-code", `"00"`, `error_code of successful answers, as JSON: 0, "0" or "00"`)
	flag.StringVar(&opts.DstCode, "dstcode", "", "require this dstcode header on every protocol request, logins included (empty: not checked)")
	flag.StringVar(&opts.RejectBackwardCode, "reject-backward-code", "", "answer this error_code to a status that moves a dossier backwards (empty: accept it)")
	var f portalsim.Faults
	flag.BoolVar(&f.Down, "down", false, "fault: answer every protocol call 503 with Retry-After: 1")
	flag.DurationVar(&f.Latency, "latency", 0, "fault: delay before every protocol call is handled")
	flag.StringVar(&f.ErrorCode, "error-code", "", "fault: error_code answered to service calls (see -error-rate)")
	flag.Float64Var(&f.ErrorRate, "error-rate", 0, `fault: share (0..1) of service calls answered -error-code ("99" if unset); 0 with -error-code means all`)
	flag.BoolVar(&f.ExpireSessions, "expire-sessions", false, "fault: every session and token expires after serving one call (forces re-login)")
	seed := simkit.Flags(flag.CommandLine, "portal simulator")
	tf := simkit.AddTLSFlags(flag.CommandLine)
	logger := simkit.LogLevel(flag.CommandLine)
	flag.Parse()

	log, levelErr := logger()
	simkit.Check(log, "portal-sim", levelErr, opts.Validate(), f.Validate())
	opts.Rand = seed()
	opts.Logger = log
	if err := run(log, *addr, opts, f, tf); err != nil {
		log.Error("portal-sim: stopped", "error", err.Error())
		os.Exit(1)
	}
}

func run(log *slog.Logger, addr string, opts portalsim.Options, faults portalsim.Faults, tf *simkit.TLSFlags) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	sim := portalsim.New(opts)
	sim.SetFaults(faults)
	srv := &http.Server{
		Addr:              addr,
		Handler:           sim,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		// Requests see the signal: a delayed call ends at once on shutdown.
		BaseContext: func(net.Listener) context.Context { return ctx },
	}
	if err := tf.Apply(srv); err != nil {
		return err
	}
	return simkit.Serve(ctx, log, "portal-sim", srv, "username", opts.Username, "faults", faults)
}
