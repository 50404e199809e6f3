// Package dossier owns what the adapter knows of each dossier it accepted:
// its current national status (TrangThaiHoSo, 1–10), the history of how it
// got there, with the delivery state of each status change, its correction
// rounds, and the listing of dossiers by unit, procedure, status and receipt
// time (list.go, query.go). The HTTP status endpoint and the listing read
// it; intake writes the first entry and each resubmission; treasury status
// callbacks and their delivery to the portal add the rest.
package dossier

import (
	"context"
	"slices"
	"sort"
	"strings"
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
	// DeliveryDiscarded: a dead letter an operator discarded; never
	// delivered.
	DeliveryDiscarded = "discarded"
	DeliveryNone      = "" // not a portal delivery (the submission itself)
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

	// Unit is the budget unit code (maDVQHNS) of the latest submission;
	// empty for a record made from a callback before any submission.
	Unit string `json:"unit,omitempty"`
	// ReceivedAt is when the adapter received the dossier's first
	// submission; zero for a record made from a callback before any
	// submission. Only records with a receipt time are listed.
	ReceivedAt time.Time `json:"receivedAt,omitzero"`
	// Rounds are the correction rounds, oldest first (see Round).
	Rounds []Round `json:"rounds,omitempty"`
	// Deferred are treasury events waiting for an earlier one (see
	// DeliveryDeferred), in the treasury's order.
	Deferred []Deferred `json:"deferred,omitempty"`
	// Released counts the release ids taken for deferred events (see
	// TakeReleaseID): an event deferred again is released under a new id.
	Released int `json:"released,omitempty"`
	// Attachments are the files the latest submission listed (dinhKem[]),
	// in its order: what the portal's TaiLieuNop lists.
	Attachments []Attachment `json:"attachments,omitempty"`
	// WithdrawalPending is the treasury key of a withdrawal sent whose
	// outcome is not known (its answer lost): the treasury may have
	// withdrawn the dossier, so a supplement asks the treasury first.
	// Cleared once the outcome is known (the withdrawal's retry, the
	// treasury's WITHDRAWN, that look-up). Empty otherwise.
	WithdrawalPending string `json:"withdrawalPending,omitempty"`
	// SupplementInFlight is a supplement whose send ended without an
	// answer while the treasury may still take it: until Until (the end of
	// its claim's lease at the latest) a withdrawal of the dossier waits,
	// for withdrawing the supplement it replaces would leave it live and
	// payable. Dropped when a supplement as late is registered; ignored once
	// Until has passed.
	SupplementInFlight *InFlight `json:"supplementInFlight,omitempty"`
	// Specimen are the signers the latest submission of an account
	// registration asks to register for its unit (its signature specimen,
	// procedures.<id>.signers). They are registered when the treasury
	// reports the account opened (procedures.<id>.signers.on), not when it
	// receives the dossier: a 202 is a receipt, not an approval.
	Specimen []SpecimenSigner `json:"specimen,omitempty"`
	// SpecimenRegisteredAt is when the specimen's signers were registered;
	// zero while they wait for the treasury.
	SpecimenRegisteredAt time.Time `json:"specimenRegisteredAt,omitzero"`
}

// SpecimenSigner is one signer of a signature specimen: a signature role,
// the certificate's canonical serial and issuer (adapter/signers).
type SpecimenSigner struct {
	Role   string `json:"role"`
	Serial string `json:"serial"`
	Issuer string `json:"issuer"`
}

// Attachment is one file a dossier listed and the treasury received, named
// as in the signed dossier.
type Attachment struct {
	TenTep    string `json:"tenTep"`
	LoaiTep   string `json:"loaiTep"`
	KichThuoc int64  `json:"kichThuoc"`
	SHA256    string `json:"sha256"`
}

