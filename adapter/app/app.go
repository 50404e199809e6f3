// Package app owns the assembly of a running adapter from its
// configuration: trust store, signature verifiers, procedure definitions and
// mappings, the withdrawal request's definition, the treasury client and the
// HTTP server. cmd/adapter and the
// end-to-end tests both start the adapter through it.
package app

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"

	"github.com/kbnn/dvc/adapter/attachment"
	"github.com/kbnn/dvc/adapter/auditlog"
	"github.com/kbnn/dvc/adapter/config"
	"github.com/kbnn/dvc/adapter/dossier"
	"github.com/kbnn/dvc/adapter/httpapi"
	"github.com/kbnn/dvc/adapter/idempotency"
	"github.com/kbnn/dvc/adapter/intake"
	"github.com/kbnn/dvc/adapter/jws"
	"github.com/kbnn/dvc/adapter/mapping"
	"github.com/kbnn/dvc/adapter/outbox"
	"github.com/kbnn/dvc/adapter/redisha"
	"github.com/kbnn/dvc/adapter/redisstore"
	"github.com/kbnn/dvc/adapter/revocation"
	"github.com/kbnn/dvc/adapter/rules"
	"github.com/kbnn/dvc/adapter/schema"
	"github.com/kbnn/dvc/adapter/signers"
	"github.com/kbnn/dvc/adapter/tlsconf"
	"github.com/kbnn/dvc/adapter/trust"
	"github.com/kbnn/dvc/adapter/upstream"
	"github.com/kbnn/dvc/adapter/xmlsig"
	"github.com/kbnn/dvc/mappings"
	"github.com/kbnn/dvc/schemas"
)

// Options are what the configuration does not say.
type Options struct {
	Clock func() time.Time // receipt time; nil means time.Now
	Log   *slog.Logger
	// HTTPClient is for the treasury, used as it is; nil means a client with
	// the configured timeout and treasury.tls.
	HTTPClient *http.Client
	// PortalHTTPClient is for the portal, used as it is; nil means a new
	// client with portal.tls.
	PortalHTTPClient *http.Client
	// Hook is called at each step of a submission (crash tests); nil means none.
	Hook func(step string)
	// AuditOpenFile opens the evidence log's files; nil means os.OpenFile
	// (tests make the disk fail).
	AuditOpenFile func(name string, flag int, perm os.FileMode) (auditlog.File, error)

	// newRedisClient makes the Redis client of a Redis store; nil means
	// redis.NewUniversalClient. Tests set it to see the client New made.
	newRedisClient func(*redis.UniversalOptions) redis.UniversalClient
}

// Adapter is an assembled adapter.
type Adapter struct {
	// Handler serves the public listener (server.addr): the portal's and
	// the treasury's routes, /healthz and /readyz.
	Handler http.Handler
	// Admin serves the admin listener (server.adminAddr): /metrics,
	// /debug/pprof/, the dead letters and the registered signers.
	Admin  http.Handler
	Intake *intake.Service
	// Delivery carries status events to the portal: Start it, Stop it to
	// drain before exit.
	Delivery *outbox.Worker
	// Outbox holds the status events (dead letters included).
	Outbox outbox.Store
	// Signers holds the units' registered signers.
	Signers signers.Store
	// Audit is the instance's evidence log (nil when evidence.enabled is
	// false); Close closes it.
	Audit *auditlog.Log
	// Close releases the store's connections.
	Close func() error
}

