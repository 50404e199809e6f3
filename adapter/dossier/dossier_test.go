package dossier

import (
	"context"
	"testing"
	"time"
)

func TestMemoryRecordAndGet(t *testing.T) {
	ctx := context.Background()
	s := NewMemory()
	t0 := time.Date(2026, 6, 9, 9, 0, 0, 0, time.UTC)
	first := Record{Procedure: "tai-khoan", MaHoSo: "A-20260609-0000001", TrangThai: 1,
		TreasuryDocumentID: "KB-1", History: []Event{{TrangThai: 1, At: t0, Source: "adapter"}}}
	if err := Register(ctx, s, first); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.Get(ctx, "cam-ket-chi", first.MaHoSo); ok {
		t.Fatal("a dossier code is scoped to its procedure")
	}
	// the same submission again changes nothing
	_ = Register(ctx, s, first)
	got, ok, _ := s.Get(ctx, "tai-khoan", first.MaHoSo)
	if !ok || len(got.History) != 1 || got.TreasuryDocumentID != "KB-1" {
		t.Fatalf("after replay: %+v", got)
	}
	// a supplement adds to the history
	sup := first
	sup.SoBoSung, sup.TreasuryDocumentID = 1, "KB-2"
	sup.History = []Event{{TrangThai: 1, At: t0.Add(time.Hour), Source: "adapter", Note: "supplement 1"}}
	_ = Register(ctx, s, sup)
	got, _, _ = s.Get(ctx, "tai-khoan", first.MaHoSo)
	if len(got.History) != 2 || got.SoBoSung != 1 || got.TreasuryDocumentID != "KB-2" {
		t.Fatalf("after supplement: %+v", got)
	}
	// an older supplement arriving late does not win
	_ = Register(ctx, s, first)
	got, _, _ = s.Get(ctx, "tai-khoan", first.MaHoSo)
	if got.SoBoSung != 1 {
		t.Fatalf("older supplement replaced the newer one: %+v", got)
	}
	// callers cannot change the stored history through the returned slice
	got.History[0].Note = "changed"
	again, _, _ := s.Get(ctx, "tai-khoan", first.MaHoSo)
	if again.History[0].Note == "changed" {
		t.Fatal("Get returned the store's own slice")
	}
}
