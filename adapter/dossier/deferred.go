package dossier

import (
	"encoding/json"
	"slices"
	"strconv"
)

// DeliveryDeferred: the event is newer than the latest status applied, but
// its move is not allowed from the dossier's status yet (an earlier event of
// the treasury has not arrived): it waits, with its payload in Deferred,
// until an earlier event moves the dossier to where it applies, and is then
// delivered; it is settled not-allowed once a later event or a final status
// passes it.
const DeliveryDeferred = "deferred"

// Deferred is a treasury status event kept until the move it makes is
// allowed.
type Deferred struct {
	EventID    string          `json:"eventId"`
	Supplement int             `json:"supplementNo"`
	Sequence   int64           `json:"sequence"`
	Status     string          `json:"treasuryStatus"`
	Payload    json.RawMessage `json:"payload"`
	// ReleaseID is the outbox id its release goes under, taken (see
	// Record.TakeReleaseID) before the event is put back in the outbox;
	// empty until then, and again once it was deferred anew.
	ReleaseID string `json:"releaseId,omitempty"`
}

// Before reports whether d comes before the treasury's (supplement,
// sequence).
func (d Deferred) Before(supplement int, sequence int64) bool {
	return d.Supplement < supplement || d.Supplement == supplement && d.Sequence <= sequence
}

// Defer keeps d (once per event id), in the treasury's order. An event
// kept already (its release put back in the outbox, its record not yet
// changed, and the event deferred again) loses its release id: its next
// release takes a new one.
func (r *Record) Defer(d Deferred) {
	if i := slices.IndexFunc(r.Deferred, func(x Deferred) bool { return x.EventID == d.EventID }); i >= 0 {
		r.Deferred[i].ReleaseID = ""
		return
	}
	r.Deferred = append(r.Deferred, d)
	slices.SortStableFunc(r.Deferred, func(a, b Deferred) int {
		if a.Supplement != b.Supplement {
			return a.Supplement - b.Supplement
		}
		switch {
		case a.Sequence < b.Sequence:
			return -1
		case a.Sequence > b.Sequence:
			return 1
		}
		return 0
	})
}

// TakeReleaseID returns the outbox id under which the deferred event goes
// back to the outbox, taking a new one (derived from the event's id and
// the releases so far) unless the event holds one: the caller writes the
// record before it appends, so that a release repeated after a crash is the
// same id (the outbox takes it once), and an event deferred again after its
// release, then released again, is not taken for that first release. It
// returns "" for an event not deferred.
func (r *Record) TakeReleaseID(eventID string) string {
	i := slices.IndexFunc(r.Deferred, func(x Deferred) bool { return x.EventID == eventID })
	if i < 0 {
		return ""
	}
	if id := r.Deferred[i].ReleaseID; id != "" {
		return id
	}
	// Numbered from 0, so that no id is one a release took before ids were
	// numbered (<eventId>~released).
	id := eventID + "~released~" + strconv.Itoa(r.Released)
	r.Released++
	r.Deferred[i].ReleaseID = id
	return id
}

// Undefer removes the event's deferral, if any.
func (r *Record) Undefer(eventID string) {
	r.Deferred = slices.DeleteFunc(r.Deferred, func(x Deferred) bool { return x.EventID == eventID })
}