// New assembles the adapter. Any problem with the configuration or the
// data files (schemas, mappings, certificates) is returned before anything
// starts.
func New(cfg *config.Config, o Options) (*Adapter, error) {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	httpMetrics, breakers, attempts := httpapi.NewMetrics(), upstream.NewStateGauge(), outbox.NewAttemptCounter()
	revocationMetrics := revocation.NewMetrics()
	ts, err := loadTrust(cfg.Signatures, revocationMetrics, o.Log)
	if err != nil {
		return nil, err
	}
	procs, err := loadProcedures(cfg, schemas.FS, mappings.FS)
	if err != nil {
		return nil, err
	}
	withdrawal, err := loadWithdrawal(cfg.Signatures, schemas.FS)
	if err != nil {
		return nil, err
	}
	if o.HTTPClient, err = upstreamClient(o.HTTPClient, cfg.Treasury.TLS, cfg.Treasury.Resilience.MaxConcurrent, o.Log); err != nil {
		return nil, fmt.Errorf("treasury.tls: %w", err)
	}
	if o.PortalHTTPClient, err = upstreamClient(o.PortalHTTPClient, cfg.Portal.TLS, cfg.Portal.Resilience.MaxConcurrent, o.Log); err != nil {
		return nil, fmt.Errorf("portal.tls: %w", err)
	}
	sender, err := newTreasurySender(cfg.Treasury, o.HTTPClient,
		upstream.WithLogger(o.Log), upstream.WithStateHook(breakers.Observe))
	if err != nil {
		return nil, err
	}
	shortfalls := newReplicationShortfalls()
	clockSkew := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "dvc_store_clock_skew_seconds",
		Help: "The adapter's clock minus the Redis server's (TIME) at the last readiness check; /readyz fails beyond store.redis.maxClockSkew. 0 without Redis.",
	})
	records, dossiers, client, ha, err := openStore(cfg, o.Clock, o.newRedisClient,
		func(op string) { shortfalls.WithLabelValues(op).Inc() })
	if err != nil {
		return nil, err
	}
	closeStore := func() error { return nil }
	if client != nil {
		stopReload := reloadClusterState(client, clusterStateReload)
		closeStore = func() error {
			stopReload()
			return client.Close()
		}
	}
	// From here on, a failure releases the store's connections before
	// returning.
	fail := func(err error) (*Adapter, error) {
		if cerr := closeStore(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("closing the store: %w", cerr))
		}
		return nil, err
	}
	files := openAttachments(cfg, client, o.Clock)
	anchorProblems := newAnchorProblems()
	var anchors evidenceAnchors
	if client != nil {
		anchors = redisstore.NewAnchors(client, cfg.Store.Redis.KeyPrefix)
	}
	ev, err := openEvidence(cfg.Evidence, o, anchors, anchorProblems)
	if err != nil {
		return fail(err)
	}
	evidenceFailures := newEvidenceFailures()
	ev.recorder.Failed = func(r auditlog.Record, _ error) { evidenceFailures.WithLabelValues(evidenceKind(r.Route)).Inc() }
	release := closeStore
	closeStore = func() error { return errors.Join(ev.close(), release()) }
	registry, err := openSigners(cfg, client, o.Clock, o.Log)
	if err != nil {
		return fail(err)
	}
	status, err := newStatusParts(cfg, o, client, ha, dossiers, registry, attempts, ev.recorder,
		upstream.WithLogger(o.Log), upstream.WithStateHook(breakers.Observe))
	if err != nil {
		return fail(err)
	}
	reg := prometheus.NewRegistry()
	for _, c := range []prometheus.Collector{
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		httpMetrics, breakers, attempts, evidenceFailures, anchorProblems, shortfalls, clockSkew, revocationMetrics, outbox.NewDepthCollector(status.outbox, time.Second),
		status.settled,
	} {
		if err := reg.Register(c); err != nil {
			return fail(fmt.Errorf("metrics: %w", err))
		}
	}
	codes, err := dossierCodes(cfg.DossierCodes)
	if err != nil {
		return fail(err)
	}
	lim := xmlsig.Limits{MaxDepth: cfg.Limits.MaxDepth, MaxElements: cfg.Limits.MaxElements}
	svc := intake.New(intake.Options{
		Records:  records,
		Dossiers: dossiers,
		Clock:    o.Clock,
		Hook:     o.Hook,
		Policy: intake.Policy{Retention: cfg.Idempotency.Retention, DossierRetention: cfg.Idempotency.DossierRetention,
			Lease: cfg.Idempotency.Lease},
		Procedures:   procs,
		DossierCodes: codes,
		XML: xmlsig.NewVerifier(ts, xmlsig.Policy{AllowSHA1: cfg.Signatures.AllowSHA1,
			WithComments: cfg.Signatures.WithComments, MaxSignatures: cfg.Signatures.MaxSignatures,
			Engine:              xmlsig.Engine(cfg.Signatures.XMLVerifier),
			FallbackConcurrency: cfg.Limits.LargeBodyConcurrency, FallbackWait: cfg.Limits.LargeBodyWait}),
		JWS:    jws.NewVerifier(ts, cfg.Signatures.JWSAlgorithms, cfg.Signatures.MaxSignatures),
		Limits: lim,
		Sender: sender,
		Log:    o.Log,

		Withdrawal: withdrawal, WithdrawalRoles: withdrawalRoles, Withdrawer: sender,
		WithdrawalMaxAgeDays: cfg.Withdrawal.MaxAgeDays,

		Signers: registry, RequireRegistered: cfg.Signatures.RequireRegistered, Roles: roleNames(cfg.Signatures),

		Attachments: files, Uploader: sender, InlineFileBytes: max(cfg.Treasury.InlineAttachmentBytes, 0),
		FileLimits: intake.FileLimits{MaxFileBytes: cfg.Attachments.MaxFileBytes, MaxTotalBytes: cfg.Attachments.MaxTotalBytes,
			BatchBytes: cfg.Limits.LargeBodyBytes},
		Evidence: ev.recorder,
	})
	callers := make([]httpapi.Caller, 0, len(cfg.Auth.BearerTokens))
	for _, t := range cfg.Auth.BearerTokens {
		callers = append(callers, httpapi.Caller{Name: t.Name, Token: t.Token.Reveal(), Units: t.Units})
	}
	var admins []httpapi.Caller
	for _, t := range cfg.Auth.AdminTokens {
		admins = append(admins, httpapi.Caller{Name: t.Name, Token: t.Token.Reveal()})
	}
	ready := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := records.Ping(ctx); err != nil {
			o.Log.Warn("store not ready", "err", err)
			return errors.New("store unreachable")
		}
		if err := status.outbox.Ping(ctx); err != nil {
			o.Log.Warn("outbox not ready", "err", err)
			return errors.New("outbox unreachable")
		}
		if err := checkClock(ctx, client, o.Clock, cfg.Store.Redis.MaxClockSkew, clockSkew.Set); err != nil {
			o.Log.Warn("clock not ready", "err", err)
			return err
		}
		// A log in the failed state refuses every submission and callback
		// (503 audit-unavailable) until the adapter restarts on a healthy
		// disk: send the load elsewhere.
		if ev.log != nil {
			if err := ev.log.Err(); err != nil {
				o.Log.Warn("evidence log not ready", "err", err)
				return errors.New("evidence log unavailable")
			}
		}
		return nil
	}
	var audit httpapi.AuditReader
	if ev.log != nil {
		audit = ev.log
	}
	ho := httpapi.Options{
		Intake: svc, Callers: callers, MaxBodyBytes: cfg.Server.MaxBodyBytes,
		Clock: o.Clock, Log: o.Log, Ready: ready, Metrics: httpMetrics, Gatherer: reg,
		Callbacks: status.flow, DeadLetters: status.flow.DeadLetters(status.outbox), AdminCallers: admins, Dossiers: svc,
		Signers: registry, Evidence: ev.recorder, Audit: audit,
		Attachments: httpapi.AttachmentLimits{MaxFileBytes: cfg.Attachments.MaxFileBytes,
			MaxTotalBytes: cfg.Attachments.MaxTotalBytes, MaxParts: cfg.Attachments.MaxParts},
		Modes: httpapi.Modes{Submissions: cfg.Auth.Submissions, Callbacks: cfg.Auth.Callbacks, Admin: cfg.Auth.Admin},
		LargeBodies: httpapi.LargeBodyLimits{Bytes: cfg.Limits.LargeBodyBytes,
			Concurrency: cfg.Limits.LargeBodyConcurrency, Wait: cfg.Limits.LargeBodyWait, Uploads: cfg.Limits.UploadConcurrency},
	}
	for _, cl := range cfg.Server.TLS.Clients {
		ho.ClientCerts = append(ho.ClientCerts, httpapi.ClientCert{Name: cl.Name, Subject: cl.Subject, URI: cl.URI, Group: cl.Group})
	}
	return &Adapter{Handler: httpapi.New(ho), Admin: httpapi.NewAdmin(ho), Intake: svc, Delivery: status.worker, Outbox: status.outbox,
		Signers: registry, Audit: ev.log, Close: closeStore}, nil
}

