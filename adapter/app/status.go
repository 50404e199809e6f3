package app

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/kbnn/dvc/adapter/calendar"
	"github.com/kbnn/dvc/adapter/config"
	"github.com/kbnn/dvc/adapter/dossier"
	"github.com/kbnn/dvc/adapter/intake"
	"github.com/kbnn/dvc/adapter/outbox"
	"github.com/kbnn/dvc/adapter/portal"
	"github.com/kbnn/dvc/adapter/redisha"
	"github.com/kbnn/dvc/adapter/redisoutbox"
	"github.com/kbnn/dvc/adapter/redisstore"
	"github.com/kbnn/dvc/adapter/signers"
	"github.com/kbnn/dvc/adapter/statusflow"
	"github.com/kbnn/dvc/adapter/statusmap"
	"github.com/kbnn/dvc/adapter/upstream"
	"github.com/kbnn/dvc/adapter/webhook"
	"github.com/kbnn/dvc/adapter/yamlfile"
	"github.com/kbnn/dvc/configs"
	"github.com/kbnn/dvc/mappings"
	"github.com/kbnn/dvc/schemas"
)

// statusParts are the pieces of the status path the adapter runs.
type statusParts struct {
	flow   *statusflow.Flow
	outbox outbox.Store
	worker *outbox.Worker
	// settled counts the events the flow settled, by how:
	// dvc_status_events_total{delivery}.
	settled *prometheus.CounterVec
}

