package app

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kbnn/dvc/adapter/dossier"
	"github.com/kbnn/dvc/adapter/portal"
	"github.com/kbnn/dvc/adapter/sim/treasurysim"
)

// portalItem is the dossier as the portal simulator answers TraCuuHoSo: the last full
// dossier (DongBoHoSoMC) with its current status. The look-up is recorded like any other
// call, so take it after checking the calls.
func (e *statusEnv) portalItem(t *testing.T, code string) portal.DossierItem {
	t.Helper()
	call := func(req map[string]any, out any) {
		t.Helper()
		body, _ := json.Marshal(req)
		resp, err := http.Post(e.portalSrv.URL+"/api", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		raw, _ := io.ReadAll(resp.Body)
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s: %v: %s", req["service"], err, raw)
		}
	}
	var login struct{ Session string }
	call(map[string]any{"service": "Login", "username": "dvc-adapter", "password": "dev-portal-secret"}, &login)
	var found struct{ Data []portal.DossierItem }
	call(map[string]any{"service": "TraCuuHoSo", "session": login.Session, "mahoso": code}, &found)
	if len(found.Data) != 1 {
		t.Fatalf("TraCuuHoSo %s: %d items", code, len(found.Data))
	}
	return found.Data[0]
}

// submitSupplement submits supplement soBoSung of dossier code, signed as the unit does, and
// checks the 202.
func (e *statusEnv) submitSupplement(t *testing.T, procedure, code string, soBoSung int) {
	t.Helper()
	c := fx(t, procedure+"/valid-xml")
	c.Body = signedSupplement(t, procedure, code, soBoSung)
	if a := e.send(t, c, ""); a.status != http.StatusAccepted {
		t.Fatalf("supplement %d of %s: %d %s", soBoSung, code, a.status, a.body)
	}
}

// A refusal reaches the portal and ends the dossier: after control (4) as 8, Dừng xử lý,
// at intake (2) as 3, Không được tiếp nhận; either way with the treasury's reason as the
// result (ThongTinTra). Nothing moves the dossier again: the treasury simulator's timed path
// stops, and later events (sent on demand) are recorded not-allowed and never delivered.
func TestStatusRefusal(t *testing.T) {
	for _, c := range []struct {
		name   string
		before []string
		want   int
	}{
		{"after control", []string{"ACCEPTED", "PROCESSING"}, 8},
		{"at intake", []string{"ACCEPTED"}, 3},
	} {
		t.Run(c.name, func(t *testing.T) {
			forEachStatusStore(t, func(t *testing.T, e *statusEnv) {
				proc, code := e.submit(t, "chi-thuong-xuyen/valid-json")
				for _, st := range c.before {
					e.clock.Advance(time.Minute)
					e.sendStatus(t, code, st)
					e.drain(t)
				}
				e.clock.Advance(time.Minute)
				refusedAt := e.clock.Now()
				refusal := e.sendStatus(t, code, "REJECTED")
				e.drain(t)
				if n := e.sim.TickCallbacks(t.Context()); n != 0 {
					t.Fatalf("the timed path sent %d events after the refusal", n)
				}
				var later []string
				for _, st := range []string{"PAID", "RESULT_RETURNED", "PROCESSING", "STOPPED"} {
					e.clock.Advance(time.Minute)
					later = append(later, e.sendStatus(t, code, st).EventID)
				}
				e.drain(t)

				recs := e.received(t, code)
				var codes []int
				for _, st := range c.before {
					codes = append(codes, map[string]int{"ACCEPTED": 2, "PROCESSING": 4}[st])
				}
				if got, want := writes(recs), moves(append(codes, c.want)...); !slices.Equal(got, want) {
					t.Fatalf("portal writes %v, want %v", got, want)
				}
				checkNoRepeat(t, recs)
				if st, _ := e.portal.Status(code); st != c.want {
					t.Fatalf("portal status %d, want %d", st, c.want)
				}
				rec := e.view(t, proc, code)
				if rec.TrangThai != c.want {
					t.Fatalf("view trangThai %d, want %d", rec.TrangThai, c.want)
				}
				if h := historyOf(t, rec, refusal.EventID); h.Delivery != dossier.DeliveryDelivered || h.TrangThai != c.want {
					t.Fatalf("the refusal: %+v", h)
				}
				for _, id := range later {
					if h := historyOf(t, rec, id); h.Delivery != dossier.DeliveryNotAllowed ||
						!strings.Contains(h.DeliveryNote, fmt.Sprintf("at %d, a final status", c.want)) {
						t.Errorf("an event after the refusal: %+v, want not-allowed at a final status", h)
					}
				}
				var ev struct{ Note string }
				if err := json.Unmarshal(refusal.Event, &ev); err != nil || ev.Note == "" {
					t.Fatalf("the refusal carries no reason: %s", refusal.Event)
				}
				it := e.portalItem(t, code)
				if it.TrangThaiHoSo != portal.Status(c.want) || it.ThongTinTra != ev.Note ||
					it.NgayKetThucXuLy != portal.FormatTime(refusedAt) {
					t.Fatalf("portal item: TrangThaiHoSo %d, ThongTinTra %q, NgayKetThucXuLy %q; want %d, %q, %s",
						it.TrangThaiHoSo, it.ThongTinTra, it.NgayKetThucXuLy, c.want, ev.Note, portal.FormatTime(refusedAt))
				}
			})
		})
	}
}