// openStore returns the configured idempotency and dossier stores and, in
// Redis mode, the client they share and the writer of the writes that wait
// for replicas (store.redis.minReplicas; it waits for none when zero),
// which calls onShortfall with the operation on each shortfall.
func openStore(cfg *config.Config, now func() time.Time, newClient func(*redis.UniversalOptions) redis.UniversalClient,
	onShortfall func(op string)) (idempotency.Store, dossier.Store, redis.UniversalClient, *redisha.Writer, error) {
	if cfg.Store.Kind != "redis" {
		return idempotency.NewMemory(now), dossier.NewMemory(), nil, nil, nil
	}
	if newClient == nil {
		newClient = redis.NewUniversalClient
	}
	r := cfg.Store.Redis
	client := newClient(&redis.UniversalOptions{
		Addrs: r.Addrs, MasterName: r.MasterName, Username: r.Username, Password: r.Password.Reveal(),
		DB: r.DB, DialTimeout: r.DialTimeout, ReadTimeout: r.ReadTimeout, WriteTimeout: r.WriteTimeout,
		PoolSize: r.PoolSize,
		// Fail fast: a request waits for Redis at most a few timeouts, then
		// the adapter answers 503 without sending anything.
		MaxRetries: 1, DialerRetries: 1,
	})
	ha := redisha.New(client, r.MinReplicas, r.ReplicaTimeout, onShortfall)
	// The dossier records are not written through ha: their loss in a
	// failover never lets a dossier be sent twice (the claim, which waits,
	// does that), and the status view catches up from the callbacks; with
	// one primary (a server or Sentinel) the wait of the request's final
	// record covers them anyway, as replication is ordered.
	return redisstore.New(client, r.KeyPrefix, now).WaitForReplicas(ha),
		redisstore.NewDossiers(client, r.KeyPrefix, cfg.Idempotency.DossierRetention), client, ha, nil
}