// Store keeps records. Implementations are safe for concurrent use by
// goroutines (Memory) or processes (Redis).
type Store interface {
	// Get returns the record of a dossier, false when unknown.
	Get(ctx context.Context, procedure, maHoSo string) (Record, bool, error)
	// Update applies fn to the record (a zero Record when it does not
	// exist yet) atomically; fn reports whether to write the result.
	Update(ctx context.Context, procedure, maHoSo string, fn func(r *Record, exists bool) bool) error
	// List returns one page of the registered dossiers that match q, newest
	// receipt first, and the cursor of the next page ("" after the last).
	// A malformed q (cursor included) is an error wrapping ErrInvalidQuery.
	List(ctx context.Context, q Query) (items []Item, next string, err error)
}

// Updater is the part of a Store that Register needs.
type Updater interface {
	Update(ctx context.Context, procedure, maHoSo string, fn func(r *Record, exists bool) bool) error
}

// Creator is an Updater that can try fn on an absent record before it
// reads the one stored: Create ends as Update would, but a record that
// turns out new (a first submission, most of them) costs one round trip to
// the store instead of a read and a write. fn may therefore see the record
// as absent first and then as it is; like Update's, it must depend only on
// what it is given. A wrapper of a store that changes Update must change
// Create alike (or not have it): Register takes Create when there is one.
type Creator interface {
	Updater
	Create(ctx context.Context, procedure, maHoSo string, fn func(r *Record, exists bool) bool) error
}

// Register records a submission the treasury accepted: a new dossier, or a
// newer supplement of a known one (history kept). A replay or an older
// supplement changes nothing, except that a supplement first learnt from
// the treasury's receipt alone (no files) gets its files from its own
// registration. The receipt time stays the first
// submission's, so a dossier keeps its place in the listing.
func Register(ctx context.Context, s Updater, r Record) error {
	update := s.Update
	if c, ok := s.(Creator); ok {
		update = c.Create
	}
	return update(ctx, r.Procedure, r.MaHoSo, Registration(r))
}

// Registration is Register's change to the record of r's dossier, as an
// Update's fn, for a store that writes it in a round trip of its own
// making (redisstore.Store.FinishRegistering).
func Registration(r Record) func(cur *Record, exists bool) bool {
	return func(cur *Record, exists bool) bool {
		same := exists && cur.SoBoSung == r.SoBoSung && cur.TreasuryDocumentID == r.TreasuryDocumentID
		if exists && (cur.SoBoSung > r.SoBoSung || (same &&
			(len(cur.Attachments) > 0 || len(r.Attachments) == 0) && (len(cur.Specimen) > 0 || len(r.Specimen) == 0))) {
			return false // known already (a record learnt from the treasury's receipt alone, or from a callback, gets its files and specimen)
		}
		specimenAt := cur.SpecimenRegisteredAt
		history := append(append([]Event{}, cur.History...), r.History...)
		synced, sup, seq, status := cur.PortalSynced, cur.TreasurySupplement, cur.TreasurySequence, cur.TrangThai
		received := cur.ReceivedAt
		rounds := append([]Round(nil), cur.Rounds...)
		deferred, released, pending := append([]Deferred(nil), cur.Deferred...), cur.Released, cur.WithdrawalPending
		inFlight := cur.SupplementInFlight
		*cur = r
		if inFlight != nil && inFlight.SoBoSung > r.SoBoSung {
			cur.SupplementInFlight = inFlight // a later supplement's: still not known
		}
		cur.History, cur.PortalSynced, cur.TreasurySupplement, cur.TreasurySequence = history, synced, sup, seq
		cur.Rounds, cur.Deferred, cur.Released, cur.WithdrawalPending = rounds, deferred, released, pending
		if !received.IsZero() {
			cur.ReceivedAt = received
		}
		if same && len(cur.Specimen) > 0 {
			cur.SpecimenRegisteredAt = specimenAt // the same document's specimen, registered already
		}
		if exists && status > 0 {
			// A resubmission does not move the dossier: the treasury's
			// callbacks for the new supplement do (5 → 2 → 4 …).
			cur.TrangThai = status
		}
		if r.SoBoSung > 0 {
			cur.Resubmitted(r.SoBoSung, r.UpdatedAt, r.TreasuryReference)
		}
		return true
	}
}

