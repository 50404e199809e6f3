// Command treasury-sim runs the treasury simulator (package adapter/treasurysim) as an HTTP
// server, so the adapter can be run end to end on one machine.
//
//	treasury-sim -addr 127.0.0.1:8081 -client-id dvc-adapter -client-secret dev-treasury-secret
//
// # Fault injection
//
// To show the adapter's breakers, timeouts, outage handling and crash recovery, the simulator
// injects faults into the treasury API (/api/...; never into /sim/...). The flags set them at
// start-up; the admin routes change them while it runs:
//
//	GET    /sim/admin/faults   current faults as JSON
//	PUT    /sim/admin/faults   replace them (missing fields are zero; unknown fields or invalid
//	                           values: 400), e.g.
//	       curl -X PUT localhost:8081/sim/admin/faults -d '{"latency":"250ms","errorRate":0.3}'
//	DELETE /sim/admin/faults   clear them (recovery); documents and tokens are kept
//
// JSON fields: latency, jitter, hangMax (durations such as "250ms"), errorRate, timeoutRate
// (probabilities in [0, 1]), outage (bool), outageMode ("503" or "refuse"), afterAccept ("",
// "drop" or "hang"). Examples:
//
//	treasury-sim -error-rate 0.5 -seed 1     half the document calls answer 503 (breaker opens)
//	treasury-sim -timeout-rate 1             every call hangs until the client gives up
//	treasury-sim -outage -outage-mode refuse every call's connection is closed unanswered
//	treasury-sim -after-accept drop          a new document is stored, its answer never sent:
//	                                         the adapter must recover it by its idempotency key
//
// With -tls-cert and -tls-key it serves HTTPS; with -client-ca too, it requires a client
// certificate from those CAs (mutual TLS). -callback-ca, -callback-cert and -callback-key are
// its TLS towards the adapter's https callback URL.
//
// A hang or delay longer than the server's write timeout (2 minutes) ends with the connection
// closed rather than a 504.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/kbnn/dvc/adapter/sim/simkit"
	"github.com/kbnn/dvc/adapter/sim/treasurysim"
	"github.com/kbnn/dvc/adapter/tlsconf"
	"github.com/kbnn/dvc/adapter/webhook"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8081", "listen address")
	clientID := flag.String("client-id", "dvc-adapter", "client id accepted at /api/v1/login")
	clientSecret := flag.String("client-secret", "dev-treasury-secret", "client secret accepted at /api/v1/login")
	tokenTTL := flag.Duration("token-ttl", 15*time.Minute, "lifetime of issued access tokens")
	maxBody := flag.Int64("max-body-bytes", 32<<20, "largest accepted request body (a 5,000-line payroll document is about 1.5 MB)")
	keep := flag.Int("keep-requests", treasurysim.DefaultKeepRequests, "how many of the latest documents keep their request body (GET /sim/documents, .../original); older ones keep the rest of their record; 0: the default; negative: all (memory grows with every document)")
	unlimited := flag.Bool("unlimited-allotments", false, "never refuse VUOT_DU_TOAN nor deduct amounts (load runs); unknown units, offices and allotments are still refused")
	var f treasurysim.Faults
	flag.DurationVar(&f.Latency, "latency", 0, "fault: delay before every /api/ call is handled")
	flag.DurationVar(&f.Jitter, "jitter", 0, "fault: random extra delay in [0, jitter) added to -latency")
	flag.Float64Var(&f.ErrorRate, "error-rate", 0, "fault: share (0..1) of document calls answered 503 UNAVAILABLE")
	flag.Float64Var(&f.TimeoutRate, "timeout-rate", 0, "fault: share (0..1) of /api/ calls that hang until the client gives up (or -hang-max, then 504)")
	flag.DurationVar(&f.HangMax, "hang-max", 0, "fault: longest hang before a 504 GATEWAY_TIMEOUT (0: 30s)")
	flag.BoolVar(&f.Outage, "outage", false, "fault: every /api/ call fails as -outage-mode says")
	flag.StringVar(&f.OutageMode, "outage-mode", "", `fault: how -outage fails calls: "503" (the default: answer 503 UNAVAILABLE) or "refuse" (close the connection unanswered)`)
	flag.StringVar(&f.AfterAccept, "after-accept", "", `fault: "drop" (store a new document, close the connection unanswered) or "hang" (store it, then hang)`)
	seed := simkit.Flags(flag.CommandLine, "treasury simulator")
	var cb callbackFlags
	flag.StringVar(&cb.url, "callback-url", "", "adapter status callback URL (e.g. http://127.0.0.1:8080/v1/callbacks/treasury/status); empty: no callbacks")
	flag.StringVar(&cb.secret, "callback-secret", "", "Standard Webhooks secret (whsec_...) that signs the callbacks")
	flag.DurationVar(&cb.interval, "callback-interval", 10*time.Second, "every interval, each document moves one status along its path")
	flag.StringVar(&cb.ca, "callback-ca", "", "CAs (PEM bundle) the adapter's certificate must chain to, for an https -callback-url (empty: the system's)")
	flag.StringVar(&cb.cert, "callback-cert", "", "client certificate (PEM) presented to the adapter, for mutual TLS (with -callback-key)")
	flag.StringVar(&cb.key, "callback-key", "", "the private key of -callback-cert (PEM)")
	tf := simkit.AddTLSFlags(flag.CommandLine)
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run into this file (load runs: what the simulator itself costs)")
	logger := simkit.LogLevel(flag.CommandLine)
	flag.Parse()

	log, levelErr := logger()
	simkit.Check(log, "treasury-sim", levelErr)
	if *cpuProfile != "" {
		stopProfile, err := startCPUProfile(*cpuProfile)
		simkit.Check(log, "treasury-sim", err)
		defer stopProfile()
	}
	simkit.Check(log, "treasury-sim", f.Validate())
	if err := run(log, *addr, treasurysim.Options{
		ClientID:     *clientID,
		ClientSecret: *clientSecret,
		TokenTTL:     *tokenTTL,
		MaxBodyBytes: *maxBody, UnlimitedAllotments: *unlimited, KeepRequests: *keep,
		Logger: log,
		Rand:   seed(),
	}, f, cb, tf); err != nil {
		log.Error("treasury-sim: stopped", "error", err.Error())
		os.Exit(1)
	}
}