// checkClock fails when the adapter's clock is more than max from the
// Redis server's, the instances' common reference: leases, retry times and
// expiries written on one instance's clock are read on another's. It
// passes the skew, in seconds, to observe. Nothing is checked without
// Redis or with a max that is not positive.
func checkClock(ctx context.Context, client redis.UniversalClient, now func() time.Time, max time.Duration, observe func(float64)) error {
	if client == nil || max <= 0 {
		return nil
	}
	skew, err := redisstore.ClockSkew(ctx, client, now)
	if err != nil {
		return errors.New("store unreachable")
	}
	observe(skew.Seconds())
	if skew > max || skew < -max {
		return fmt.Errorf("the adapter's clock is %v off the Redis server's, more than store.redis.maxClockSkew (%v): synchronise this host, or the Redis host if every instance says so (NTP)",
			skew.Round(time.Millisecond), max)
	}
	return nil
}

// newReplicationShortfalls counts the writes that too few replicas
// acknowledged in time: dvc_store_replication_shortfalls_total{op}.
func newReplicationShortfalls() *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "dvc_store_replication_shortfalls_total",
		Help: "Writes behind an answer that fewer than store.redis.minReplicas replicas acknowledged within store.redis.replicaTimeout (answered 503 store-unavailable; for status_record, the status delivery is retried instead of acknowledged), by operation.",
	}, []string{"op"})
	for _, op := range []string{"outbox_append", "idempotency_complete", "idempotency_replay", "dossier_claim", "dossier_sender", "status_record", "signers_register"} {
		c.WithLabelValues(op)
	}
	return c
}

