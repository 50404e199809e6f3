package intake

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/kbnn/dvc/adapter/dossier"
	"github.com/kbnn/dvc/adapter/problem"
	"github.com/kbnn/dvc/adapter/statusmap"
)

// checkSupplement refuses a resubmission the dossier does not wait for, and
// any supplement of a dossier whose withdrawal the treasury accepted.
// Each supplement is a new treasury document, so a supplement sent to a
// dossier that is not at a correction request (5), one that skips a
// number, or one naming another unit than the dossier's would be a second
// payable document nobody asked for. A dossier the adapter has no record of
// (a first submission, or a record it no longer has) is not checked: the
// treasury's own rules decide there.
func (s *Service) checkSupplement(ctx context.Context, sub Submission, v *Verified) error {
	at := sub.ReceivedAt
	if v.SoBoSung <= 0 && len(sub.Units) == 0 {
		return nil // a first submission: no record can make it unexpected (below), so none is read
	}
	rec, ok, err := s.dossiers.Get(ctx, v.Procedure.ID, v.MaHoSo)
	if err != nil {
		return storeDown(err)
	}
	if ok && rec.Unit != "" && !UnitAllowed(sub.Units, rec.Unit) {
		// Another unit's dossier: nothing of it to a restricted caller,
		// nor a treasury look-up on its behalf (below), nor a first
		// submission under its code once its claim is gone (the treasury
		// would answer the other unit's document under the same key). A
		// record that does not know its unit is judged as before such
		// callers: refusing it would keep a unit from correcting its own
		// dossier, and the treasury checks the unit of what is sent.
		return s.codeTaken(v)
	}
	if !ok || v.SoBoSung <= rec.SoBoSung {
		return nil // a first submission, a repeat (claims decide) or an older supplement
	}
	if rec.WithdrawalPending != "" && !withdrawn(rec) {
		if rec, err = s.settleWithdrawal(ctx, v.Procedure.ID, v.MaHoSo, rec, at); err != nil {
			return err
		}
	}
	e := &problem.Error{Kind: problem.SupplementUnexpected}
	switch {
	case rec.Unit != "" && v.Unit() != "" && v.Unit() != rec.Unit:
		e.Detail = fmt.Sprintf("Dossier %s belongs to unit %s, not %s.", v.MaHoSo, rec.Unit, v.Unit())
		e.DetailVI = fmt.Sprintf("Hồ sơ %s thuộc đơn vị %s, không phải %s.", v.MaHoSo, rec.Unit, v.Unit())
		e.Fields = []problem.FieldError{{Path: "/maDVQHNS", Message: "must be the unit of the dossier, " + rec.Unit}}
	case withdrawn(rec):
		e.Kind = problem.DossierWithdrawn
		e.Detail = fmt.Sprintf("The treasury accepted the withdrawal of dossier %s; it takes no supplement %d.", v.MaHoSo, v.SoBoSung)
		e.DetailVI = fmt.Sprintf("Kho bạc đã chấp nhận yêu cầu rút hồ sơ %s; hồ sơ không nhận hồ sơ bổ sung lần %d.", v.MaHoSo, v.SoBoSung)
	case rec.TrangThai != statusmap.CodeCorrectionRequested || !openRound(rec.Rounds, v.SoBoSung):
		e.Detail = fmt.Sprintf("Dossier %s (national status %d) does not wait for supplement %d: the treasury asked for no correction it answers.",
			v.MaHoSo, rec.TrangThai, v.SoBoSung)
		e.DetailVI = fmt.Sprintf("Hồ sơ %s (trạng thái %d) không chờ hồ sơ bổ sung lần %d: Kho bạc chưa yêu cầu bổ sung.",
			v.MaHoSo, rec.TrangThai, v.SoBoSung)
		e.Fields = []problem.FieldError{{Path: "/soBoSung", Message: "no correction request waits for this supplement"}}
	case v.SoBoSung != rec.SoBoSung+1:
		e.Detail = fmt.Sprintf("Dossier %s waits for supplement %d, not %d.", v.MaHoSo, rec.SoBoSung+1, v.SoBoSung)
		e.DetailVI = fmt.Sprintf("Hồ sơ %s chờ hồ sơ bổ sung lần %d, không phải lần %d.", v.MaHoSo, rec.SoBoSung+1, v.SoBoSung)
		e.Fields = []problem.FieldError{{Path: "/soBoSung", Message: fmt.Sprintf("must be %d", rec.SoBoSung+1)}}
	default:
		return nil
	}
	return e
}

// settleWithdrawal learns, from the treasury, what became of a withdrawal
// of the dossier whose answer was lost (rec.WithdrawalPending), before a
// supplement may go: the document the withdrawal named (the record's
// supplement) is WITHDRAWN, and the record's history says so, or it is not,
// and the withdrawal did not apply. Either way the mark is cleared. It runs
// under the dossier's lock, so no withdrawal of the dossier is at the
// treasury meanwhile; one whose request is still on its way after its
// deadline is not covered. It returns the record as it now is; at is when
// the supplement came.
func (s *Service) settleWithdrawal(ctx context.Context, procedure, maHoSo string, rec dossier.Record, at time.Time) (dossier.Record, error) {
	tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.deadline(s.procedures[procedure]))
	defer cancel()
	doc, found, err := s.sender.Find(tctx, downstreamKey(dossierID(procedure, maHoSo, rec.SoBoSung)))
	if err != nil {
		return rec, lookupFailed(err)
	}
	applied := found && doc.Status == statusmap.TreasuryWithdrawn
	ev := dossier.Event{TrangThai: StatusWithdrawn, At: at, Source: "adapter",
		Note: "withdrawal requested by the unit, its answer lost; the treasury holds the document as withdrawn (" + doc.Reference + ")"}
	err = s.dossiers.Update(ctx, procedure, maHoSo, func(r *dossier.Record, exists bool) bool {
		if !exists || r.WithdrawalPending == "" {
			return false
		}
		r.WithdrawalPending = ""
		if applied && !withdrawn(*r) {
			r.History = append(r.History, ev)
		}
		return true
	})
	if err != nil {
		return rec, storeDown(err)
	}
	rec.WithdrawalPending = ""
	if applied {
		rec.History = append(rec.History, ev)
	}
	s.log.Warn("a withdrawal whose answer was lost, settled from the treasury", "procedure", procedure, "maHoSo", maHoSo,
		"withdrawn", applied, "reference", doc.Reference)
	return rec, nil
}

// openRound reports whether a correction request waits for supplement n:
// the treasury asked for it and it was not resubmitted yet.
func openRound(rounds []dossier.Round, n int) bool {
	for _, r := range rounds {
		if r.SoBoSung == n && !r.RequestedAt.IsZero() && r.ResubmittedAt.IsZero() {
			return true
		}
	}
	return false
}

// withdrawn reports whether the dossier was withdrawn: the treasury accepted
// its unit's withdrawal (the adapter's history entry, status 7) or reported
// it withdrawn (national status 7, Công dân yêu cầu rút hồ sơ).
func withdrawn(r dossier.Record) bool {
	return r.TrangThai == StatusWithdrawn ||
		slices.ContainsFunc(r.History, func(h dossier.Event) bool { return h.TrangThai == StatusWithdrawn })
}
