package statusflow

import (
	"context"
	"encoding/json"

	"github.com/kbnn/dvc/adapter/dossier"
	"github.com/kbnn/dvc/adapter/outbox"
)

// DeadLetters serves the outbox's dead letters to operators with what the
// outbox cannot see: a later event of the dossier that arrived before its
// predecessor waits in the dossier's record (deferred), not in the outbox,
// so the dead letter's Held does not count it. Inspect names those events
// (Deferred); Discard, which leaves them waiting for a status that will not
// come, logs them as an error.
type DeadLetters struct {
	outbox.DeadLetterAdmin
	flow *Flow
}

// DeadLetters returns the operators' view of store's dead letters.
func (f *Flow) DeadLetters(store outbox.DeadLetterAdmin) *DeadLetters {
	return &DeadLetters{DeadLetterAdmin: store, flow: f}
}

// Inspect returns the dead letter with the dossier's deferred events.
func (d *DeadLetters) Inspect(ctx context.Context, dossierKey, eventID string) (outbox.DeadLetter, error) {
	dl, err := d.DeadLetterAdmin.Inspect(ctx, dossierKey, eventID)
	if err != nil {
		return dl, err
	}
	dl.Deferred, err = d.deferred(ctx, dossierKey)
	return dl, err
}

// Discard discards the dead letter; events of the dossier still deferred
// then wait for a status that will not come: an error in the log, naming
// them, for the operator to follow up (the dossier's history shows them).
//
// The events held behind it in the outbox (Held) go on; one whose move
// needs the discarded status is then deferred in the record and waits the
// same way, so a discard with held events is logged as an error too.
func (d *DeadLetters) Discard(ctx context.Context, dossierKey, eventID string) error {
	held := 0
	var payload []byte
	if dl, err := d.DeadLetterAdmin.Inspect(ctx, dossierKey, eventID); err == nil {
		held, payload = dl.Held, dl.Payload
	}
	if err := d.DeadLetterAdmin.Discard(ctx, dossierKey, eventID); err != nil {
		return err
	}
	d.markDiscarded(ctx, dossierKey, eventID, payload)
	waiting, err := d.deferred(ctx, dossierKey)
	switch {
	case err != nil:
		d.flow.log.Warn("dead letter discarded; the dossier's deferred events could not be read", "dossier", dossierKey, "eventId", eventID, "err", err)
	case len(waiting) > 0:
		d.flow.log.Error("dead letter discarded while later events of its dossier wait for it: they stay deferred until a status they follow arrives",
			"dossier", dossierKey, "eventId", eventID, "deferred", waiting, "held", held)
	case held > 0:
		d.flow.log.Error("dead letter discarded with later events of its dossier behind it: they go on, and one whose move needs the discarded status waits deferred in the dossier's record (GET the dossier: its history names it)",
			"dossier", dossierKey, "eventId", eventID, "held", held)
	}
	return nil
}

// markDiscarded settles the discarded event's entry in the dossier's
// history, which said dead-letter, as discarded: the view no longer shows a
// dead letter the admin API no longer has. The entry is the event's own id
// (payload's), which a released event's outbox id (outboxID) is not; a
// released event still listed as deferred under outboxID (its dead letter
// not recorded) leaves the list. The dossier's deferred events are then
// looked at, as after a settlement. A failure is logged; the outbox's
// discard stands.
func (d *DeadLetters) markDiscarded(ctx context.Context, dossierKey, outboxID string, payload []byte) {
	procedure, code, ok := SplitDossierKey(dossierKey)
	if !ok {
		return
	}
	id := outboxID
	var ev Event
	if json.Unmarshal(payload, &ev) == nil && ev.EventID != "" {
		id = ev.EventID
	}
	err := d.flow.dossiers.Update(ctx, procedure, code, func(r *dossier.Record, exists bool) bool {
		changed := false
		for i := range r.History {
			if h := &r.History[i]; h.EventID == id && h.Delivery == dossier.DeliveryDead {
				h.Delivery, h.DeliveryNote = dossier.DeliveryDiscarded, "dead letter discarded by an operator; never delivered"
				changed = true
			}
		}
		for _, x := range r.Deferred {
			if x.ReleaseID == outboxID {
				r.Undefer(x.EventID)
				changed = true
				break
			}
		}
		return changed
	})
	if err != nil {
		d.flow.log.Warn("dead letter discarded; the dossier's history still says dead-letter", "dossier", dossierKey, "eventId", outboxID, "err", err)
		return
	}
	d.flow.releaseDeferredAfter(ctx, "a discard", procedure, code, outboxID)
}

// deferred lists the ids of the events waiting in the dossier's record.
func (d *DeadLetters) deferred(ctx context.Context, dossierKey string) ([]string, error) {
	procedure, code, ok := SplitDossierKey(dossierKey)
	if !ok {
		return nil, nil
	}
	rec, found, err := d.flow.dossiers.Get(ctx, procedure, code)
	if err != nil || !found {
		return nil, err
	}
	var ids []string
	for _, w := range rec.Deferred {
		ids = append(ids, w.EventID)
	}
	return ids, nil
}