// openAttachments returns the store of files uploaded before their dossier:
// in Redis beside the other stores in production, else in memory; either
// holds at most attachments.maxStoredBytes at once.
func openAttachments(cfg *config.Config, client redis.UniversalClient, now func() time.Time) attachment.Store {
	a := cfg.Attachments
	l := attachment.Limits{MaxFileBytes: a.MaxFileBytes, MaxTotalBytes: a.MaxStoredBytes, Retention: a.Retention}
	if client != nil {
		return redisstore.NewAttachments(client, cfg.Store.Redis.KeyPrefix, l, now)
	}
	return attachment.NewMemory(l, now)
}

func loadTrust(c config.Signatures, m *revocation.Metrics, log *slog.Logger) (*trust.Store, error) {
	roots, err := trust.LoadCertificates(c.TrustRoots...)
	if err != nil {
		return nil, fmt.Errorf("signatures.trustRoots: %w", err)
	}
	var inter []*x509.Certificate
	if len(c.Intermediates) > 0 {
		if inter, err = trust.LoadCertificates(c.Intermediates...); err != nil {
			return nil, fmt.Errorf("signatures.intermediates: %w", err)
		}
	}
	crls, err := trust.LoadCRLs(c.CRLs...)
	if err != nil {
		return nil, fmt.Errorf("signatures.crls: %w", err)
	}
	r := c.Revocation
	// The revocation checker holds the configured CRLs with what it
	// fetches; it judges freshness by the wall clock, as responders do.
	checker, err := revocation.New(revocation.Options{OCSP: r.OCSP, OCSPURL: r.OCSPURL, Nonce: r.OCSPNonce,
		FetchCRLs: r.FetchCRLs, AllowUnavailable: r.OnUnavailable == "allow", Timeout: r.Timeout, MaxAge: r.MaxAge,
		CRLs: crls, Issuers: append(append([]*x509.Certificate{}, roots...), inter...), Metrics: m, Log: log})
	if err != nil {
		return nil, fmt.Errorf("signatures.crls: %w", err)
	}
	ts, err := trust.New(trust.Options{Roots: roots, Intermediates: inter, Roles: c.Roles, Revocation: checker})
	if err != nil {
		return nil, fmt.Errorf("signatures: %w", err)
	}
	return ts, nil
}

// withdrawalRoles are the roles that must sign a withdrawal: the unit's
// account holder, as signatures.roles names the role.
var withdrawalRoles = []string{"chu-tai-khoan"}

// loadWithdrawal compiles the withdrawal request's definition, after
// checking that signatures.roles maps a certificate title to every role
// that signs withdrawals.
func loadWithdrawal(c config.Signatures, schemaFS fs.FS) (*schema.Definition, error) {
	for _, r := range withdrawalRoles {
		found := false
		for _, role := range c.Roles {
			found = found || role == r
		}
		if !found {
			return nil, fmt.Errorf("signatures.roles: no certificate title maps to %s, the role that signs withdrawals", r)
		}
	}
	def, err := schema.LoadForm(schemaFS, schema.WithdrawalFolder, schema.Withdrawal)
	if err != nil {
		return nil, fmt.Errorf("withdrawal: %w", err)
	}
	return def, nil
}

