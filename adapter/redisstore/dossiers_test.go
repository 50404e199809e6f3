package redisstore

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/dossier"
	"github.com/kbnn/dvc/adapter/testkit/redistest"
)

func TestDossiersRegisterGetUpdate(t *testing.T) {
	ctx := context.Background()
	s := NewDossiers(redistest.Client(t), redistest.Prefix(t), time.Hour)
	if _, ok, err := s.Get(ctx, "tai-khoan", "A-20260609-0000001"); ok || err != nil {
		t.Fatalf("unknown dossier: %v %v", ok, err)
	}
	r := dossier.Record{Procedure: "tai-khoan", MaHoSo: "A-20260609-0000001", TrangThai: 1, TreasuryDocumentID: "KB-1",
		History: []dossier.Event{{TrangThai: 1, Source: "adapter"}}}
	if err := dossier.Register(ctx, s, r); err != nil {
		t.Fatal(err)
	}
	_ = dossier.Register(ctx, s, r) // replay: nothing new
	got, ok, err := s.Get(ctx, "tai-khoan", r.MaHoSo)
	if err != nil || !ok || len(got.History) != 1 || got.TreasuryDocumentID != "KB-1" {
		t.Fatalf("%+v %v %v", got, ok, err)
	}
	// concurrent updates are not lost
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.Update(ctx, "tai-khoan", r.MaHoSo, func(r *dossier.Record, exists bool) bool {
				r.History = append(r.History, dossier.Event{TrangThai: 4, EventID: fmt.Sprint(i)})
				return true
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	got, _, _ = s.Get(ctx, "tai-khoan", r.MaHoSo)
	if len(got.History) != 21 {
		t.Fatalf("%d history entries, want 21", len(got.History))
	}
}

// A record's correction rounds survive the JSON record in Redis, every
// member included.
func TestDossiersKeepRounds(t *testing.T) {
	ctx := context.Background()
	s := NewDossiers(redistest.Client(t), redistest.Prefix(t), time.Hour)
	at := time.Date(2026, 6, 9, 9, 0, 0, 0, time.FixedZone("ICT", 7*3600))
	want := dossier.Round{SoBoSung: 1, RequestedAt: at, RequestedBy: "Nguyễn Văn B", Reason: "thiếu hợp đồng",
		EventID: "evt-c1", DueAt: at.Add(48 * time.Hour), ResubmittedAt: at.Add(time.Hour), TreasuryReference: "KBNN-0011-2026-000002"}
	err := s.Update(ctx, "von-dau-tu", "A-20260609-0000003", func(r *dossier.Record, _ bool) bool {
		r.Procedure, r.MaHoSo = "von-dau-tu", "A-20260609-0000003"
		r.CorrectionRequested(1, dossier.Round{RequestedAt: want.RequestedAt, RequestedBy: want.RequestedBy,
			Reason: want.Reason, EventID: want.EventID, DueAt: want.DueAt})
		r.Resubmitted(1, want.ResubmittedAt, want.TreasuryReference)
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	got, ok, err := s.Get(ctx, "von-dau-tu", "A-20260609-0000003")
	if err != nil || !ok || len(got.Rounds) != 1 {
		t.Fatalf("%+v %v %v", got, ok, err)
	}
	r := got.Rounds[0]
	if r.SoBoSung != 1 || !r.RequestedAt.Equal(want.RequestedAt) || r.RequestedBy != want.RequestedBy || r.Reason != want.Reason ||
		r.EventID != want.EventID || !r.DueAt.Equal(want.DueAt) || !r.ResubmittedAt.Equal(want.ResubmittedAt) ||
		r.TreasuryReference != want.TreasuryReference {
		t.Fatalf("round read back %+v, want %+v", r, want)
	}
}
