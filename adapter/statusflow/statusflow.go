// Package statusflow owns the path of a treasury status change: the
// signed callback comes in (Receive: verify, validate, deduplicate, store
// durably in the outbox), and an outbox worker carries it to the portal
// (Deliver: map to the national status code, never move a dossier
// backwards, check the portal after an uncertain attempt, then DongBoHoSoMC
// the first time and CapNhatTienDoHoSoMC after).
package statusflow

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/kbnn/dvc/adapter/calendar"
	"github.com/kbnn/dvc/adapter/dossier"
	"github.com/kbnn/dvc/adapter/outbox"
	"github.com/kbnn/dvc/adapter/portal"
	"github.com/kbnn/dvc/adapter/problem"
	"github.com/kbnn/dvc/adapter/schema"
	"github.com/kbnn/dvc/adapter/statusmap"
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
	schema     *jsonschema.Schema
	procedures map[string]Procedure
	outbox     outbox.Store
	dossiers   Dossiers
	portal     Portal
	now        func() time.Time
	log        *slog.Logger
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
}

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
	return &Flow{verifier: o.Verifier, schema: sch, procedures: o.Procedures, outbox: o.Outbox,
		dossiers: o.Dossiers, portal: o.Portal, now: o.Now, log: o.Log}, nil
}

// newRecord fills a status view record the adapter did not have (a dossier
// registered before a restart of the in-memory store) from the event.
func (ev Event) newRecord(r *dossier.Record) {
	r.Procedure, r.MaHoSo, r.SoBoSung = ev.Procedure, ev.DossierCode, ev.SupplementNo
	r.TreasuryReference, r.TreasuryDocumentID = ev.Reference, ev.DocumentID
}

// dossierKey is the outbox's dossier identity.
func dossierKey(procedure, code string) string { return procedure + "|" + code }

// Receive authenticates, validates and stores one callback. It returns
// duplicate=true for an event id already stored (acknowledge with 200,
// deliver nothing); nil error means the event is durable (202). Errors are
// *problem.Error.
func (f *Flow) Receive(ctx context.Context, h http.Header, body []byte) (duplicate bool, err error) {
	id, err := f.verifier.Verify(h, body)
	if err != nil {
		return false, problem.Wrap(problem.Unauthorized, err, "The callback's webhook signature or timestamp is not valid.")
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
	appended, err := f.outbox.Append(ctx, dossierKey(ev.Procedure, ev.DossierCode), ev.EventID, body)
	if err != nil {
		return false, &problem.Error{Kind: problem.StoreUnavailable, Cause: err, RetryAfter: 5}
	}
	if !appended {
		return true, nil
	}
	code, _ := p.Statuses.National(ev.Status)
	err = f.dossiers.Update(context.WithoutCancel(ctx), ev.Procedure, ev.DossierCode, func(r *dossier.Record, exists bool) bool {
		if !exists {
			ev.newRecord(r)
		}
		for _, h := range r.History {
			if h.EventID == ev.EventID {
				return false // a worker already settled it
			}
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
func (f *Flow) Deliver(ctx context.Context, d outbox.Delivery) error {
	var ev Event
	if err := json.Unmarshal(d.Payload, &ev); err != nil {
		return outbox.Permanent(fmt.Errorf("statusflow: stored event %s: %w", d.ID, err))
	}
	p, ok := f.procedures[ev.Procedure]
	if !ok {
		return outbox.Permanent(fmt.Errorf("statusflow: event %s: procedure %q not configured", ev.EventID, ev.Procedure))
	}
	code, deliverable := p.Statuses.National(ev.Status)
	rec, _, err := f.dossiers.Get(ctx, ev.Procedure, ev.DossierCode)
	if err != nil {
		return err
	}
	for _, h := range rec.History {
		if h.EventID == ev.EventID && h.Delivery == dossier.DeliveryDelivered {
			return nil // delivered before a crash took the acknowledgement
		}
	}
	older := ev.SupplementNo < rec.TreasurySupplement ||
		(ev.SupplementNo == rec.TreasurySupplement && ev.Sequence > 0 && ev.Sequence <= rec.TreasurySequence)
	if older || !deliverable || !statusmap.Advances(rec.TrangThai, code) {
		// An event the treasury sent before the latest one applied, an
		// older or equal status, or one the portal does not take: kept in
		// the history, never delivered as the current status.
		return f.settle(ctx, ev, dossier.DeliveryStale, 0)
	}
	// After an uncertain attempt, the portal may already have this status.
	var onPortal portal.Dossier
	var found bool
	if d.Redelivered || d.Attempt > 1 || !rec.PortalSynced {
		if onPortal, found, err = f.portal.Lookup(ctx, ev.DossierCode); err != nil {
			return deliveryErr(err)
		}
		if found && !statusmap.Advances(int(onPortal.TrangThaiHoSo), code) {
			// the portal has this status or a later one: sending again would
			// repeat it or move it backwards
			return f.settle(ctx, ev, dossier.DeliveryDelivered, code)
		}
	}
	if !rec.PortalSynced {
		err = f.portal.SyncDossier(ctx, found, f.dossierItem(p, rec, ev, code))
	} else {
		err = f.portal.UpdateProgress(ctx, f.progressItem(p, rec, ev, code))
	}
	if err != nil {
		return deliveryErr(err)
	}
	return f.settle(ctx, ev, dossier.DeliveryDelivered, code)
}

// settle records the event's delivery state; code > 0 becomes the current
// status (the portal has it).
func (f *Flow) settle(ctx context.Context, ev Event, delivery string, code int) error {
	now := f.now()
	return f.dossiers.Update(ctx, ev.Procedure, ev.DossierCode, func(r *dossier.Record, exists bool) bool {
		if !exists {
			ev.newRecord(r)
		}
		found := false
		for i := range r.History {
			if r.History[i].EventID == ev.EventID {
				r.History[i].Delivery = delivery
				if delivery == dossier.DeliveryDelivered {
					r.History[i].DeliveredAt = now
				}
				found = true
			}
		}
		if !found {
			r.History = append(r.History, dossier.Event{At: ev.OccurredAt, Source: "treasury", Note: ev.Note,
				EventID: ev.EventID, TreasuryStatus: ev.Status, Delivery: delivery, TrangThai: code})
		}
		if code > 0 {
			r.TrangThai, r.PortalSynced = code, true
			if ev.SupplementNo > r.TreasurySupplement || (ev.SupplementNo == r.TreasurySupplement && ev.Sequence > r.TreasurySequence) {
				r.TreasurySupplement, r.TreasurySequence = ev.SupplementNo, ev.Sequence
			}
		}
		r.UpdatedAt = now
		return true
	})
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

// DeadLettered records that an event was parked, for the status view.
func (f *Flow) DeadLettered(ctx context.Context, d outbox.Delivery) {
	var ev Event
	if json.Unmarshal(d.Payload, &ev) != nil {
		return
	}
	if err := f.settle(ctx, ev, dossier.DeliveryDead, 0); err != nil {
		f.log.Warn("status view not updated", "maHoSo", ev.DossierCode, "eventId", ev.EventID, "err", err)
	}
}
