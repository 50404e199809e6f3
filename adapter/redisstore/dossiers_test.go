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
