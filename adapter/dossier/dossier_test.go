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

// A correction round is recorded from both sides, in either order: the
// treasury's request (statusflow) and the unit's resubmission (Register).
// A resubmission keeps the dossier's status; the callbacks move it.
func TestRoundsFromRequestAndResubmission(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 6, 9, 9, 0, 0, 0, time.UTC)
	sub := func(n int, at time.Time) Record {
		return Record{Procedure: "chi-thuong-xuyen", MaHoSo: "A-20260609-0000002", SoBoSung: n, TrangThai: 1,
			TreasuryReference: "KBNN-0011-2026-00000" + string(rune('1'+n)), TreasuryDocumentID: "KB-" + string(rune('1'+n)),
			UpdatedAt: at, History: []Event{{TrangThai: 1, At: at, Source: "adapter"}}}
	}
	request := func(s Store, n int, id string, at time.Time) {
		t.Helper()
		err := s.Update(ctx, "chi-thuong-xuyen", "A-20260609-0000002", func(r *Record, _ bool) bool {
			r.TrangThai = 5
			r.CorrectionRequested(n, Round{RequestedAt: at, RequestedBy: "Nguyễn Văn B", Reason: "thiếu hợp đồng",
				EventID: id, DueAt: at.Add(48 * time.Hour)})
			return true
		})
		if err != nil {
			t.Fatal(err)
		}
	}

	t.Run("request first", func(t *testing.T) {
		s := NewMemory()
		_ = Register(ctx, s, sub(0, t0))
		request(s, 1, "evt-c1", t0.Add(time.Hour))
		request(s, 1, "evt-c1-again", t0.Add(2*time.Hour)) // the same round: the first request stays
		_ = Register(ctx, s, sub(1, t0.Add(3*time.Hour)))
		_ = Register(ctx, s, sub(1, t0.Add(4*time.Hour))) // a replay: nothing changes
		got, _, _ := s.Get(ctx, "chi-thuong-xuyen", "A-20260609-0000002")
		want := Round{SoBoSung: 1, RequestedAt: t0.Add(time.Hour), RequestedBy: "Nguyễn Văn B", Reason: "thiếu hợp đồng",
			EventID: "evt-c1", DueAt: t0.Add(49 * time.Hour), ResubmittedAt: t0.Add(3 * time.Hour), TreasuryReference: "KBNN-0011-2026-000002"}
		if len(got.Rounds) != 1 || got.Rounds[0] != want {
			t.Fatalf("rounds %+v, want [%+v]", got.Rounds, want)
		}
		if got.TrangThai != 5 || got.SoBoSung != 1 {
			t.Fatalf("after the resubmission: status %d, soBoSung %d; want 5 (callbacks move it) and 1", got.TrangThai, got.SoBoSung)
		}
		got.Rounds[0].Reason = "changed"
		if again, _, _ := s.Get(ctx, "chi-thuong-xuyen", "A-20260609-0000002"); again.Rounds[0].Reason != "thiếu hợp đồng" {
			t.Fatal("Get returned the store's own rounds")
		}
	})
	t.Run("resubmission first, two rounds", func(t *testing.T) {
		s := NewMemory()
		_ = Register(ctx, s, sub(0, t0))
		_ = Register(ctx, s, sub(2, t0.Add(5*time.Hour)))
		request(s, 2, "evt-c2", t0.Add(4*time.Hour))
		_ = Register(ctx, s, sub(1, t0.Add(3*time.Hour))) // older than the latest: ignored
		request(s, 1, "evt-c1", t0.Add(time.Hour))
		got, _, _ := s.Get(ctx, "chi-thuong-xuyen", "A-20260609-0000002")
		if len(got.Rounds) != 2 || got.Rounds[0].SoBoSung != 1 || got.Rounds[1].SoBoSung != 2 {
			t.Fatalf("rounds %+v, want 1 then 2", got.Rounds)
		}
		if r := got.Rounds[1]; r.EventID != "evt-c2" || !r.ResubmittedAt.Equal(t0.Add(5*time.Hour)) {
			t.Fatalf("round 2 %+v", r)
		}
		if r := got.Rounds[0]; r.EventID != "evt-c1" || !r.ResubmittedAt.IsZero() {
			t.Fatalf("round 1 %+v: its resubmission never reached the adapter", r)
		}
	})
}

