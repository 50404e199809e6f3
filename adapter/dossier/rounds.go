package dossier

import (
	"slices"
	"time"
)

// Round is one correction round: the treasury asked the unit to correct the dossier
// (CORRECTION_REQUIRED, national status 5) and the unit resubmits it as supplement SoBoSung
// (soBoSung + 1 of the document the request was about). Either side may be recorded first: a
// resubmission may reach the adapter before the request's callback is delivered.
type Round struct {
	// SoBoSung is the supplement number that answers the request.
	SoBoSung int `json:"soBoSung"`
	// RequestedAt, RequestedBy and Reason come from the treasury's CORRECTION_REQUIRED event
	// (occurredAt, handler, note); EventID is that event.
	RequestedAt time.Time `json:"requestedAt,omitzero"`
	RequestedBy string    `json:"requestedBy,omitempty"`
	Reason      string    `json:"reason,omitempty"`
	EventID     string    `json:"eventId,omitempty"`
	// DueAt is the new due date (the portal's NgayHenTraMoi): the treasury's dueAt on the
	// request, replaced by the dueAt of the latest delivered event of the resubmitted
	// supplement.
	DueAt time.Time `json:"dueAt,omitzero"`
	// ResubmittedAt is when the adapter accepted the resubmission (or, without that record,
	// when the treasury first reported on the new supplement); TreasuryReference is the
	// resubmitted document's reference.
	ResubmittedAt     time.Time `json:"resubmittedAt,omitzero"`
	TreasuryReference string    `json:"treasuryReference,omitempty"`
}

// round returns the round answered by supplement n, adding it when absent.
func (r *Record) round(n int) *Round {
	for i := range r.Rounds {
		if r.Rounds[i].SoBoSung == n {
			return &r.Rounds[i]
		}
	}
	r.Rounds = append(r.Rounds, Round{SoBoSung: n})
	slices.SortFunc(r.Rounds, func(a, b Round) int { return a.SoBoSung - b.SoBoSung })
	for i := range r.Rounds {
		if r.Rounds[i].SoBoSung == n {
			return &r.Rounds[i]
		}
	}
	return nil // unreachable: just added
}

// CorrectionRequested records the treasury's request to correct supplement n-1: the round
// that supplement n answers. Recording the same request again changes nothing.
func (r *Record) CorrectionRequested(n int, c Round) {
	rd := r.round(n)
	if rd.EventID != "" {
		return
	}
	rd.RequestedAt, rd.RequestedBy, rd.Reason, rd.EventID = c.RequestedAt, c.RequestedBy, c.Reason, c.EventID
	if rd.DueAt.IsZero() {
		rd.DueAt = c.DueAt
	}
}

// Resubmitted records that supplement n was accepted at at, sent to the treasury as
// reference. The first record of a resubmission wins.
func (r *Record) Resubmitted(n int, at time.Time, reference string) {
	rd := r.round(n)
	if rd.ResubmittedAt.IsZero() {
		rd.ResubmittedAt = at
	}
	if rd.TreasuryReference == "" {
		rd.TreasuryReference = reference
	}
}

// SupplementDue records the due date the treasury gave for resubmitted supplement n.
func (r *Record) SupplementDue(n int, due time.Time) {
	r.round(n).DueAt = due
}

// clone returns r with its own copies of the slices, so that a caller never shares them with
// a store.
func (r Record) clone() Record {
	r.History = append([]Event(nil), r.History...)
	r.Rounds = append([]Round(nil), r.Rounds...)
	r.Deferred = append([]Deferred(nil), r.Deferred...)
	return r
}
