package statusflow

import (
	"fmt"
	"slices"
	"time"

	"github.com/kbnn/dvc/adapter/dossier"
	"github.com/kbnn/dvc/adapter/portal"
	"github.com/kbnn/dvc/adapter/statusmap"
)

// recordRound records what a delivered move says of the dossier's correction rounds: a
// correction request (the move to 5) opens the round that the next supplement answers; an
// event of a resubmitted supplement (n ≥ 1) shows that the treasury has it, and its due date
// is the round's new one.
func recordRound(r *dossier.Record, ev Event, tr statusmap.Transition) {
	if tr.To == statusmap.CodeCorrectionRequested {
		c := dossier.Round{RequestedAt: ev.OccurredAt, RequestedBy: ev.Handler, Reason: ev.Note, EventID: ev.EventID}
		if ev.DueAt != nil {
			c.DueAt = *ev.DueAt
		}
		r.CorrectionRequested(ev.SupplementNo+1, c)
		return
	}
	if ev.SupplementNo < 1 {
		return
	}
	// Without intake's record of the resubmission (a store that forgot it), the treasury's
	// first word on the new supplement is the closest time known.
	r.Resubmitted(ev.SupplementNo, ev.OccurredAt, ev.Reference)
	if ev.DueAt != nil {
		r.SupplementDue(ev.SupplementNo, *ev.DueAt)
	}
}

// addLifecycle completes the full dossier (DongBoHoSoMC) with what the move to code says
// beyond the status: every correction round with its new due date (DanhSachHoSoBoSung), the
// treasury's reason for a refusal (ThongTinTra), and when the processing ended
// (NgayKetThucXuLy). rec is the dossier before the move.
func (f *Flow) addLifecycle(item *portal.DossierItem, p Procedure, rec dossier.Record, ev Event, code int) {
	tr, ok := p.Statuses.Next(rec.TrangThai, ev.Status)
	if !ok || tr.To != code {
		tr = statusmap.Transition{Status: ev.Status, From: rec.TrangThai, To: code, Final: p.Statuses.Final(code)}
	}
	after := rec
	after.Rounds = slices.Clone(rec.Rounds)
	recordRound(&after, ev, tr)
	for _, rd := range after.Rounds {
		item.DanhSachHoSoBoSung = append(item.DanhSachHoSoBoSung, roundItem(ev.DossierCode, rd))
	}
	if ev.DueAt == nil && len(after.Rounds) > 0 {
		if last := after.Rounds[len(after.Rounds)-1]; !last.DueAt.IsZero() {
			item.NgayHenTra = portal.FormatTime(last.DueAt)
		}
	}
	if tr.Refusal {
		item.ThongTinTra = ev.Note
		if item.ThongTinTra == "" {
			item.ThongTinTra = statusText[code]
		}
	}
	switch {
	case code == 10:
		// Processing ended when the dossier was processed (9), before the result went back.
		if at := reachedAt(rec, 9); !at.IsZero() {
			item.NgayKetThucXuLy = portal.FormatTime(at)
		}
	case tr.Final:
		item.NgayKetThucXuLy = portal.FormatTime(ev.OccurredAt)
	}
}

// reachedAt is when the dossier last moved to code, from its delivered history; zero if it
// never did.
func reachedAt(rec dossier.Record, code int) time.Time {
	for i := len(rec.History) - 1; i >= 0; i-- {
		if h := rec.History[i]; h.Delivery == dossier.DeliveryDelivered && h.TrangThai == code {
			return h.At
		}
	}
	return time.Time{}
}

// roundItem is a correction round as the portal lists it. The request's side (who asked,
// what, when) and the resubmission's side (when it arrived) are each empty until known.
func roundItem(maHoSo string, rd dossier.Round) portal.HoSoBoSung {
	it := portal.HoSoBoSung{
		HoSoBoSungID:       fmt.Sprintf("%s-BS%d", maHoSo, rd.SoBoSung),
		NguoiYeuCauBoSung:  rd.RequestedBy,
		NoiDungBoSung:      rd.Reason,
		NgayBoSung:         portal.FormatTime(rd.RequestedAt),
		NgayTiepNhanBoSung: portal.FormatTime(rd.ResubmittedAt),
		NgayHenTraMoi:      portal.FormatTime(rd.DueAt),
		TrangThaiBoSung:    roundWaiting,
	}
	if !rd.ResubmittedAt.IsZero() {
		it.TrangThaiBoSung = roundReceived
		it.ThongTinTiepNhan = fmt.Sprintf("Đã tiếp nhận hồ sơ bổ sung lần %d", rd.SoBoSung)
		if rd.TreasuryReference != "" {
			it.ThongTinTiepNhan += " (" + rd.TreasuryReference + ")"
		}
	}
	return it
}