// A resubmission keeps what the callbacks and withdrawals left on the
// record: the events waiting for an earlier one and the count of those
// released, so that the next release's id is not one the outbox already
// took, and a withdrawal whose outcome is not known.
func TestRegisterKeepsDeferredAndReleased(t *testing.T) {
	ctx := context.Background()
	s := NewMemory()
	first := Record{Procedure: "chi-thuong-xuyen", MaHoSo: "A-20260609-0000003", TrangThai: 1, TreasuryDocumentID: "KB-1"}
	if err := Register(ctx, s, first); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx, first.Procedure, first.MaHoSo, func(r *Record, _ bool) bool {
		r.Defer(Deferred{EventID: "evt-9", Supplement: 0, Sequence: 9, Status: "PAID"})
		r.Released = 2
		r.WithdrawalPending = "k-withdrawal"
		return true
	}); err != nil {
		t.Fatal(err)
	}
	sup := first
	sup.SoBoSung, sup.TreasuryDocumentID = 1, "KB-2"
	if err := Register(ctx, s, sup); err != nil {
		t.Fatal(err)
	}
	got, _, _ := s.Get(ctx, first.Procedure, first.MaHoSo)
	if len(got.Deferred) != 1 || got.Released != 2 || got.WithdrawalPending != "k-withdrawal" {
		t.Fatalf("after a resubmission: deferred %+v, released %d, pending withdrawal %q", got.Deferred, got.Released, got.WithdrawalPending)
	}
	if id := got.TakeReleaseID("evt-9"); id != "evt-9~released~2" || got.Released != 3 {
		t.Errorf("release id %q, %d released", id, got.Released)
	}
}

// An account registration's specimen reaches a record that knew the
// document without it (learnt from the treasury's receipt, or made by a
// callback); registering the same document again keeps the time its
// specimen was registered; a new supplement's specimen waits anew.
func TestRegisterFillsTheSpecimen(t *testing.T) {
	ctx := context.Background()
	s := NewMemory()
	bare := Record{Procedure: "tai-khoan", MaHoSo: "A-20260609-0000004", TrangThai: 1, TreasuryDocumentID: "KB-1"}
	if err := Register(ctx, s, bare); err != nil {
		t.Fatal(err)
	}
	full := bare
	full.Specimen = []SpecimenSigner{{Role: "chu-tai-khoan", Serial: "4a25", Issuer: "CN=ca"}}
	if err := Register(ctx, s, full); err != nil {
		t.Fatal(err)
	}
	got, _, _ := s.Get(ctx, bare.Procedure, bare.MaHoSo)
	if len(got.Specimen) != 1 {
		t.Fatalf("specimen %+v, want the submission's", got.Specimen)
	}
	at := time.Date(2026, 6, 10, 9, 0, 0, 0, time.UTC)
	if err := s.Update(ctx, bare.Procedure, bare.MaHoSo, func(r *Record, _ bool) bool { r.SpecimenRegisteredAt = at; return true }); err != nil {
		t.Fatal(err)
	}
	if err := Register(ctx, s, full); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := s.Get(ctx, bare.Procedure, bare.MaHoSo); !got.SpecimenRegisteredAt.Equal(at) {
		t.Fatalf("the same document again: registered at %v, want %v", got.SpecimenRegisteredAt, at)
	}
	sup := full
	sup.SoBoSung, sup.TreasuryDocumentID = 1, "KB-2"
	if err := Register(ctx, s, sup); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := s.Get(ctx, bare.Procedure, bare.MaHoSo); !got.SpecimenRegisteredAt.IsZero() || len(got.Specimen) != 1 {
		t.Fatalf("a supplement: specimen %+v registered at %v, want waiting", got.Specimen, got.SpecimenRegisteredAt)
	}
}

// A deferred event's release id is taken once and kept until the event is
// released (a repeat after a crash gets the same id); an event deferred
// again before its record changed takes a new one; ids are numbered from 0.
func TestTakeReleaseID(t *testing.T) {
	var r Record
	if id := r.TakeReleaseID("e5"); id != "" {
		t.Fatalf("an event not deferred got release id %q", id)
	}
	r.Defer(Deferred{EventID: "e5", Sequence: 5, Status: "PAID"})
	first := r.TakeReleaseID("e5")
	if first != "e5~released~0" || r.Released != 1 {
		t.Fatalf("first release id %q, %d released", first, r.Released)
	}
	if again := r.TakeReleaseID("e5"); again != first || r.Released != 1 {
		t.Fatalf("the repeat took %q (%d released), want %q", again, r.Released, first)
	}
	// Released, delivered and deferred again before the record dropped it.
	r.Defer(Deferred{EventID: "e5", Sequence: 5, Status: "PAID"})
	if len(r.Deferred) != 1 {
		t.Fatalf("deferred %+v", r.Deferred)
	}
	if next := r.TakeReleaseID("e5"); next != "e5~released~1" {
		t.Fatalf("the release after a new deferral took %q", next)
	}
}