// loadProcedures compiles each configured procedure's definition, business rules and
// mapping; a procedure without all three stops start-up.
func loadProcedures(cfg *config.Config, schemaFS, mappingFS fs.FS) ([]*intake.Procedure, error) {
	reqSchema, err := fs.ReadFile(schemaFS, "treasury/send-document-request.schema.json")
	if err != nil {
		return nil, fmt.Errorf("treasury request schema: %w", err)
	}
	ids := make([]string, 0, len(cfg.Procedures))
	for id := range cfg.Procedures {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var out []*intake.Procedure
	for _, id := range ids {
		pc := cfg.Procedures[id]
		def, err := schema.Load(schemaFS, id)
		if err != nil {
			return nil, fmt.Errorf("procedures.%s: %w", id, err)
		}
		rs, err := rules.Load(schemaFS, id, def.Raw)
		if err != nil {
			return nil, fmt.Errorf("procedures.%s: %w", id, err)
		}
		m, err := mapping.Load(mappingFS, id, def.Raw, reqSchema)
		if err != nil {
			return nil, fmt.Errorf("procedures.%s: %w", id, err)
		}
		if err := def.RequiredString(pc.UnitPath); err != nil {
			return nil, fmt.Errorf("procedures.%s.unitPath: %w", id, err)
		}
		p := &intake.Procedure{ID: id, Code: pc.Code, Name: pc.Name, RequiredRoles: pc.RequiredRoles,
			Deadline: pc.Deadline, Definition: def, Rules: rs, Mapper: m, UnitPath: pc.UnitPath, RegisteredSigners: pc.RegisteredSigners}
		if sp := pc.Signers; sp.List != "" {
			p.Signers = &intake.SignerPaths{List: sp.List, Role: sp.Role, Serial: sp.Serial, Issuer: sp.Issuer}
		}
		out = append(out, p)
	}
	return out, nil
}

// dossierCodes compiles the configured dossier code formats.
func dossierCodes(patterns []string) ([]*regexp.Regexp, error) {
	out := make([]*regexp.Regexp, 0, len(patterns))
	for i, p := range patterns {
		re, err := regexp.Compile(p)
		if err != nil {
			return nil, fmt.Errorf("dossierCodes[%d]: %w", i, err)
		}
		out = append(out, re)
	}
	return out, nil
}

// upstreamWriteBuffer is the write buffer of each upstream connection.
const upstreamWriteBuffer = 64 << 10

// upstreamClient is hc when set; else a client of its own transport that
// keeps up to bulkhead idle connections to the upstream (net/http's default
// keeps 2 per host, so under load every call past the second dialled a new
// connection and left one in TIME_WAIT), speaking t's TLS (CA bundle, client
// certificate, server name) when t is set. bulkhead is the upstream's
// resilience.maxConcurrent; zero: upstream.DefaultMaxConcurrent.
func upstreamClient(hc *http.Client, t config.ClientTLS, bulkhead int, log *slog.Logger) (*http.Client, error) {
	if hc != nil {
		return hc, nil
	}
	if bulkhead <= 0 {
		bulkhead = upstream.DefaultMaxConcurrent
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = bulkhead
	tr.MaxIdleConns = 0 // no bound across hosts; each upstream has one host
	// Over HTTP/1.1 a document and its request head leave in one write
	// (over TLS, one call to the TLS connection): with the default 4 KB
	// buffer a few-KB document took two, and the part past the buffer went
	// through a 32 KB copy buffer allocated per request. HTTP/2 has its own
	// framing and ignores it.
	tr.WriteBufferSize = upstreamWriteBuffer
	if t.Set() {
		cfg, err := tlsconf.Client(tlsconf.ClientOptions{CAFile: t.CAFile, CertFile: t.CertFile, KeyFile: t.KeyFile,
			ServerName: t.ServerName, Log: log})
		if err != nil {
			return nil, err
		}
		tr.TLSClientConfig = cfg
	}
	return &http.Client{Transport: tr}, nil
}
