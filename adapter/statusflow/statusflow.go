// Package statusflow owns the path of a treasury status change: the
// signed callback comes in (Receive: verify, validate, deduplicate, store
// durably in the outbox), and an outbox worker carries it to the portal
// (Deliver: the procedure's lifecycle decides whether and to which national
// status the dossier moves; the portal is checked after an uncertain
// attempt; then the full dossier, DongBoHoSoMC, and the progress,
// CapNhatTienDoHoSoMC, on every move).
package statusflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/kbnn/dvc/adapter/calendar"
	"github.com/kbnn/dvc/adapter/dossier"
	"github.com/kbnn/dvc/adapter/outbox"
	"github.com/kbnn/dvc/adapter/portal"
	"github.com/kbnn/dvc/adapter/problem"
	"github.com/kbnn/dvc/adapter/schema"
	"github.com/kbnn/dvc/adapter/signers"
	"github.com/kbnn/dvc/adapter/statusmap"
	"github.com/kbnn/dvc/adapter/upstream"
	"github.com/kbnn/dvc/adapter/webhook"
)

// Event is the treasury's status event (schemas/treasury/status-event.schema.json).
type Event struct {
	EventID         string           `json:"eventId"`
	DossierCode     string           `json:"dossierCode"`
	Procedure       string           `json:"procedure"`
	SupplementNo    int              `json:"supplementNo"`
	DocumentID      string           `json:"documentId"`
	Reference       string           `json:"reference"`
	Status          string           `json:"status"`
	Sequence        int64            `json:"sequence"`
	OccurredAt      time.Time        `json:"occurredAt"`
	Handler         string           `json:"handler"`
	HandlerTitle    string           `json:"handlerTitle"`
	Department      string           `json:"department"`
	Note            string           `json:"note"`
	DueAt           *time.Time       `json:"dueAt"`
	ResultDocuments []ResultDocument `json:"resultDocuments"`
	// BudgetUnitCode (maDVQHNS) and BudgetUnitName are the unit whose document it is, when
	// the treasury sends them.
	BudgetUnitCode string `json:"budgetUnitCode"`
	BudgetUnitName string `json:"budgetUnitName"`
}

// ResultDocument is a document the treasury returns with a result.
type ResultDocument struct {
	Name string `json:"name"`
	URL  string `json:"url"`
}

// Portal is what delivery needs of the portal client.
type Portal interface {
	Lookup(ctx context.Context, maHoSo string) (portal.Dossier, bool, error)
	SyncDossier(ctx context.Context, isUpdating bool, item portal.DossierItem) error
	UpdateProgress(ctx context.Context, item portal.ProgressItem) error
}

// Procedure is what delivery tells the portal about a procedure.
type Procedure struct {
	Code           string // maTTHC
	Name           string
	SLAWorkingDays int
	Statuses       *statusmap.Map
	// FieldCode and FieldName are the procedure's field on the portal (MaLinhVuc,
	// TenLinhVuc); empty when not configured.
	FieldCode, FieldName string
	// LoaiDoiTuong (applicant type) and HinhThuc (form of hand-back) are sent as they are in
	// every full dossier.
	LoaiDoiTuong, HinhThuc string
	// Calendar holds the working days that due dates count; nil: Monday to Friday.
	Calendar *calendar.Calendar
	// RegistersSignersOn is the treasury status that registers the signers
	// of the dossier's signature specimen (dossier.Record.Specimen) for its
	// unit: the account opened. Empty for a procedure without a specimen.
	RegistersSignersOn string
}

// Dossiers is what the flow reads and writes of the dossier status view
// (adapter/dossier's Store has it).
type Dossiers interface {
	Get(ctx context.Context, procedure, maHoSo string) (dossier.Record, bool, error)
	Update(ctx context.Context, procedure, maHoSo string, fn func(r *dossier.Record, exists bool) bool) error
}

// Flow receives and delivers status events.
type Flow struct {
	verifier   *webhook.Verifier
	schema     *schema.Validator
	procedures map[string]Procedure
	outbox     outbox.Store
	dossiers   Dossiers
	portal     Portal
	now        func() time.Time
	log        *slog.Logger
	confirm    func(ctx context.Context, procedure, maHoSo string) error
	signers    SignerRegistry
	uncertain  time.Duration
	onSettled  func(delivery string)
}

// SignerRegistry is where the specimen's signers are registered
// (signers.Store has it).
type SignerRegistry interface {
	Put(ctx context.Context, regs ...signers.Registration) (int, error)
}