func newStatusParts(cfg *config.Config, o Options, client redis.UniversalClient, ha *redisha.Writer, dossiers dossier.Store, registry statusflow.SignerRegistry, attempts *outbox.AttemptCounter, rec *intake.Recorder, up ...upstream.Option) (*statusParts, error) {
	var secrets [][]byte
	for i, s := range cfg.Callbacks.Secrets {
		b, err := webhook.ParseSecret(s.Reveal())
		if err != nil {
			return nil, fmt.Errorf("callbacks.secrets[%d]: %w", i, err)
		}
		secrets = append(secrets, b)
	}
	eventSchema, err := fs.ReadFile(schemas.FS, "treasury/status-event.schema.json")
	if err != nil {
		return nil, err
	}
	statuses, err := statusmap.SchemaStatuses(eventSchema)
	if err != nil {
		return nil, err
	}
	cal, err := loadCalendar(cfg.Calendar, o.Clock(), o.Log)
	if err != nil {
		return nil, err
	}
	procs := map[string]statusflow.Procedure{}
	ids := make([]string, 0, len(cfg.Procedures))
	for id := range cfg.Procedures {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		pc := cfg.Procedures[id]
		m, err := statusmap.Load(mappings.FS, id, statuses)
		if err != nil {
			return nil, fmt.Errorf("procedures.%s: %w", id, err)
		}
		sp := statusflow.Procedure{Code: pc.Code, Name: pc.Name, SLAWorkingDays: pc.SLAWorkingDays, Statuses: m,
			FieldCode: pc.Field.Code, FieldName: pc.Field.Name,
			LoaiDoiTuong: cfg.Portal.LoaiDoiTuong, HinhThuc: cfg.Portal.HinhThuc, Calendar: cal}
		if pc.Signers.List != "" {
			if !m.Known(pc.Signers.On) {
				return nil, fmt.Errorf("procedures.%s.signers.on: %q is not a status of mappings/%s/status.yaml", id, pc.Signers.On, id)
			}
			sp.RegistersSignersOn = pc.Signers.On
		}
		procs[id] = sp
	}
	pt, err := portalTransport(cfg.Portal, o.PortalHTTPClient)
	if err != nil {
		return nil, err
	}
	group, err := portal.NewGroup(cfg.Portal.Resilience.Settings(), up...)
	if err != nil {
		return nil, fmt.Errorf("portal.resilience: %w", err)
	}
	var box outbox.Store = outbox.NewMemory(o.Clock)
	if client != nil {
		box = redisoutbox.New(client, cfg.Store.Redis.KeyPrefix, o.Clock, redisoutbox.WithReplicaWait(ha))
	}
	var confirm func(ctx context.Context, procedure, maHoSo string) error
	if rd, ok := dossiers.(*redisstore.Dossiers); ok && ha.Waits() {
		// The record and the outbox live in different slots (a Cluster puts
		// them on different primaries): the record's writes reach the
		// replicas before the outbox acknowledges the event.
		confirm = func(ctx context.Context, procedure, maHoSo string) error {
			return ha.Confirm(ctx, "status_record", rd.Key(procedure, maHoSo))
		}
	}
	if rs, ok := registry.(*redisstore.Signers); ok && ha.Waits() {
		// A unit's registrations are in another slot than the outbox: they
		// reach the replicas before the callback that made them is
		// acknowledged, or a failover could keep the event and lose them.
		registry = replicatedSigners{rs, ha}
	}
	settled := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "dvc_status_events_total",
		Help: "Status events settled in their dossier's record, by how: delivered (the portal has it), stale, not-allowed, deferred, dead-letter. dvc_delivery_attempts_total{result=\"delivered\"} counts every acknowledgement, these included.",
	}, []string{"delivery"})
	for _, d := range []string{dossier.DeliveryDelivered, dossier.DeliveryStale, dossier.DeliveryNotAllowed, dossier.DeliveryDeferred, dossier.DeliveryDead} {
		settled.WithLabelValues(d)
	}
	flow, err := statusflow.New(statusflow.Options{
		Verifier:    webhook.NewVerifier(secrets, cfg.Callbacks.Tolerance, o.Clock),
		EventSchema: eventSchema, Procedures: procs, Outbox: box, Dossiers: dossiers,
		Portal: portal.NewClient(pt, group), Now: o.Clock, Log: o.Log, Confirm: confirm, Signers: registry,
		OnSettled:     func(d string) { settled.WithLabelValues(d).Inc() },
		UncertainWait: cfg.Delivery.UncertainWait,
	})
	if err != nil {
		return nil, err
	}
	w, err := outbox.NewWorker(box, outbox.WorkerConfig{
		Deliver:     logAttempts(rec, o.Clock, o.Log, flow.Deliver),
		Concurrency: cfg.Delivery.Workers,
		Lease:       cfg.Delivery.Lease,
		Schedule:    cfg.Delivery.Schedule,
		MinSpan:     cfg.Delivery.MinSpan,
		Now:         o.Clock,
		// A local refusal (open breaker, full bulkhead) sent nothing: it
		// must not use up an event's last attempt.
		NotSent: func(err error) bool {
			var rej *upstream.Rejected
			return errors.As(err, &rej)
		},
		OnAttempt: func(ctx context.Context, d outbox.Delivery, res outbox.Result, err error) {
			attempts.Observe(res)
			if res == outbox.DeadLettered {
				flow.DeadLettered(ctx, d)
				o.Log.Error("status event dead-lettered; its dossier's later events wait until an operator replays or discards it",
					"dossier", d.Dossier, "eventId", d.ID, "attempt", d.Attempt, "err", errString(err))
			} else if err != nil {
				o.Log.Warn("status delivery failed", "dossier", d.Dossier, "eventId", d.ID, "attempt", d.Attempt, "result", res.String(), "err", err.Error())
			}
		},
		OnError: func(op string, err error) { o.Log.Error("outbox store failed", "op", op, "err", err) },
		Hold:    clockHold(client, o.Clock, cfg.Store.Redis.MaxClockSkew, o.Log),
	})
	if err != nil {
		return nil, err
	}
	return &statusParts{flow: flow, outbox: box, worker: w, settled: settled}, nil
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func portalTransport(c config.Portal, hc *http.Client) (portal.Transport, error) {
	def, err := portal.ParseErrorClass(c.ErrorCodes.Default)
	if err != nil {
		return nil, fmt.Errorf("portal.errorCodes.default: %w", err)
	}
	codes := portal.ErrorCodes{Transient: c.ErrorCodes.Transient, SessionExpired: c.ErrorCodes.SessionExpired,
		Permanent: c.ErrorCodes.Permanent, Default: def}
	if c.Transport == "bearer" {
		return portal.NewBearerTransport(portal.BearerConfig{BaseURL: c.URL, TokenURL: c.TokenURL,
			ClientID: c.ClientID, ClientSecret: c.ClientSecret.Reveal(), MaDonVi: c.MaDonVi,
			Timeout: c.Timeout, DstCode: c.DstCode, ErrorCodes: codes}, hc)
	}
	return portal.NewSessionTransport(portal.SessionConfig{URL: c.URL, AuthURL: c.AuthURL, DstCode: c.DstCode,
		Username: c.Username, Password: c.Password.Reveal(), MaDonVi: c.MaDonVi, Timeout: c.Timeout,
		ErrorCodes: codes}, hc)
}