// InFlight is a supplement whose send's outcome is not known yet (see
// Record.SupplementInFlight).
type InFlight struct {
	SoBoSung int       `json:"soBoSung"`
	Until    time.Time `json:"until"`
}

// Memory is the in-process Store of the embedded default; it forgets
// everything on restart. It keeps the same listing indexes as the Redis
// store (every dossier, per unit, per procedure), as sorted slices updated
// with the record, so that both stores page alike.
type Memory struct {
	mu  sync.Mutex
	m   map[[2]string]Record
	idx map[Index]*memIndex
}

// memIndex is one listing index: entries in listing order, and each
// member's receipt time.
type memIndex struct {
	entries []Position
	at      map[string]int64
}

// NewMemory returns an empty Memory store.
func NewMemory() *Memory {
	return &Memory{m: map[[2]string]Record{}, idx: map[Index]*memIndex{}}
}

// Update implements Store.
func (s *Memory) Update(_ context.Context, procedure, maHoSo string, fn func(*Record, bool) bool) error {
	k := [2]string{procedure, maHoSo}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.m[k]
	r = r.clone()
	if fn(&r, ok) {
		s.m[k] = r
		s.index(r)
	}
	return nil
}

// index adds a registered record to its indexes (moving it if its receipt
// time changed). A unit it left keeps the entry; List filters by the
// record's unit.
func (s *Memory) index(r Record) {
	if r.ReceivedAt.IsZero() {
		return
	}
	p := Position{At: r.ReceivedAt.UnixMilli(), Member: Member(r.Procedure, r.MaHoSo)}
	for _, ix := range IndexesOf(r) {
		mi := s.idx[ix]
		if mi == nil {
			mi = &memIndex{at: map[string]int64{}}
			s.idx[ix] = mi
		}
		if at, ok := mi.at[p.Member]; ok {
			if at == p.At {
				continue
			}
			old := Position{At: at, Member: p.Member}
			i := sort.Search(len(mi.entries), func(i int) bool { return !mi.entries[i].Before(old) })
			mi.entries = slices.Delete(mi.entries, i, i+1)
		}
		i := sort.Search(len(mi.entries), func(i int) bool { return !mi.entries[i].Before(p) })
		mi.entries = slices.Insert(mi.entries, i, p)
		mi.at[p.Member] = p.At
	}
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

// List implements Store.
func (s *Memory) List(ctx context.Context, q Query) ([]Item, string, error) {
	return Paginate(ctx, q, memSource{s})
}

// memSource reads Memory's indexes for Paginate.
type memSource struct{ s *Memory }

func (m memSource) Scan(_ context.Context, ix Index, after *Position, lo, hi int64, n int) ([]Position, bool, error) {
	m.s.mu.Lock()
	defer m.s.mu.Unlock()
	mi := m.s.idx[ix]
	if mi == nil {
		return nil, true, nil
	}
	e := mi.entries
	start := sort.Search(len(e), func(i int) bool { return e[i].At <= hi })
	if after != nil {
		start = max(start, sort.Search(len(e), func(i int) bool { return after.Before(e[i]) }))
	}
	var out []Position
	for i := start; i < len(e); i++ {
		if e[i].At < lo {
			return out, true, nil
		}
		if len(out) == n {
			return out, false, nil
		}
		out = append(out, e[i])
	}
	return out, true, nil
}

func (m memSource) Load(_ context.Context, entries []Position) ([]*Record, error) {
	m.s.mu.Lock()
	defer m.s.mu.Unlock()
	out := make([]*Record, len(entries))
	for i, p := range entries {
		procedure, maHoSo, _ := strings.Cut(p.Member, "|")
		if r, ok := m.s.m[[2]string{procedure, maHoSo}]; ok {
			r.History = nil // a listing item needs no history
			out[i] = &r
		}
	}
	return out, nil
}