// A correction round: submitted, 4, 5 (the treasury asks for a correction), the unit
// resubmits (soBoSung + 1), 2, 4 for the new supplement; after the last round 9 and 10.
// Every move reaches the portal; the portal's dossier ends listing every round with its new
// due date (DanhSachHoSoBoSung) and the result documents; the adapter's view shows the rounds.
func TestStatusCorrectionRounds(t *testing.T) {
	for _, rounds := range []int{1, 2} {
		t.Run(fmt.Sprint(rounds, " round(s)"), func(t *testing.T) {
			forEachStatusStore(t, func(t *testing.T, e *statusEnv) {
				const proc, code = "chi-thuong-xuyen", "G09.20-20260609-0000901"
				e.submitSupplement(t, proc, code, 0)
				step := func(status string) time.Time {
					t.Helper()
					e.clock.Advance(time.Hour)
					at := e.clock.Now()
					e.sendStatus(t, code, status)
					e.drain(t) // moves the clock on
					return at
				}
				step("PROCESSING")
				want := []int{4}
				var requested, resubmitted []time.Time
				for n := 1; n <= rounds; n++ {
					requested = append(requested, step("CORRECTION_REQUIRED"))
					e.clock.Advance(time.Hour)
					resubmitted = append(resubmitted, e.clock.Now())
					e.submitSupplement(t, proc, code, n)
					if rec := e.view(t, proc, code); rec.TrangThai != 5 || rec.SoBoSung != n {
						t.Fatalf("after resubmission %d: trangThai %d, soBoSung %d; want 5 until the treasury reports", n, rec.TrangThai, rec.SoBoSung)
					}
					step("RECEIVED")
					step("PROCESSING")
					want = append(want, 5, 2, 4)
				}
				paidAt := step("PAID")
				step("RESULT_RETURNED")
				want = append(want, 9, 10)

				recs := e.received(t, code)
				if got := calls(recs); !slices.Equal(got, append([]string{"TraCuuHoSo"}, moves(want...)...)) {
					t.Fatalf("portal calls %v, want a look-up and then %v", got, moves(want...))
				}
				checkNoRepeat(t, recs)

				docs := map[int]treasurysim.Document{}
				for _, d := range e.sim.Documents() {
					if d.DossierCode == code {
						docs[d.SupplementNo] = d
					}
				}
				if len(docs) != rounds+1 {
					t.Fatalf("the treasury holds %d documents of the dossier, want %d", len(docs), rounds+1)
				}
				rec := e.view(t, proc, code)
				if rec.TrangThai != 10 || rec.SoBoSung != rounds || len(rec.Rounds) != rounds {
					t.Fatalf("view: trangThai %d, soBoSung %d, rounds %+v", rec.TrangThai, rec.SoBoSung, rec.Rounds)
				}
				for _, h := range rec.History {
					if h.Source == "treasury" && h.Delivery != dossier.DeliveryDelivered {
						t.Errorf("history %+v, want delivered", h)
					}
				}
				it := e.portalItem(t, code)
				if it.TrangThaiHoSo != 10 || len(it.DanhSachHoSoBoSung) != rounds {
					t.Fatalf("portal item: TrangThaiHoSo %d, DanhSachHoSoBoSung %+v", it.TrangThaiHoSo, it.DanhSachHoSoBoSung)
				}
				for i, r := range rec.Rounds {
					n := i + 1
					newDue := docs[n].ReceivedAt.Add(48 * time.Hour) // the simulator's due date for the new document
					if r.SoBoSung != n || !r.RequestedAt.Equal(requested[i]) || r.Reason == "" || r.RequestedBy == "" ||
						!r.ResubmittedAt.Equal(resubmitted[i]) || !r.DueAt.Equal(newDue) || r.TreasuryReference != docs[n].Reference {
						t.Errorf("view round %d: %+v; want requested %v, resubmitted %v, due %v, reference %s",
							n, r, requested[i], resubmitted[i], newDue, docs[n].Reference)
					}
					b := it.DanhSachHoSoBoSung[i]
					if b.HoSoBoSungID != fmt.Sprintf("%s-BS%d", code, n) || b.NoiDungBoSung != r.Reason ||
						b.NgayBoSung != portal.FormatTime(requested[i]) || b.NgayTiepNhanBoSung != portal.FormatTime(resubmitted[i]) ||
						b.NgayHenTraMoi != portal.FormatTime(newDue) {
						t.Errorf("portal round %d: %+v", n, b)
					}
				}
				last := docs[rounds].Reference
				if len(it.DanhSachGiayToKetQua) != 1 || !strings.Contains(it.DanhSachGiayToKetQua[0].DuongDanTepTinKetQua, last) ||
					it.NgayTra == "" || it.NgayKetThucXuLy != portal.FormatTime(paidAt) {
					t.Errorf("portal item results: documents %+v, NgayTra %q, NgayKetThucXuLy %q (paid %s)",
						it.DanhSachGiayToKetQua, it.NgayTra, it.NgayKetThucXuLy, portal.FormatTime(paidAt))
				}
			})
		})
	}
}