// Options wire a Flow.
type Options struct {
	Verifier    *webhook.Verifier
	EventSchema []byte // schemas/treasury/status-event.schema.json
	Procedures  map[string]Procedure
	Outbox      outbox.Store
	Dossiers    Dossiers
	Portal      Portal
	Now         func() time.Time
	Log         *slog.Logger
	// Confirm, when set, makes the dossier's record durable before a
	// delivery is acknowledged: it returns once the record's writes so far
	// are safe from a failover (redisha.Writer.Confirm on the record's
	// primary), else an error, and the event is retried. The record is where
	// a deferred event waits and where a delivered one is settled; in a
	// Redis Cluster it lives on another primary than the outbox, so the
	// acknowledgement can survive a failover that the record's write does
	// not, and the event would be lost (deferred) or the next one stranded.
	Confirm func(ctx context.Context, procedure, maHoSo string) error
	// Signers registers the signers of an account registration's specimen
	// when the treasury reports the account opened
	// (Procedure.RegistersSignersOn); nil registers none.
	Signers SignerRegistry
	// UncertainWait is the least wait before a delivery whose write to the
	// portal timed out is tried again (outbox.RetryAfter): the portal may
	// still be applying that write, and a retry's look-up could not see it;
	// the dossier's later events wait behind the event, so that the late
	// write cannot land after theirs and move the portal back. Zero:
	// DefaultUncertainWait; negative: none.
	UncertainWait time.Duration
	// OnSettled, when set, is told how each event was settled in the
	// dossier's record (dossier.DeliveryDelivered, DeliveryStale,
	// DeliveryNotAllowed, DeliveryDeferred, DeliveryDead), once the record
	// holds it: the outbox counts all but a dead letter as acknowledged.
	OnSettled func(delivery string)
}

// DefaultUncertainWait is Options.UncertainWait's default.
const DefaultUncertainWait = 2 * time.Minute

