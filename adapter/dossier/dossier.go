// Package dossier owns what the adapter knows of each dossier it accepted:
// its current national status (TrangThaiHoSo, 1–10) and the history of how
// it got there. The HTTP status endpoint reads it; intake writes the first
// entry; treasury status callbacks add the rest.
package dossier

import (
	"context"
	"sync"
	"time"
)

// Event is one step of a dossier's history.
type Event struct {
	TrangThai int       `json:"trangThai"`
	At        time.Time `json:"at"`
	Source    string    `json:"source"` // "adapter" for the submission, "treasury" for callbacks
	Note      string    `json:"note,omitempty"`
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
	History            []Event   `json:"history"`
}

// Store keeps records. Implementations are safe for concurrent use.
type Store interface {
	// Record stores the dossier's latest supplement as the current record,
	// keeping earlier history.
	Record(ctx context.Context, r Record) error
	// Get returns the record of a dossier, false when unknown.
	Get(ctx context.Context, procedure, maHoSo string) (Record, bool, error)
}

// Memory is the in-process Store of the embedded default; it forgets
// everything on restart.
type Memory struct {
	mu sync.RWMutex
	m  map[[2]string]Record
}

// NewMemory returns an empty Memory store.
func NewMemory() *Memory { return &Memory{m: map[[2]string]Record{}} }

// Record implements Store.
func (s *Memory) Record(_ context.Context, r Record) error {
	k := [2]string{r.Procedure, r.MaHoSo}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.m[k]; ok {
		if old.SoBoSung > r.SoBoSung || (old.SoBoSung == r.SoBoSung && old.TreasuryDocumentID == r.TreasuryDocumentID) {
			return nil // a replay or an older supplement: nothing new
		}
		r.History = append(append([]Event{}, old.History...), r.History...)
	}
	r.History = append([]Event(nil), r.History...)
	s.m[k] = r
	return nil
}

// Get implements Store.
func (s *Memory) Get(_ context.Context, procedure, maHoSo string) (Record, bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, ok := s.m[[2]string{procedure, maHoSo}]
	if ok {
		r.History = append([]Event(nil), r.History...)
	}
	return r, ok, nil
}