// startCPUProfile profiles the process into path until the returned func is called.
func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("-cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("-cpuprofile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		_ = f.Close()
	}, nil
}

// callbackFlags configure status callbacks to the adapter.
type callbackFlags struct {
	url, secret   string
	interval      time.Duration
	ca, cert, key string // TLS towards the adapter
}

func run(log *slog.Logger, addr string, opts treasurysim.Options, faults treasurysim.Faults, cb callbackFlags, tf *simkit.TLSFlags) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	sim := treasurysim.New(opts)
	sim.SetFaults(faults)
	if cb.url != "" {
		secret, err := webhook.ParseSecret(cb.secret)
		if err != nil {
			return fmt.Errorf("-callback-secret: %w", err)
		}
		co := treasurysim.CallbackOptions{URL: cb.url, Secret: secret, Interval: cb.interval}
		if cb.ca != "" || cb.cert != "" || cb.key != "" {
			cfg, err := tlsconf.Client(tlsconf.ClientOptions{CAFile: cb.ca, CertFile: cb.cert, KeyFile: cb.key, Log: log})
			if err != nil {
				return fmt.Errorf("-callback-ca/-callback-cert/-callback-key: %w", err)
			}
			tr := http.DefaultTransport.(*http.Transport).Clone()
			tr.TLSClientConfig = cfg
			co.Client = &http.Client{Transport: tr, Timeout: 10 * time.Second}
		}
		if err := sim.StartCallbacks(ctx, co); err != nil {
			return fmt.Errorf("callbacks: %w", err)
		}
		log.Info("treasury-sim: status callbacks on", "url", cb.url, "interval", cb.interval.String())
	}
	srv := &http.Server{
		Addr:              addr,
		Handler:           sim,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      2 * time.Minute, // longer than the default hang (30 s), so it can end with its 504
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		// Requests see the signal: a hanging or delayed call ends at once on shutdown.
		BaseContext: func(net.Listener) context.Context { return ctx },
	}
	if err := tf.Apply(srv); err != nil {
		return err
	}
	return simkit.Serve(ctx, log, "treasury-sim", srv, "clientId", opts.ClientID, "faults", faults)
}