// A resubmission is a new treasury document: only a dossier waiting for a
// correction (5) takes one, and only the next supplement. Any other is
// refused (409 supplement-not-expected) and nothing reaches the treasury.
func TestSupplementOnlyWhenAsked(t *testing.T) {
	forEachStatusStore(t, func(t *testing.T, e *statusEnv) {
		proc, code := e.submit(t, "chi-thuong-xuyen/valid-json")
		send := func(soBoSung int) answer {
			t.Helper()
			c := fx(t, proc+"/valid-xml")
			c.Body = signedSupplement(t, proc, code, soBoSung)
			return e.send(t, c, "")
		}
		docs := func() int { return len(e.sim.Documents()) }
		before := docs()
		if a := send(1); a.status != http.StatusConflict || a.code() != "supplement-not-expected" {
			t.Fatalf("supplement 1 of a dossier not asked to correct: %d %s", a.status, a.body)
		}
		e.clock.Advance(time.Minute)
		e.sendStatus(t, code, treasurysim.StatusProcessing)
		e.sendStatus(t, code, treasurysim.StatusCorrectionRequired)
		e.drain(t)
		if a := send(2); a.status != http.StatusConflict || a.code() != "supplement-not-expected" {
			t.Fatalf("supplement 2 skipping 1: %d %s", a.status, a.body)
		}
		if n := docs() - before; n != 0 {
			t.Fatalf("%d treasury documents for refused supplements", n)
		}
		e.submitSupplement(t, proc, code, 1) // the one asked for
		if a := send(2); a.status != http.StatusConflict || a.code() != "supplement-not-expected" {
			t.Fatalf("supplement 2 before the treasury asked again: %d %s", a.status, a.body)
		}
	})
}