// loadCalendar reads the public holidays that due dates skip: the embedded configs/holidays,
// or calendar.holidaysDir. A calendar that does not cover now's year (or the next, from
// December) is logged: due dates in an uncovered year skip weekends only.
func loadCalendar(c config.Calendar, now time.Time, log *slog.Logger) (*calendar.Calendar, error) {
	fsys, root := configs.Holidays(), yamlfile.Root("configs/holidays")
	if c.HolidaysDir != "" {
		fsys, root = os.DirFS(c.HolidaysDir), yamlfile.Root(c.HolidaysDir)
	}
	cal, err := calendar.Load(fsys, root)
	if err != nil {
		return nil, fmt.Errorf("calendar.holidaysDir: %w", err)
	}
	for _, t := range []time.Time{now, now.AddDate(0, 1, 0)} {
		if !cal.Covers(t) {
			log.Warn("no public holidays known for this year: due dates skip weekends only",
				"year", t.Year(), "holidays", string(root))
			break
		}
	}
	return cal, nil
}

// replicatedSigners registers signers and then waits until the replicas
// hold each unit's registrations (signers_register).
type replicatedSigners struct {
	s  *redisstore.Signers
	ha *redisha.Writer
}

func (r replicatedSigners) Put(ctx context.Context, regs ...signers.Registration) (int, error) {
	n, err := r.s.Put(ctx, regs...)
	if err != nil {
		return n, err
	}
	seen := map[string]bool{}
	for _, g := range regs {
		if seen[g.Unit] {
			continue
		}
		seen[g.Unit] = true
		if err := r.ha.Confirm(ctx, "signers_register", r.s.Key(g.Unit)); err != nil {
			return n, err
		}
	}
	return n, nil
}

// clockHold is the delivery worker's Hold: claims wait while this
// instance's clock is more than maxSkew off the Redis server's, as /readyz
// fails then. The outbox's scripts judge leases by the claimer's clock, so
// an instance running ahead would take events other instances are still
// delivering (two deliveries of one event at once, and a later event
// overtaking it); one running behind would leave expired leases alone. The
// check is the readiness check's (one TIME), made at most once a second;
// the hold and its end are logged once each. nil without Redis or without a
// skew limit.
func clockHold(client redis.UniversalClient, now func() time.Time, maxSkew time.Duration, log *slog.Logger) func() error {
	if client == nil || maxSkew <= 0 {
		return nil
	}
	var (
		mu      sync.Mutex
		checked time.Time // by the wall clock: how often, not what time it is
		last    error
	)
	return func() error {
		mu.Lock()
		defer mu.Unlock()
		if !checked.IsZero() && time.Since(checked) < time.Second {
			return last
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		err := checkClock(ctx, client, now, maxSkew, func(float64) {})
		switch {
		case err != nil && last == nil:
			log.Error("status deliveries held: this instance claims no event until its clock agrees with the store's", "err", err)
		case err == nil && last != nil:
			log.Info("status deliveries resumed: the clock agrees with the store's again")
		}
		checked, last = time.Now(), err
		return err
	}
}
