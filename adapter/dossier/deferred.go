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
}

// Before reports whether d comes before the treasury's (supplement,
// sequence).
func (d Deferred) Before(supplement int, sequence int64) bool {
	return d.Supplement < supplement || d.Supplement == supplement && d.Sequence <= sequence
}

// Defer keeps d (once per event id), in the treasury's order.
func (r *Record) Defer(d Deferred) {
	if slices.ContainsFunc(r.Deferred, func(x Deferred) bool { return x.EventID == d.EventID }) {
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

// ReleaseID is the outbox id under which the record's next release puts a
// deferred event back: derived from the event's id and the releases so
// far, so a release repeated after a crash is the same id (the outbox takes
// it once), and an event deferred again after its release, then released
// again, is not taken for that first release.
func (r *Record) ReleaseID(eventID string) string {
	if r.Released == 0 {
		return eventID + "~released"
	}
	return eventID + "~released~" + strconv.Itoa(r.Released)
}

// Undefer removes the event's deferral, if any.
func (r *Record) Undefer(eventID string) {
	r.Deferred = slices.DeleteFunc(r.Deferred, func(x Deferred) bool { return x.EventID == eventID })
}