// New builds a Flow.
func New(o Options) (*Flow, error) {
	sch, err := schema.Compile(o.EventSchema, "schemas/treasury/status-event.schema.json")
	if err != nil {
		return nil, err
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.UncertainWait == 0 {
		o.UncertainWait = DefaultUncertainWait
	}
	return &Flow{verifier: o.Verifier, schema: schema.NewValidator(sch), procedures: o.Procedures, outbox: o.Outbox,
		dossiers: o.Dossiers, portal: o.Portal, now: o.Now, log: o.Log, confirm: o.Confirm, signers: o.Signers,
		uncertain: o.UncertainWait, onSettled: o.OnSettled}, nil
}

// newRecord fills a status view record the adapter did not have (a dossier
// registered before a restart of the in-memory store) from the event,
// the unit included when the treasury names it: a caller restricted to
// units sees, and supplements, only its own units' dossiers.
func (ev Event) newRecord(r *dossier.Record) {
	r.Procedure, r.MaHoSo, r.SoBoSung = ev.Procedure, ev.DossierCode, ev.SupplementNo
	r.TreasuryReference, r.TreasuryDocumentID = ev.Reference, ev.DocumentID
	r.Unit = ev.BudgetUnitCode
}

// dossierKey is the outbox's dossier identity.
func dossierKey(procedure, code string) string { return procedure + "|" + code }

// SplitDossierKey reads an outbox dossier identity (outbox.Event.Dossier)
// back into the procedure and the dossier code; ok is false for one this
// package did not write.
func SplitDossierKey(key string) (procedure, code string, ok bool) {
	return strings.Cut(key, "|")
}

// Receive authenticates, validates and stores one callback. It returns
// duplicate=true for an event id already stored (acknowledge with 200,
// deliver nothing); nil error means the event is durable (202). Errors are
// *problem.Error.
func (f *Flow) Receive(ctx context.Context, h http.Header, body []byte) (duplicate bool, err error) {
	var id string
	if webhook.AuthenticatedChannel(ctx) {
		// The treasury's client certificate authenticated it: no signature
		// is required, and the event id is the webhook-id header if sent.
		id = h.Get(webhook.HeaderID)
	} else {
		var err error
		if id, err = f.verifier.Verify(h, body); err != nil {
			return false, problem.Wrap(problem.Unauthorized, err, "The callback's webhook signature or timestamp is not valid.")
		}
	}
	v, err := schema.DecodeJSON(body)
	if err != nil {
		return false, err
	}
	if err := schema.ValidateWith(f.schema, v); err != nil {
		return false, err
	}
	var ev Event
	if err := json.Unmarshal(body, &ev); err != nil {
		return false, problem.Wrap(problem.MalformedBody, err, "The event could not be read.")
	}
	if id == "" {
		id = ev.EventID
	}
	if ev.EventID != id {
		e := problem.New(problem.SchemaViolation, "eventId must equal the webhook-id header.")
		e.Fields = []problem.FieldError{{Path: "/eventId", Message: "must equal the webhook-id header"}}
		return false, e
	}
	p, ok := f.procedures[ev.Procedure]
	if !ok || !p.Statuses.Known(ev.Status) {
		e := problem.New(problem.SchemaViolation, "Unknown procedure or status.")
		e.Fields = []problem.FieldError{{Path: "/procedure", Message: "must be a configured procedure with a known status"}}
		return false, e
	}
	if p.RegistersSignersOn != "" && ev.Status == p.RegistersSignersOn && f.signers != nil {
		// Before the event is stored: a failure is 503 and the treasury's
		// retry registers them (a registration kept is kept once).
		if err := f.registerSpecimen(ctx, p, ev); err != nil {
			return false, &problem.Error{Kind: problem.StoreUnavailable, Cause: err, RetryAfter: 5}
		}
	}
	// With store.redis.minReplicas, Append fails when too few replicas
	// acknowledged the event in time: 503, and the treasury retries. The
	// event is on the primary, so the retry is a duplicate that Append
	// acknowledges once replicas hold it; the status view below is then
	// not updated by the retry and catches up when the event is delivered.
	appended, err := f.outbox.Append(ctx, dossierKey(ev.Procedure, ev.DossierCode), ev.EventID, body)
	if err != nil {
		return false, &problem.Error{Kind: problem.StoreUnavailable, Cause: err, RetryAfter: 5}
	}
	if !appended {
		return true, nil
	}
	err = f.dossiers.Update(context.WithoutCancel(ctx), ev.Procedure, ev.DossierCode, func(r *dossier.Record, exists bool) bool {
		if !exists {
			ev.newRecord(r)
		}
		for _, h := range r.History {
			if h.EventID == ev.EventID {
				return false // a worker already settled it
			}
		}
		// What the event would make of the dossier as it is now; delivery
		// decides on the dossier as it is then.
		code, _ := p.Statuses.Nominal(ev.Status)
		if tr, ok := p.Statuses.Next(r.TrangThai, ev.Status); ok {
			code = tr.To
		}
		r.History = append(r.History, dossier.Event{TrangThai: code, At: ev.OccurredAt, Source: "treasury",
			Note: ev.Note, EventID: ev.EventID, TreasuryStatus: ev.Status, Delivery: dossier.DeliveryPending})
		r.UpdatedAt = f.now()
		return true
	})
	if err != nil {
		// The outbox holds the event; the view catches up when it is delivered.
		f.log.Error("status view not updated", "maHoSo", ev.DossierCode, "eventId", ev.EventID, "err", err)
	}
	return false, nil
}

// Deliver carries one event to the portal. It is the outbox worker's
// Deliver function.
//
// The procedure's lifecycle (mappings/<procedure>/status.yaml, statusmap)
// decides: an event the treasury sent before the latest one applied is
// recorded "stale"; one whose move the lifecycle does not allow from the
// dossier's current status (a final status never moves) is recorded
// "not-allowed" with the reason; neither reaches the portal. An allowed
// event sends the full dossier (DongBoHoSoMC, result documents, dates,
// correction rounds and refusal reason included) and then the progress
// (CapNhatTienDoHoSoMC); only when both succeeded is it delivered and the
// move applied to the record.
//
// The full dossier is a state, not a step: sending it again leaves the
// portal as one send would. So when DongBoHoSoMC succeeded and
// CapNhatTienDoHoSoMC then failed, the retry may send DongBoHoSoMC again
// without harm. Sending the progress again would add a second progress line,
// so the retry skips nothing it cannot prove: after an uncertain attempt
// (redelivered, a retry, or a dossier the portal may not know) it looks the
// dossier up first (TraCuuHoSo). A portal that already shows the move's
// status has the full dossier of this event (a move never keeps the status
// it starts from, and this event is the dossier's only one in flight), so
// DongBoHoSoMC is not sent again; the progress is. What the look-up cannot
// tell is whether an earlier progress call whose answer was lost took
// effect: that one call is sent again (at least once, as the contract
// says), and the portal's status is right either way.
//
// Deliver returns nil (the outbox acknowledges the event) only once the
// record's writes are durable (Options.Confirm).
func (f *Flow) Deliver(ctx context.Context, d outbox.Delivery) error {
	var ev Event
	if err := json.Unmarshal(d.Payload, &ev); err != nil {
		return outbox.Permanent(fmt.Errorf("statusflow: stored event %s: %w", d.ID, err))
	}
	// Once the portal took the move, the record's writes (and their
	// confirmation) run on deadlines of their own: afterPortal from when
	// each starts, and never past three quarters of what is left of the
	// delivery's lease, lest another worker take the event over while it
	// is being settled (the rest is the acknowledgement's).
	ctx = withPostBound(ctx, postBound(ctx, time.Now()))
	portalTook, err := f.deliver(ctx, d, ev)
	if err != nil || f.confirm == nil {
		return err
	}
	if portalTook {
		var cancel context.CancelFunc
		ctx, cancel = afterPortalContext(ctx)
		defer cancel()
	}
	if err := f.confirm(ctx, ev.Procedure, ev.DossierCode); err != nil {
		return fmt.Errorf("statusflow: event %s: the dossier's record is not known durable: %w", ev.EventID, err)
	}
	return nil
}

// afterPortal bounds the record's writes once the portal took a move: they
// run on their own deadline, not what is left of the delivery's, so that a
// move the portal took just before the deadline is settled rather than
// sent again by the retry.
const afterPortal = 10 * time.Second

type postBoundKey struct{}

// postBound is the latest the writes after the portal may run to, from
// the delivery's start (now, by the wall clock, whatever f.now says):
// three quarters of what is left of the lease (outbox.LeaseEnd), or, for
// a caller other than the worker, half as long again as the attempt's
// deadline (the worker's default timeout is half the lease); zero: no
// bound.
func postBound(ctx context.Context, now time.Time) time.Time {
	if end, ok := outbox.LeaseEnd(ctx); ok {
		return end.Add(-end.Sub(now) / 4)
	}
	if dl, ok := ctx.Deadline(); ok {
		return dl.Add(dl.Sub(now) / 2)
	}
	return time.Time{}
}

// withPostBound carries postBound to afterPortalContext.
func withPostBound(ctx context.Context, t time.Time) context.Context {
	return context.WithValue(ctx, postBoundKey{}, t)
}

// afterPortalContext is ctx without its cancellation, to afterPortal from
// now (when the portal took the move, not when the delivery started: a
// slow portal leaves the writes their whole time) or to the bound Deliver
// set, whichever is sooner.
func afterPortalContext(ctx context.Context) (context.Context, context.CancelFunc) {
	t := time.Now().Add(afterPortal)
	if b, ok := ctx.Value(postBoundKey{}).(time.Time); ok && !b.IsZero() && b.Before(t) {
		t = b
	}
	return context.WithDeadline(context.WithoutCancel(ctx), t)
}

// deliver is Deliver's work before the confirmation. portalTook: the
// portal took the move in this attempt (what follows runs on its own
// deadline, afterPortal).
func (f *Flow) deliver(ctx context.Context, d outbox.Delivery, ev Event) (portalTook bool, err error) {
	p, ok := f.procedures[ev.Procedure]
	if !ok {
		return false, outbox.Permanent(fmt.Errorf("statusflow: event %s: procedure %q not configured", ev.EventID, ev.Procedure))
	}
	rec, _, err := f.dossiers.Get(ctx, ev.Procedure, ev.DossierCode)
	if err != nil {
		return false, err
	}
	for _, h := range rec.History {
		if h.EventID == ev.EventID && h.Delivery == dossier.DeliveryDelivered {
			// delivered before a crash (or a failed release) took the
			// acknowledgement: finish what followed the delivery
			return false, f.releaseDeferred(ctx, p, ev.Procedure, ev.DossierCode)
		}
	}
	if ev.SupplementNo < rec.TreasurySupplement ||
		(ev.SupplementNo == rec.TreasurySupplement && ev.Sequence > 0 && ev.Sequence <= rec.TreasurySequence) {
		// The treasury sent it before the latest event applied: its order,
		// not the adapter's arrival order, decides.
		return false, f.settleUndelivered(ctx, p, ev, dossier.DeliveryStale, fmt.Sprintf(
			"sent before the latest status applied (supplement %d, sequence %d)", rec.TreasurySupplement, rec.TreasurySequence))
	}
	if ev.SupplementNo < rec.SoBoSung {
		// The unit resubmitted the dossier: the superseded supplement's
		// document no longer speaks for it.
		return false, f.settleUndelivered(ctx, p, ev, dossier.DeliveryStale, fmt.Sprintf(
			"for supplement %d; supplement %d was resubmitted since", ev.SupplementNo, rec.SoBoSung))
	}
	if x, ok := releasedBefore(rec, ev); ok {
		// An event released after waiting went back to the outbox behind
		// this one, which the treasury sent after it: this one waits until
		// that one is settled (its release then judges this one), so that
		// the treasury's order, not the queue's, decides. The release is
		// put in the outbox again first (the outbox takes an id once): a
		// release whose append failed is not waited for in vain.
		if _, err := f.outbox.Append(ctx, dossierKey(ev.Procedure, ev.DossierCode), x.ReleaseID, x.Payload); err != nil {
			return false, err
		}
		return false, f.deferEvent(ctx, ev, d.Payload, fmt.Sprintf(
			"event %s (supplement %d, sequence %d), sent by the treasury before it, is on its way to the portal", x.EventID, x.Supplement, x.Sequence))
	}
	known, onPortal, looked := rec.PortalSynced, 0, false
	current := rec.TrangThai
	tr, ok := p.Statuses.Next(current, ev.Status)
	if !rec.PortalSynced {
		// The adapter may have lost (or never had) its record of where the
		// dossier stands: the portal's status decides, before the move is
		// judged (a record recreated by this event says nothing: judged
		// from 1, a refusal of a dossier the portal shows under control
		// would become a refusal at intake, and a portal at a final status
		// would be moved back). A portal already at this move's status was
		// brought there by this event's own earlier attempt (see above):
		// the record is placed first, so that a retry judges the move from
		// where this attempt did.
		found, st, err := f.lookup(ctx, ev.DossierCode)
		if err != nil {
			return false, deliveryErr(err)
		}
		known, onPortal, looked = found, st, true
		if found && st != statusmap.CodeUnknown && st != current && (!ok || st != tr.To) {
			if err := f.place(ctx, ev, current, st); err != nil {
				return false, err
			}
			current = st
			tr, ok = p.Statuses.Next(current, ev.Status)
		}
	}
	if !ok {
		if !earlyArrival(rec, ev) || !p.Statuses.Later(current, ev.Status) {
			return false, f.settleUndelivered(ctx, p, ev, dossier.DeliveryNotAllowed, p.Statuses.Why(current, ev.Status))
		}
		// Newer than the latest status applied, with an earlier event of
		// the treasury missing, and a move the dossier can still come to:
		// the earlier event is on its way. It waits.
		f.log.Warn("status event deferred: its move is not allowed yet", "maHoSo", ev.DossierCode,
			"eventId", ev.EventID, "status", ev.Status, "current", current)
		return false, f.deferEvent(ctx, ev, d.Payload, p.Statuses.Why(current, ev.Status))
	}
	if !looked && (d.Redelivered || d.Attempt > 1 || !rec.PortalSynced) {
		found, st, err := f.lookup(ctx, ev.DossierCode)
		if err != nil {
			return false, deliveryErr(err)
		}
		known, onPortal = found, st
	}
	if onPortal != 0 && onPortal != tr.To && p.Statuses.Final(onPortal) {
		// closed on the portal by another channel: a final status never
		// moves, there either
		return false, f.settleUndelivered(ctx, p, ev, dossier.DeliveryNotAllowed, fmt.Sprintf(
			"the portal shows %d, a final status (%s)", onPortal, p.Statuses.File()))
	}
	if onPortal != tr.To {
		if err := f.portal.SyncDossier(ctx, known, f.dossierItem(p, rec, ev, tr.To)); err != nil {
			return false, f.writeErr(err)
		}
	}
	if err := f.portal.UpdateProgress(ctx, f.progressItem(p, rec, ev, tr.To)); err != nil {
		return false, f.writeErr(err)
	}
	ctx, cancel := afterPortalContext(ctx)
	defer cancel()
	if err := f.settle(ctx, ev, dossier.DeliveryDelivered, &tr, ""); err != nil {
		return true, err
	}
	return true, f.releaseDeferred(ctx, p, ev.Procedure, ev.DossierCode)
}

// registerSpecimen registers the signers of the specimen the dossier's
// record keeps (dossier.Record.Specimen), on the treasury's word that the
// account is open. A record without a specimen, or whose specimen is of
// another supplement than the event's document, registers nothing and is
// logged (an operator loads the unit's signers: PUT /v1/admin/signers);
// only the store's failure is an error.
func (f *Flow) registerSpecimen(ctx context.Context, p Procedure, ev Event) error {
	rec, ok, err := f.dossiers.Get(ctx, ev.Procedure, ev.DossierCode)
	if err != nil {
		return err
	}
	log := f.log.With("procedure", ev.Procedure, "maHoSo", ev.DossierCode, "eventId", ev.EventID, "status", ev.Status)
	switch {
	case !ok || len(rec.Specimen) == 0:
		log.Warn("account opened, and no signature specimen is known for it: no signer registered (load the unit's signers: PUT /v1/admin/signers/{unit})")
		return nil
	case rec.SoBoSung != ev.SupplementNo:
		log.Warn("account opened for another supplement than the one whose specimen is known: no signer registered",
			"supplement", ev.SupplementNo, "specimenSupplement", rec.SoBoSung, "unit", rec.Unit)
		return nil
	case !rec.SpecimenRegisteredAt.IsZero():
		// Registered once: a repeated callback (its answer lost) or another
		// event with the same status must not bring back a signer an
		// operator has revoked since.
		log.Info("account opened again: the specimen's signers were registered already", "at", rec.SpecimenRegisteredAt)
		return nil
	case lifecycleEnded(p, rec):
		// The dossier's lifecycle ended (refused, stopped, withdrawn, or
		// a withdrawal the treasury accepted): the delivery will not take
		// the move either, and signers registered on a contradiction
		// could pay from an account the unit gave up.
		log.Warn("account opened for a dossier whose lifecycle has ended: no signer registered (an operator decides: PUT /v1/admin/signers/{unit})",
			"status", rec.TrangThai, "unit", rec.Unit)
		return nil
	case ev.SupplementNo == rec.TreasurySupplement && ev.Sequence > 0 && ev.Sequence <= rec.TreasurySequence:
		log.Warn("account opened by an event older than the latest status applied: no signer registered",
			"sequence", ev.Sequence, "latestSequence", rec.TreasurySequence, "unit", rec.Unit)
		return nil
	}
	now := f.now()
	regs := make([]signers.Registration, 0, len(rec.Specimen))
	for _, sg := range rec.Specimen {
		regs = append(regs, signers.Registration{Unit: rec.Unit, Role: sg.Role, Serial: sg.Serial, Issuer: sg.Issuer,
			RegisteredAt: now, Source: rec.MaHoSo})
	}
	n, err := f.signers.Put(ctx, regs...)
	if err != nil {
		return fmt.Errorf("statusflow: registering the specimen's signers: %w", err)
	}
	log.Info("account opened: the specimen's signers registered", "unit", rec.Unit, "entries", len(regs), "new", n)
	// The time the specimen was registered is what keeps a repeat from
	// registering it again: written before the callback is answered (a
	// failure is 503, and the treasury's retry registers again, which
	// keeps what is kept).
	return f.dossiers.Update(ctx, ev.Procedure, ev.DossierCode, func(r *dossier.Record, exists bool) bool {
		if !exists || r.SoBoSung != ev.SupplementNo || !r.SpecimenRegisteredAt.IsZero() {
			return false
		}
		r.SpecimenRegisteredAt = now
		return true
	})
}

// lifecycleEnded reports whether the dossier's lifecycle has ended: its status is
// final, or the treasury accepted its withdrawal (the history's withdrawal
// entry, before the WITHDRAWN callback is delivered).
func lifecycleEnded(p Procedure, rec dossier.Record) bool {
	if p.Statuses.Final(rec.TrangThai) {
		return true
	}
	code, ok := p.Statuses.Nominal(statusmap.TreasuryWithdrawn)
	return ok && slices.ContainsFunc(rec.History, func(h dossier.Event) bool { return h.TrangThai == code })
}

// place records where the portal shows a dossier whose record did not know
// (status from, never synchronised): at status st.
func (f *Flow) place(ctx context.Context, ev Event, from, st int) error {
	return f.dossiers.Update(ctx, ev.Procedure, ev.DossierCode, func(r *dossier.Record, exists bool) bool {
		if !exists {
			ev.newRecord(r)
		}
		if r.PortalSynced || r.TrangThai != from {
			return false // changed meanwhile: the next attempt looks again
		}
		r.TrangThai, r.UpdatedAt = st, f.now()
		return true
	})
}

// earlyArrival reports whether an event leaves a gap after the latest
// status applied: an event of the treasury is missing between the two (the
// treasury numbers each document's events in order, with sequence 1 first,
// and a resubmitted supplement's document starts again). An event without
// a sequence says nothing of gaps.
func earlyArrival(rec dossier.Record, ev Event) bool {
	switch {
	case ev.Sequence <= 0:
		return false
	case ev.SupplementNo > rec.TreasurySupplement:
		return ev.Sequence > 1 || ev.SupplementNo > rec.TreasurySupplement+1
	}
	return ev.Sequence > rec.TreasurySequence+1
}

// releasedBefore returns the released event the record holds (deferred,
// put back in the outbox, not yet settled) that the treasury sent before
// ev, if any; ev itself is not one.
func releasedBefore(rec dossier.Record, ev Event) (dossier.Deferred, bool) {
	for _, x := range rec.Deferred {
		if x.ReleaseID != "" && x.EventID != ev.EventID && x.Before(ev.SupplementNo, ev.Sequence) &&
			(x.Supplement != ev.SupplementNo || x.Sequence != ev.Sequence) {
			return x, true
		}
	}
	return dossier.Deferred{}, false
}

// deferEvent keeps an event whose move is not allowed yet (see
// dossier.DeliveryDeferred) with its payload in the dossier's record.
func (f *Flow) deferEvent(ctx context.Context, ev Event, payload []byte, why string) error {
	err := f.dossiers.Update(ctx, ev.Procedure, ev.DossierCode, func(r *dossier.Record, exists bool) bool {
		f.settleRecord(r, exists, ev, dossier.DeliveryDeferred, nil, "waiting for an earlier status: "+why)
		r.Defer(dossier.Deferred{EventID: ev.EventID, Supplement: ev.SupplementNo, Sequence: ev.Sequence,
			Status: ev.Status, Payload: append([]byte(nil), payload...)})
		return true
	})
	if err == nil {
		f.settled(dossier.DeliveryDeferred, 1)
	}
	return err
}

// releaseDeferred looks at the dossier's deferred events after a move: one
// the latest status applied has passed (older, or after a final status) is
// settled not-allowed; the first one whose move is now allowed goes back to
// the outbox, behind the dossier's queue, under the release id the record
// takes for it first (dossier.Record.TakeReleaseID: a repeat after a crash
// is the same id, which the outbox takes once; a later release, of this
// event deferred again or of another, a new one). A released event stays
// in the record, marked by its release id, until its delivery settles it:
// meanwhile the dossier's events the treasury sent after it wait behind it
// (releasedBefore), even those queued ahead of it in the outbox, and
// nothing after it is released or passed. An event still waiting stays.
func (f *Flow) releaseDeferred(ctx context.Context, p Procedure, procedure, maHoSo string) error {
	rec, _, err := f.dossiers.Get(ctx, procedure, maHoSo)
	if err != nil || len(rec.Deferred) == 0 {
		return err
	}
	type passedEvent struct {
		ev  Event
		why string
	}
	var passed []passedEvent
	for _, d := range rec.Deferred {
		var ev Event
		if json.Unmarshal(d.Payload, &ev) != nil {
			continue
		}
		inFlight := d.ReleaseID != "" // released already: its own delivery judges it
		if !inFlight && (d.Before(rec.TreasurySupplement, rec.TreasurySequence) || p.Statuses.Final(rec.TrangThai)) {
			passed = append(passed, passedEvent{ev, p.Statuses.Why(rec.TrangThai, d.Status) + "; passed while it waited"})
			continue
		}
		_, ok := p.Statuses.Next(rec.TrangThai, d.Status)
		if !ok && !inFlight && !earlyArrival(rec, ev) {
			// Nothing the treasury sent before it is missing any more
			// (it waited behind a released event): judged as on arrival.
			passed = append(passed, passedEvent{ev, p.Statuses.Why(rec.TrangThai, d.Status)})
			continue
		}
		if ok || inFlight {
			// The release id in the record first, then the outbox: a crash
			// before the record changes again sends the same id again, which
			// the outbox takes once.
			id := d.ReleaseID
			if id == "" {
				if err := f.dossiers.Update(ctx, procedure, maHoSo, func(r *dossier.Record, _ bool) bool {
					id = r.TakeReleaseID(d.EventID)
					return id != ""
				}); err != nil {
					return err
				}
			}
			if id == "" {
				break // no longer deferred: another delivery released it
			}
			if _, err := f.outbox.Append(ctx, dossierKey(procedure, maHoSo), id, d.Payload); err != nil {
				return err
			}
			break // one at a time: its delivery releases the next
		}
	}
	if len(passed) == 0 {
		return nil
	}
	err = f.dossiers.Update(ctx, procedure, maHoSo, func(r *dossier.Record, exists bool) bool {
		for _, x := range passed {
			f.settleRecord(r, exists, x.ev, dossier.DeliveryNotAllowed, nil, x.why)
			r.Undefer(x.ev.EventID)
		}
		return true
	})
	if err == nil {
		f.settled(dossier.DeliveryNotAllowed, len(passed))
	}
	return err
}

// lookup asks the portal for a dossier's status (TraCuuHoSo).
func (f *Flow) lookup(ctx context.Context, maHoSo string) (found bool, status int, err error) {
	d, found, err := f.portal.Lookup(ctx, maHoSo)
	return found, int(d.TrangThaiHoSo), err
}

// settle records the event's delivery state, with why when it was not
// delivered. A delivered event's move (tr) becomes the dossier's status
// and its place in the treasury's order the latest applied; its
// correction round, if any, is recorded.
func (f *Flow) settle(ctx context.Context, ev Event, delivery string, tr *statusmap.Transition, why string) error {
	err := f.dossiers.Update(ctx, ev.Procedure, ev.DossierCode, func(r *dossier.Record, exists bool) bool {
		f.settleRecord(r, exists, ev, delivery, tr, why)
		return true
	})
	if err == nil {
		f.settled(delivery, 1)
	}
	return err
}

// settleUndelivered settles ev as delivery (stale or not-allowed), then
// looks at the dossier's deferred events, as after a delivered move: ev may
// be a released event the dossier's later events waited behind
// (releasedBefore), which would otherwise wait for another event to come.
func (f *Flow) settleUndelivered(ctx context.Context, p Procedure, ev Event, delivery, why string) error {
	if err := f.settle(ctx, ev, delivery, nil, why); err != nil {
		return err
	}
	return f.releaseDeferred(ctx, p, ev.Procedure, ev.DossierCode)
}

// settled tells OnSettled of n events settled as delivery.
func (f *Flow) settled(delivery string, n int) {
	if f.onSettled != nil {
		for range n {
			f.onSettled(delivery)
		}
	}
}

// settleRecord is settle's change to the record r.
func (f *Flow) settleRecord(r *dossier.Record, exists bool, ev Event, delivery string, tr *statusmap.Transition, why string) {
	now := f.now()
	{
		if !exists {
			ev.newRecord(r)
		}
		if delivery != dossier.DeliveryDeferred {
			// A released event stays in Deferred until it is settled:
			// the dossier's later events wait behind it (releasedBefore).
			r.Undefer(ev.EventID)
		}
		found := false
		for i := range r.History {
			if r.History[i].EventID == ev.EventID {
				found = true
				if r.History[i].Delivery == dossier.DeliveryDelivered && delivery != dossier.DeliveryDelivered {
					// The portal took it: a later outcome of the same
					// event (a dead letter after its settlement kept
					// failing) does not take that back, nor would a
					// replay then see it delivered.
					continue
				}
				r.History[i].Delivery, r.History[i].DeliveryNote = delivery, why
				if tr != nil {
					r.History[i].TrangThai, r.History[i].DeliveredAt = tr.To, now
				}
			}
		}
		if !found {
			code, _ := f.procedures[ev.Procedure].Statuses.Nominal(ev.Status)
			h := dossier.Event{At: ev.OccurredAt, Source: "treasury", Note: ev.Note, EventID: ev.EventID,
				TreasuryStatus: ev.Status, Delivery: delivery, DeliveryNote: why, TrangThai: code}
			if tr != nil {
				h.TrangThai, h.DeliveredAt = tr.To, now
			}
			r.History = append(r.History, h)
		}
		if tr != nil {
			if ev.Status == statusmap.TreasuryWithdrawn {
				r.WithdrawalPending = "" // what a withdrawal whose answer was lost did: now known
			}
			r.PortalSynced = true
			newer := ev.SupplementNo > r.TreasurySupplement ||
				(ev.SupplementNo == r.TreasurySupplement && (ev.Sequence > r.TreasurySequence || ev.Sequence == 0))
			if newer || r.TrangThai == tr.From || r.TrangThai <= statusmap.CodeRegistered {
				// Only a move from where the record stands, or one later in the
				// treasury's order, sets the status: a worker that lost its
				// lease to a later event never rolls the dossier back.
				r.TrangThai = tr.To
			}
			if newer {
				r.TreasurySupplement, r.TreasurySequence = ev.SupplementNo, ev.Sequence
			}
			recordRound(r, ev, *tr)
		}
		r.UpdatedAt = now
	}
}

// deliveryErr marks portal errors for the outbox: permanent ones go to the
// dead letters at once; a Retry-After hint is kept.
func deliveryErr(err error) error {
	if portal.Permanent(err) {
		return outbox.Permanent(err)
	}
	if d, ok := portal.RetryAfter(err); ok {
		return outbox.RetryAfter(err, d)
	}
	return err
}

// writeErr is deliveryErr for a write to the portal: one that may have
// taken effect (portal.MayHaveApplied: it timed out, the portal or a
// gateway answered 429 or 5xx, or the connection failed after it could
// have gone) is tried again no sooner than Options.UncertainWait, or the
// portal's own hint when longer. A call that never reached the write (a
// failed login, a connection that could not be made, a refusal of the
// breaker or bulkhead) is not held back.
func (f *Flow) writeErr(err error) error {
	var rej *upstream.Rejected
	if f.uncertain <= 0 || !portal.MayHaveApplied(err) || errors.As(err, &rej) || portal.Permanent(err) {
		return deliveryErr(err)
	}
	wait := f.uncertain
	if d, ok := portal.RetryAfter(err); ok {
		wait = max(wait, d)
	}
	return outbox.RetryAfter(err, wait)
}

// DeadLettered records that an event was parked, for the status view.
func (f *Flow) DeadLettered(ctx context.Context, d outbox.Delivery) {
	var ev Event
	if json.Unmarshal(d.Payload, &ev) != nil {
		return
	}
	if err := f.settle(ctx, ev, dossier.DeliveryDead, nil, ""); err != nil {
		f.log.Warn("status view not updated", "maHoSo", ev.DossierCode, "eventId", ev.EventID, "err", err)
		return
	}
	// A released event that waited ends here: the events that waited
	// behind it are judged now, and those that go back to the outbox wait
	// behind the dead letter there, as the dossier's later events do.
	f.releaseDeferredAfter(ctx, "a dead letter", ev.Procedure, ev.DossierCode, ev.EventID)
}

// releaseDeferredAfter is releaseDeferred where nothing retries it (a dead
// letter's record, an operator's discard): a failure is logged, naming what
// it followed, and the dossier's next settlement looks again.
func (f *Flow) releaseDeferredAfter(ctx context.Context, after, procedure, maHoSo, eventID string) {
	p, ok := f.procedures[procedure]
	if !ok {
		return
	}
	if err := f.releaseDeferred(ctx, p, procedure, maHoSo); err != nil {
		f.log.Warn("deferred events not looked at after "+after, "procedure", procedure, "maHoSo", maHoSo, "eventId", eventID, "err", err)
	}
}
