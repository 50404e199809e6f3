// Package dossier owns what the adapter knows of each dossier it accepted:
// its current national status (TrangThaiHoSo, 1–10), the history of how it
// got there, with the delivery state of each status change, and its
// correction rounds. The HTTP status endpoint reads it; intake writes the
// first entry and each resubmission; treasury status callbacks and their
// delivery to the portal add the rest.
package dossier

import (
	"context"
	"sync"
	"time"
)

// Delivery states of a history event.
const (
	DeliveryPending   = "pending"   // accepted, waiting to reach the portal
	DeliveryDelivered = "delivered" // the portal has it
	DeliveryStale     = "stale"     // sent by the treasury before the latest status applied: recorded, not delivered
	// DeliveryNotAllowed: the procedure's lifecycle (mappings/<p>/status.yaml)
	// does not allow the move from the dossier's status at delivery (a final
	// status included); recorded with the reason, never delivered.
	DeliveryNotAllowed = "not-allowed"
	DeliveryDead       = "dead-letter"
	DeliveryNone       = "" // not a portal delivery (the submission itself)
)

// Event is one step of a dossier's history.
type Event struct {
	TrangThai      int       `json:"trangThai"`
	At             time.Time `json:"at"`
	Source         string    `json:"source"` // "adapter" for the submission, "treasury" for callbacks
	Note           string    `json:"note,omitempty"`
	EventID        string    `json:"eventId,omitempty"`
	TreasuryStatus string    `json:"treasuryStatus,omitempty"`
	Delivery       string    `json:"delivery,omitempty"`
	DeliveredAt    time.Time `json:"deliveredAt,omitzero"`
	// DeliveryNote says why an event was not delivered (stale, not-allowed);
	// Note keeps the treasury's own note.
	DeliveryNote string `json:"deliveryNote,omitempty"`
}

// Record is a dossier as the adapter knows it.
type Record struct {
	Procedure          string    `json:"procedure"`
	MaHoSo             string    `json:"maHoSo"`
	SoBoSung           int       `json:"soBoSung"`
	TrangThai          int       `json:"trangThai"`
	TreasuryReference  string    `json:"treasuryReference"`
	TreasuryDocumentID string    `json:"treasuryDocumentId"`
	UpdatedAt          time.Time `json:"updatedAt"`
	// PortalSynced is true once a move reached the portal: the portal has
	// the dossier, and later full dossiers (DongBoHoSoMC) go as updates.
	PortalSynced bool `json:"portalSynced"`
	// TreasurySupplement and TreasurySequence identify the latest status
	// event delivered (supplement number, the treasury's sequence within
	// that supplement's document); an event that is not later is stale.
	TreasurySupplement int     `json:"treasurySupplement,omitempty"`
	TreasurySequence   int64   `json:"treasurySequence,omitempty"`
	History            []Event `json:"history"`
	// Rounds are the correction rounds, oldest first (see Round).
	Rounds []Round `json:"rounds,omitempty"`
}

// Store keeps records. Implementations are safe for concurrent use by
// goroutines (Memory) or processes (Redis).
type Store interface {
	// Get returns the record of a dossier, false when unknown.
	Get(ctx context.Context, procedure, maHoSo string) (Record, bool, error)
	// Update applies fn to the record (a zero Record when it does not
	// exist yet) atomically; fn reports whether to write the result.
	Update(ctx context.Context, procedure, maHoSo string, fn func(r *Record, exists bool) bool) error
}

// Register records a submission the treasury accepted: a new dossier, or a
// newer supplement of a known one (history kept). A replay or an older
// supplement changes nothing.
func Register(ctx context.Context, s Store, r Record) error {
	return s.Update(ctx, r.Procedure, r.MaHoSo, func(cur *Record, exists bool) bool {
		if exists && (cur.SoBoSung > r.SoBoSung || (cur.SoBoSung == r.SoBoSung && cur.TreasuryDocumentID == r.TreasuryDocumentID)) {
			return false
		}
		history := append(append([]Event{}, cur.History...), r.History...)
		synced, sup, seq, status := cur.PortalSynced, cur.TreasurySupplement, cur.TreasurySequence, cur.TrangThai
		rounds := append([]Round(nil), cur.Rounds...)
		*cur = r
		cur.History, cur.PortalSynced, cur.TreasurySupplement, cur.TreasurySequence = history, synced, sup, seq
		cur.Rounds = rounds
		if exists && status > 0 {
			// A resubmission does not move the dossier: the treasury's
			// callbacks for the new supplement do (5 → 2 → 4 …).
			cur.TrangThai = status
		}
		if r.SoBoSung > 0 {
			cur.Resubmitted(r.SoBoSung, r.UpdatedAt, r.TreasuryReference)
		}
		return true
	})
}

// Memory is the in-process Store of the embedded default; it forgets
// everything on restart.
type Memory struct {
	mu sync.Mutex
	m  map[[2]string]Record
}

// NewMemory returns an empty Memory store.
func NewMemory() *Memory { return &Memory{m: map[[2]string]Record{}} }

// Update implements Store.
func (s *Memory) Update(_ context.Context, procedure, maHoSo string, fn func(*Record, bool) bool) error {
	k := [2]string{procedure, maHoSo}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.m[k]
	r = r.clone()
	if fn(&r, ok) {
		s.m[k] = r
	}
	return nil
}

// Get implements Store.
func (s *Memory) Get(_ context.Context, procedure, maHoSo string) (Record, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.m[[2]string{procedure, maHoSo}]
	if ok {
		r = r.clone()
	}
	return r, ok, nil
}
